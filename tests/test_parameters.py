"""Every flat parameter is declared once (pricewar/scenario/parameters.py): the surfaces generated
from the declarations -- the override table and ``--set`` parsing and help, the scenario fields'
bounds, the app's sliders, docs/parameters.md, the sweep and calibration spec checks -- equal
them, and no copy of a declared bound is left in the files that used to hold one."""

from __future__ import annotations

import dataclasses
import io
import re
import tokenize
import typing
from pathlib import Path

import pytest

from pricewar.calibrate.spec import CalibrationSpecError, load_calibration_spec
from pricewar.cli import build_parser, main
from pricewar.errors import ScenarioError
from pricewar.scenario import OVERRIDES, Scenario, load_scenario, parse_override_pairs
from pricewar.scenario.parameters import (
    BEGIN,
    DECLARATIONS,
    END,
    PARAMETERS,
    check_range,
    markdown_table,
    parse_text,
    sliders,
)
from pricewar.sweep.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
NUMERIC = [p for p in DECLARATIONS if p.kind is not str]
#: the files that held copies of the bounds (issue #23)
FORMER_COPIES = ("pricewar/scenario/catalogue.py", "pricewar/scenario/overrides.py",
                 "pricewar/scenario/schema.py", "pricewar/scenario/resolve.py",
                 "pricewar/viz/session.py", "pricewar/sweep/spec.py", "pricewar/calibrate/spec.py")


# ------------------------------------------------------------------------------------------------
# the override table, --set help and `pricewar parameters`
# ------------------------------------------------------------------------------------------------
def test_the_override_table_is_the_declarations():
    assert list(OVERRIDES) == [p.name for p in DECLARATIONS]
    for p in DECLARATIONS:
        description, _, kind = OVERRIDES[p.name]
        assert kind is p.kind and description.startswith(p.description)


def _run_parser():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["run"]


def test_set_help_and_the_parameters_command_list_every_declaration(capsys):
    run = _run_parser()
    help_text = next(a.help for a in run._actions if a.dest == "set")
    assert help_text.split("KEY is one of: ")[1].split(" (")[0].split(", ") == list(PARAMETERS)
    assert "pricewar parameters" in run.epilog and "docs/parameters.md" in run.epilog
    assert main(["parameters"]) == 0
    table, footer = capsys.readouterr().out.split("\n\n")
    lines = table.splitlines()
    assert [line.split()[0] for line in lines] == list(PARAMETERS)
    assert footer.startswith("posterior draws: ") and "docs/outputs.md" in footer
    for line, p in zip(lines, DECLARATIONS, strict=True):
        assert p.kind.__name__ in line and p.unit in line and p.description in line


def test_set_values_are_typed_and_bounded_by_their_declaration():
    for p in NUMERIC:
        low = p.bounded_low
        inside = low + (1 if p.kind is int or p.strict else 0)
        assert parse_override_pairs([f"{p.name}={inside!r}"]) == {p.name: inside}
    for p in [p for p in NUMERIC if p.apply != "set"]:  # ranges checked on the value itself
        with pytest.raises(ScenarioError, match=re.escape(p.range_text)):
            parse_override_pairs([f"{p.name}={p.bounded_high * 10!r}"])


# ------------------------------------------------------------------------------------------------
# strict --set numbers (float() reads "0_05" as 5.0; issue #28)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["0_05", "1_000", "nan", "NaN", "inf", "-Infinity", " 1 ",
                                  "1e", "0x10", "1.0.0", "", "١", "0.05 "])
def test_set_refuses_numbers_a_person_would_not_mean(text, capsys):
    with pytest.raises(ScenarioError) as info:
        parse_text("electricity_us", text)
    assert info.value.key_path == "electricity_us" and "\n" not in str(info.value)
    assert "expected float" in info.value.problem


