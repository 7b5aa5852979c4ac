"""SHA-256 of a file, read in 1 MiB chunks: the one checksum of model files (the catalogue's
verification before a model is opened, the checksum recorded with detection results and
exports). Needs no torch, so the plugin can verify a download before torch is installed."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_hex(path: str | Path) -> str:
    """The file's SHA-256 as 64 hex digits."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
