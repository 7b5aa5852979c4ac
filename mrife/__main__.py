"""``python -m mrife``: the headless command line."""

import faulthandler
import os
import signal
import sys

from .cli import SIGNALS, main

SIGNALS.install()        # SIGINT and SIGTERM, as a program (never when main() runs in-process)
if hasattr(signal, "SIGUSR1"):      # `kill -USR1 PID` prints every thread's stack (bug reports)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
code = main()
if SIGNALS.received:
    # a run stopped by a signal has written and synced its files, or removed them; leave
    # without the interpreter's teardown (see Signals)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
