"""Serving throughput per GPU from a roofline fitted to public benchmarks (supply v3, issue #25;
docs/calibration.md C18).

One serving instance of ``G`` GPUs (one tensor-parallel group) serves requests of ``I`` input and
``O`` output tokens, ``N`` of them in flight. With active and total parameters ``A``, ``T``
(billions), weight precision ``b`` bits, a KV cache of ``kv`` bytes per token, HBM ``H`` GB and
bandwidth ``BW`` TB/s per GPU, dense BF16 peak ``F`` TFLOPS per GPU::

    weights             W     = T x 1e9 x b / 8                          bytes (whole model)
    mean context        c     = I + O / 2                                tokens per sequence
    KV-limited batch    B_kv  = (G x H x 1e9 x u - W) / (kv x c)         sequences
    batch               B     = min(N O / L, B_kv, B_max)   (L: longest output, = O in steady
                                                             serving; a burst's batch drains)
    weights touched     W_B   = W x (1 - (1 - A / T) ** B)               bytes per decode step
    decode step         t_d   = max((W_B + B x c x kv) / (G x BW x 1e12 x e_bw),
                                    B x 2 A 1e9 / (G x F x 1e12 x e_c)) + tau_step
    prefill             t_p   = I x 2 A 1e9 / (G x F x 1e12 x e_c)        s per request
    instance time       t_r   = t_p + O x t_d / B + tau_req              s per request
    tokens/s per GPU          = (I + O) / (G x t_r)       (output: O / (G x t_r))

``W_B``: each weight is touched by a token with probability ``A / T`` (1 for dense families), so a
step of ``B`` tokens reads the share ``1 - (1 - A/T)^B`` of an MoE's experts. Prefill is compute
bound; attention FLOPs are left out (they are small against ``2 A`` per token below ~4,000 tokens
of context, the benchmarks' scope). The fitted parameters are the achieved bandwidth share
``e_bw``, the achieved compute share ``e_c`` (of the BF16 peak: FP8 and FP4 kernels enter through
it), the per-step latency ``tau_step`` (kernel launches, scheduling) and the per-request overhead
``tau_req`` (tokenising, scheduling, sampling not overlapped with the GPU). They are fitted by least
squares on log tokens/s of the ``fit`` rows of ``pricewar/data/observed/throughput_benchmarks.csv``
only, jointly with the benchmark protocol's one unknown, the longest output ``L`` of the ShareGPT
bursts (bounded by the sampler's 2,048 tokens); ``held_out`` rows are never used to choose anything.
The FP8 peak is not used: on the fit rows FP8 families (Qwen3 on H100) reach the same share of the
BF16 peak in prefill as gpt-oss's BF16 arithmetic (18%), not twice it.

Costs: a GPU-hour at price ``P`` USD serves ``3600 x tps`` tokens; over a request the prefill
share of the instance time is charged to input tokens and the rest to output tokens, so the
blended cost of v3-interfaces §1, ``(r c_prefill + c_decode) / (r + 1)`` with ``r = I / O``, is
``P / (3600 x tps)`` per token.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from pricewar.scenario.catalogue import Accelerator, Catalogue, Family
from pricewar.supply.serving import ChipArrays, FamilyArrays, software_multiplier
from pricewar.units import (
    BITS_PER_BYTE,
    FLOP_PER_TFLOP,
    GB_PER_TB,
    PARAMS_PER_BILLION,
    SECONDS_PER_HOUR,
    TOKENS_PER_MTOK,
)

BENCHMARKS_PATH = Path(__file__).resolve().parents[1] / "data" / "observed" / \
    "throughput_benchmarks.csv"

FLOP_PER_PARAM_PER_TOKEN = 2.0  # one multiply-add per active weight per token
BYTES_PER_GB = 1e9  # decimal, as HBM is quoted
BYTES_PER_TB = BYTES_PER_GB * GB_PER_TB
# KV cache in BF16: vLLM's and SGLang's default kv-cache dtype is the model's activation dtype
# ("auto"; vLLM engine arguments, --kv-cache-dtype); docs/calibration.md C18
KV_CACHE_BYTES_PER_VALUE = 2.0
# share of HBM the engine may fill with weights and KV cache: vLLM gpu_memory_utilization
# default 0.9 (vLLM docs, configuration/optimization.md); SGLang mem_fraction_static ~0.8-0.9
USABLE_MEMORY_SHARE = 0.9
# est. 256-1024: an engine's cap on running sequences (vLLM max_num_seqs; "512-1024 default",
# Vultr inference cookbook, concurrency tuning, Mar 2026); binds only beyond the benchmarks
MAX_RUNNING_SEQUENCES = 1024.0
# Benchmark chips not in chips.toml, run with the specs of a chip of the same silicon: A100 SXM
# 80 GB = A800 SXM 80 GB (GA100, HBM2e 2.04 TB/s, 312 TFLOPS BF16; the A800 only cuts NVLink to
# 400 GB/s; Epoch AI chip database; docs/calibration.md C13)
SAME_SILICON = {"A100": "A800"}


@dataclass(frozen=True)
class RooflineParameters:
    """Fitted efficiencies and overheads of the roofline (all > 0)."""

    bandwidth_efficiency: float  # share of HBM bandwidth a decode step reaches
    compute_efficiency: float  # share of the dense BF16 peak matmuls reach
    step_overhead_s: float  # fixed latency of one decode step, s
    request_overhead_s: float  # instance time per request outside prefill and decode, s

    def as_array(self) -> np.ndarray:
        return np.array([self.bandwidth_efficiency, self.compute_efficiency,
                         self.step_overhead_s, self.request_overhead_s])


@dataclass(frozen=True)
class ServingSetup:
    """A chip and family's serving constants (arrays broadcast)."""

    gpus: np.ndarray
    hbm_gb: np.ndarray
    memory_bandwidth_tb_s: np.ndarray
    dense_bf16_tflops: np.ndarray
    total_params_b: np.ndarray
    active_params_b: np.ndarray
    precision_bits: np.ndarray
    kv_cache_bytes_per_token: np.ndarray


