"""The files a run writes: their paths checked before any work, their contents written whole.

``check_outputs`` refuses, with one line naming the option, a path that could not be written or
would destroy something: an empty name or ``-``, a directory, a symbolic link (never followed: the
file it points to would be overwritten), a FIFO, device or socket, a read-only file, a missing or
unwritable directory, the path of an input, or the same path for two outputs. ``stage`` writes a
file's contents beside its path under a temporary name; ``commit`` renames every staged file into
place at once (Ctrl-C held off meanwhile), after checking again that nothing but a regular file
has appeared at the path. A new file gets the mode the umask gives (0666 & ~umask), a replaced one
keeps its mode.
"""

from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


class OutputError(Exception):
    """An output path that cannot or must not be written: one line, naming the option."""


def _kind(mode: int) -> str | None:
    """What a path is when it is not a regular file (None when it is one)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def check_output(option: str, path: str) -> None:
    """Raise :class:`OutputError` unless ``path`` can be written as a new or replaced regular file."""
    if not path.strip():
        raise OutputError(f"{option} is empty; give a file name")
    if path == "-":
        raise OutputError(f"{option} -: writing to standard output is not supported; give a file name")
    target = Path(path)
    try:
        st = _lstat(target)
    except OSError as e:  # a parent that is a file (ENOTDIR), a name too long, a loop of links
        raise OutputError(f"{option} {path}: {e.strerror or e}; choose another path") from None
    if st is not None:
        kind = _kind(st.st_mode)
        if kind == "a symbolic link":
            raise OutputError(f"{option} {path}: is a symbolic link (to {os.readlink(target)}); give the path of a "
                              "regular file (links are not followed, so that what they point to is never overwritten)")
        if kind is not None:
            raise OutputError(f"{option} {path}: is {kind}, not a regular file; give a file name")
        if not os.access(target, os.W_OK):
            raise OutputError(f"{option} {path}: the file is read-only; remove it, make it writable, or choose "
                              "another path")
    parent = target.parent
    if not parent.exists():
        raise OutputError(f"{option} {path}: directory {parent} does not exist; create it or choose another path")
    if not parent.is_dir():
        raise OutputError(f"{option} {path}: {parent} is not a directory; choose another path")
    try:  # the only sure test: create (and remove) a file there, as the write will
        fd, probe = tempfile.mkstemp(prefix=".conformance-probe.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{option} {path}: cannot create files in {parent} ({e.strerror or e}); choose another "
                          "path") from None


def _same(a: str, b: str) -> bool:
    """Whether two paths name one file (existing: the same inode; else the same resolved path)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check_outputs(outputs: dict[str, str | None], inputs: dict[str, str | None]) -> None:
    """Check every output (``{"--json": path, ...}``), and that none is an input or another output."""
    given = [(option, path) for option, path in outputs.items() if path is not None]
    for option, path in given:
        check_output(option, path)
    for option, path in given:
        for in_option, in_path in inputs.items():
            if in_path and _same(path, in_path):
                raise OutputError(f"{option} {path}: is the {in_option} input; writing it would destroy the input, "
                                  "so choose another path")
    for i, (option, path) in enumerate(given):
        for other, other_path in given[i + 1:]:
            if _same(path, other_path):
                raise OutputError(f"{option} and {other} are the same file ({path}); give each its own path")


def _new_mode(target: Path) -> int:
    st = _lstat(target)
    if st is not None and stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@dataclass
class Staged:
    """A file's complete contents under a temporary name beside ``target``, waiting for ``commit``."""

    target: Path
    tmp: str

    def discard(self) -> None:
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def stage(path: str | os.PathLike, writer: Callable, text: bool = False) -> Staged:
    """Call ``writer(file)`` on a new temporary file beside ``path``; the caller commits or discards."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:64]}.", suffix=".tmp", dir=target.parent)
    staged = Staged(target, tmp)
    try:
        with os.fdopen(fd, "w" if text else "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_mode(target))
    except BaseException:
        staged.discard()
        raise
    return staged


@contextmanager
def _sigint_held():
    """Ctrl-C waits until the block ends (where signals can be masked), so renames are all or none."""
    if hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread():
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    else:
        yield


def commit(staged: list[Staged], options: list[str] | None = None) -> None:
    """Rename every staged file into place, after checking each path again; on any refusal nothing
    is renamed and every staged file is removed."""
    try:
        for i, s in enumerate(staged):
            st = _lstat(s.target)
            kind = None if st is None else _kind(st.st_mode)
            if kind is not None:
                option = options[i] if options else "output"
                raise OutputError(f"{option} {s.target}: became {kind} during the run; nothing was written")
        with _sigint_held():
            for s in staged:
                os.replace(s.tmp, s.target)
    finally:
        for s in staged:
            s.discard()


def write_atomic(path: str | os.PathLike, writer: Callable, text: bool = False) -> None:
    """Write a file whole or not at all: ``writer(file)`` on a temporary file, renamed into place."""
    commit([stage(path, writer, text)])
