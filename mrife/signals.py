"""SIGINT and SIGTERM for the command line run as a program (``python -m mrife``)."""

from __future__ import annotations

import signal
import sys
import threading


class Signals:
    """SIGINT and SIGTERM for the command run as a program (``python -m mrife``, ``mrife``).

    Both are blocked in every thread and taken by one thread of ours (``sigwait``), so that no
    signal lands in a thread of torch's pools (a handler run there aborted the process at exit
    now and then). Normally a signal stops the command as Ctrl+C does (KeyboardInterrupt in the
    main thread: temporary files and locks are cleaned up). While a training run says it can stop
    gracefully, the first signal asks it to stop after its current step (it writes the resume
    file and reports "cancelled"); a second stops at once."""

    def __init__(self) -> None:
        self.graceful = False
        self.asked = False

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
            if self.graceful and not self.asked:
                self.asked = True
                print(f"{signal.Signals(signum).name}: stopping after this step and keeping "
                      "the state in the resume file (--resume continues); send it again to "
                      "stop at once", file=sys.stderr, flush=True)
            else:
                _thread.interrupt_main()

    def requested(self) -> bool:
        return self.asked


SIGNALS = Signals()