def kv_cache_bytes_per_token(kv_cache_layers, kv_cache_values_per_token_per_layer):
    """``layers x values x 2`` bytes (BF16 cache): DeepSeek-V3 61 x 576 x 2 = 70,272 B."""
    return (np.asarray(kv_cache_layers, float) * np.asarray(kv_cache_values_per_token_per_layer)
            * KV_CACHE_BYTES_PER_VALUE)


def family_kv_cache_bytes_per_token(family: Family) -> float | None:
    """The family's KV-cache bytes per token from its architecture (None without one)."""
    if family.kv_cache_layers is None or family.kv_cache_values_per_token_per_layer is None:
        return None
    return float(kv_cache_bytes_per_token(family.kv_cache_layers,
                                          family.kv_cache_values_per_token_per_layer))


def setup(chip: Accelerator, family: Family, gpus: float, precision_bits: float | None = None,
          kv_bytes_per_token: float | None = None) -> ServingSetup:
    """The serving constants of ``family`` on ``gpus`` of ``chip`` (at the family's serving
    precision unless ``precision_bits`` is given; its architecture's KV cache unless
    ``kv_bytes_per_token`` is given)."""
    kv = family_kv_cache_bytes_per_token(family) if kv_bytes_per_token is None \
        else kv_bytes_per_token
    if kv is None:
        raise ValueError(f"family {family.label!r} has no KV-cache architecture in families.toml")
    bits = family.serving_precision_bits if precision_bits is None else precision_bits
    return ServingSetup(
        np.asarray(gpus, float), np.asarray(chip.hbm_gb, float),
        np.asarray(chip.memory_bandwidth_tb_s, float), np.asarray(chip.dense_bf16_tflops, float),
        np.asarray(family.total_params_b, float), np.asarray(family.active_params_b, float),
        np.asarray(bits, float), np.asarray(kv, float))


def weight_bytes(total_params_b, precision_bits):
    """``T x 1e9 x b / 8``: the whole model's weights, bytes."""
    return np.asarray(total_params_b) * PARAMS_PER_BILLION * np.asarray(precision_bits) / BITS_PER_BYTE


def mean_context_tokens(input_tokens, output_tokens):
    """``I + O / 2``: a decoding sequence's mean context, tokens."""
    return np.asarray(input_tokens, float) + np.asarray(output_tokens, float) / 2.0


