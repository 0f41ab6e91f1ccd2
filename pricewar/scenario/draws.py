"""A scenario's posterior draws: one file beside its TOML, one row per draw of its estimated
parameters.

The draws of scenario ``x.toml`` are ``x.draws.csv`` (or ``x.draws.parquet``) in the same
folder; a shipped scenario's are ``pricewar/data/scenarios/<name>.draws.csv``. Columns: ``draw``
(an integer id, unique) and one column per flat parameter (a name of ``pricewar parameters``:
the ``--set`` keys, except the run's size ``steps`` and ``n_consumers``). Each value is checked
as ``--set`` checks it (type and bounds), and each used row as a whole by the scenario's own
validator (:meth:`Scenario.with_overrides`); a bad file fails with one line naming the file, the
row and the column (:class:`DrawsError`). The rows are exchangeable draws in random order, so the
first N are a sample of N draws (``--draws N``).

A scenario file without its own draws uses its ``base`` scenario's (a policy scenario based on
``baseline`` runs over baseline's posterior), unless it sets one of the drawn parameters itself:
then the base's draws would silently undo its change, and it needs its own file.

A calibration's weighted posterior becomes a draws file with one call (resampled by weight)::

    from pricewar.calibrate import posterior_overrides
    from pricewar.scenario.draws import write_draws
    write_draws(posterior_overrides("runs/calibrate", 200, seed=0),
                "pricewar/data/scenarios/baseline.draws.csv")
"""

from __future__ import annotations

import csv
import fnmatch
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pricewar.errors import ScenarioError
from pricewar.limits import MAX_BASE_CHAIN
from pricewar.scenario.data_files import read_toml
from pricewar.scenario.loading import _scenario_path, load_scenario
from pricewar.scenario.overrides import flatten
from pricewar.scenario.parameters import PARAMETERS, check_value, parse_text

#: the id column of a draws file
DRAW_COLUMN = "draw"
#: the suffixes a draws file may have, replacing the scenario's ``.toml``
DRAWS_SUFFIXES = (".draws.csv", ".draws.parquet")
#: flat parameters a draws file may not hold: the run's size, set by the command that runs it
NOT_DRAWN = {"steps": "the run length is the command's --steps",
             "n_consumers": "the population size is the command's (or --set n_consumers)"}
_SET_BY = re.compile(r"\(set by override (\w+)=")


class DrawsError(ScenarioError):
    """A missing or invalid draws file (names the file, the row and the column; the value too
    when there is one)."""

    def __init__(self, source: str, key_path: str, value: object, problem: str):
        super().__init__(source, key_path, value, problem)
        if value is None:
            self.args = (f"{source}: {key_path}: {problem}",)


@dataclass(frozen=True)
class Draws:
    """The draws of a scenario: ids and flat overrides in file order."""

    path: Path
    ids: tuple[int, ...]
    overrides: tuple[dict, ...]

    @property
    def columns(self) -> list[str]:
        return list(self.overrides[0]) if self.overrides else []

    def __len__(self) -> int:
        return len(self.ids)

    def first(self, n: int) -> list[tuple[int, dict]]:
        """The first ``n`` draws as ``(draw id, overrides)``; DrawsError if the file has fewer."""
        if not 1 <= n <= len(self.ids):
            raise DrawsError(str(self.path), "rows", len(self.ids),
                             f"{n} draws asked for, the file has {len(self.ids)}")
        return list(zip(self.ids[:n], self.overrides[:n], strict=True))


# ------------------------------------------------------------------------------------------------
# where a scenario's draws are
# ------------------------------------------------------------------------------------------------
def own_draws_file(toml: Path) -> Path | None:
    """The draws file beside scenario file ``toml`` (None without one; DrawsError with two)."""
    stem = toml.with_suffix("")
    found = [p for p in (stem.with_name(stem.name + s) for s in DRAWS_SUFFIXES) if p.is_file()]
    if len(found) > 1:
        raise DrawsError(str(toml), "draws", [p.name for p in found],
                         "two draws files: keep one")
    return found[0] if found else None


