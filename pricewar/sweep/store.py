"""The sweep directory: manifest, atomic result files, status and loading of results.

Result files are written through a temporary file renamed into place, so a reader never sees a
half-written one. Each carries a SHA-256 digest of its content. A result is accepted only from
the file named exactly ``results/run-<run_id>.parquet`` for a run of the sweep, holding exactly
one row, of that run, whose content matches its digest (and, with time series, whose run's
time series file passes the same checks). Any other file (truncated, a stray copy, copied over
another run's, flipped bits) is rejected: the next run of the sweep and ``--status``
(:func:`sweep_status` with ``repair=True``; not while a sweep runs in the directory) move it
aside into ``DIR/quarantine/`` with a warning naming where it went, and its run runs again on
resume; :func:`load_results` and :func:`load_timeseries` skip it with a warning and move
nothing. An unreadable manifest is quarantined and rebuilt from the spec the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import tomli_w

import pricewar
from pricewar.atomic_writes import (
    FolderLock,
    OutputError,
    remove_stale_temp_files,
    write_file_atomic,
)
from pricewar.errors import PricewarError
from pricewar.sweep.spec import SweepSpec

log = logging.getLogger(__name__)


MANIFEST = "manifest.json"


RESULTS = "results"


TIMESERIES = "timeseries"


QUARANTINE = "quarantine"


#: 2: the fingerprint and run ids hash the resolved scenario's values; 3: result and time
#: series files carry a content digest (files without one are rejected and their runs rerun)
FORMAT_VERSION = 3

#: the result column holding the SHA-256 of the row's other columns (:func:`content_digest`)
DIGEST_COLUMN = "content_sha256"

#: the time series files' metadata key holding their :func:`series_digest`
SERIES_DIGEST_KEY = b"pricewar.content_sha256"


class SweepError(PricewarError, RuntimeError):
    """A sweep cannot start, continue or be analysed (names the directory and the reason)."""


@dataclass(frozen=True)
class Rejection:
    """A file of a sweep's ``results/`` or ``timeseries/`` that result loading rejected."""

    path: Path  # where it was found
    reason: str
    run_id: str | None  # the run it is named after (None: the name is no run's of the sweep)
    moved_to: Path | None = None  # where it was quarantined (None: left in place)

    def __str__(self) -> str:
        rerun = (f"run {self.run_id} runs again on resume" if self.run_id
                 else "no run of the sweep is affected")
        where = (f"moved to {self.moved_to}" if self.moved_to
                 else "left in place (the next run of the sweep moves it aside)")
        return f"{self.path} is rejected ({self.reason}): {where}; {rerun}"


@dataclass(frozen=True)
class SweepStatus:
    """Progress of a sweep directory (counts of distinct runs)."""

    name: str
    total: int
    done: int
    failed: int
    ran: int = 0  # runs executed by the call that returned this status
    #: files rejected by result loading during the call (quarantined or left in place)
    rejected: tuple[Rejection, ...] = field(default=(), compare=False)
    #: (run_id, seed, error) of each failed run, in design order
    failures: tuple[tuple[str, int, str], ...] = field(default=(), compare=False)

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def ok(self) -> int:
        return self.done - self.failed

    def __str__(self) -> str:
        text = (f"sweep {self.name!r}: {self.total} runs, {self.done} done "
                f"({self.ok} ok, {self.failed} failed), {self.remaining} remaining")
        moved = [r.moved_to for r in self.rejected if r.moved_to]
        if moved:
            folder = next(p for p in moved[0].parents if p.name == QUARANTINE)
            text += f"; {len(moved)} rejected file(s) moved to {folder}"
        if len(moved) < len(self.rejected):
            text += f"; {len(self.rejected) - len(moved)} rejected file(s) left in place"
        return text


