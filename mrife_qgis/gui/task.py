"""The panels' background jobs (one QgsTask shape for detection and training: ``DetectTask``,
``TrainTask``) and their file choices."""

from __future__ import annotations

import shutil
from pathlib import Path

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from mrife import events

from .. import training
from ..log import user_error


class PanelTask(QgsTask):
    """``work()`` runs off the main thread and returns success. An exception becomes ``error``
    (shown in the message bar, never a traceback dialog: the backend's one line for errors the
    user can act on, type and text otherwise). The work folder is removed however the task ends,
    also when it is cancelled before it ran. ``on_done(task, ok)`` runs on the main thread."""

    def __init__(self, description: str, workdir: Path):
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.workdir = workdir
        self.result = None
        self.error: str | None = None
        self.on_done = None

    def work(self) -> bool:
        raise NotImplementedError

    def run(self) -> bool:
        try:
            return self.work()
        except Exception as exc:
            self.error = user_error(exc)
            return False
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def finished(self, ok: bool) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.on_done is not None:
            self.on_done(self, ok)


class DetectTask(PanelTask):
    """Runs ``mrife.detect.detect`` off the main thread. Results are read in ``finished``."""

    def __init__(self, description: str, kwargs: dict, workdir: Path):
        super().__init__(description, workdir)
        self.kwargs = kwargs
        self.cancelled = False

    def work(self) -> bool:
        from mrife.detect import detect
        from mrife.inference import Cancelled

        try:
            self.result = detect(
                progress=lambda d, t: self.setProgress(100.0 * d / max(t, 1)),
                should_stop=self.isCanceled, **self.kwargs)
            return True
        except Cancelled:
            self.cancelled = True
            return False


class TrainTask(PanelTask):
    """Runs the backend's training off the main thread. Its progress reaches the panel through
    the ``reported`` signal (queued to the main thread)."""

    reported = pyqtSignal(object)
    message = pyqtSignal(str)

    def __init__(self, description: str, prep: training.PreparedTraining, workdir: Path):
        super().__init__(description, workdir)
        self.prep = prep

    def _progress(self, ev) -> None:
        if isinstance(ev, events.Step):
            self.setProgress(100.0 * ev.fraction)
        self.reported.emit(ev)             # frozen dataclasses: safe to hand across threads

    def work(self) -> bool:
        self.result = training.run(self.prep, log=self.message.emit, progress=self._progress,
                                   should_stop=self.isCanceled)
        return self.result.status == "completed"


def chosen_file(widget, default_name: str) -> Path | None:
    """The file named in a QgsFileWidget, with the default name's suffix; when empty,
    ``default_name`` in the project's folder (None for a project not saved yet)."""
    from qgis.core import QgsProject

    suffix = Path(default_name).suffix
    text = widget.filePath().strip()
    if text:
        path = Path(text)
        return path if path.suffix.lower() == suffix else path.with_suffix(suffix)
    home = QgsProject.instance().homePath()
    return Path(home) / default_name if home else None
