"""``python -m backend``: the deprecated name of ``python -m mrife``."""

import sys

from mrife.cli import SIGNALS, main

print("note: 'python -m backend' is deprecated and will be removed after release 0.4; "
      "use 'python -m mrife' (or the 'mrife' command)", file=sys.stderr)
SIGNALS.install()
sys.exit(main())