def kv_batch_limit(s: ServingSetup, context_tokens):
    """``(G H 1e9 u - W) / (kv c)``: sequences whose KV cache fits beside the weights (0 when the
    weights alone do not fit)."""
    free_bytes = (s.gpus * s.hbm_gb * BYTES_PER_GB * USABLE_MEMORY_SHARE
                  - weight_bytes(s.total_params_b, s.precision_bits))
    return np.maximum(free_bytes, 0.0) / (s.kv_cache_bytes_per_token * np.asarray(context_tokens))


def batch_sequences(s: ServingSetup, input_tokens, output_tokens, concurrency,
                    longest_output_tokens=None):
    """``min(N O / L, B_kv, B_max)``: sequences decoded together, on average over the decode steps.

    In steady serving (and with equal output lengths) ``L = O``. A burst of ``N`` requests whose
    outputs differ decodes for ``L`` steps (its longest output) while the batch drains, so the mean
    batch is the ``N O`` decoded tokens over ``L`` steps."""
    output_tokens = np.asarray(output_tokens, float)
    longest = output_tokens if longest_output_tokens is None else np.asarray(longest_output_tokens)
    limit = kv_batch_limit(s, mean_context_tokens(input_tokens, output_tokens))
    mean_batch = np.asarray(concurrency, float) * output_tokens / np.maximum(longest, output_tokens)
    return np.minimum(np.minimum(mean_batch, limit), MAX_RUNNING_SEQUENCES)


def touched_weight_bytes(s: ServingSetup, batch):
    """``W x (1 - (1 - A/T)^B)``: weights read by one decode step of ``B`` tokens, bytes."""
    active_share = s.active_params_b / s.total_params_b
    return (weight_bytes(s.total_params_b, s.precision_bits)
            * -np.expm1(np.asarray(batch) * np.log1p(-np.minimum(active_share, 1.0 - 1e-12))))


def flop_per_token(s: ServingSetup):
    """``2 A 1e9`` FLOP per token."""
    return FLOP_PER_PARAM_PER_TOKEN * s.active_params_b * PARAMS_PER_BILLION


def decode_step_s(s: ServingSetup, p: RooflineParameters, batch, context_tokens):
    """``max(memory time, compute time) + tau_step`` of one decode step of ``batch`` tokens, s."""
    batch = np.asarray(batch, float)
    read_bytes = touched_weight_bytes(s, batch) + batch * np.asarray(context_tokens) * \
        s.kv_cache_bytes_per_token
    memory_s = read_bytes / (s.gpus * s.memory_bandwidth_tb_s * BYTES_PER_TB
                             * p.bandwidth_efficiency)
    compute_s = batch * flop_per_token(s) / (s.gpus * s.dense_bf16_tflops * FLOP_PER_TFLOP
                                             * p.compute_efficiency)
    return np.maximum(memory_s, compute_s) + p.step_overhead_s


def prefill_s_per_token(s: ServingSetup, p: RooflineParameters):
    """``2 A 1e9 / (G F 1e12 e_c)``: instance seconds per input token."""
    return flop_per_token(s) / (s.gpus * s.dense_bf16_tflops * FLOP_PER_TFLOP
                                * p.compute_efficiency)


@dataclass(frozen=True)
class RequestTime:
    """Instance seconds per request, split into prefill and decode (with the overheads)."""

    prefill_s: np.ndarray
    decode_s: np.ndarray

    @property
    def total_s(self) -> np.ndarray:
        return self.prefill_s + self.decode_s


def request_time(s: ServingSetup, p: RooflineParameters, input_tokens, output_tokens,
                 concurrency=MAX_RUNNING_SEQUENCES, longest_output_tokens=None) -> RequestTime:
    """Instance seconds per request: prefill ``I t_in``, decode ``O t_d / B + tau_req``."""
    input_tokens = np.asarray(input_tokens, float)
    output_tokens = np.asarray(output_tokens, float)
    batch = batch_sequences(s, input_tokens, output_tokens, concurrency, longest_output_tokens)
    if np.any(batch < 1.0):
        raise ValueError("the weights and one sequence's KV cache do not fit in the GPUs' memory")
    step_s = decode_step_s(s, p, batch, mean_context_tokens(input_tokens, output_tokens))
    return RequestTime(input_tokens * prefill_s_per_token(s, p),
                       output_tokens * step_s / batch + p.request_overhead_s)


