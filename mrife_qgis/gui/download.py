"""A catalogue model downloaded before a tab's run: a task in QGIS's task manager (progress,
cancel) whose success starts the run again, now with the file on disk."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import Qgis, QgsApplication

from .. import catalogue
from ..i18n import tr


def download_then(panel, entry: catalogue.CatalogueModel, then: Callable[[], object]) -> bool:
    """Start downloading ``entry`` for ``panel`` (which has ``_say``, ``progress`` and
    ``cancelButton``); ``then()`` runs when the file is there. Returns False (nothing to run
    yet)."""
    if getattr(panel, "download", None) is not None:
        return False
    task = catalogue.DownloadTask(entry)
    panel.download = task
    panel._say(tr("Downloading {0} ({1} MiB) from {2}; the run starts when it is "
                  "verified.").format(entry.title, f"{entry.size / 2**20:.1f}",
                                      catalogue.url_base()), Qgis.MessageLevel.Info)
    task.progressChanged.connect(lambda p: panel.progress.setValue(int(p)))
    panel.cancelButton.setEnabled(True)

    def done(t: catalogue.DownloadTask, ok: bool) -> None:
        panel.download = None
        panel.cancelButton.setEnabled(False)
        if ok:
            panel._say(tr("{0}: downloaded and verified ({1}).").format(entry.title, t.path),
                       Qgis.MessageLevel.Info)
            then()
        else:
            why = t.error or tr("download cancelled; nothing was kept")
            panel._say(
                tr("{0}: {1}").format(entry.title, why),
                Qgis.MessageLevel.Warning
                if not t.error or "cancelled" in t.error
                else Qgis.MessageLevel.Critical,
            )

    task.on_done = done
    QgsApplication.taskManager().addTask(task)
    return False