def test_underscore_digit_separators_are_one_line_cli_errors(tmp_path, capsys):
    code = main(["run", "baseline", "--set", "electricity_us=0_05", "--out", str(tmp_path / "x"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "electricity_us" in err and "'0_05'" in err and "no digit separators" in err
    with pytest.raises(ScenarioError, match="expected int"):
        parse_text("n_consumers", "3_00")


@pytest.mark.parametrize("text, value", [("0.05", 0.05), (".5", 0.5), ("5.", 5.0),
                                         ("1e-3", 1e-3), ("+2E+0", 2.0), ("-0.0", -0.0)])
def test_plain_decimals_still_parse(text, value):
    assert parse_text("electricity_us", text) == value


def test_integers_accept_integral_decimals_only():
    assert parse_text("n_consumers", "300") == 300
    assert parse_text("n_consumers", "3e2") == 300
    with pytest.raises(ScenarioError, match="expected int"):
        parse_text("n_consumers", "2.5")


# ------------------------------------------------------------------------------------------------
# the scenario fields a parameter sets are bounded by its declaration
# ------------------------------------------------------------------------------------------------
def _field(path: str) -> dataclasses.Field:
    """The dataclass field at scenario key path ``path`` (``*`` / a name: a group of a dict)."""
    tp, found = Scenario, None
    for key in path.split("."):
        if dataclasses.is_dataclass(tp):
            found = next(f for f in dataclasses.fields(tp) if f.name == key)
            tp = typing.get_type_hints(tp)[key]
        else:  # a dict of groups (or of a matrix row)
            tp = typing.get_args(tp)[1]
    return found


@pytest.mark.parametrize("p", [p for p in NUMERIC if p.apply in ("set", "symmetric")],
                         ids=lambda p: p.name)
def test_set_parameters_bound_the_field_they_set(p):
    assert dict(_field(p.path).metadata) == p.field_bounds()
    base = load_scenario("baseline")
    edge = p.bounded_high
    base.with_overrides(**{p.name: edge})  # the bound itself is allowed (or the run's own check)
    with pytest.raises(ScenarioError, match=re.escape(f"<= {edge:g}")):
        base.with_overrides(**{p.name: int(edge) + 1 if p.kind is int else edge * 1.5 + 1})


def test_a_choice_parameter_is_the_literal_of_its_field():
    for p in [p for p in DECLARATIONS if p.choices]:
        *parents, leaf = p.path.split(".")
        owner = typing.get_type_hints(Scenario)[parents[-1]] if parents else Scenario
        assert typing.get_args(typing.get_type_hints(owner)[leaf]) == p.choices


# ------------------------------------------------------------------------------------------------
# sliders and docs/parameters.md
# ------------------------------------------------------------------------------------------------
def test_app_sliders_are_the_declared_sliders_within_the_bounds():
    session = pytest.importorskip("pricewar.viz.session")
    assert sliders("market") == session.SLIDERS
    assert sliders("policy") == session.POLICY_SLIDERS
    declared = {p.name: p for p in DECLARATIONS if p.slider}
    assert set(session.ALL_SLIDERS) == set(declared)
    for name, (label, low, high, step) in session.ALL_SLIDERS.items():
        p = declared[name]
        assert (label, low, high, step) == (p.slider.label, p.slider.low, p.slider.high,
                                            p.slider.step)
        assert p.within(low) or (p.strict and low == p.low)
        assert p.within(high) and 0 < step < high - low


def test_docs_parameters_table_is_generated_from_the_declarations():
    text = (ROOT / "docs" / "parameters.md").read_text()
    table = text.split(BEGIN)[1].split(END)[0].strip()
    assert table == markdown_table(), (
        "docs/parameters.md is stale: python -m pricewar.scenario.parameters docs/parameters.md")
    rows = table.splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == list(PARAMETERS)
    for row, p in zip(rows, DECLARATIONS, strict=True):
        assert f"`{p.path}`" in row and p.description in row and p.source in row


# ------------------------------------------------------------------------------------------------
# sweep and calibration specs: a swept range or a prior lies within the declared bounds
# ------------------------------------------------------------------------------------------------
def _sweep(name: str, low, high) -> dict:
    return {"scenario": "baseline", "steps": 2, "seeds": [1],
            "outputs": {"metrics": ["price_avg"]},
            "design": {"kind": "lhs", "samples": 2, "parameters": {name: {"low": low,
                                                                          "high": high}}}}


@pytest.mark.parametrize("p", [p for p in NUMERIC if p.name != "steps"], ids=lambda p: p.name)
def test_a_swept_range_beyond_the_declared_bounds_is_a_spec_error(p):
    beyond = p.bounded_high + (1 if p.kind is int else abs(p.bounded_high) + 1)
    with pytest.raises(SpecError) as info:
        inside = p.bounded_low + (1 if p.kind is int else 0.5 if p.strict else 0)
        load_spec(_sweep(p.name, inside, beyond))
    assert info.value.key_path == f"design.parameters.{p.name}.high"
    if p.apply == "set":  # (the others' values are bounded on their own, as on --set)
        assert info.value.problem == check_range(p.name, inside, beyond)
    assert p.range_text in info.value.problem


@pytest.mark.parametrize("name, low, high, bad", [
    ("nest_sigma", 0.5, 1.2, "high"), ("demand_growth", -0.3, 0.02, "low"),
    ("friction_utils", 0.5, 500.0, "high")])
def test_a_prior_beyond_the_declared_bounds_is_a_calibration_spec_error(name, low, high, bad):
    from tests.test_calibrate import spec  # the calibration tests' small valid spec

    with pytest.raises(CalibrationSpecError) as info:
        load_calibration_spec(spec(**{f"parameters.{name}": {"low": low, "high": high}}))
    assert info.value.key_path == f"parameters.{name}.{bad}"
    assert PARAMETERS[name].range_text in info.value.problem


# ------------------------------------------------------------------------------------------------
# no copies
# ------------------------------------------------------------------------------------------------
def _tokens_by_line(text: str) -> dict[int, tuple[set[float], str]]:
    """Per line: the number literals of the code (not of strings or comments) and the text of
    its names and strings."""
    lines: dict[int, tuple[set[float], str]] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            numbers, words = lines.setdefault(token.start[0], (set(), ""))
            if token.type == tokenize.NUMBER:
                numbers.add(float(token.string.replace("_", "")))
            elif token.type in (tokenize.NAME, tokenize.STRING):
                lines[token.start[0]] = (numbers, f"{words} {token.string}")
    except tokenize.TokenError:  # a fragment ending inside brackets
        pass
    return lines


def bound_copies(path: str, text: str) -> list[str]:
    """Lines of ``text`` that name a declared parameter (or the field it sets) next to one of its
    declared bounds or slider numbers (but 0 and an integer 1): a copy of a declaration."""
    found = []
    for number, (literals, words) in _tokens_by_line(text).items():
        for p in NUMERIC:
            names = {p.name} | ({p.path.rsplit(".", 1)[-1]} if p.apply in ("set", "symmetric")
                                else set())
            if not any(re.search(rf"\b{re.escape(n)}\b", words) for n in names):
                continue
            numbers = {p.low, p.high}
            if p.slider is not None:
                numbers |= {p.slider.low, p.slider.high, p.slider.step}
            trivial = {None, 0} | ({1} if p.kind is int else set())
            copies = literals & {float(n) for n in numbers if n not in trivial}
            if copies:
                found.append(f"{path}:{number} ({p.name}: {sorted(copies)})")
    return found


def test_no_bound_of_a_declared_parameter_is_copied_elsewhere():
    copies = [c for path in FORMER_COPIES
              for c in bound_copies(path, (ROOT / path).read_text())]
    assert copies == []


def test_the_copy_finder_finds_the_copies_there_were():
    """What the files held before the declarations (issue #23): the finder sees them."""
    old = {
        "catalogue.py": '_LEVER_BOUNDS = {"carbon_price_usd_per_t": (0.0, 10_000.0),\n'
                        '    export_control_lag_years: float = field(metadata=bounds(0.0, 50.0))',
        "session.py": '    "wacc": ("WACC (1/year)", 0.0, 0.30, 0.005),',
        "schema.py": "    nest_sigma: float = field(metadata=bounds(0.0, 0.99))",
    }
    found = [c for path, text in old.items() for c in bound_copies(path, text)]
    assert len(found) == 4, found


def test_complement_weight_sets_every_listed_owner_and_is_bounded():
    """The flat complement weight lands on every owner of complements.toml (a dotted section
    path), leaves unlisted owners at 0, and is bounded by its declaration."""
    base = load_scenario("baseline")
    listed = set(base.complements.owners)
    assert {"alibaba", "bytedance", "baidu", "google"} <= listed
    scenario = base.with_overrides(complement_weight=0.3)
    assert {o: c.complement_weight for o, c in scenario.complements.owners.items()} == \
        dict.fromkeys(listed, 0.3)
    assert scenario.complements.weight("openai") == 0.0  # not listed
    with pytest.raises(ScenarioError, match=r"complement_weight = 6.0: must be >= 0 and <= 5"):
        base.with_overrides(complement_weight=6.0)
