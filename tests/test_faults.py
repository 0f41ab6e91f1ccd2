"""Fault injection (issue 18, cases 1, 5 and 6): a run interrupted while writing (SIGKILL,
SIGINT, a full disk) leaves its output folder as it was, never a mix of two runs; a bad --out
fails before the simulation; a SIGKILLed sweep or viz server leaves no process behind."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from conftest import BASELINE_RUN, SMALL_OVERRIDES, baseline_frames, run_cli, set_flags

from pricewar.cli import main
from pricewar.runs import runner
from pricewar.testing.signals import default_sigint

RUN = ["run", "baseline", "--steps", str(BASELINE_RUN["steps"]),
       *set_flags(BASELINE_RUN["overrides"]), "--quiet"]
OUTPUTS = ("model.parquet", "agents.parquet", "scenario.toml")


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def assert_one_run(out: Path, seed: int) -> None:
    """All three outputs exist and come from the same run (seed ``seed``)."""
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert f"with seed {seed}." in (out / "scenario.toml").read_text().splitlines()[0]
    model = pd.read_parquet(out / "model.parquet")
    agents = pd.read_parquet(out / "agents.parquet")
    reference_model, reference_agents = baseline_frames(
        seed, BASELINE_RUN["steps"], BASELINE_RUN["overrides"]["n_consumers"])
    pd.testing.assert_frame_equal(model, reference_model)
    pd.testing.assert_frame_equal(agents, reference_agents)


# ------------------------------------------------------------------------------------------------
# case 1: interrupted writing leaves the old run, whole
# ------------------------------------------------------------------------------------------------
STALL_WHILE_WRITING = """
import sys, time
import pandas as pd
from pricewar.cli import main

write = pd.DataFrame.to_parquet

def stalled(self, path, *args, **kwargs):  # the first file is written, then the run stalls
    write(self, path, *args, **kwargs)
    with open(sys.argv[1], "a") as marker:
        marker.write(f"{path}\\n")
    time.sleep(120)

