"""One place that tells the user things: the QGIS message log, and the message bar."""

from __future__ import annotations

from collections import deque
from datetime import datetime

from qgis.core import Qgis, QgsMessageLog

from mrife import errors

from .i18n import tr

TAG = "MRIFE"
RECENT: deque[str] = deque(maxlen=30)   # the last warnings and errors, for the diagnostics report


def log(
    message: str,
    level: Qgis.MessageLevel = Qgis.MessageLevel.Info,
    *,
    bar=None,
    title: str = "MRIFE",
    duration: int = 8,
) -> None:
    """Write ``message`` to the MRIFE tab of the log panel and, when ``bar`` is given, to it.

    Args:
        message: the text, in words a GIS user can act on.
        level: Qgis.Info, Qgis.Warning, Qgis.Critical or Qgis.Success.
        bar: a QgsMessageBar (usually ``iface.messageBar()``), or None for the log only.
        title: bold title in the bar.
        duration: seconds the bar item stays (0: until closed).
    """
    QgsMessageLog.logMessage(message, TAG, level)
    if level in (Qgis.MessageLevel.Warning, Qgis.MessageLevel.Critical):
        kind = "error" if level == Qgis.MessageLevel.Critical else "warning"
        RECENT.append(f"{datetime.now().isoformat(timespec='seconds')} {kind}: {message}")
    if bar is not None:
        bar.pushMessage(title, message, level=level, duration=duration)


def duration(seconds: float) -> str:
    """A duration as a user reads it: 45 s, 12 min, 2.5 h."""
    if seconds < 90:
        return tr("{0} s").format(f"{seconds:.0f}")
    if seconds < 5400:
        return tr("{0} min").format(f"{seconds / 60:.0f}")
    return tr("{0} h").format(f"{seconds / 3600:.1f}")


def user_error(exc: BaseException) -> str:
    """The message a user reads for ``exc``: the backend's one line for errors the user can act
    on (bad input, damaged files, a busy destination, a full disk), else type and text."""
    return errors.user_message(exc) or f"{type(exc).__name__}: {exc}"
