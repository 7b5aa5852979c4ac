"""``python -m backend``: the deprecated name of ``python -m mrife``."""

import runpy
import sys

print("note: 'python -m backend' is deprecated and will be removed after release 0.4; "
      "use 'python -m mrife' (or the 'mrife' command)", file=sys.stderr)
runpy.run_module("mrife", run_name="__main__", alter_sys=True)