pd.DataFrame.to_parquet = stalled
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_a_run_interrupted_while_writing_leaves_the_old_run_whole(tmp_path, how, baseline_run):
    out = tmp_path / "out"
    shutil.copytree(baseline_run, out)  # the old run: seed 1, as RUN
    before = snapshot(out)
    marker = tmp_path / "written"
    process = subprocess.Popen([sys.executable, "-c", STALL_WHILE_WRITING, str(marker),
                                *RUN, "--seed", "2", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text()):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(getattr(signal, how))
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert snapshot(out) == before  # not a mix: the new model.parquet went to a temporary folder
    assert_one_run(out, seed=1)
    if how == "SIGINT":  # Ctrl-C: the run removes its temporary folder
        assert process.returncode == 130 and "interrupted" in err
        assert temporaries(tmp_path) == []
    # the next run replaces the folder and removes what a killed run left behind
    assert main([*RUN, "--seed", "3", "--out", str(out)]) == 0
    assert_one_run(out, seed=3)
    assert temporaries(tmp_path) == []


def test_a_full_disk_while_writing_leaves_the_old_run_and_one_line(tmp_path, capsys,
                                                                   monkeypatch, baseline_run):
    out = tmp_path / "out"
    shutil.copytree(baseline_run, out)  # the old run: seed 1, as RUN
    before = snapshot(out)
    write = pd.DataFrame.to_parquet

    def disk_full_on_agents(self, path, *args, **kwargs):
        if Path(path).name == "agents.parquet":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return write(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full_on_agents)
    code, _, err = run_cli([*RUN, "--seed", "2", "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "No space left on device" in err and "unchanged" in err
    assert snapshot(out) == before
    assert temporaries(tmp_path) == []


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, options: str):
    """A small tmpfs at ``folder`` (needs the right to mount: skipped without it)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs is Linux")
def test_a_really_full_disk_is_one_line_and_leaves_nothing(tmp_path, capsys):
    with mounted_tmpfs(tmp_path / "small", "size=32k") as disk:
        out = disk / "out"
        out.mkdir()
        for name in OUTPUTS:  # an earlier run's (tiny) outputs
            (out / name).write_text(f"old {name}")
        before = snapshot(out)
        code, _, err = run_cli([*RUN, "--out", str(out)], capsys)
        assert code == 2 and err.count("\n") == 1 and "No space left on device" in err
        assert snapshot(out) == before and temporaries(disk) == []


# ------------------------------------------------------------------------------------------------
# case 6: a bad --out fails before the simulation, with one line
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def no_simulation(monkeypatch):
    def simulate(*args, **kwargs):
        raise AssertionError("the run simulated before checking --out")

    monkeypatch.setattr(runner, "run_model", simulate)


def read_only(folder: Path):
    """``folder`` made read-only: by permissions (not root), or a read-only tmpfs (root)."""
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
        return contextlib.nullcontext(folder)
    return mounted_tmpfs(folder, "ro,size=16k")


@pytest.mark.parametrize("where", ["a file", "inside a file", "read-only", "the current folder",
                                   "a folder of other files", "empty"])
def test_a_bad_out_fails_before_simulating(where, tmp_path, capsys, monkeypatch, no_simulation):
    (tmp_path / "file.txt").write_text("not a folder")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("precious")
    monkeypatch.chdir(tmp_path)
    outs = {"a file": "file.txt", "inside a file": "file.txt/run", "the current folder": ".",
            "a folder of other files": "notes", "empty": ""}
    problems = {"a file": "is a file", "inside a file": "cannot create a folder inside it",
                "read-only": "cannot write", "the current folder": "current folder",
                "a folder of other files": "thesis.tex", "empty": "expected a folder path"}
    with contextlib.ExitStack() as stack:
        if where == "read-only":
            outs[where] = str(stack.enter_context(read_only(tmp_path / "locked")) / "run")
        before = sorted(str(p) for p in tmp_path.rglob("*"))
        code, _, err = run_cli([*RUN, "--out", outs[where]], capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert "--out" in err and problems[where] in err
        assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing written


def test_an_unwritable_out_is_found_before_simulating_even_as_root(tmp_path, capsys, monkeypatch,
                                                                   no_simulation):
    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(os, "mkdir", refuse)
    code, _, err = run_cli([*RUN, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "cannot write in" in err and "Permission denied" in err


# ------------------------------------------------------------------------------------------------
# case 5: children die with their parent
# ------------------------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively (psutil if installed, else /proc)."""
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except ImportError:
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rpartition(")")[2].split()
                parents[int(stat.parent.name)] = int(fields[1])
        found, frontier = [], [pid]
        while frontier:
            children = [c for c, p in parents.items() if p in frontier]
            found += children
            frontier = children
        return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[0] != "Z"


def wait_until_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_sigkill_of_a_sweep_leaves_no_worker_alive(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps({"steps": 40, "seeds": [1, 2, 3], "fixed": dict(SMALL_OVERRIDES),
                                   "design": {"kind": "grid", "parameters": {
                                       "electricity_us": {"low": 0.05, "high": 0.1, "num": 8}}}}))
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "pricewar.cli", "sweep", str(spec),
                                "--out", str(out), "--workers", "2", "--quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not list((out / "results").glob("run-*.parquet")):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        workers = descendants(process.pid)
        assert len(workers) >= 2
        process.kill()  # the parent alone, as the out-of-memory killer or `kill -9` would
        process.wait(timeout=10)
        assert wait_until_gone(workers) == []
    finally:
        process.kill()
        kill_all(workers)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening_process(port: int) -> int | None:
    """The process listening on 127.0.0.1:``port`` (from /proc/net/tcp and /proc/*/fd)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:  # 0A: LISTEN
            inodes.add(fields[9])
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return int(fd.parent.parent.name)
    return None


def answers(port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(1)
        return client.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.integration  # starts the real app server
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_sigkill_of_viz_leaves_no_server_answering(tmp_path):
    pytest.importorskip("solara")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pricewar.cli", "viz", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while not answers(port):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        servers = descendants(process.pid)
        listener = listening_process(port)
        assert listener in servers  # the server answering is the one pricewar viz started
        process.kill()
        process.wait(timeout=10)
        assert wait_until_gone(servers) == []  # ... and it is gone
    finally:
        process.kill()
        kill_all(servers)
