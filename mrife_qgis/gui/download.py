"""A catalogue model downloaded before a tab's run: a task in QGIS's task manager (progress,
cancel) whose success starts the run again, now with the file on disk."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import Qgis, QgsApplication

from .. import catalogue


def download_then(panel, entry: catalogue.CatalogueModel, then: Callable[[], object]) -> bool:
    """Start downloading ``entry`` for ``panel`` (which has ``_say``, ``progress`` and
    ``cancelButton``); ``then()`` runs when the file is there. Returns False (nothing to run
    yet)."""
    if getattr(panel, "download", None) is not None:
        return False
    task = catalogue.DownloadTask(entry)
    panel.download = task
    panel._say(f"Downloading {entry.title} ({entry.size / 2**20:.1f} MiB) from "
               f"{catalogue.url_base()}; the run starts when it is verified.", Qgis.Info)
    task.progressChanged.connect(lambda p: panel.progress.setValue(int(p)))
    panel.cancelButton.setEnabled(True)

    def done(t: catalogue.DownloadTask, ok: bool) -> None:
        panel.download = None
        panel.cancelButton.setEnabled(False)
        if ok:
            panel._say(f"{entry.title}: downloaded and verified ({t.path}).", Qgis.Info)
            then()
        else:
            panel._say(f"{entry.title}: {t.error or 'download cancelled; nothing was kept'}",
                       Qgis.Warning if not t.error or "cancelled" in t.error else Qgis.Critical)

    task.on_done = done
    QgsApplication.taskManager().addTask(task)
    return False
