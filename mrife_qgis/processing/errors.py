"""Errors at the Processing boundary."""

from __future__ import annotations

from qgis.core import QgsProcessingException

from mrife import errors


def processing_error(exc: BaseException, prefix: str = "") -> QgsProcessingException:
    """A QgsProcessingException with the backend's one-line message for an error the user can
    act on (bad input, damaged or unsafe files, a busy destination, a full disk). Anything else
    is a bug: it is raised again as it was, traceback and all, for the bug report."""
    if isinstance(exc, QgsProcessingException):
        return exc
    message = errors.user_message(exc)
    if message is None:
        raise exc
    return QgsProcessingException(prefix + message)