# ------------------------------------------------------------------------------------------------
# the directory: manifest, atomic result files
# ------------------------------------------------------------------------------------------------
def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """A run's time series, with its :func:`series_digest` in the file's metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           SERIES_DIGEST_KEY: series_digest(table).encode()})
    write_file_atomic(path, lambda tmp: pq.write_table(table, tmp))


def write_row(row: dict, path: Path) -> None:
    """A run's result row, with its :func:`content_digest` in :data:`DIGEST_COLUMN`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([row])  # plain pyarrow: ~4x faster than pandas for one row
    table = table.append_column(DIGEST_COLUMN, pa.array([content_digest(table)]))
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


def quarantine(out: Path, path: Path) -> Path:
    """Move a rejected file of sweep ``out`` aside into ``out/quarantine/`` (same relative
    path, numbered if taken); returns where it went."""
    target = out / QUARANTINE / path.relative_to(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    while target.exists():
        n += 1
        target = target.with_name(f"{path.name}.{n}")
    os.replace(path, target)
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
            moved = quarantine(out, manifest_path)
            log.warning("%s is unreadable (%s): moved to %s; rebuilt from the spec",
                        manifest_path, error.reason, moved)
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


def content_digest(table) -> str:
    """SHA-256 of a pyarrow table's decoded content: column names, types and values (not its
    metadata nor the :data:`DIGEST_COLUMN`). A flipped bit that changes any stored value,
    name or type changes the digest."""
    types = {field.name: str(field.type) for field in table.schema}
    return _digest(types, table.to_pydict())


def series_digest(table) -> str:
    """SHA-256 of a time series table's decoded content: names, types and values, numeric
    columns by their bytes (fast: a run's series has ~150 rows x ~100 columns)."""
    import hashlib

    import numpy as np
    import pyarrow as pa

    digest = hashlib.sha256()
    for name in sorted(table.column_names):
        column = table.column(name)
        digest.update(json.dumps([name, str(column.type), len(column)]).encode())
        if (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)) \
                and column.null_count == 0:
            digest.update(np.ascontiguousarray(column.to_numpy()).tobytes())
        else:
            digest.update(json.dumps(column.to_pylist(), default=str).encode())
    return digest.hexdigest()


def _digest(types: dict[str, str], columns: dict[str, list]) -> str:
    import hashlib

    content = [[name, types[name], columns[name]] for name in sorted(columns)
               if name != DIGEST_COLUMN]
    return hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()


def _run_id_of(path: Path) -> str:
    return path.name[len("run-"):-len(".parquet")]


def _read_verified(path: Path, run_id: str, scanned: tuple[dict, list[dict]] | None = None):
    """The verified result row of ``path`` (a dict) or the reason it is rejected.
    ``scanned``: the column types and the rows of the file from a dataset scan (the file is
    read on its own if absent, or if the scan's shared schema changed its content)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for attempt in ("scan", "file"):
        try:  # a damaged file may fail to parse or hold undecodable text
            if scanned is None or attempt == "file":
                table = pq.read_table(path)
                scanned = ({f.name: str(f.type) for f in table.schema}, table.to_pylist())
            types, rows = scanned
            if len(rows) != 1:
                return None, f"holds {len(rows)} rows, a result holds one"
            [row] = rows
            if DIGEST_COLUMN not in row or "run_id" not in row:
                return None, f"no {DIGEST_COLUMN} or run_id column (not a verified result)"
            if row["run_id"] != run_id:
                return None, f"holds the result of run {row['run_id']!r}, not of run {run_id}"
            if row[DIGEST_COLUMN] == _digest(types, {k: [v] for k, v in row.items()}):
                return row, ""
        except (pa.ArrowException, OSError, ValueError) as error:  # UnicodeDecodeError too
            return None, _reason(error)
    return None, "its content does not match its digest (damaged)"


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"


def _scan_rows(paths: list[Path]) -> dict[Path, tuple[dict, list[dict]]]:
    """Every file's column types and rows, by one dataset scan (fast); empty if the scan
    fails (a damaged file, a type that differs: the files are then read one by one)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        batches, owners = [], []
        for batch in ds.dataset([str(p) for p in paths], format="parquet").scanner(
                ).scan_batches():
            batches.append(batch.record_batch)
            owners += [batch.fragment.path] * batch.record_batch.num_rows
        if not batches:
            return {}
        table = pa.Table.from_batches(batches)
        types = {field.name: str(field.type) for field in table.schema}
        found: dict[Path, tuple[dict, list[dict]]] = {}
        for owner, row in zip(owners, table.to_pylist(), strict=True):
            found.setdefault(Path(owner), (types, []))[1].append(row)
    except (pa.ArrowException, OSError, ValueError):
        return {}
    return found


