"""The app's inputs: the control panel (scenario, strategy, market levers, the "Policy levers"
group, consumers, seed), the time slider and the download buttons.

The control panel is *controlled*: every input shows the value in one settings dict (a reactive
variable of :class:`~pricewar.viz.session.MarketSession` keywords) and writes its changes there;
Reset builds exactly that dict. Mesa's own parameter inputs keep their values in the widgets,
which is how a Reset could show one scenario and run another.
"""

from __future__ import annotations

import io
import math

import solara

from pricewar.runs.outputs import column_declarations, run_metadata, write_parquet
from pricewar.runs.runner import agents_frame, model_frame
from pricewar.viz.run_controls import update_counter
from pricewar.viz.session import (
    LEVERS,
    POLICY_SLIDERS,
    SELECTS,
    SLIDERS,
    MarketSession,
    model_params,
    switch_scenario,
)

#: consumer slider: min, max, step (every region x sector segment needs a few consumers)
CONSUMERS_RANGE = (100, 2000, 50)
#: settings the "changed since Reset" notice looks at (run B has its own panel)
NOTICE_KEYS = ("scenario", *LEVERS, "producer_strategy", "n_consumers", "seed")


#: the sidebar is narrow: slider labels go above their track (as high as their lines: Vuetify's
#: fixed 20 px would let a second line run under the track), the value after it; the
#: comparison table gets rules and right-aligned numbers
CSS = """
.pricewar-slider .v-input__slot { flex-wrap: wrap; }
.pricewar-slider .v-input__slot > .v-label { flex-basis: 100%; margin: 0 0 -6px 0;
    font-size: 0.85em; max-width: none; height: auto; line-height: 1.25; }
.pricewar-slider-value { min-width: 3em; text-align: right; font-size: 0.9em;
    font-variant-numeric: tabular-nums; white-space: nowrap; padding-bottom: 4px; }
.pricewar-compare-table table { border-collapse: collapse; font-size: 0.9em; }
.pricewar-compare-table th, .pricewar-compare-table td { padding: 2px 10px;
    border-bottom: 1px solid #ddd; text-align: right; }
.pricewar-compare-table td:first-child, .pricewar-compare-table th:first-child {
    text-align: left; }
"""


