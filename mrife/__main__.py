"""The program: ``python -m mrife`` and the ``mrife`` command of the wheel (``run``)."""

import faulthandler
import os
import signal
import sys

from .cli import SIGNALS, main


def run() -> None:
    """The command line as a program: SIGINT and SIGTERM handled (``mrife.signals``; never when
    ``main()`` runs in-process), ``kill -USR1 PID`` prints every thread's stack, then exit."""
    SIGNALS.install()
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    code = main()
    if SIGNALS.received:
        # a run stopped by a signal has written and synced its files, or removed them; leave
        # without the interpreter's teardown (see Signals)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    run()
