"""The product's errors at its boundaries: what a user can act on, in one sentence.

GDAL reports a damaged file (a truncated GeoTIFF, a VRT whose source is missing, an unreadable
block) as a RuntimeError from deep inside a read. :func:`reading` turns those into
:class:`DataReadError` naming the file, at the place that knows which file it was reading;
:func:`user_message` is the last line of defence used by the command line and by QGIS: the
message for any error the user can act on, None for a bug (which keeps its traceback).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class TrainingError(RuntimeError):
    """A training run cannot go on; the message says why and what to do."""


class DataReadError(ValueError):
    """A raster or vector file could not be read; the message names it and says what to do."""


class DataWriteError(ValueError):
    """GDAL failed to write a result (inside a step that also reads): the disk is full or the
    destination failed; the message says so instead of blaming the file being read."""


# GDAL's words for a failed write (GeoTIFF: "TIFFAppendToStrip:Write error at scanline 40",
# "_tiffWriteProc:No space left on device"; other drivers: "... write failed")
_WRITE_FAILURE = re.compile(r"write error|writ\w* fail|fail\w* to write|no space left|"
                            r"_tiffwriteproc|error writing", re.IGNORECASE)


def is_gdal_error(exc: BaseException) -> bool:
    """True for the RuntimeError GDAL/OGR/OSR raise in exception mode."""
    if type(exc) is not RuntimeError:
        return False
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and "osgeo" in Path(last).parts


def _gdal_text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or "unknown GDAL error"


@contextmanager
def reading(source: str | Path) -> Iterator[None]:
    """Inside: a GDAL read failure becomes a DataReadError naming ``source``."""
    try:
        yield
    except RuntimeError as exc:
        if not is_gdal_error(exc):
            raise
        if _WRITE_FAILURE.search(str(exc)):
            raise DataWriteError(
                f"writing the results failed ({_gdal_text(exc)}): the disk is probably full, "
                "or the destination stopped accepting data; free some space or choose another "
                "destination, then run again") from exc
        raise DataReadError(
            f"reading {Path(source).name} failed ({_gdal_text(exc)}): the file is damaged or "
            "truncated, or a file it refers to is missing; check it with `gdalinfo -checksum` "
            "and copy or export it again") from exc


def user_message(exc: BaseException) -> str | None:
    """One line for an error the user can act on; None when it is a bug."""
    from .leftovers import DestinationBusyError

    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or (
            is_gdal_error(exc) and "No space left on device" in str(exc)):
        where = getattr(exc, "filename", None) or "while writing"
        return f"the disk is full ({where}); free some space and run again"
    if isinstance(exc, OSError) and exc.filename and not isinstance(exc, PermissionError):
        return (f"{exc.filename}: {exc.strerror or type(exc).__name__}; check the path, the "
                "disk and the permissions, then run again")
    if isinstance(exc, ValueError | FileNotFoundError | PermissionError | DestinationBusyError):
        return " ".join(str(exc).split("\n")) if str(exc) else type(exc).__name__
    if is_gdal_error(exc):
        return (f"GDAL failed: {_gdal_text(exc)}; a file is damaged or truncated, or one it "
                "refers to is missing (check with `gdalinfo -checksum`)")
    if isinstance(exc, TrainingError):
        return str(exc)
    return None
