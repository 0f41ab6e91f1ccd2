"""Child processes that end with their parent, and processes that leave nothing behind.

A process pricewar starts (a sweep's local workers, the ``pricewar viz`` server) must not outlive
the command that started it: after a SIGKILL of the command nothing runs to clean up, so each
child watches its parent itself. On Linux the kernel does it: ``prctl(PR_SET_PDEATHSIG)`` sends
the child a signal when the thread that started it ends. Elsewhere a daemon thread of the child
polls ``os.getppid()`` (a child re-parented to another process has lost its parent).

A progress bar must not leave a named semaphore behind: tqdm's default lock is a
``multiprocessing.RLock``, a named POSIX semaphore that multiprocessing's resource tracker
reports as "leaked" when the process that made it is killed (a terminated sweep worker, a
``pricewar run`` killed by SIGTERM or SIGKILL). :func:`progress_bars_lock_threads_only` gives
tqdm a thread lock instead: no pricewar process shares a bar with another process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent ends; False where the
    platform cannot. Async-signal-safe enough for ``subprocess.Popen(preexec_fn=...)``."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL,
                    poll_seconds: float = 1.0) -> None:
    """Call in a child process: it ends when process ``parent_pid`` (its parent) ends, or at
    once if that has already happened."""
    if not set_parent_death_signal(sig):
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(poll_seconds)
            os._exit(1)

        threading.Thread(target=watch, name="pricewar-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent ended before the signal was armed
        os._exit(1)


def exec_child_dying_with(parent_pid: int):
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child (after ``exec``) ends with
    ``parent_pid`` (Linux only: a watch thread does not survive ``exec``)."""
    def preexec() -> None:
        set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)
    return preexec


def progress_bars_lock_threads_only() -> None:
    """Make tqdm lock its bars with a thread lock instead of a named semaphore (call once in
    a process before its first bar; a process that shares bars with others must not)."""
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
