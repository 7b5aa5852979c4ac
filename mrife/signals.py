"""SIGINT and SIGTERM for the command line run as a program (``python -m mrife``)."""

from __future__ import annotations

import signal
import sys
import threading


class Signals:
    """SIGINT and SIGTERM for the command run as a program (``python -m mrife``, ``mrife``).

    Both are blocked in every thread and taken by one thread of ours (``sigwait``), so that no
    signal interrupts a system call in a thread of torch's or GDAL's pools. Normally a signal
    stops the command as Ctrl+C does (KeyboardInterrupt in the main thread: temporary files and
    locks are cleaned up). While a run says how it stops gracefully (``graceful``: what it will
    do, said when the signal comes), the first signal asks it to stop at its next check (a
    training run after its step, with its resume file; a detection at its next batch of tiles,
    writing nothing); a second stops at once. ``received`` tells ``__main__`` to leave without
    the interpreter's teardown, which after a signal aborted ("terminate called without an
    active exception") in about one run in four; the cause inside torch was not found."""

    def __init__(self) -> None:
        self.graceful: str | None = None
        self.asked = False
        self.received = False

    def install(self) -> None:
        if not hasattr(signal, "pthread_sigmask") or \
                threading.current_thread() is not threading.main_thread():
            return
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        threading.Thread(target=self._wait, name="signals", daemon=True).start()

    def _wait(self) -> None:
        import _thread

        while True:
            signum = signal.sigwait({signal.SIGINT, signal.SIGTERM})
            self.received = True
            if self.graceful and not self.asked:
                self.asked = True
                print(f"{signal.Signals(signum).name}: {self.graceful}; send it again to stop "
                      "at once", file=sys.stderr, flush=True)
            else:
                _thread.interrupt_main()

    def requested(self) -> bool:
        return self.asked


SIGNALS = Signals()
