"""Serving throughput and energy per token of a model family on an accelerator (supply v2,
docs/ODD.md §6.1b). Arrays broadcast over cohorts or products; tokens/s are decoded (output)
tokens per second per GPU.

Decode is memory-bandwidth bound: every decoding step reads the active weights once for the whole
batch, so a GPU decodes ``R`` tokens per read of ``G_f`` GB of active weights::

    bandwidth bound  tps_BW = R x BW_c x 1000 x eta_c / G_f             (BW in TB/s, G_f in GB)
    compute bound    tps_C  = u_max x F_c(b_f) x 1e12 / (2 x A_f x 1e9)  (2 FLOP per weight)
    tokens/s         tps    = min(tps_BW x S(t), tps_C) / (1 + pi)
    software trend   S(t)   = s ** ((t - t_anchor) / 1 year)
    active weights   G_f    = A_f x b_f / 8                              (A_f: active params, B)

``R`` (weight reuse) is fitted to one measurement: DeepSeek-V3 (37B active, FP8) decodes 1,850
output tokens/s per H800 (3.36 TB/s) in production (DeepSeek open-infra-index, 1 Mar 2025), so
``R = 1850 x 37 / 3360 = 20.4`` tokens per weight read. The H800 is export-compliant: figures
measured on it carry no further penalty. ``eta_c`` is the share of that rate a chip's software
stack reaches (1 for Nvidia; 0.63 for Ascend: 60% of H100, measured by DeepSeek researchers).
``F_c(b)`` is the dense peak at ``b`` bits: BF16 TFLOPS x min(16 / b, 2) (FP8/INT8 tensor cores
double BF16; nothing faster assumed). The compute cap binds only on compute-cut chips (H20).
``s`` is the serving-software trend (ML.ENERGY: x1.50 per year on a fixed model and GPU).
``pi`` is the export-control penalty lever (0 unless a counterfactual sets it).

Energy: a GPU at load draws its TDP ``P``, idle ``P_idle``; the marginal energy of a token is
``(P - P_idle) / tps`` J, so J/token x tokens/s <= TDP by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pricewar.scenario.catalogue import Catalogue
from pricewar.units import (
    BITS_PER_BYTE,
    DAYS_PER_YEAR,
    FLOP_PER_TFLOP,
    GB_PER_TB,
    PARAMS_PER_BILLION,
)

FLOP_PER_PARAM_PER_TOKEN = 2.0  # one multiply-add per active weight per token
BF16_BITS = 16.0
MAX_LOW_PRECISION_SPEEDUP = 2.0  # FP8/INT8 tensor cores: 2x BF16; FP4 speed-ups not assumed


def software_multiplier(date: dt.date, anchor_date: dt.date, per_year: float) -> float:
    """Serving-software progress since the anchor measurement: ``per_year ** years`` (< 1 before
    the anchor date)."""
    return float(per_year ** ((date - anchor_date).days / DAYS_PER_YEAR))


def weight_reuse(anchor_tokens_per_s: float, anchor_bandwidth_tb_s: float,
                 anchor_decode_efficiency: float, anchor_active_gb_per_token: float) -> float:
    """``R``: decoded tokens per read of the active weights, from a measured decode rate.

    ``R = tps x G / (BW x 1000 x eta)``; DeepSeek-V3 on H800: 1850 x 37 / (3.36 x 1000) = 20.37.
    """
    return (anchor_tokens_per_s * anchor_active_gb_per_token
            / (anchor_bandwidth_tb_s * GB_PER_TB * anchor_decode_efficiency))


def bandwidth_bound_tokens_per_s(memory_bandwidth_tb_s, decode_efficiency, active_gb_per_token,
                                 reuse: float) -> np.ndarray:
    """``R x BW x 1000 x eta / G`` (tokens/s per GPU), at the anchor's serving software."""
    return (reuse * np.asarray(memory_bandwidth_tb_s) * GB_PER_TB * np.asarray(decode_efficiency)
            / np.asarray(active_gb_per_token))


def compute_bound_tokens_per_s(dense_bf16_tflops, serving_precision_bits, active_params_b,
                               max_utilisation: float) -> np.ndarray:
    """``u_max x BF16 TFLOPS x min(16 / bits, 2) x 1e12 / (2 x A x 1e9)`` (tokens/s per GPU)."""
    speedup = np.minimum(BF16_BITS / np.asarray(serving_precision_bits, float),
                         MAX_LOW_PRECISION_SPEEDUP)
    peak_flop_per_s = np.asarray(dense_bf16_tflops) * speedup * FLOP_PER_TFLOP
    flop_per_token = FLOP_PER_PARAM_PER_TOKEN * np.asarray(active_params_b) * PARAMS_PER_BILLION
    return max_utilisation * peak_flop_per_s / flop_per_token


def decode_tokens_per_s(bandwidth_bound, compute_bound, software: float,
                        penalty=0.0) -> np.ndarray:
    """``min(tps_BW x S, tps_C) / (1 + penalty)`` (tokens/s per GPU)."""
    return (np.minimum(np.asarray(bandwidth_bound) * software, compute_bound)
            / (1.0 + np.asarray(penalty)))


def marginal_energy_j_per_token(power_w, idle_power_w, tokens_per_s) -> np.ndarray:
    """``(P - P_idle) / tps`` (J per token, GPU board power, before PUE)."""
    return (np.asarray(power_w) - np.asarray(idle_power_w)) / np.asarray(tokens_per_s)