def tokens_per_s_per_gpu(s: ServingSetup, p: RooflineParameters, input_tokens, output_tokens,
                         concurrency=MAX_RUNNING_SEQUENCES, longest_output_tokens=None):
    """(output, input + output) tokens/s per GPU for requests of ``I`` in, ``O`` out."""
    t = request_time(s, p, input_tokens, output_tokens, concurrency,
                     longest_output_tokens).total_s
    output_tokens = np.asarray(output_tokens, float)
    return (output_tokens / (s.gpus * t),
            (np.asarray(input_tokens, float) + output_tokens) / (s.gpus * t))


@dataclass(frozen=True)
class TokenCosts:
    """USD per Mtok at a GPU-hour price: input (prefill), output (decode) and blended."""

    input_usd_per_mtok: np.ndarray
    output_usd_per_mtok: np.ndarray
    blended_usd_per_mtok: np.ndarray


def token_costs(s: ServingSetup, p: RooflineParameters, input_tokens, output_tokens,
                usd_per_gpu_hour, concurrency=MAX_RUNNING_SEQUENCES,
                longest_output_tokens=None) -> TokenCosts:
    """``c_prefill = P G t_p / (3600 I)``, ``c_decode = P G t_decode / (3600 O)`` per token, and the
    blended ``(r c_prefill + c_decode) / (r + 1)``, ``r = I / O`` (v3-interfaces §1), in USD/Mtok."""
    t = request_time(s, p, input_tokens, output_tokens, concurrency, longest_output_tokens)
    usd_per_instance_s = np.asarray(usd_per_gpu_hour) * s.gpus / SECONDS_PER_HOUR
    input_tokens = np.asarray(input_tokens, float)
    output_tokens = np.asarray(output_tokens, float)
    c_in = usd_per_instance_s * t.prefill_s / input_tokens * TOKENS_PER_MTOK
    c_out = usd_per_instance_s * t.decode_s / output_tokens * TOKENS_PER_MTOK
    r = input_tokens / output_tokens
    return TokenCosts(c_in, c_out, (r * c_in + c_out) / (r + 1.0))


# ------------------------------------------------------------------------------- benchmarks, fit
# vLLM's ShareGPT sampler keeps conversations with prompt <= 1,024 and prompt + output <= 2,048
# tokens (vllm benchmarks/datasets, ShareGPTDataset / is_valid_sequence), so a burst's longest
# output is at most ~2,044 tokens; the fitted value is checked against that bound
SHAREGPT_MAX_SEQUENCE_TOKENS = 2048.0


def drains(row: dict) -> bool:
    """A row whose requests were all sent at once with spread output lengths (ShareGPT): its batch
    drains over the longest output. Random-dataset rows have equal lengths; rows with a capped
    concurrency refill their batch."""
    return "ShareGPT" in row["source"] and "max concurrency" not in row["source"]


@dataclass(frozen=True)
class Benchmarks:
    """The benchmark table as arrays, one entry per row, with each row's serving setup."""

    rows: tuple[dict, ...]
    setup: ServingSetup
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    concurrency: np.ndarray
    observed_total_tokens_per_s_per_gpu: np.ndarray
    observed_output_tokens_per_s_per_gpu: np.ndarray
    fit: np.ndarray  # bool: role == "fit"
    drains: np.ndarray  # bool: see drains()

    def subset(self, mask: np.ndarray) -> Benchmarks:
        pick = np.flatnonzero(mask)
        setup = ServingSetup(*(np.asarray(getattr(self.setup, f))[pick]
                               for f in ServingSetup.__dataclass_fields__))
        return Benchmarks(tuple(self.rows[i] for i in pick), setup, self.input_tokens[pick],
                          self.output_tokens[pick], self.concurrency[pick],
                          self.observed_total_tokens_per_s_per_gpu[pick],
                          self.observed_output_tokens_per_s_per_gpu[pick], self.fit[pick],
                          self.drains[pick])

    def longest_output_tokens(self, sharegpt_longest_output_tokens: float) -> np.ndarray:
        return np.where(self.drains, sharegpt_longest_output_tokens, self.output_tokens)


