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
