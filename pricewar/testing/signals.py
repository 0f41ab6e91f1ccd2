"""Child processes that Ctrl-C can interrupt, whatever the parent's signal dispositions.

A shell starts background jobs with SIGINT ignored, and children inherit that; Python then installs
no KeyboardInterrupt handler, so a test that sends SIGINT to a child would see it ignored. Pass
``preexec_fn=default_sigint`` to ``subprocess.Popen`` to give the child the terminal's default.
"""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """Reset SIGINT to its default disposition (run in the child between fork and exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