def load_benchmarks(catalogue: Catalogue, path: Path = BENCHMARKS_PATH) -> Benchmarks:
    """Read the benchmark table; chips not in the catalogue run on ``SAME_SILICON``'s specs."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = tuple(csv.DictReader(handle))
    setups = [setup(catalogue.chips[SAME_SILICON.get(r["chip"], r["chip"])],
                    catalogue.families[r["family"]], float(r["gpus"]),
                    float(r["precision_bits"])) for r in rows]
    stacked = ServingSetup(*(np.array([getattr(x, f) for x in setups], float)
                             for f in ServingSetup.__dataclass_fields__))

    def column(name: str) -> np.ndarray:
        return np.array([float(r[name]) for r in rows])

    return Benchmarks(rows, stacked, column("input_tokens"), column("output_tokens"),
                      column("concurrency"), column("total_tokens_per_s_per_gpu"),
                      column("output_tokens_per_s_per_gpu"),
                      np.array([r["role"] == "fit" for r in rows]),
                      np.array([drains(r) for r in rows]))


@dataclass(frozen=True)
class RooflineFit:
    """The fitted serving parameters and the benchmark protocol's fitted longest ShareGPT output."""

    parameters: RooflineParameters
    sharegpt_longest_output_tokens: float
    # standard errors of the log parameters (the four parameters, then L): Gauss-Newton
    # covariance s^2 (J'J)^-1 at the optimum, s^2 the residual variance on n - 5 degrees of freedom
    log_standard_errors: np.ndarray

    def predicted_total_tokens_per_s(self, b: Benchmarks) -> np.ndarray:
        """The roofline's input + output tokens/s per GPU at every benchmark row."""
        return tokens_per_s_per_gpu(b.setup, self.parameters, b.input_tokens, b.output_tokens,
                                    b.concurrency,
                                    b.longest_output_tokens(self.sharegpt_longest_output_tokens))[1]


def fit_roofline(b: Benchmarks) -> RooflineFit:
    """Least squares on ``log(predicted / observed)`` total tokens/s over the ``fit`` rows only,
    in log parameters (efficiencies bounded to (0, 1], the longest ShareGPT output to
    [1, 2,048] tokens)."""
    fit_rows = b.subset(b.fit)

    def unpack(log_params: np.ndarray, log_standard_errors: np.ndarray) -> RooflineFit:
        values = np.exp(log_params)
        return RooflineFit(RooflineParameters(*values[:4]), float(values[4]), log_standard_errors)

    def residuals(log_params: np.ndarray) -> np.ndarray:
        fit = unpack(log_params, np.full(log_params.size, np.nan))
        predicted = fit.predicted_total_tokens_per_s(fit_rows)
        return np.log(predicted / fit_rows.observed_total_tokens_per_s_per_gpu)

    start = np.log([0.5, 0.3, 0.01, 0.005, 1000.0])
    lower = np.log([1e-3, 1e-3, 1e-6, 1e-6, 1.0])
    upper = np.log([1.0, 1.0, 1.0, 1.0, SHAREGPT_MAX_SEQUENCE_TOKENS])
    result = least_squares(residuals, start, bounds=(lower, upper))
    dof = result.fun.size - result.x.size
    covariance = (result.fun @ result.fun / dof) * np.linalg.inv(result.jac.T @ result.jac)
    return unpack(result.x, np.sqrt(np.diag(covariance)))


# ------------------------------------------------------------------------ serving (market v3)
# est.: the reference request a product's blended token is costed at until sectors carry their
# own input:output mix and context: a chat request of 1,500 input and 500 output tokens (3:1,
# docs/v3-interfaces.md §1; range 500-6,000 input tokens)
REFERENCE_INPUT_TOKENS = 1500.0
REFERENCE_OUTPUT_TOKENS = 500.0
# the serving software the benchmarks measured: vLLM 0.10.2 (Sep 2025) to SGLang 0.5.6 (Dec 2025);
# est. mid-point, the date the serving-software trend S(t) is anchored at for the roofline
BENCHMARK_SOFTWARE_DATE = dt.date(2025, 10, 1)
# instance sizes a host chooses from (GPUs per tensor-parallel group, powers of two as served)
INSTANCE_GPU_CHOICES = (1, 2, 4, 8, 16, 32, 64)


def estimated_kv_bytes_per_active_param(catalogue: Catalogue) -> float:
    """est.: KV-cache bytes per token per active parameter of a family without a published
    architecture (closed weights): the median over the families with one (docs/calibration.md
    C18 gives their range)."""
    ratios = [family_kv_cache_bytes_per_token(f) / (f.active_params_b * PARAMS_PER_BILLION)
              for f in catalogue.families.values() if family_kv_cache_bytes_per_token(f)]
    return float(np.median(ratios))


