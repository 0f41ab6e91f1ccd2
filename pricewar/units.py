"""Named unit conversions (SI and the model's units: USD, Mtok = one million tokens, MWh, t CO2).

Code writes ``tokens / TOKENS_PER_MTOK`` or ``years * SECONDS_PER_YEAR`` instead of bare ``1e6`` or
``365.25 * 86_400`` literals, so every conversion says what it converts.
"""

TOKENS_PER_MTOK = 1e6
SECONDS_PER_DAY = 86_400.0
DAYS_PER_YEAR = 365.25  # Julian year
DAYS_PER_WEEK = 7.0
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY
J_PER_KWH = 3.6e6
J_PER_MWH = 3.6e9
MJ_PER_KWH = 3.6  # (J/token) x Mtok = MJ, so USD/Mtok = J/token x USD/kWh / MJ_PER_KWH
W_PER_MW = 1e6
KWH_PER_MWH = 1000.0
MWH_PER_GWH = 1000.0
KG_PER_T = 1000.0
T_PER_KT = 1000.0
MS_PER_S = 1000.0
SECONDS_PER_HOUR = 3600.0
W_PER_KW = 1000.0
BITS_PER_BYTE = 8.0
GB_PER_TB = 1000.0  # decimal, as memory bandwidth is quoted (3.35 TB/s = 3,350 GB/s)
FLOP_PER_TFLOP = 1e12
PARAMS_PER_BILLION = 1e9
