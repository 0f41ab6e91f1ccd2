"""The package's shape: the documented import layers, no import cycles, a light CLI start-up.

The layer contract is checked on the AST import graph below (every ``import`` between pricewar
modules, at module level or inside functions) rather than with import-linter: the graph is 40
lines, needs no extra dependency, and the checker is a plain function that the tests feed a
synthetic or injected graph to show it fails. Imports made from a string at run time
(``importlib.import_module`` in ``cli.py``, ``sweep/__init__.py``, ``calibrate/__init__.py``) are
not in the graph; the ones in ``cli.py`` go downwards by construction.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "pricewar"

#: The base: small modules usable from every layer (they import only each other).
BASE = ("errors", "units", "limits", "cli_types", "atomic_writes", "processes")

#: The layer order, lowest first (README, "Layout"). A module may import from its own layer and
#: from earlier layers only. A tuple of several packages is one layer of siblings that may not
#: import each other: ``studies``, ``sweep`` and ``viz`` are independent of each other (the
#: current graph has no edge between them); ``calibrate`` runs its prior through the sweep's
#: runner and store, so it sits one layer above them. ``pricewar`` is the package's
#: ``__init__`` (it re-exports the errors and the version). ``testing`` (random test markets) is
#: support for the tests: it imports only the kernel, so it sits just above the kernel, and no
#: pricewar module may import it (see ``test_no_package_module_imports_the_test_support``).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pricewar", *BASE),
    ("scenario",),
    ("kernel",),
    ("testing",),
    ("supply",),
    ("strategies",),
    ("model",),
    ("plotting",),
    ("runs",),
    ("studies", "sweep", "viz"),
    ("calibrate",),
    ("cli",),
)

#: The kernel is the numerical core: besides the standard library it imports numpy and scipy
#: only, and from pricewar only itself and the base's errors.
KERNEL_THIRD_PARTY = {"numpy", "scipy"}
KERNEL_PRICEWAR = {"pricewar.kernel", "pricewar.errors"}

#: Known violations of the layer order, as (importer prefix, imported prefix). Delete an entry
#: when its violation is removed (``test_every_known_violation_still_exists`` fails until then).
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {_module_name(p, package): p for p in package.rglob("*.py")}


def _imports(path: Path, package_name: str) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every import statement in ``path``, relative imports resolved
    against ``package_name`` (the package the module is in)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parts = package_name.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names]))
    return found


def import_graph(package: Path = PACKAGE) -> nx.DiGraph:
    """Every import between pricewar modules, at module level or inside functions.

    ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``.
    """
    modules = _modules(package)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        package_name = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for base, names in _imports(path, package_name):
            targets = [f"{base}.{n}" if f"{base}.{n}" in modules else base for n in names]
            for target in targets or [base]:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def layer_of(module: str, layers=LAYERS) -> int | None:
    """The index of ``module``'s layer (by its first package below ``pricewar``), or None."""
    top = module.split(".")[1] if "." in module else module
    for index, layer in enumerate(layers):
        if top in layer:
            return index
    return None


def _unit(module: str) -> str:
    """The package (or base module) a module belongs to: ``pricewar.model.agents`` ->
    ``pricewar.model``."""
    return ".".join(module.split(".")[:2])


def layer_violations(graph: nx.DiGraph, layers=LAYERS, known=frozenset()) -> list[str]:
    """Every edge of ``graph`` that breaks the layer order: an import from a later layer, from a
    sibling package of the same layer, or by/of a module that is in no layer. Edges matching a
    ``known`` (importer prefix, imported prefix) pair are skipped."""
    problems = []
    for importer, imported in sorted(graph.edges()):
        if any(importer.startswith(a) and imported.startswith(b) for a, b in known):
            continue
        low, high = layer_of(importer, layers), layer_of(imported, layers)
        if low is None or high is None:
            problems.append(f"{importer} -> {imported}: module in no layer")
        elif high > low:
            problems.append(f"{importer} -> {imported}: upward import "
                            f"(layer {low} {layers[low]} imports layer {high} {layers[high]})")
        elif high == low and len(layers[low]) > 1 and _unit(importer) != _unit(imported) \
                and low != 0:
            problems.append(f"{importer} -> {imported}: siblings of layer {layers[low]}")
    return problems


def _copy_with(tmp_path: Path, relative: str, extra_code: str) -> Path:
    """A copy of the package (code only) with ``extra_code`` appended to one module."""
    copy = tmp_path / "pricewar"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    target = copy / relative
    target.write_text(target.read_text() + extra_code)
    return copy


