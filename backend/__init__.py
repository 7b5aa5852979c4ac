"""Deprecated: the library is ``mrife`` now (``python -m mrife``, or the ``mrife`` command of its
wheel). ``python -m backend`` still runs the same command line for release 0.4 and says so; it
will be removed in the release after."""
