"""``pricewar viz``: serve the SolaraViz app (:mod:`pricewar.viz.app`) on the loopback interface.

The app runs in a ``solara run`` subprocess (solara serves a module by path), offline: assets from
the installed ``solara-assets`` package, the CDN pointed at a closed local port so nothing waits
on the network, no telemetry. This module imports nothing heavy at module level (not solara,
mesa or the scenario layer), so ``pricewar --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pricewar import cli_types
from pricewar.errors import PricewarError
from pricewar.processes import exec_child_dying_with
from pricewar.viz import SCENARIO_ENV

APP = Path(__file__).with_name("app.py")
HOST = "127.0.0.1"

#: environment of the solara process; values already set by the user win
OFFLINE_ENV = {
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false",
    # a closed port: any asset missing from solara-assets fails at once instead of hanging
    "SOLARA_ASSETS_CDN": "http://127.0.0.1:9/npm/",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="baseline",
                        help="scenario the page starts with: a name (baseline, parity) or a "
                             ".toml path (default: baseline)")
    parser.add_argument("--port", type=cli_types.port, default=8765,
                        help=f"port on {HOST} (default: 8765)")


def solara_command(port: int) -> list[str]:
    """The ``solara run`` command line serving the app on ``HOST:port``."""
    return [sys.executable, "-m", "solara", "run", str(APP), "--host", HOST, "--port", str(port),
            "--production", "--no-check-version"]


def server_environment(scenario: str) -> dict[str, str]:
    """Environment for the solara process: ours, offline settings, the starting scenario."""
    env = {**OFFLINE_ENV, **os.environ}
    env[SCENARIO_ENV] = scenario
    return env


def port_is_free(port: int) -> bool:
    """Whether ``HOST:port`` can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as uvicorn does: connections in TIME_WAIT from an earlier server do not block the port
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def wait_until_serving(url: str, timeout_s: float = 60.0,
                       process: subprocess.Popen | None = None) -> float:
    """Poll ``url`` until it answers HTTP 200; return the seconds waited.

    Raises PricewarError when ``process`` exits first or the timeout passes.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if process is not None and process.poll() is not None:
            raise PricewarError(f"the solara server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise PricewarError(f"no answer from {url} within {timeout_s:g} s")


def stop(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Terminate ``process`` (kill it if it does not exit within ``timeout_s``)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def require_solara() -> None:
    """Raise ModuleNotFoundError (naming solara) if solara cannot be imported: the server runs in
    a subprocess, whose traceback would otherwise be the only sign."""
    if importlib.util.find_spec("solara") is None:
        raise ModuleNotFoundError("No module named 'solara'", name="solara")


def port_lock(port: int):
    """The lock one ``pricewar viz`` holds on ``HOST:port`` while it serves (a file in the
    temporary folder): a second one on the same port fails at once, even when both start
    together, before either server has bound the port."""
    from pricewar.atomic_writes import FolderLock, machine_lock_file

    return FolderLock(Path(f"{HOST}:{port}"), "viz", machine_lock_file("viz", f"{HOST}:{port}"))


#: seconds the server may take to answer before ``pricewar viz`` gives up
START_TIMEOUT_S = 300.0


def main(args: argparse.Namespace) -> int:
    from pricewar.atomic_writes import OutputError
    from pricewar.model.scenario_strategies import resolve_strategies
    from pricewar.scenario import load_scenario

    require_solara()
    resolve_strategies(load_scenario(args.scenario))  # a bad name or file fails here, in one line
    in_use = f"port {args.port} on {HOST} is in use (choose another with --port)"
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(port_lock(args.port))
        except OutputError:
            raise PricewarError(f"{in_use[:-1]}: another pricewar viz serves there)") from None
        if not port_is_free(args.port):
            raise PricewarError(in_use)
        return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    # the server ends with this process even when it is SIGKILLed (no finally runs then)
    process = subprocess.Popen(solara_command(args.port), env=server_environment(args.scenario),
                               preexec_fn=exec_child_dying_with(os.getpid()))
    # SIGTERM must not orphan the server: turn it into an exit that runs the finally below
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    url = f"http://{HOST}:{args.port}/"
    try:
        try:  # the URL is printed once it answers: never for a server that did not start
            wait_until_serving(url, START_TIMEOUT_S, process)
        except PricewarError as error:
            if process.poll() is not None and not port_is_free(args.port):
                raise PricewarError(f"port {args.port} on {HOST} is in use (choose another "
                                    f"with --port)") from None
            raise PricewarError(f"the viz server did not start: {error}") from None
        print(f"pricewar viz: scenario {args.scenario} at {url} (Ctrl+C stops the server)",
              flush=True)
        return process.wait()
    finally:
        stop(process)
        signal.signal(signal.SIGTERM, previous)