def _verified_files(out: Path, folder: str, planned: set[str], move_unreadable: bool,
                    rejected: list[Rejection]) -> dict[str, object]:
    """run_id -> verified row (results, a dict) or True (time series) of the files
    ``run-<run_id>.parquet`` in ``out/folder``.

    A file is accepted only if its name is exactly that of a planned run, it holds one row
    (results) or rows (time series) of that very run, and its content matches its digest.
    Every other file there (a stray copy, a file copied over another, a duplicated row, flipped
    bits, a truncated file) is quarantined (``move_unreadable``) or skipped, and added to
    ``rejected``."""
    paths = sorted((Path(out) / folder).glob("run-*.parquet"))
    scanned = _scan_rows(paths) if folder == RESULTS else {}
    accepted: dict[str, object] = {}
    for path in paths:
        run_id = _run_id_of(path)
        if run_id not in planned:
            table, reason = None, "its name is not that of a run of this sweep"
        elif folder == RESULTS:
            table, reason = _read_verified(path, run_id, scanned.get(path))
        else:
            table, reason = _read_verified_series(path, run_id)
        if table is not None:
            accepted[run_id] = table if folder == RESULTS else True
            continue
        rejection = Rejection(path, reason, run_id if run_id in planned else None,
                              quarantine(Path(out), path) if move_unreadable else None)
        rejected.append(rejection)
    return accepted