def _sets_drawn_parameter(content: Mapping, columns: Sequence[str]) -> str | None:
    """The first of ``columns`` whose scenario key a scenario file's own ``content`` sets."""
    keys = [k.removesuffix(".value") for k in flatten(dict(content))]
    for column in columns:
        parameter = PARAMETERS[column]
        patterns = [parameter.path]
        if parameter.apply == "symmetric":  # a latency pair: either direction
            section, a, b = parameter.path.split(".")
            patterns.append(f"{section}.{b}.{a}")
        if any(fnmatch.fnmatchcase(k, pattern) or k.startswith(pattern + ".")
               for k in keys for pattern in patterns):
            return column
    return None


def draws_file(scenario: str | Path) -> Path:
    """The draws file of ``scenario`` (a shipped name or a .toml path): its own, else that of
    the nearest ``base`` along its chain. DrawsError when there is none, or when the scenario
    sets a parameter its base's draws vary."""
    toml = _scenario_path(str(scenario))
    chain = [toml]
    while True:
        found = own_draws_file(chain[-1])
        if found is not None:
            break
        base = read_toml(chain[-1]).get("base")
        if not isinstance(base, str) or len(chain) >= MAX_BASE_CHAIN:  # (load_scenario
            # refuses a longer or circular chain with its own message)
            looked = " or ".join(str(p.with_suffix("").with_name(p.stem + DRAWS_SUFFIXES[0]))
                                 for p in chain)
            raise DrawsError(str(scenario), "draws", None,
                             f"no posterior draws (looked for {looked}; .draws.parquet also "
                             f"accepted): --draws needs a draws file beside the scenario "
                             f"(docs/outputs.md, 'Posterior draws')")
        chain.append(_scenario_path(base, relative_to=chain[-1]))
    if len(chain) > 1:
        columns = read_draws_file(found).columns
        for child in chain[:-1]:
            column = _sets_drawn_parameter(read_toml(child), columns)
            if column is not None:
                raise DrawsError(str(child), column, None,
                                 f"sets a parameter that its base's draws ({found}) vary: "
                                 f"those draws would undo it; give {child.name} its own "
                                 f"draws file")
    return found


def load_draws(scenario: str | Path, n: int | None = None) -> Draws:
    """The draws of ``scenario`` (see :func:`draws_file`); the first ``n`` (all by default),
    each checked as a whole against the scenario."""
    resolved = load_scenario(scenario)  # a bad scenario (or base chain) fails as itself first
    path = draws_file(scenario)
    draws = read_draws_file(path)
    if n is not None:
        chosen = draws.first(n)
        draws = Draws(path, tuple(i for i, _ in chosen), tuple(o for _, o in chosen))
    check_against(draws, resolved)
    return draws


# ------------------------------------------------------------------------------------------------
# reading, checking, writing
# ------------------------------------------------------------------------------------------------
def _rows(path: Path) -> tuple[list[str], list[dict], bool]:
    """Header, rows and whether the values are text (CSV) or typed (Parquet)."""
    if path.name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as error:
            raise DrawsError(str(path), "<file>", None,
                             f"cannot be read as Parquet ({str(error).splitlines()[0]})") from None
        return table.column_names, table.to_pylist(), False
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DrawsError(str(path), "<file>", None, f"cannot be read ({error})") from None
    return header, rows, True


def _check_header(path: Path, header: list[str]) -> list[str]:
    if DRAW_COLUMN not in header:
        raise DrawsError(str(path), "header", header,
                         f"no '{DRAW_COLUMN}' column (the draw's id)")
    if len(set(header)) < len(header):
        twice = sorted({c for c in header if header.count(c) > 1})
        raise DrawsError(str(path), "header", twice, "a column named twice")
    columns = [c for c in header if c != DRAW_COLUMN]
    for column in columns:
        if column in NOT_DRAWN:
            raise DrawsError(str(path), f"column {column}", None,
                             f"not a drawn parameter: {NOT_DRAWN[column]}")
        if column not in PARAMETERS:
            raise DrawsError(str(path), f"column {column}", None,
                             "unknown parameter (the columns are the names `pricewar "
                             "parameters` lists, and 'draw')")
    if not columns:
        raise DrawsError(str(path), "header", header, "no parameter column")
    return columns


