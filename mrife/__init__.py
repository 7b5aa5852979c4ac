"""MRIFE, the library: networks, training, tiling, detection. No QGIS or Qt in here.

The same top-level package ``mrife`` in the source tree (``python -m mrife``), in its wheel (the
``mrife`` command) and inside the packaged plugin (``mrife_qgis/lib/mrife``).
"""

__version__ = "0.3.0"
