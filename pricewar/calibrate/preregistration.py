"""The pre-registered split of the observations: each one's role in the estimation, fixed
before the estimation runs (``pricewar/data/observed/preregistration.toml``; docs/calibration.md,
"Estimation v3: pre-registered split").

Roles (:data:`ROLES`): ``fit`` (a target the estimation may fit), ``held_out`` (reported against
the estimate, never fitted) and ``event_check`` (an out-of-sample event the estimate is checked
on, never a target). Held-out observations and event checks are reported, never used to choose
anything.

Every row of ``calibration_targets.csv`` has exactly one entry under ``[observations]``; an entry
with ``pending = true`` is an observation registered before its value is collected (it is not in
the targets file yet and gets its role now). A panel (``[panels.<name>]``) gives its rows a role
by date: rows dated before ``split_date`` are ``fit``, the rest ``held_out``.

A calibration spec with ``preregistered = true`` is checked against this file when it is loaded
(:func:`check_targets`): every fitted target's observation must have the role ``fit``, every
held-out target's observation ``held_out`` or ``event_check``, and every observation must come
from the shipped targets file.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from pricewar.errors import LocatedInputError, ScenarioError
from pricewar.scenario.data_files import read_input_bytes

PREREGISTRATION_FILE = "preregistration.toml"
ROLES = ("fit", "held_out", "event_check")
#: roles of observations that are reported, never fitted
NOT_FITTED = ("held_out", "event_check")
OBSERVATION_KEYS = {"role", "why", "pending", "what", "source"}
PANEL_KEYS = {"file", "split_date", "why"}


class PreregistrationError(LocatedInputError):
    """An invalid pre-registration, or a spec that breaks it (names the file, key and value)."""


@dataclass(frozen=True)
class Observation:
    """One registered observation: its id (the target id), role and reason."""

    id: str
    role: str
    why: str
    pending: bool = False
    what: str = ""
    source: str = ""


@dataclass(frozen=True)
class Panel:
    """A registered panel: rows dated before ``split_date`` are ``fit``, the rest ``held_out``."""

    name: str
    file: str
    split_date: dt.date
    why: str

    def roles(self, dates) -> pd.Series:
        """The role of each row, from its date (``week_start`` of a weekly panel)."""
        dates = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
        before = dates < pd.Timestamp(self.split_date)
        return before.map({True: "fit", False: "held_out"})


@dataclass(frozen=True)
class Preregistration:
    """The registered roles (build with :func:`load_preregistration`)."""

    registered: dt.date
    rule: str
    observations: dict[str, Observation]
    panels: dict[str, Panel]
    source: str

    def role(self, observation_id: str) -> str | None:
        entry = self.observations.get(observation_id)
        return entry.role if entry is not None else None

    def ids(self, role: str, pending: bool | None = None) -> list[str]:
        """Observation ids with ``role`` (and, if given, that pending status), sorted."""
        return sorted(o.id for o in self.observations.values()
                      if o.role == role and (pending is None or o.pending == pending))


def shipped_preregistration_path() -> Path:
    return Path(str(resources.files("pricewar") / "data" / "observed" / PREREGISTRATION_FILE))


def _string(table: dict, key: str, src: str, path: str, required: bool = True) -> str:
    value = table.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise PreregistrationError(src, f"{path}.{key}", value, "expected a non-empty string")
    return value


def _date(value, src: str, path: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise PreregistrationError(src, path, value, "expected a TOML date (YYYY-MM-DD, unquoted)")


def _check_table(table, keys, src: str, path: str) -> None:
    """``table`` is a TOML table whose keys are all among ``keys``."""
    if not isinstance(table, dict):
        raise PreregistrationError(src, path, table, "expected a table")
    unknown = sorted(set(table) - keys)
    if unknown:
        raise PreregistrationError(src, f"{path}.{unknown[0]}", table[unknown[0]],
                                   f"unknown key (known: {sorted(keys)})")


def _observation(name: str, table, src: str) -> Observation:
    path = f"observations.{name}"
    _check_table(table, OBSERVATION_KEYS, src, path)
    role = table.get("role")
    if role not in ROLES:
        raise PreregistrationError(src, f"{path}.role", role,
                                   f"expected exactly one role of {list(ROLES)}")
    pending = table.get("pending", False)
    if not isinstance(pending, bool):
        raise PreregistrationError(src, f"{path}.pending", pending, "expected true or false")
    return Observation(id=name, role=role, why=_string(table, "why", src, path),
                       pending=pending,
                       what=_string(table, "what", src, path, required=pending),
                       source=_string(table, "source", src, path, required=pending))


def _panel(name: str, table, src: str) -> Panel:
    path = f"panels.{name}"
    _check_table(table, PANEL_KEYS, src, path)
    return Panel(name=name, file=_string(table, "file", src, path),
                 split_date=_date(table.get("split_date"), src, f"{path}.split_date"),
                 why=_string(table, "why", src, path))


def load_preregistration(path: str | Path | None = None,
                         target_ids: set[str] | None = None) -> Preregistration:
    """Read and check a pre-registration (default: the shipped one).

    ``target_ids`` (default: the ids of the shipped ``calibration_targets.csv``) must be exactly
    the registered observations that are not pending: every target has one role, and every
    registered observation that is not pending is a target.

    Raises
    ------
    PreregistrationError
        A missing or unknown key, a role outside :data:`ROLES`, or a target without a role.
    """
    path = Path(path) if path is not None else shipped_preregistration_path()
    src = str(path)
    try:
        data = tomllib.loads(read_input_bytes(path).decode("utf-8"))
    except ScenarioError as error:
        raise PreregistrationError(src, "<file>", src, error.problem) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PreregistrationError(src, "<file>", src, f"invalid TOML: {error}") from None
    unknown = sorted(set(data) - {"registered", "rule", "observations", "panels"})
    if unknown:
        raise PreregistrationError(src, unknown[0], data[unknown[0]], "unknown key")
    observations = data.get("observations")
    if not isinstance(observations, dict) or not observations:
        raise PreregistrationError(src, "observations", observations, "expected a table")
    registered = Preregistration(
        registered=_date(data.get("registered"), src, "registered"),
        rule=_string(data, "rule", src, ""),
        observations={name: _observation(name, table, src)
                      for name, table in observations.items()},
        panels={name: _panel(name, table, src)
                for name, table in (data.get("panels") or {}).items()},
        source=src)
    if target_ids is None:
        from pricewar.calibrate.targets import observed_targets
        target_ids = set(observed_targets())
    unregistered = sorted(target_ids - set(registered.observations))
    if unregistered:
        raise PreregistrationError(src, "observations", unregistered,
                                   "every row of calibration_targets.csv needs a role")
    listed = {o.id for o in registered.observations.values() if not o.pending}
    not_targets = sorted(listed - target_ids)
    if not_targets:
        raise PreregistrationError(src, f"observations.{not_targets[0]}", not_targets[0],
                                   "not a row of calibration_targets.csv (pending = true if its "
                                   "value is still to be collected)")
    became_targets = sorted(o.id for o in registered.observations.values()
                            if o.pending and o.id in target_ids)
    if became_targets:
        raise PreregistrationError(src, f"observations.{became_targets[0]}.pending", True,
                                   "now a row of calibration_targets.csv: drop pending")
    return registered


def check_targets(targets, prereg: Preregistration, src: str) -> None:
    """Refuse a spec's targets that break the pre-registration (see the module docstring).

    ``targets`` are :class:`~pricewar.calibrate.spec.TargetSpec` (``name``, ``observed.id``,
    ``held_out``).
    """
    for target in targets:
        key = f"targets.{target.name}"
        role = prereg.role(target.observed.id)
        if role is None or prereg.observations[target.observed.id].pending:
            raise PreregistrationError(src, f"{key}.observed", target.observed.id,
                                       f"not a registered observation of {prereg.source}")
        if not target.held_out and role != "fit":
            raise PreregistrationError(src, f"{key}.held_out", False,
                                       f"{target.observed.id} is registered as {role}: it is "
                                       f"reported, never fitted (set held_out = true)")
        if target.held_out and role not in NOT_FITTED:
            raise PreregistrationError(src, f"{key}.held_out", True,
                                       f"{target.observed.id} is registered as fit: holding it "
                                       f"out changes the registered split")