def _read_verified_series(path: Path, run_id: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:  # a damaged file may fail to parse or hold undecodable text
        table = pq.read_table(path)
        stored = (table.schema.metadata or {}).get(SERIES_DIGEST_KEY, b"").decode(
            errors="replace")
        if not stored:
            return None, "no content digest (not a verified time series)"
        if ("run_id" not in table.column_names
                or set(table.column("run_id").to_pylist()) != {run_id}):
            return None, f"does not hold the time series of run {run_id} alone"
        if stored != series_digest(table):
            return None, "its content does not match its digest (damaged)"
    except (pa.ArrowException, OSError, ValueError) as error:  # UnicodeDecodeError too
        return None, _reason(error)
    return table, ""


def stored_results(out: Path, manifest: dict, move_unreadable: bool = False,
                   rejected: list[Rejection] | None = None) -> dict[str, dict]:
    """run_id -> verified result row of every finished run of the sweep in ``out``.

    A run counts as finished when its result file is verified (:func:`_verified_files`) and,
    if the sweep keeps time series and the run is ok, its time series file is verified too.
    ``move_unreadable`` (a process holding the directory's lock) quarantines rejected files so
    their runs run again; otherwise they are skipped. Each rejected file is added to
    ``rejected`` if given (the caller reports them), else logged as a warning."""
    out = Path(out)
    found: list[Rejection] = []
    planned = {r["run_id"] for r in manifest["runs"]}
    results = _verified_files(out, RESULTS, planned, move_unreadable, found)
    if manifest["spec"].get("outputs", {}).get("timeseries") and (out / TIMESERIES).is_dir():
        series = _verified_files(out, TIMESERIES, planned, move_unreadable, found)
        for run_id in [r for r, row in results.items()
                       if row["status"] == "ok" and r not in series]:
            del results[run_id]  # its time series is rejected or missing: it runs again
            if not any(rejection.run_id == run_id for rejection in found):
                log.warning("run %s has no time series file: it runs again", run_id)
    if rejected is None:
        for rejection in found:
            log.warning("%s", rejection)
    else:
        rejected += found
    return results


def finished_runs(out: Path, manifest: dict, move_unreadable: bool = False,
                  rejected: list[Rejection] | None = None) -> dict[str, str]:
    """run_id -> status of every finished run (:func:`stored_results`)."""
    return {run_id: row["status"] for run_id, row
            in stored_results(out, manifest, move_unreadable, rejected).items()}


def status_of(out: Path, manifest: dict, ran: int = 0, move_unreadable: bool = False,
              rejected: list[Rejection] | None = None) -> SweepStatus:
    """The status of the sweep in ``out``; ``rejected``: files rejected earlier in the same
    call (reported with those rejected now)."""
    rejected = list(rejected or ())
    planned = dict.fromkeys(r["run_id"] for r in manifest["runs"])
    finished = stored_results(out, manifest, move_unreadable, rejected)
    failures = tuple((run_id, finished[run_id]["seed"], finished[run_id]["error"])
                     for run_id in planned
                     if run_id in finished and finished[run_id]["status"] != "ok")
    return SweepStatus(name=manifest["spec"]["name"], total=len(planned), done=len(finished),
                       failed=len(failures), ran=ran, rejected=tuple(rejected),
                       failures=failures)


def sweep_status(out: str | Path, repair: bool = False) -> SweepStatus:
    """Done, failed and remaining runs of the sweep in directory ``out``.

    ``repair``: move the files result loading rejects into ``out/quarantine/`` (their runs run
    again on resume), as the next run of the sweep would; while a sweep runs in ``out``, or if
    ``out`` cannot be written, they are left in place (with a warning saying why). Rejected
    files are listed in the status's ``rejected`` (``--status`` prints them), not logged.
    """
    out = Path(out)
    manifest = read_manifest(out)
    if repair:
        try:
            with FolderLock(out, "sweep"):
                return status_of(out, manifest, move_unreadable=True)
        except (OutputError, OSError) as error:  # a sweep runs here; a read-only folder
            log.warning("rejected files of %s are left in place: %s", out, error)
    return status_of(out, manifest)


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
    import pyarrow as pa

    out = Path(out)
    manifest = read_manifest(out)
    rows = stored_results(out, manifest)
    if not rows:
        return pd.DataFrame(columns=["run_id", "seed", *manifest["spec"]["design"]["parameters"],
                                     *manifest["columns"], "status", "error", "warnings",
                                     "wall_seconds", "cpu_seconds", "host"])
    order = dict.fromkeys(r["run_id"] for r in manifest["runs"] if r["run_id"] in rows)
    frame = pa.Table.from_pylist([rows[run_id] for run_id in order]).to_pandas()
    return frame.drop(columns=[DIGEST_COLUMN])


def load_timeseries(out: str | Path) -> pd.DataFrame:
    """Every metric at every step of every finished run (``outputs.timeseries = true``),
    with ``run_id`` and ``step`` columns; join :func:`load_results` on ``run_id`` for parameters."""
    import pyarrow.parquet as pq

    out = Path(out)
    manifest = read_manifest(out)
    if not sorted((out / TIMESERIES).glob("run-*.parquet")):
        raise SweepError(f"{out}: no time series (set outputs.timeseries = true in the spec)")
    finished = stored_results(out, manifest)
    order = [r for r in dict.fromkeys(r["run_id"] for r in manifest["runs"])
             if r in finished and (out / TIMESERIES / f"run-{r}.parquet").is_file()]
    if not order:
        raise SweepError(f"{out}: no readable time series")
    return pd.concat([pq.read_table(out / TIMESERIES / f"run-{r}.parquet").to_pandas()
                      for r in order], ignore_index=True)
