"""Documentation stays true: the ODD parameter table matches the data; README commands exist."""

import re
import shlex
from pathlib import Path

from pricewar.scenario.parameter_table import BEGIN, END, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_odd_parameter_table_matches_calibration_data():
    text = (ROOT / "docs" / "ODD.md").read_text()
    table = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S).group(1)
    assert table == markdown_table(), "run: python -m pricewar.scenario.parameter_table docs/ODD.md"


def shell_commands(text: str) -> list[list[str]]:
    """The commands of a shell script or of a Markdown file's fenced code blocks, each split as
    the shell would (comments and blank lines dropped)."""
    if "```" in text:
        text = "\n".join(re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M))
    commands = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] not in ("set", "cd"):
            commands.append(words)
    return commands


def make_recipe(target: str) -> str:
    """The recipe lines of ``target`` in the Makefile (joined, continuation lines included)."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M)
    assert match, f"no target {target!r} in the Makefile"
    return match.group(1).replace("\\\n", " ")


def test_ci_runs_the_readme_test_command_and_make_runs_pytest():
    ci = shell_commands((ROOT / ".ci" / "run").read_text())
    readme = shell_commands((ROOT / "README.md").read_text())
    assert ci == [["make", "test"]], ci  # CI runs one command, the README's
    assert ci[0] in readme, "the README's code blocks do not show .ci/run's command"
    recipe = make_recipe("test")
    assert "-m pytest" in recipe
    prerequisites = (ROOT / "Makefile").read_text().split("\ntest:")[1].splitlines()[0]
    assert re.search(r"\$\((\w+_)?STAMP\)", prerequisites), \
        "make test must install the package first (a fresh clone has no .venv)"


def test_make_test_keeps_each_test_file_on_one_worker():
    """``--dist loadfile``: a module's expensive fixtures (the calibration recovery's 250 runs,
    the browser tests' server) are built once. xdist's group marks would do nothing there (and
    did nothing with ``--dist loadgroup`` under pytest 9.2 / xdist 3.8)."""
    pytest_command = next(c for c in make_recipe("test").split(";") if "-m pytest" in c)
    words = shlex.split(pytest_command)
    assert "--dist" in words and words[words.index("--dist") + 1] == "loadfile", words
    mark = "xdist" + "_group"
    users = [p.name for p in (ROOT / "tests").glob("*.py") if mark in p.read_text()]
    assert not users, f"{mark} marks have no effect with --dist loadfile: {users}"


# --- the README is a front door; links and the code map stay true ------------------------------

README_MAX_LINES = 150
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```.*?^\s*```", re.S | re.M)


def _prose(text: str) -> str:
    """The text without fenced code blocks (their brackets are code, not links or headings)."""
    return FENCE.sub("", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _prose(path.read_text())
    anchors = set(re.findall(r"""<a\s+(?:id|name)=["']([^"']+)["']""", text))
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = _slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(_prose(path.read_text()))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: ...


def test_readme_is_a_front_door_of_at_most_150_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most 150)"


def test_every_relative_link_in_the_readme_and_docs_resolves():
    broken = []
    for doc in DOCS:
        for target in _relative_links(doc):
            file_part, _, anchor = target.partition("#")
            linked = (doc.parent / file_part).resolve() if file_part else doc
            if not linked.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading or anchor)")
    assert not broken, "\n".join(broken)


def _odd_code_map() -> list[tuple[str, str]]:
    """(package or module cell, holds cell) of each row of docs/ODD.md section 10's table."""
    text = (ROOT / "docs" / "ODD.md").read_text()
    section = text[text.index("## 10. Implementation"):]
    rows = [line.split(" | ") for line in section.splitlines()
            if line.startswith("| `")]
    assert len(rows) >= 10, "docs/ODD.md section 10 lost its table"
    return [(row[0].removeprefix("| "), row[1]) for row in rows]


def test_every_module_in_the_odd_code_map_exists():
    """Section 10 of docs/ODD.md names packages in its first column and, for each package, its
    modules (or data files) as backticked names; each must exist under pricewar/. Strategy names,
    commands and classes are written without backticks or with capitals, so they are not taken
    for modules."""
    package_root = ROOT / "pricewar"
    missing = []
    for first, holds in _odd_code_map():
        packages = re.findall(r"`([^`]+)`", first)
        for name in packages:
            if not (package_root / name).exists():
                missing.append(f"pricewar/{name}")
        if len(packages) != 1 or not packages[0].endswith("/"):
            continue  # a row of top-level modules: its second column names no modules
        package = package_root / packages[0]
        for name in re.findall(r"`([a-z_][a-z0-9_]*)`", holds):
            if not (package / name).exists() and not list(package.glob(f"{name}.*")):
                missing.append(f"pricewar/{packages[0]}{name}")
    assert not missing, f"docs/ODD.md section 10 names modules that do not exist: {missing}"


def test_readme_step_excerpt_matches_the_model_step():
    """The README's "One step of the model" shows PriceWarModel.step()'s lines in their order,
    every phase included."""
    import inspect

    from pricewar.model.price_war_model import PriceWarModel

    step_lines = [line.strip() for line in inspect.getsource(PriceWarModel.step).splitlines()]
    step_lines = [line.split("  #")[0].strip() for line in step_lines]
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("## One step of the model"):]
    block = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    shown = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert set(shown) <= set(step_lines), set(shown) - set(step_lines)
    positions = [step_lines.index(line) for line in shown]
    assert positions == sorted(positions), "the README shows step()'s lines out of order"
    phases = [line for line in step_lines if line.startswith("self._")]
    assert set(phases) <= set(shown), set(phases) - set(shown)
