"""The package's calibration data (``pricewar/data/*.toml``): reading and merging the files.

Also :data:`PRODUCER_REGIONS`, the regions of the shipped data that host producers (in file order):
the names of the per-region overrides and reporters (``electricity_<region>``, ``price_<region>``).
A scenario's own producer regions are :attr:`Scenario.producer_regions`.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import stat
import tomllib
from importlib import resources
from pathlib import Path

from pricewar.errors import ScenarioError
from pricewar.limits import MAX_INPUT_BYTES, MAX_TOML_DEPTH

#: the calibration data files merged under a scenario file, in merge order
CALIBRATION_FILES = ("regions", "sectors", "network", "families", "chips", "rental", "supply",
                     "market", "complements")


def data_dir() -> Path:
    """The package's data directory (``pricewar/data``)."""
    return Path(str(resources.files("pricewar") / "data"))


def read_input_bytes(path: str | os.PathLike, source: str | None = None) -> bytes:
    """The bytes of an input file (scenario, spec, targets): a regular file of at most
    :data:`~pricewar.limits.MAX_INPUT_BYTES`. A FIFO, device or socket (also behind a symlink)
    is refused without blocking: the file is opened non-blocking and checked before reading.
    Raises ScenarioError naming ``source`` (default: the path)."""
    source = source or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise ScenarioError(source, "<file>", None, f"cannot read: {error}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a folder" if stat.S_ISDIR(info.st_mode) else
                    "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else
                    "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "not a regular file")
            raise ScenarioError(source, "<file>", str(path),
                                f"is {kind}: input files must be regular files")
        if info.st_size > MAX_INPUT_BYTES:
            raise ScenarioError(source, "<file>", None,
                                f"{info.st_size:,} bytes: an input file has at most "
                                f"{MAX_INPUT_BYTES:,}")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)  # a file growing while read stops here
    except OSError as error:
        raise ScenarioError(source, "<file>", None, f"cannot read: {error}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_INPUT_BYTES:
        raise ScenarioError(source, "<file>", None,
                            f"more than {MAX_INPUT_BYTES:,} bytes: an input file has at "
                            f"most {MAX_INPUT_BYTES:,}")
    return data


def read_toml(path: Path) -> dict:
    """A TOML file as a dict (unreadable, not a regular file, oversized, non-UTF-8, invalid or
    nested deeper than :data:`~pricewar.limits.MAX_TOML_DEPTH` files raise ScenarioError)."""
    data = read_input_bytes(path)
    try:
        content = tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(str(path), "<file>", None, f"invalid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ScenarioError(str(path), "<file>", None,
                            f"not UTF-8 text (byte {error.start}: "
                            f"{error.object[error.start:error.start + 1]!r}); TOML files are "
                            f"UTF-8") from None
    except RecursionError:
        content = None
    if content is None or _depth(content) > MAX_TOML_DEPTH:
        raise ScenarioError(str(path), "<file>", None,
                            f"tables or arrays nested more than {MAX_TOML_DEPTH} levels deep")
    return content


def _depth(value) -> int:
    """Nesting depth of tables and arrays (without recursion: any depth is measured)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_TOML_DEPTH:
                return deepest
            stack.extend((child, depth + 1)
                         for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def merge(base: dict, top: dict) -> dict:
    """Deep-merge ``top`` over ``base`` (tables merge; a {value, source} leaf replaces)."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        leaf = isinstance(value, dict) and set(value) == {"value", "source"}
        if isinstance(value, dict) and not leaf and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def calibration_defaults() -> dict:
    """The package calibration data merged into one dict (before any scenario file)."""
    merged: dict = {}
    network_sources: dict = {}
    for name in CALIBRATION_FILES:
        content = read_toml(data_dir() / f"{name}.toml")
        if name in ("regions", "sectors", "rental", "complements"):  # one section per file
            merged[name] = content
        else:
            network_sources.update(content.pop("sources", {}))
            merged = merge(merged, content)
    merged["sources"] = network_sources
    return merged


#: The period the calibration data describe: observed figures of 2023-2025 and trends (demand
#: growth 1.05 per week, efficiency 2.8x and 1.67x per year, power and chip supply growth)
#: projected five years from 2024-01. Runs outside it extrapolate those trends (after 260 weekly
#: steps demand has grown ~3e5-fold) and warn (:mod:`pricewar.model.health`).
CALIBRATED_FROM = dt.date(2024, 1, 1)
CALIBRATED_UNTIL = dt.date(2028, 12, 31)


#: regions of the shipped calibration data that host producers (``hosts_producers = true``)
PRODUCER_REGIONS: tuple[str, ...] = tuple(
    name for name, region in read_toml(data_dir() / "regions.toml").items()
    if region["hosts_producers"])