def kv_bytes_per_token_or_estimate(family: Family, bytes_per_active_param: float) -> float:
    """The family's architecture's KV bytes per token, else ``active params x the estimate``."""
    kv = family_kv_cache_bytes_per_token(family)
    return kv if kv is not None else family.active_params_b * PARAMS_PER_BILLION * \
        bytes_per_active_param


def best_instance(chip: Accelerator, family: Family, parameters: RooflineParameters,
                  kv_bytes_per_token: float, input_tokens: float = REFERENCE_INPUT_TOKENS,
                  output_tokens: float = REFERENCE_OUTPUT_TOKENS) -> tuple[int, float]:
    """(GPUs per instance, input + output tokens/s per GPU): the instance size among
    ``INSTANCE_GPU_CHOICES`` that serves the most tokens per GPU at the request shape (as the
    benchmarks' configurations were chosen); sizes whose memory cannot hold the weights and one
    sequence are skipped."""
    best = (0, 0.0)
    for gpus in INSTANCE_GPU_CHOICES:
        s = setup(chip, family, gpus, kv_bytes_per_token=kv_bytes_per_token)
        if batch_sequences(s, input_tokens, output_tokens, MAX_RUNNING_SEQUENCES) < 1.0:
            continue
        total = float(tokens_per_s_per_gpu(s, parameters, input_tokens, output_tokens)[1])
        if total > best[1]:
            best = (gpus, total)
    if best[0] == 0:
        raise ValueError(f"{family.label!r} does not fit on {max(INSTANCE_GPU_CHOICES)} "
                         f"x {chip.label!r}")
    return best


class RooflineServing:
    """Throughput of (chip, family) pairs at a date from the fitted roofline (market v3): the
    interface of :class:`~pricewar.supply.serving.ServingModel` (``chips``, ``families``,
    ``software``, ``tps``), with ``tps`` in input + output (blended) tokens/s per GPU of the
    reference request.

    ``tps(c, f, t) = roofline(c, f) x S(t) / (1 + pi)``: the roofline at the best instance size,
    its efficiencies scaled by the chip's ``decode_efficiency`` (the software stack's share
    relative to Nvidia's, 0.63 for Ascend; C13); ``S(t) = s^((t - t_b) / 1 yr)`` the serving-
    software trend of ServingModel anchored at the benchmarks' date ``t_b``; ``pi`` the
    export-control penalty.
    """

    def __init__(self, catalogue: Catalogue, fit: RooflineFit | None = None):
        self.catalogue = catalogue
        self.chips = ChipArrays.from_catalogue(catalogue)
        self.families = FamilyArrays.from_catalogue(catalogue)
        self.fit = fit or fit_roofline(load_benchmarks(catalogue))
        self.kv_bytes_per_active_param = estimated_kv_bytes_per_active_param(catalogue)
        p = self.fit.parameters
        shape = (len(self.chips.names), len(self.families.names))
        self.instance_gpus = np.zeros(shape, dtype=np.int64)
        self.reference_tokens_per_s = np.zeros(shape)
        for i, chip in enumerate(catalogue.chips.values()):
            chip_params = RooflineParameters(p.bandwidth_efficiency * chip.decode_efficiency,
                                             p.compute_efficiency * chip.decode_efficiency,
                                             p.step_overhead_s, p.request_overhead_s)
            for j, family in enumerate(catalogue.families.values()):
                kv = kv_bytes_per_token_or_estimate(family, self.kv_bytes_per_active_param)
                self.instance_gpus[i, j], self.reference_tokens_per_s[i, j] = best_instance(
                    chip, family, chip_params, kv)

    def software(self, date: dt.date) -> float:
        """Serving-software multiplier ``S(t)`` relative to the benchmarks' software."""
        return software_multiplier(date, BENCHMARK_SOFTWARE_DATE,
                                   self.catalogue.serving.software_efficiency_per_year)

    def tps(self, chip: str | Sequence | np.ndarray, family: str | Sequence | np.ndarray,
            date: dt.date, penalty=0.0) -> np.ndarray:
        """Blended (input + output) tokens/s per GPU of ``family`` on ``chip`` at ``date``."""
        c, f = self.chips.index(chip), self.families.index(family)
        return (self.reference_tokens_per_s[c, f] * self.software(date)
                / (1.0 + np.asarray(penalty)))
