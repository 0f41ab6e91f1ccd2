"""Output folders that an interruption cannot leave half-written.

- :func:`check_output_dir` checks, before anything runs, that a folder can be written (not an
  empty path, not a file, not inside a file, writable).
- :func:`replacing_dir` gives a temporary folder beside the output folder and, once everything
  is written into it, puts it in the output folder's place in one step (Linux: an atomic
  exchange of the two folders, so the path always holds either the complete old or the complete
  new outputs); on any error or Ctrl-C it removes the temporary folder and the old outputs stay.
- :func:`write_file_atomic` writes one file through a temporary file renamed over it.
- :class:`FolderLock` keeps a second process from working in the same folder at the same time.

Temporary names carry the writing process's id, so a process removes only its own temporaries
and those of processes that no longer exist.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from pricewar.errors import LocatedInputError, PricewarError

#: the lock file inside a locked folder
LOCK_FILE = ".pricewar.lock"


class OutputError(PricewarError):
    """Outputs could not be written (full disk, permissions, a folder in use); names the path."""


def check_output_dir(out: str | os.PathLike, source: str = "command line", key: str = "--out",
                     replaces: Collection[str] | None = None) -> Path:
    """``out`` as a Path, after checking that outputs can be written there.

    ``replaces`` (a run, which replaces the whole folder with these files): the folder's parent
    must be writable, and an existing folder may hold only these files (an earlier run's outputs)
    and must not be, or contain, the current folder. Raises
    :class:`~pricewar.errors.LocatedInputError` naming ``source``, ``key`` and the path; writes
    nothing (a probe folder is created and removed again).
    """
    def fail(problem: str):
        raise LocatedInputError(source, key, str(out), problem)

    if str(out).strip() == "":
        fail("expected a folder path (an empty path would mean the current folder)")
    try:
        return _check_output_dir(Path(out), replaces, fail)
    except OSError as error:  # e.g. a folder on the way that cannot be read
        fail(f"cannot use it: {error}")


def resolved_output_dir(out: str | os.PathLike) -> Path:
    """The folder a run writing to ``out`` replaces: ``out``, or the folder its symlink points
    to (OSError for a symlink loop)."""
    out = Path(out)
    return out.resolve(strict=False) if out.is_symlink() else out


def _check_output_dir(path: Path, replaces: Collection[str] | None, fail) -> Path:
    if path.is_symlink():
        try:
            target = path.resolve(strict=False)
        except (OSError, RuntimeError) as error:  # RuntimeError: a loop, before Python 3.13
            fail(f"is a symlink that cannot be followed ({error})")
        absolute = Path(os.path.abspath(target))
    else:
        absolute = Path(os.path.abspath(path))
    if absolute.exists() and not absolute.is_dir():
        fail("is a file, not a folder")
    existing = absolute
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        fail(f"{existing} is a file: cannot create a folder inside it")
    if replaces is not None:
        cwd, real = Path.cwd(), Path(os.path.realpath(absolute))  # getcwd() has no links
        if real == cwd or real in cwd.parents:
            fail("is the current folder or contains it: a run replaces its whole output "
                 "folder, choose a folder of its own")
        if existing == absolute:
            foreign = sorted(p.name for p in absolute.iterdir() if p.name not in replaces)
            if foreign:
                fail(f"holds files a run does not write ({', '.join(foreign[:3])}"
                     f"{', ...' if len(foreign) > 3 else ''}): a run replaces its whole output "
                     f"folder, choose a new folder")
            existing = absolute.parent
    try:
        probe = Path(_make_temp_dir(existing, ".pricewar-probe"))
    except OSError as error:
        fail(f"cannot write in {existing}: {error.strerror or error}")
    probe.rmdir()
    return path


def _make_temp_dir(parent: Path, prefix: str) -> str:
    name = parent / f"{prefix}-{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(name, 0o755)
    return str(name)


def _temp_pattern(name: str) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(name)}\.(tmp|old)-(\d+)-[0-9a-f]+$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_stale_temporaries(out: Path) -> None:
    """Clean up after writers of ``out`` that died (SIGKILL, power loss): a dead writer's
    temporary folder is removed; its ``.old`` folder (the non-atomic fallback of
    :func:`_put_in_place`) is put back into ``out`` if that writer died before its new folder
    was in place (its temporary folder still exists), else removed. The old run is never lost."""
    pattern = _temp_pattern(out.name)
    if not out.parent.is_dir():
        return
    stale = [(entry, match) for entry in out.parent.iterdir()
             if (match := pattern.match(entry.name)) and not _pid_alive(int(match.group(2)))]
    for entry, match in sorted(stale, key=lambda item: item[1].group(1) != "old"):
        if match.group(1) == "old" and entry.exists():
            twin = entry.with_name(entry.name.replace(".old-", ".tmp-", 1))
            if twin.exists():  # died before the new folder was in place: put the old one back
                _restore_entries(entry, out)
        shutil.rmtree(entry, ignore_errors=True)


def _restore_entries(old: Path, out: Path) -> None:
    out.mkdir(exist_ok=True)
    for entry in old.iterdir():
        if not (out / entry.name).exists():
            os.rename(entry, out / entry.name)


@contextlib.contextmanager
def _interrupts_held(out: Path) -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) while ``out`` is being replaced and the replacement cleaned up: the
    outcome then matches what is on disk. A Ctrl-C held is dropped once the new folder is in
    place (the run is complete, the command succeeds) and raised if it is not. (Only in the
    main thread with Python's default Ctrl-C handler: other handlers are left alone.)"""
    import signal
    import threading

    previous = signal.getsignal(signal.SIGINT)
    if (threading.current_thread() is not threading.main_thread()
            or previous is not signal.default_int_handler):
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    replaced = False
    try:
        yield
        replaced = True
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and replaced:
            print(f"pricewar: Ctrl-C came after {out} was replaced: the new outputs are "
                  f"complete and kept", file=sys.stderr)
        elif caught:
            raise KeyboardInterrupt


@contextlib.contextmanager
def replacing_dir(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty folder beside ``out``; when the block ends without error it replaces
    ``out`` (created with its parents if missing). On an error, Ctrl-C or a full disk the
    temporary folder is removed and ``out`` is untouched; OSErrors become :class:`OutputError`.
    A Ctrl-C during the replacement itself is held until it is done (:func:`_interrupts_held`).
    """
    try:
        out = resolved_output_dir(out)  # replace the folder a symlink points to, not the link
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)
        temporary = Path(_make_temp_dir(out.parent, f".{out.name}.tmp"))
    except OSError as error:
        raise OutputError(f"cannot write {out}: {error}") from None
    try:
        yield temporary
        _sync_tree(temporary)
        with _interrupts_held(out):
            _put_in_place(temporary, out)
            shutil.rmtree(temporary, ignore_errors=True)
    except OSError as error:
        raise OutputError(f"cannot write {out}: {error}; {out} is unchanged") from None
    finally:
        # after an exchange the temporary path holds the replaced folder
        shutil.rmtree(temporary, ignore_errors=True)


def _sync_tree(folder: Path) -> None:
    """Flush the files and the folder to disk, so the renamed folder is complete after a crash."""
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _sync_dir(folder)


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _put_in_place(new: Path, out: Path) -> None:
    """Put folder ``new`` in the place of ``out``: an atomic exchange where the file system
    has one. Elsewhere ``out`` is emptied into a ``.old`` folder (named like ``new``, so
    :func:`remove_stale_temporaries` can tell how far a dead writer got) and ``new`` renamed
    over the empty folder: ``out`` is never absent, and if the writer dies on the way the next
    writer puts the old entries back."""
    if not out.exists():
        os.rename(new, out)
    elif not _exchange(new, out):
        old = new.with_name(new.name.replace(".tmp-", ".old-", 1))
        os.mkdir(old, 0o755)
        for entry in out.iterdir():
            os.rename(entry, old / entry.name)
        _sync_dir(old)
        os.rename(new, out)  # replaces the now empty folder in one step
        shutil.rmtree(old, ignore_errors=True)
    _sync_dir(out.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    platform or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2  # <fcntl.h>, <linux/fs.h>
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def write_file_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """``write(temporary_path)``, then rename the temporary file over ``path`` (readers see the
    old file or the complete new one; a failed write removes its temporary file)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


#: temporary files of :func:`write_file_atomic`: ``.NAME.PID-HEX.tmp``
TEMP_FILE = re.compile(r"^\..+\.(\d+)-[0-9a-f]+\.tmp$")


def remove_stale_temp_files(folder: Path) -> int:
    """Remove the temporary files of :func:`write_file_atomic` in ``folder`` whose writer no
    longer exists; returns how many."""
    removed = 0
    for path in folder.glob(".*.tmp"):
        match = TEMP_FILE.match(path.name)
        if match and not _pid_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def machine_lock_file(kind: str, key: str) -> Path:
    """A lock file for ``key`` (a resolved path, a port) in this machine's temporary folder:
    locks what cannot hold its own lock file (a run's folder is replaced as a whole) and leaves
    nothing beside the user's files."""
    import hashlib
    import tempfile

    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    user = os.getuid() if hasattr(os, "getuid") else "user"  # one folder per user: writable
    return Path(tempfile.gettempdir()) / f"pricewar-locks-{user}" / f"{kind}-{digest}.lock"


class FolderLock:
    """An exclusive lock on a folder (``flock`` on its :data:`LOCK_FILE`), held by one process;
    the system releases it when the process ends, however it ends.

    ``with FolderLock(folder, "sweep"):`` raises :class:`OutputError` at once if another process
    holds it. Without ``fcntl`` (Windows) the lock is a no-op. ``lock_file`` replaces the
    folder's own lock file (:func:`machine_lock_file`: for a folder replaced as a whole, or a
    port).
    """

    def __init__(self, folder: Path, holder: str = "process", lock_file: Path | None = None):
        self.folder = Path(folder)
        self.holder = holder
        self.path = lock_file or self.folder / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        try:
            import fcntl
        except ImportError:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise OutputError(f"{self.folder} is in use by another {self.holder} (process "
                              f"{owner}): wait for it to finish, or use another --out") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
