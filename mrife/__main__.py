"""``python -m mrife``: the headless command line."""

import os
import sys

from .cli import SIGNALS, main

SIGNALS.install()        # SIGINT and SIGTERM, as a program (never when main() runs in-process)
code = main()
if SIGNALS.asked:
    # a run stopped by a signal has written and synced its files; leave without the
    # interpreter's teardown, in which torch's thread pools abort now and then after a signal
    # ("terminate called without an active exception", seen in about one run in four)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
