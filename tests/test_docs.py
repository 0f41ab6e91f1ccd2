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