# ------------------------------------------------------------------------------------------------
# the layer contract
# ------------------------------------------------------------------------------------------------
def test_every_module_is_in_a_layer():
    unplaced = sorted(m for m in _modules() if layer_of(m) is None)
    assert not unplaced, f"place these in LAYERS: {unplaced}"


def test_imports_follow_the_layer_order():
    problems = layer_violations(import_graph(), known=KNOWN_VIOLATIONS)
    assert not problems, "\n".join(problems)


def test_every_known_violation_still_exists():
    """A fixed violation must leave the allow-list, or the allow-list would hide its return."""
    edges = list(import_graph().edges())
    stale = [(a, b) for a, b in KNOWN_VIOLATIONS
             if not any(i.startswith(a) and j.startswith(b) for i, j in edges)]
    assert not stale, f"no longer violated, delete from KNOWN_VIOLATIONS: {stale}"


def test_the_contract_fails_on_an_injected_upward_import(tmp_path):
    """The kernel given a function-level relative import of the model: the checker names it."""
    copy = _copy_with(tmp_path, "kernel/pricing.py",
                      "\n\ndef _upward():\n    from ..model import agents\n    return agents\n")
    problems = layer_violations(import_graph(copy), known=KNOWN_VIOLATIONS)
    assert problems == ["pricewar.kernel.pricing -> pricewar.model.agents: upward import "
                        "(layer 2 ('kernel',) imports layer 6 ('model',))"]


def test_the_contract_fails_on_an_import_between_siblings_and_an_unplaced_module():
    graph = nx.DiGraph([("pricewar.viz.app", "pricewar.sweep.store"),
                        ("pricewar.newthing.x", "pricewar.errors"),
                        ("pricewar.calibrate.abc", "pricewar.sweep.store"),
                        ("pricewar.units", "pricewar.errors")])
    assert layer_violations(graph) == [
        "pricewar.newthing.x -> pricewar.errors: module in no layer",
        "pricewar.viz.app -> pricewar.sweep.store: siblings of layer ('studies', 'sweep', 'viz')",
    ]


def test_no_package_module_imports_the_test_support():
    graph = import_graph()
    importers = sorted(a for a, b in graph.edges() if b.startswith("pricewar.testing")
                       and not a.startswith("pricewar.testing"))
    assert not importers, importers


def _kernel_imports(package: Path = PACKAGE) -> tuple[set[str], set[str]]:
    """(third-party top-level packages, pricewar units) the kernel imports."""
    third_party, own = set(), set()
    for name, path in _modules(package).items():
        if not name.startswith("pricewar.kernel"):
            continue
        package_name = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for base, _ in _imports(path, package_name):
            top = base.split(".")[0]
            if top == "pricewar":
                own.add(_unit(base))
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    return third_party, own


def test_the_kernel_imports_only_numpy_scipy_and_the_errors():
    third_party, own = _kernel_imports()
    assert third_party <= KERNEL_THIRD_PARTY, third_party - KERNEL_THIRD_PARTY
    assert own <= KERNEL_PRICEWAR, own - KERNEL_PRICEWAR


def test_the_kernel_check_fails_on_an_injected_pandas_import(tmp_path):
    copy = _copy_with(tmp_path, "kernel/arrays.py", "\nimport pandas\n")
    third_party, _ = _kernel_imports(copy)
    assert third_party - KERNEL_THIRD_PARTY == {"pandas"}


# ------------------------------------------------------------------------------------------------
# cycles and start-up
# ------------------------------------------------------------------------------------------------
def test_import_graph_has_no_cycles():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_import_graph_sees_a_cycle_made_by_a_function_level_import(tmp_path):
    """The graph reads pricewar's imports inside functions too: errors importing the CLI in a
    function closes the cycle cli -> errors -> cli, and the cycle test would see it."""
    copy = _copy_with(tmp_path, "errors.py",
                      "\n\ndef _late():\n    from pricewar.cli import main\n    return main\n")
    cycles = list(nx.simple_cycles(import_graph(copy)))
    assert ["pricewar.cli", "pricewar.errors"] in [sorted(c) for c in cycles]


def test_cli_help_imports_no_heavy_module():
    code = ("import contextlib, io, sys\nfrom pricewar.cli import build_parser\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        build_parser().parse_args(['--help'])\n"
            "    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('matplotlib', 'mesa', 'pandas', 'solara', 'dask')"
            " if m in sys.modules]\nprint(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "", f"pricewar --help imported {result.stdout.strip()}"
