"""Locks that die with their process, and removal of what dead runs left behind.

A run that is killed (power cut, SIGKILL, QGIS crash) cannot clean up after itself. Every
temporary file or folder this product makes is therefore *locked* by its owner while it lives
(an OS file lock, released by the kernel when the process dies, however it dies). The next run
that writes into the same folder removes the temporaries whose lock it can take: their owner is
gone. Only names this product makes are considered, and a live run's files are never touched.

Destinations are locked the same way (:class:`DestinationLock`), so two runs never write the
same output at once: the second is refused with a message naming the file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def lock_fd(fd: int) -> None:
        """Exclusive, non-blocking lock on an open file; OSError when another process holds it."""
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def lock_fd(fd: int) -> None:
        """Exclusive, non-blocking lock on an open file; OSError when another process holds it."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

OWNER = ".owner"          # the lock file inside a temporary folder
GRACE_S = 60.0            # a folder without its lock file is left alone this long (being made)


def _owner_gone(path: Path) -> bool:
    """True when nobody holds the lock of ``path`` (a file, or a folder's OWNER file)."""
    target = path / OWNER if path.is_dir() else path
    if not target.exists():
        try:
            return time.time() - path.stat().st_mtime > GRACE_S
        except OSError:
            return False
    try:
        fd = os.open(target, os.O_RDWR)
    except OSError:
        return False
    try:
        lock_fd(fd)
    except OSError:
        return False            # held: its owner is alive
    finally:
        os.close(fd)            # closing releases the probe's own lock
    return True


def remove_stale(folder: Path, pattern: str) -> list[Path]:
    """Remove the files or folders in ``folder`` matching ``pattern`` whose owner is gone;
    return what was removed. Errors (permissions, a file vanishing meanwhile) are skipped."""
    removed = []
    try:
        candidates = list(Path(folder).glob(pattern))
    except OSError:
        return removed
    for path in candidates:
        try:
            if not _owner_gone(path):
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


def lock_folder(folder: Path) -> int:
    """Create and lock ``folder``/OWNER; keep the returned descriptor open while the folder is
    in use (``os.close`` it, or let the process end, to release)."""
    fd = os.open(Path(folder) / OWNER, os.O_RDWR | os.O_CREAT, 0o644)
    lock_fd(fd)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


class DestinationBusyError(RuntimeError):
    """Another run is writing the same destination."""


class DestinationLock:
    """Hold ``.<name>.lock`` beside a destination while a run writes it.

    >>> with DestinationLock(Path("out.gpkg")):
    ...     ...                          # no other run can hold it meanwhile
    """

    def __init__(self, destination: Path):
        self.destination = Path(destination)
        self.path = self.destination.with_name(f".{self.destination.name}.lock")
        self.fd: int | None = None

    def __enter__(self) -> DestinationLock:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                lock_fd(fd)
            except OSError:
                os.close(fd)
                raise DestinationBusyError(
                    f"{self.destination} is being written by another run (lock "
                    f"{self.path.name}); wait for it to finish or choose another destination"
                ) from None
            try:     # the previous holder may have removed the file between open and lock
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            try:
                self.path.unlink()
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None


class DestinationError(ValueError):
    """An output cannot be written; the message names it and the fix."""


def _nearest_folder(path: Path) -> Path:
    for folder in (path, *path.parents):
        if folder.exists():
            return folder
    return Path(".")


def check_destination(path: Path, what: str, *, folder: bool = False,
                      create_parents: bool = False) -> None:
    """DestinationError before any work when ``path`` cannot be written: a file (or, with
    ``folder``, a folder to write into) whose place is missing, not a folder, read-only (tried
    for real, with a temporary file: permission bits do not say it for root or a read-only
    file system) or already the other kind of thing. ``create_parents``: a missing folder is
    fine when the nearest existing one above it is writable (the writer creates it)."""
    path = Path(path)
    if folder:
        if path.exists() and not path.is_dir():
            raise DestinationError(f"cannot write the {what} into {path}: it is a file, not a "
                                   "folder; choose a folder")
        place = path if path.is_dir() else _nearest_folder(path)
    else:
        if path.is_dir():
            raise DestinationError(f"cannot write the {what} {path}: it exists and cannot be "
                                   "replaced (it is a folder); give a file name inside it")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir() and not create_parents:
            raise DestinationError(f"cannot write the {what} {path}: folder {parent} does not "
                                   "exist")
        place = parent if parent.is_dir() else _nearest_folder(parent)
        if not place.is_dir():
            raise DestinationError(f"cannot write the {what} {path}: {place} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=place):
            pass
    except OSError as exc:
        raise DestinationError(f"cannot write the {what} {path}: folder {place} is not "
                               f"writable ({exc.strerror or exc}); choose another "
                               "destination") from exc
    if not folder and path.exists() and not os.access(path, os.W_OK):
        raise DestinationError(f"cannot write the {what} {path}: it exists and cannot be "
                               "replaced")
