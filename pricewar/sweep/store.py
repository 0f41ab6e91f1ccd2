"""The sweep directory: manifest, atomic result files, status and loading of results.

Result files are written through a temporary file renamed into place, so a reader never sees a
half-written one. A file that cannot be read anyway (truncated by a copy, a full disk, a failing
disk) is moved aside into ``DIR/quarantine/`` by the next run of the sweep, with a warning, and
its run runs again; ``--status`` and :func:`load_results` skip it with a warning. An unreadable
manifest is quarantined and rebuilt from the spec the same way.
"""

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
from pricewar.atomic_writes import remove_stale_temp_files, write_file_atomic
from pricewar.errors import PricewarError
from pricewar.sweep.spec import SweepSpec

log = logging.getLogger(__name__)


MANIFEST = "manifest.json"


RESULTS = "results"


TIMESERIES = "timeseries"


QUARANTINE = "quarantine"


#: 2: the fingerprint and run ids hash the resolved scenario's values
FORMAT_VERSION = 2


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
def write_frame(frame: pd.DataFrame, path: Path) -> None:
    write_file_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_row(row: dict, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([row])  # plain pyarrow: ~4x faster than pandas for one row
    write_file_atomic(path, lambda tmp: pq.write_table(table, tmp))


class UnreadableManifest(SweepError):
    """The manifest exists but cannot be read (truncated, not JSON, not UTF-8)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path} is unreadable ({reason}): run the sweep with its spec again "
                         f"to rebuild it")
        self.reason = reason


def read_manifest(out: Path) -> dict:
    path = Path(out) / MANIFEST
    if not path.exists():
        raise SweepError(f"{out}: no {MANIFEST} (not a sweep directory, or never started)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not {"fingerprint", "spec", "runs"} <= set(manifest):
            raise ValueError("not a sweep manifest")
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError included
        raise UnreadableManifest(path, f"{type(error).__name__}: {error}") from None
    return manifest


def quarantine(out: Path, path: Path, reason: str) -> Path:
    """Move an unreadable file of sweep ``out`` aside into ``out/quarantine/`` (same relative
    path, numbered if taken) and warn; returns where it went."""
    target = out / QUARANTINE / path.relative_to(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    while target.exists():
        n += 1
        target = target.with_name(f"{path.name}.{n}")
    os.replace(path, target)
    log.warning("%s is unreadable (%s): moved to %s; its run runs again", path, reason, target)
    return target


def _spec_differences(old: dict, new: dict) -> list[str]:
    keys = sorted((set(old) | set(new)) - {"name", "description"})
    return [k for k in keys if old.get(k) != new.get(k)]


def prepare_directory(spec: SweepSpec, runs: pd.DataFrame, out: Path) -> None:
    """Write the manifest, or check that the directory holds this very sweep (call with the
    directory's lock held: temporary files left in it are then a dead writer's)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS).mkdir(exist_ok=True)
    if spec.outputs.timeseries:
        (out / TIMESERIES).mkdir(exist_ok=True)
    for folder in (out, out / RESULTS, out / TIMESERIES):
        if folder.is_dir():
            remove_stale_temp_files(folder)  # writes interrupted by a crash
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        try:
            old = read_manifest(out)
        except UnreadableManifest as error:
            quarantine(out, manifest_path, error.reason)
        else:
            _check_same_sweep(old, spec, out)
            return
    manifest = {
        "format": FORMAT_VERSION,
        "pricewar_version": pricewar.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fingerprint": spec.fingerprint,
        "scenario_sha256": spec.scenario_digest,
        "spec_source": spec.source,
        "spec": spec.to_dict(),
        "columns": spec.outputs.columns,
        "runs": runs.to_dict(orient="records"),
    }
    write_file_atomic(out / "spec.toml",
                      lambda tmp: tmp.write_text(tomli_w.dumps(spec.to_dict()), encoding="utf-8"))
    write_file_atomic(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1),
                                                                encoding="utf-8"))


