"""Mesa's visualization pieces the app is built from, imported in one place.

``ModelController`` (the Reset, Play and Step buttons), ``ShowSteps`` (the step counter) and
``update_counter`` (bumped by Step and Play; a component that reads it redraws after every step).
Mesa 3.3.1's ``ComponentsView`` calls ``use_state`` after an early return, and solara's hook check
warns about it when ``mesa.visualization`` is imported; the app does not use ``ComponentsView``.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", ".*ComponentsView.*", UserWarning)
    from mesa.visualization.solara_viz import ModelController, ShowSteps
    from mesa.visualization.utils import update_counter

__all__ = ["ModelController", "ShowSteps", "update_counter"]
