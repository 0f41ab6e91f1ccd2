"""The project's set-up files (pyproject.toml, Makefile) say what the code does (issue 27)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pricewar.cli import default_run_directory

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAKEFILE = (ROOT / "Makefile").read_text()


def test_the_licence_is_an_spdx_string_with_a_setuptools_that_reads_it():
    """A licence table made setuptools print a deprecation banner on every install; the SPDX
    string needs setuptools >= 77 (PEP 639)."""
    assert PYPROJECT["project"]["license"] == "MIT"
    bound = next(re.fullmatch(r"setuptools>=(\d+)", r) for r in
                 PYPROJECT["build-system"]["requires"] if r.startswith("setuptools"))
    assert bound and int(bound.group(1)) >= 77


def test_an_editable_install_uses_a_pth_file_not_setuptools_noisy_finder():
    """``pip install -e .`` (pip >= 25) printed setuptools' "BuildBackendWarning: Editable
    installation ... be careful with folders in your working directory" for the meta-path
    finder setuptools picks for an undeclared flat layout; with the root declared as the package
    directory and every package directly under it, setuptools writes a .pth file and warns
    nothing (setuptools' editable_wheel._select_strategy)."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"": "."}
    packages = [p for p in ROOT.iterdir() if (p / "__init__.py").is_file()]
    # the .pth puts the repository root on sys.path: no other package there may shadow one
    assert [p.name for p in packages] == ["pricewar"]


def test_make_test_installs_the_ema_extra_so_its_tests_run():
    """[ema] is outside [all]: without it the EMA adapter's tests skip where `make test` runs."""
    assert "ema" in PYPROJECT["project"]["optional-dependencies"]
    test_target = re.search(r"^test: (.*)$", MAKEFILE, re.M).group(1).split()
    installs = {target: recipe for target, recipe in re.findall(
        r"^(\$\(\w+\)): .*\n((?:\t.*\n)+)", MAKEFILE, re.M)}
    assert any('".[all,ema]"' in installs.get(dependency, "") for dependency in test_target)


def test_make_run_writes_where_pricewar_run_writes():
    """`make run` wrote runs/baseline/, `pricewar run baseline` runs/baseline-seed1/."""
    out = re.search(r"^OUT \?= (\S+)$", MAKEFILE, re.M).group(1)
    assert "$(BIN)/pricewar run baseline --out $(OUT)" in MAKEFILE
    assert Path(out) == default_run_directory("baseline", 1)