def _draw_id(path: Path, row: int, value) -> int:
    text = str(value).strip() if value is not None else ""
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]+", text):
        raise DrawsError(f"{path}: row {row}", DRAW_COLUMN, value,
                         "expected a draw id, an integer >= 0")
    return int(text)


def read_draws_file(path: str | Path) -> Draws:
    """Read and check a draws file (CSV or Parquet): its header, every draw id and every value
    as ``--set`` checks it. Rows are numbered from 1 (the first row after the header)."""
    path = Path(path)
    if not path.is_file():
        raise DrawsError(str(path), "<file>", None, "file not found")
    header, rows, text = _rows(path)
    columns = _check_header(path, header)
    if not rows:
        raise DrawsError(str(path), "rows", 0, "no draws (a header without rows)")
    ids, overrides, seen = [], [], {}
    for number, row in enumerate(rows, start=1):
        where = f"{path}: row {number}"
        draw = _draw_id(path, number, row[DRAW_COLUMN])
        if draw in seen:
            raise DrawsError(where, DRAW_COLUMN, draw, f"draw id also on row {seen[draw]}")
        seen[draw] = number
        values = {}
        for column in columns:
            value = row[column]
            if not text and (value is None or (isinstance(value, float) and math.isnan(value))):
                raise DrawsError(f"{where}, column", column, value, "empty: every draw sets "
                                 "every column")
            values[column] = _checked(column, value, text, f"{where}, column")
        ids.append(draw)
        overrides.append(values)
    return Draws(path, tuple(ids), tuple(overrides))


def _checked(column: str, value, text: bool, source: str):
    """``value`` typed and checked as ``--set`` checks it (a DrawsError naming ``source``)."""
    try:
        if text:
            return parse_text(column, (value or "").strip(), source)
        return check_value(column, value, source)
    except ScenarioError as error:
        raise DrawsError(error.source, error.key_path, error.value, error.problem) from None


def check_against(draws: Draws, scenario) -> None:
    """Check each draw as a whole with the scenario's validator (the bounds of the scenario
    field a parameter sets); DrawsError naming the row and the column."""
    for number, (draw, values) in enumerate(zip(draws.ids, draws.overrides, strict=True),
                                            start=1):
        try:
            scenario.with_overrides(**values)
        except ScenarioError as error:
            named = _SET_BY.search(error.problem)
            column = named.group(1) if named else "+".join(values)
            problem = _SET_BY.split(error.problem)[0].strip()
            raise DrawsError(f"{draws.path}: row {number} (draw {draw}), column", column,
                             values.get(column, error.value),
                             f"{problem} ({error.key_path} of {scenario.name})") from None


def write_draws(overrides: Sequence[Mapping], path: str | Path,
                ids: Sequence[int] | None = None) -> Path:
    """Write draws (flat override dicts, one per draw; ids 1, 2, ... unless given) as a CSV
    draws file, checked by reading it back (DrawsError on a bad value, before the file is
    kept). Returns the path."""
    path = Path(path)
    if not path.name.endswith(DRAWS_SUFFIXES[0]):
        raise DrawsError(str(path), "<file>", None,
                         f"a draws file's name ends with {DRAWS_SUFFIXES[0]} (beside x.toml: "
                         f"x{DRAWS_SUFFIXES[0]})")
    rows = [dict(o) for o in overrides]
    ids = list(ids) if ids is not None else list(range(1, len(rows) + 1))
    columns = _check_header(path, [DRAW_COLUMN, *(rows[0] if rows else {})])
    for number, (draw, row) in enumerate(zip(ids, rows, strict=True), start=1):
        _draw_id(path, number, draw)
        if list(row) != columns:
            raise DrawsError(f"{path}: row {number}", "columns", list(row),
                             f"every draw sets the same parameters ({columns})")
        for column in columns:
            _checked(column, row[column], False, f"{path}: row {number}, column")
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([DRAW_COLUMN, *columns])
        for draw, row in zip(ids, rows, strict=True):
            writer.writerow([draw, *(repr(float(row[c])) if isinstance(row[c], float)
                                     else row[c] for c in columns)])
    partial.replace(path)
    return path