def blended_tokens_per_s(decode_tokens_per_s, input_share, prefill_to_decode_ratio: float
                         ) -> np.ndarray:
    """Tokens/s per GPU over a mix of input (prefill) and output (decode) tokens.

    GPU-seconds per token add up: ``1 / tps_mix = x_in / (k x tps) + (1 - x_in) / tps`` with
    ``x_in`` the input share of tokens and ``k`` prefill tokens per decode token per GPU-second.
    DeepSeek (1 Mar 2025): 608B input and 168B output tokens a day, ``k = 73.7k / 14.8k``.
    """
    share = np.asarray(input_share)
    return np.asarray(decode_tokens_per_s) / (share / prefill_to_decode_ratio + (1.0 - share))


@dataclass(frozen=True, eq=False)
class ChipArrays:
    """Accelerator properties as arrays of shape (n_chips,), in the catalogue's chip order."""

    names: tuple[str, ...]
    price_usd: np.ndarray
    power_w: np.ndarray
    idle_power_w: np.ndarray
    server_power_w: np.ndarray
    memory_bandwidth_tb_s: np.ndarray
    dense_bf16_tflops: np.ndarray
    decode_efficiency: np.ndarray
    domestic_bloc: np.ndarray

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue) -> ChipArrays:
        chips = list(catalogue.chips.values())

        def column(name: str) -> np.ndarray:
            return np.array([getattr(c, name) for c in chips], dtype=float)

        return cls(tuple(catalogue.chips), column("price_usd"), column("power_w"),
                   column("idle_power_w"), column("server_power_w"),
                   column("memory_bandwidth_tb_s"), column("dense_bf16_tflops"),
                   column("decode_efficiency"), np.array([c.domestic_bloc for c in chips]))

    def index(self, chip) -> np.ndarray:
        """Chip numbers of ``chip`` (a name, names, or chip numbers)."""
        return _index(self.names, chip)


@dataclass(frozen=True, eq=False)
class FamilyArrays:
    """Family serving properties as arrays of shape (n_families,), in catalogue order."""

    names: tuple[str, ...]
    active_params_b: np.ndarray
    serving_precision_bits: np.ndarray

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue) -> FamilyArrays:
        families = list(catalogue.families.values())
        return cls(tuple(catalogue.families),
                   np.array([f.active_params_b for f in families], dtype=float),
                   np.array([f.serving_precision_bits for f in families], dtype=float))

    @property
    def active_gb_per_token(self) -> np.ndarray:
        """GB of active weights per decoded token: ``A x b / 8``."""
        return self.active_params_b * self.serving_precision_bits / BITS_PER_BYTE

    def index(self, family) -> np.ndarray:
        """Family numbers of ``family`` (a name, names, or family numbers)."""
        return _index(self.names, family)


def _index(names: tuple[str, ...], which) -> np.ndarray:
    values = np.asarray(which)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    lookup = {name: i for i, name in enumerate(names)}
    try:
        flat = [lookup[str(v)] for v in values.ravel()]
    except KeyError as error:
        raise KeyError(f"unknown name {error.args[0]!r} (expected one of {list(names)})") from None
    return np.array(flat, dtype=np.int64).reshape(values.shape)


class ServingModel:
    """Throughput and energy of (chip, family) pairs at a date, anchored on the catalogue's
    measurement (``catalogue.serving``)."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self.chips = ChipArrays.from_catalogue(catalogue)
        self.families = FamilyArrays.from_catalogue(catalogue)
        s = catalogue.serving
        anchor_chip = catalogue.chips[s.anchor_chip]
        self.reuse = weight_reuse(s.anchor_output_tokens_per_s, anchor_chip.memory_bandwidth_tb_s,
                                  anchor_chip.decode_efficiency,
                                  catalogue.families[s.anchor_family].active_gb_per_token)

    def software(self, date: dt.date) -> float:
        """Serving-software multiplier ``S(t)`` at ``date``."""
        s = self.catalogue.serving
        return software_multiplier(date, s.anchor_date, s.software_efficiency_per_year)

    def tps(self, chip: str | Sequence | np.ndarray, family: str | Sequence | np.ndarray,
            date: dt.date, penalty=0.0) -> np.ndarray:
        """Decoded tokens/s per GPU of ``family`` on ``chip`` at ``date`` (broadcast arrays)."""
        c, f = self.chips.index(chip), self.families.index(family)
        bandwidth = bandwidth_bound_tokens_per_s(
            self.chips.memory_bandwidth_tb_s[c], self.chips.decode_efficiency[c],
            self.families.active_gb_per_token[f], self.reuse)
        compute = compute_bound_tokens_per_s(
            self.chips.dense_bf16_tflops[c], self.families.serving_precision_bits[f],
            self.families.active_params_b[f], self.catalogue.serving.max_decode_compute_utilisation)
        return decode_tokens_per_s(bandwidth, compute, self.software(date), penalty)

    def energy_j_per_token(self, chip, family, date: dt.date, penalty=0.0) -> np.ndarray:
        """Marginal GPU energy per decoded token (J, before PUE)."""
        c = self.chips.index(chip)
        return marginal_energy_j_per_token(self.chips.power_w[c], self.chips.idle_power_w[c],
                                           self.tps(chip, family, date, penalty))
