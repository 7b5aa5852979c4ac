"""The dialog that installs torch and torchvision into the plugin's private folder."""

from __future__ import annotations

from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsTask
from qgis.PyQt.QtCore import QObject, Qt, pyqtSignal
from qgis.PyQt.QtGui import QDesktopServices
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from .. import installer
from ..deps import activate_private_packages, check_deps, packages_base
from ..i18n import tr
from ..log import log


class _Lines(QObject):
    line = pyqtSignal(str)


class InstallTask(QgsTask):
    """Runs ``installer.install`` off the GUI thread; pip's lines arrive through ``lines``."""

    def __init__(self, base: Path, build: str, requirements, extra_args=(),
                 verify_device: str | None = "auto", python=None) -> None:
        super().__init__(tr("MRIFE: installing deep-learning packages"), QgsTask.Flag.CanCancel)
        self.base, self.build = base, build
        self.requirements, self.extra_args = list(requirements), list(extra_args)
        self.verify_device, self.python = verify_device, python
        self.lines = _Lines()
        self.result: installer.InstallResult | None = None

    def run(self) -> bool:
        try:
            self.result = installer.install(
                self.base, self.requirements, self.build, python=self.python,
                extra_args=self.extra_args, on_line=self.lines.line.emit,
                should_cancel=self.isCanceled, verify_device=self.verify_device)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, never a traceback
            self.result = installer.InstallResult(False, f"{type(exc).__name__}: {exc}",
                                                  installer.runtime_dir(self.base))
        return self.result.ok


class InstallDialog(QDialog):
    """Build choice, pip's output as it runs, Install / Cancel / Remove / full log."""

    def __init__(self, parent=None, requirements=installer.REQUIREMENTS, extra_args=(),
                 verify_device: str | None = "auto", python=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("MRIFE: install torch and torchvision"))
        self.setObjectName("MrifeInstallDialog")
        self.requirements, self.extra_args = requirements, extra_args
        self.verify_device, self.python = verify_device, python
        self.base = packages_base()
        self.task: InstallTask | None = None
        self.last_result: installer.InstallResult | None = None
        self.gpus = installer.nvidia_gpus()
        detected, why = installer.choose_build(self.gpus)

        layout = QVBoxLayout(self)
        intro = QLabel(tr(
            "The plugin needs PyTorch (torch, torchvision). They are installed into a folder "
            "of the plugin's own, for this QGIS's Python only; nothing QGIS ships is changed "
            "(numpy and other compiled packages stay as they are).\n\nFolder: {0}\nA QGIS "
            "upgrade with a new Python gets a new folder: the plugin then offers this "
            "installation again.").format(installer.runtime_dir(self.base)))
        intro.setWordWrap(True)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(intro)
        form = QFormLayout()
        self.buildCombo = QComboBox()
        self.buildCombo.addItem(tr("Automatic: {0} ({1})").format(detected.upper(), why),
                                "auto")
        self.buildCombo.addItem(tr("CPU only (works everywhere, slower)"), "cpu")
        self.buildCombo.addItem(tr("NVIDIA GPU (CUDA 12)"), "cuda")
        form.addRow(tr("Build:"), self.buildCombo)
        layout.addLayout(form)
        self.status = QLabel(self._installed_text())
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setMinimumSize(640, 240)
        layout.addWidget(self.output)
        buttons = QDialogButtonBox()
        self.installButton = QPushButton(tr("Install"))
        self.cancelButton = QPushButton(tr("Cancel installation"))
        self.cancelButton.setEnabled(False)
        self.removeButton = QPushButton(tr("Remove installed packages"))
        self.logButton = QPushButton(tr("Open full log"))
        for b in (self.installButton, self.cancelButton, self.removeButton, self.logButton):
            buttons.addButton(b, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.installButton.clicked.connect(self.start)
        self.cancelButton.clicked.connect(self.cancel)
        self.removeButton.clicked.connect(self.remove)
        self.logButton.clicked.connect(self.open_log)
        layout.addWidget(buttons)
        self._sync()

    def _installed_text(self) -> str:
        m = installer.read_manifest(installer.runtime_dir(self.base))
        if not m:
            return tr("Nothing installed by the plugin yet.")
        v = m.get("verified") or {}
        text = tr("Installed {0}: {1} build").format(m.get("installed"), m.get("build"))
        if v.get("torch"):
            text += tr(", torch {0} checked on {1}").format(v["torch"], v["device"])
        return text

    def _sync(self) -> None:
        running = self.task is not None
        self.installButton.setEnabled(not running)
        self.cancelButton.setEnabled(running)
        folder = installer.runtime_dir(self.base)
        self.removeButton.setEnabled(not running and (folder / installer.MANIFEST).is_file())
        self.logButton.setEnabled((folder / "pip.log").is_file() or bool(self.last_result))

    def start(self) -> InstallTask:
        self.output.clear()
        self.task = InstallTask(self.base, self.buildCombo.currentData(), self.requirements,
                                self.extra_args, self.verify_device, self.python)
        self.task.lines.line.connect(self.output.appendPlainText)
        self.task.taskCompleted.connect(self._finished)
        self.task.taskTerminated.connect(self._finished)
        QgsApplication.taskManager().addTask(self.task)
        self._sync()
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _finished(self) -> None:
        result = self.task.result if self.task else None
        self.task = None
        self.last_result = result
        if result is None:
            result = installer.InstallResult(False, tr("the installation was cancelled"), self.base)
        if result.ok:
            activate_private_packages()
            status = check_deps(refresh=True)
            text = tr("Installed and checked. torch works in QGIS now.") if status.ok else \
                tr("Installed and checked. Restart QGIS to use it (an earlier failed import is "
                   "still loaded).")
            log(f"packages installed into {result.folder}")
        else:
            text = tr("The installation did not succeed: {0}").format(result.message)
            log(f"package installation failed: {result.message}", level=Qgis.MessageLevel.Critical)
        self.status.setText(text)
        self.output.appendPlainText("\n" + text)
        self._sync()

    def remove(self, confirm: bool = True) -> bool:
        folder = installer.runtime_dir(self.base)
        if confirm and QMessageBox.question(
                self, "MRIFE", tr("Delete {0} and everything the plugin installed there?").format(
                    folder)
        ) != QMessageBox.StandardButton.Yes:
            return False
        removed = installer.remove(self.base)
        self.status.setText(tr("Removed. Restart QGIS to unload torch.") if removed else
                            tr("Nothing to remove."))
        self._sync()
        return removed

    def open_log(self) -> None:
        path = installer.runtime_dir(self.base) / "pip.log"
        if self.last_result is not None and not self.last_result.ok:
            path = Path(self.base) / "last-failed-install.log"
            path.write_text(self.last_result.log + "\n\n" + self.last_result.message + "\n")
        from qgis.PyQt.QtCore import QUrl

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
