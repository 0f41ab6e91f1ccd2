"""The sweep directory: manifest, atomic result files, status and loading of results."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import tomli_w

import pricewar
from pricewar.errors import PricewarError
from pricewar.sweep.spec import SweepSpec

log = logging.getLogger(__name__)


MANIFEST = "manifest.json"


RESULTS = "results"


TIMESERIES = "timeseries"


FORMAT_VERSION = 1


class SweepError(PricewarError, RuntimeError):
    """A sweep cannot start, continue or be analysed (names the directory and the reason)."""


@dataclass(frozen=True)
class SweepStatus:
    """Progress of a sweep directory (counts of distinct runs)."""

    name: str
    total: int
    done: int
    failed: int
    ran: int = 0  # runs executed by the call that returned this status

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def ok(self) -> int:
        return self.done - self.failed

    def __str__(self) -> str:
        return (f"sweep {self.name!r}: {self.total} runs, {self.done} done "
                f"({self.ok} ok, {self.failed} failed), {self.remaining} remaining")


# ------------------------------------------------------------------------------------------------
# the directory: manifest, atomic result files
# ------------------------------------------------------------------------------------------------
def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    _write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_row(row: dict, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([row])  # plain pyarrow: ~4x faster than pandas for one row
    _write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def read_manifest(out: Path) -> dict:
    path = Path(out) / MANIFEST
    if not path.exists():
        raise SweepError(f"{out}: no {MANIFEST} (not a sweep directory, or never started)")
    return json.loads(path.read_text())


def _spec_differences(old: dict, new: dict) -> list[str]:
    keys = sorted((set(old) | set(new)) - {"name", "description"})
    return [k for k in keys if old.get(k) != new.get(k)]


def prepare_directory(spec: SweepSpec, runs: pd.DataFrame, out: Path) -> None:
    """Write the manifest, or check that the directory holds this very sweep."""
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS).mkdir(exist_ok=True)
    if spec.outputs.timeseries:
        (out / TIMESERIES).mkdir(exist_ok=True)
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("fingerprint") != spec.fingerprint:
            differ = _spec_differences(old.get("spec", {}), spec.to_dict())
            raise SweepError(
                f"{out} holds a different sweep ({old.get('spec', {}).get('name')!r} from "
                f"{old.get('spec_source')}; differs in {differ or 'its design'}): use a new "
                f"--out directory, or the original spec to resume")
        for stale in out.glob("*/.*.tmp"):
            stale.unlink(missing_ok=True)  # a write interrupted by a crash
        return
    manifest = {
        "format": FORMAT_VERSION,
        "pricewar_version": pricewar.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fingerprint": spec.fingerprint,
        "spec_source": spec.source,
        "spec": spec.to_dict(),
        "columns": spec.outputs.columns,
        "runs": runs.to_dict(orient="records"),
    }
    _write_atomic(out / "spec.toml", lambda tmp: tmp.write_text(tomli_w.dumps(spec.to_dict())))
    _write_atomic(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1)))


def _result_files(out: Path) -> list[Path]:
    return sorted((Path(out) / RESULTS).glob("run-*.parquet"))


def read_results(out: Path, columns: list[str] | None = None) -> pd.DataFrame | None:
    """Every stored result row (None if there is none); one dataset scan, per-file fallback."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    files = _result_files(out)
    if not files:
        return None
    try:  # every file has the same schema: one scan of the dataset is fast
        return ds.dataset([str(f) for f in files], format="parquet").to_table(
            columns=columns).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # e.g. a column's type differs between files
        return pd.concat([pd.read_parquet(f, columns=columns) for f in files],
                         ignore_index=True)


def finished_runs(out: Path) -> dict[str, str]:
    """run_id -> status of every stored result."""
    frame = read_results(out, ["run_id", "status"])
    return {} if frame is None else dict(zip(frame["run_id"], frame["status"], strict=True))


def status_of(out: Path, manifest: dict, ran: int = 0) -> SweepStatus:
    planned = {r["run_id"] for r in manifest["runs"]}
    finished = {k: v for k, v in finished_runs(out).items() if k in planned}
    return SweepStatus(name=manifest["spec"]["name"], total=len(planned), done=len(finished),
                       failed=sum(v != "ok" for v in finished.values()), ran=ran)


def sweep_status(out: str | Path) -> SweepStatus:
    """Done, failed and remaining runs of the sweep in directory ``out``."""
    return status_of(Path(out), read_manifest(Path(out)))


# ------------------------------------------------------------------------------------------------
# reading and analysis
# ------------------------------------------------------------------------------------------------
def load_design(out: str | Path) -> pd.DataFrame:
    """The run table written at start: ``run_id, point, seed`` and the swept parameters."""
    return pd.DataFrame(read_manifest(Path(out))["runs"])


def load_results(out: str | Path) -> pd.DataFrame:
    """One row per finished run (ok and failed), in design order.

    Columns: ``run_id, seed``, the swept parameters, ``metric@step`` outputs, ``status``,
    ``error``, ``wall_seconds``, ``host``.
    """
    out = Path(out)
    manifest = read_manifest(out)
    frame = read_results(out)
    if frame is None:
        return pd.DataFrame(columns=["run_id", "seed", *manifest["spec"]["design"]["parameters"],
                                     *manifest["columns"], "status", "error", "wall_seconds",
                                     "host"])
    order = {rid: i for i, rid in enumerate(dict.fromkeys(r["run_id"] for r in manifest["runs"]))}
    frame = frame[frame["run_id"].isin(order)]
    return frame.sort_values("run_id", key=lambda s: s.map(order)).reset_index(drop=True)


def load_timeseries(out: str | Path) -> pd.DataFrame:
    """Every metric at every step of every finished run (``outputs.timeseries = true``),
    with ``run_id`` and ``step`` columns; join :func:`load_results` on ``run_id`` for parameters."""
    files = sorted((Path(out) / TIMESERIES).glob("run-*.parquet"))
    if not files:
        raise SweepError(f"{out}: no time series (set outputs.timeseries = true in the spec)")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
