"""The *Run* card: Reset, Play/Pause, Step and the step counter; the counter views redraw on.

Mesa's ``ModelController`` (3.3.1) lets a Pause click be followed by another step: its play loop
sleeps the play interval and then calls the Step button's handler, which steps whether or not
playing was switched off meanwhile. Here the loop waits on a pause event and checks it right
before each step, so no step starts after Pause is pressed; a step already running finishes, and
Pause waits for it before the button turns back to Play: once the page shows Play, the step
counter stays where it is.
Reset builds ``type(model)(**model_parameters)`` as Mesa's does. Not importing
``mesa.visualization`` also keeps its altair/jsonschema import (about 3 s) out of the app's start.
"""

from __future__ import annotations

import threading

import solara

from pricewar.units import MS_PER_S

#: bumped after every Step, played step and Reset; a component that reads it redraws then
update_counter = solara.reactive(0)


def force_update() -> None:
    """Make every component that reads :data:`update_counter` redraw."""
    update_counter.value += 1


@solara.component
def ModelController(model: solara.Reactive, model_parameters: solara.Reactive[dict],
                    play_interval_ms: float):
    """Reset (rebuild ``model`` from ``model_parameters``), Play/Pause (a step every
    ``play_interval_ms`` milliseconds until paused or the model stops running) and Step."""
    update_counter.get()  # a step may stop the model: redraw the buttons
    playing = solara.use_reactive(False)
    paused = solara.use_memo(threading.Event, [])
    stepping = solara.use_memo(threading.Lock, [])  # held by the play loop while it steps

    def step() -> None:
        model.value.step()
        force_update()

    def play() -> None:
        while playing.value and model.value.running:
            # wait() returns True as soon as Pause is pressed: no step after the click
            if paused.wait(play_interval_ms / MS_PER_S):
                return
            with stepping:
                if paused.is_set():  # Pause came between the wait and the lock
                    return
                step()
        playing.set(False)

    task = solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=True,
                               raise_error=False)

    def play_or_pause() -> None:
        if playing.value:
            paused.set()
            with stepping:  # a step already running finishes (and is drawn) first
                pass
            playing.set(False)
        else:
            paused.clear()
            playing.set(True)

    def reset() -> None:
        paused.set()
        playing.set(False)
        model.set(type(model.value)(**model_parameters.value))
        force_update()

    running = model.value.running
    with solara.Row(justify="space-between"):
        solara.Button("Reset", color="primary", on_click=reset)
        solara.Button("Pause" if playing.value else "Play", color="primary",
                      on_click=play_or_pause, disabled=not running and not playing.value)
        solara.Button("Step", color="primary", on_click=step,
                      disabled=playing.value or not running)
    if task.error:
        solara.Error(f"Playing stopped: {task.exception}")


@solara.component
def ShowSteps(model):
    """The step counter, ``Step: n``."""
    update_counter.get()
    return solara.Text(f"Step: {model.steps}")