def decimals(step: float) -> int:
    """Decimals that show a slider's value to its step (0.001 -> 3, 1 -> 0)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


@solara.component
def ValueSlider(label: str, value: float, low: float, high: float, step: float, on_value,
                text: str | None = None, disabled: bool = False):
    """A slider whose value is always written after its track (``text``, default the value to
    the step's decimals); solara's own shows it only while dragging or as a balloon that hides
    the control above it."""
    shown = text if text is not None else f"{value:.{decimals(step)}f}"
    cast = int if isinstance(step, int) else float
    with solara.Row(classes=["pricewar-slider-row"], gap="6px",
                    style={"align-items": "flex-end", "flex-wrap": "nowrap"}) as row:
        solara.v.Slider(v_model=value, on_v_model=lambda new: on_value(cast(new)), label=label,
                        min=low, max=high, step=step, thumb_label=False, hide_details=True,
                        dense=True, disabled=disabled, class_="pricewar-slider",
                        style_="flex-grow: 1")
        solara.Text(shown, classes=["pricewar-slider-value"])
    return row


def pending_changes(settings: dict, running: dict | None) -> list[str]:
    """Keys whose value in ``settings`` differs from the session that runs (``running``)."""
    if running is None:
        return []
    return [k for k in NOTICE_KEYS if k in settings and settings.get(k) != running.get(k)]


@solara.component
def ControlPanel(settings: solara.Reactive[dict], running: dict | None = None,
                 population: bool = True):
    """Inputs for every key of ``settings``; ``running``: the parameters of the session that
    runs (a notice lists what Reset would change); ``population``: show consumers and seed."""
    value = settings.value
    spec = solara.use_memo(lambda: model_params(value["scenario"]), [value["scenario"]])

    def setter(key: str):
        return lambda new: settings.set({**settings.value, key: new})

    with solara.Column(gap="2px", classes=["pricewar-controls"]):
        solara.Select("Scenario", values=spec["scenario"]["values"], value=value["scenario"],
                      on_value=lambda name: settings.set(switch_scenario(settings.value, name)))
        solara.Select("Producer strategy", values=spec["producer_strategy"]["values"],
                      value=value["producer_strategy"], on_value=setter("producer_strategy"))
        for key, (label, _, _, step) in SLIDERS.items():
            ValueSlider(label, value[key], spec[key]["min"], spec[key]["max"], step,
                        setter(key))
        with solara.Column(gap="2px", classes=["pricewar-policy"]):
            solara.Text("Policy levers", style={"font-weight": "bold", "font-size": "0.9em",
                                                "margin-top": "8px"})
            for key, (label, _, _, step) in POLICY_SLIDERS.items():
                ValueSlider(label, value[key], spec[key]["min"], spec[key]["max"], step,
                            setter(key))
            for key, (label, options) in SELECTS.items():
                solara.Select(label, values=list(options), value=value[key],
                              on_value=setter(key))
        if population:
            low, high, step = CONSUMERS_RANGE
            ValueSlider("Consumers", value["n_consumers"], low, high, step,
                        setter("n_consumers"))
            solara.InputInt("Seed", value=value["seed"], on_value=setter("seed"))
        changed = pending_changes(value, running)
        if changed:
            solara.Info(f"Changed since the last Reset: {', '.join(changed)}. Press Reset to "
                        f"run these settings.", dense=True, classes=["pricewar-pending"])


@solara.component
def TimeSlider(latest: int, viewed: solara.Reactive[int | None], date: str):
    """Look back at any recorded step; ``viewed`` is None while following the latest step."""
    step = latest if viewed.value is None else min(viewed.value, latest)

    def look(new: int) -> None:
        viewed.set(None if new >= latest else new)

    with solara.Row(classes=["pricewar-time"], style={"align-items": "center"}):
        with solara.Column(style={"flex-grow": "1"}):
            ValueSlider("Look back: step", step, 0, max(latest, 1), 1, look,
                        text=f"step {step} of {latest} · {date}", disabled=latest == 0)
        solara.Button("Latest", on_click=lambda: viewed.set(None), text=True,
                      disabled=viewed.value is None)


def download_name(session: MarketSession, name: str) -> str:
    """``<scenario>-seed<k>-step<n>-<name>``: downloads of different runs do not overwrite."""
    return f"{session.market.scenario.name}-seed{session.seed}-step{session.market.steps}-{name}"


def csv_with_units(frame, producer_regions) -> bytes:
    """``frame`` as CSV whose header carries each column's unit, ``price_avg [USD/Mtok]`` (a CSV
    has no metadata; a column named after its unit, ``step`` or ``date``, keeps its name)."""
    known = column_declarations(frame.columns, producer_regions)
    header = {c: f"{c} [{known[c].unit}]" for c in frame.columns
              if c in known and known[c].unit != c}
    return frame.rename(columns=header).to_csv(index=False).encode()


def run_file(session: MarketSession, name: str) -> bytes:
    """The run so far as ``model.csv`` (units in the header, :func:`csv_with_units`),
    ``model.parquet`` or ``agents.parquet`` (the layout of ``pricewar run``, with its metadata and
    units)."""
    market = session.market
    frame = agents_frame(market) if name.startswith("agents") else model_frame(market)
    if name.endswith(".csv"):
        return csv_with_units(frame, market.regions.producer_regions)
    buffer = io.BytesIO()
    write_parquet(frame, buffer, run_metadata(market, session.seed, market.overrides),
                  market.regions.producer_regions)
    return buffer.getvalue()


@solara.component
def Downloads(session: MarketSession):
    """One button per file of the run so far."""
    update_counter.get()  # the file names carry the step
    with solara.Row(classes=["pricewar-downloads"], style={"flex-wrap": "wrap"}):
        for name in ("model.csv", "model.parquet", "agents.parquet"):
            solara.FileDownload(lambda name=name: run_file(session, name),
                                filename=download_name(session, name), label=name)