def _check_same_sweep(old: dict, spec: SweepSpec, out: Path) -> None:
    if old.get("fingerprint") == spec.fingerprint:
        return
    where = (f"{out} holds a different sweep ({old.get('spec', {}).get('name')!r} from "
             f"{old.get('spec_source')}")
    if old.get("format") != FORMAT_VERSION:
        raise SweepError(f"{where}, written by another pricewar version (format "
                         f"{old.get('format')}): use a new --out directory")
    differ = _spec_differences(old.get("spec", {}), spec.to_dict())
    if not differ and old.get("scenario_sha256") != spec.scenario_digest:
        differ = [f"the contents of scenario {spec.scenario!r}, changed since the sweep started"]
    raise SweepError(f"{where}; differs in {differ or 'its design'}): use a new --out directory, "
                     f"or the original spec and scenario to resume")


def _result_files(out: Path) -> list[Path]:
    return sorted((Path(out) / RESULTS).glob("run-*.parquet"))


def read_results(out: Path, columns: list[str] | None = None,
                 move_unreadable: bool = False) -> pd.DataFrame | None:
    """Every readable stored result row (None if there is none); one dataset scan, per-file
    fallback. Unreadable files are skipped with a warning, or quarantined
    (``move_unreadable``, for a sweep that holds the directory's lock)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    files = _result_files(out)
    if not files:
        return None
    try:  # every file has the same schema: one scan of the dataset is fast
        return ds.dataset([str(f) for f in files], format="parquet").to_table(
            columns=columns).to_pandas()
    except (pa.ArrowException, OSError, ValueError):  # a column's type differs, a bad file
        frames = [frame for f in files
                  if (frame := _read_result(out, f, columns, move_unreadable)) is not None]
        return pd.concat(frames, ignore_index=True) if frames else None


def _read_result(out: Path, path: Path, columns, move_unreadable: bool) -> pd.DataFrame | None:
    import pyarrow as pa

    try:
        frame = pd.read_parquet(path, columns=columns)
        missing = {"run_id", "status"} - set(frame.columns)
        if missing or len(frame) != 1:
            raise ValueError(f"not a result row (columns missing: {sorted(missing)}, "
                             f"rows: {len(frame)})")
        return frame
    except (pa.ArrowException, OSError, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"
        if move_unreadable:
            quarantine(Path(out), path, reason)
        else:
            log.warning("%s is unreadable (%s): skipped (the next run of the sweep moves it "
                        "aside and runs it again)", path, reason)
        return None


def finished_runs(out: Path, move_unreadable: bool = False) -> dict[str, str]:
    """run_id -> status of every stored (readable) result."""
    frame = read_results(out, ["run_id", "status"], move_unreadable)
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
    ``error``, ``warnings`` (the run's warnings, ``"; "``-separated, e.g. past the calibrated
    period), ``wall_seconds``, ``cpu_seconds``, ``host``. Unreadable result files are skipped with a warning.
    """
    out = Path(out)
    manifest = read_manifest(out)
    frame = read_results(out)
    if frame is None:
        return pd.DataFrame(columns=["run_id", "seed", *manifest["spec"]["design"]["parameters"],
                                     *manifest["columns"], "status", "error", "warnings",
                                     "wall_seconds", "cpu_seconds", "host"])
    order = {rid: i for i, rid in enumerate(dict.fromkeys(r["run_id"] for r in manifest["runs"]))}
    frame = frame[frame["run_id"].isin(order)]
    return frame.sort_values("run_id", key=lambda s: s.map(order)).reset_index(drop=True)


def load_timeseries(out: str | Path) -> pd.DataFrame:
    """Every metric at every step of every finished run (``outputs.timeseries = true``),
    with ``run_id`` and ``step`` columns; join :func:`load_results` on ``run_id`` for parameters."""
    import pyarrow as pa

    files = sorted((Path(out) / TIMESERIES).glob("run-*.parquet"))
    if not files:
        raise SweepError(f"{out}: no time series (set outputs.timeseries = true in the spec)")
    frames = []
    for path in files:
        try:
            frames.append(pd.read_parquet(path))
        except (pa.ArrowException, OSError, ValueError) as error:
            log.warning("%s is unreadable (%s: %s): skipped", path, type(error).__name__, error)
    if not frames:
        raise SweepError(f"{out}: no readable time series")
    return pd.concat(frames, ignore_index=True)
