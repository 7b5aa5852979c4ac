"""MRIFE backend: networks, training, tiling, detection. No QGIS or Qt in here.

Every module imports its siblings relatively, so the package works both as the top-level
``backend`` of the source tree (``python -m backend``) and as ``mrife_qgis.backend`` inside the
packaged plugin.
"""

__version__ = "0.3.0"
