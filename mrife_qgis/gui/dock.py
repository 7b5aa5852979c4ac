"""The MRIFE dock panel: device choice and status, and the Label / Train / Detect tabs."""

from __future__ import annotations

from pathlib import Path

from qgis.PyQt import uic
from qgis.PyQt.QtCore import QCoreApplication

from ..deps import check_deps
from ..paths import backend_module
from ..settings import PluginSettings

FORM_CLASS, BASE_CLASS = uic.loadUiType(str(Path(__file__).with_suffix(".ui")))


class MrifeDock(BASE_CLASS, FORM_CLASS):
    """Dock widget. The device combo's item data is the device key (auto, cpu, cuda:N)."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent or iface.mainWindow())
        self.setupUi(self)
        self.setObjectName("MrifeDock")
        self.iface = iface
        self.settings = PluginSettings.load()
        self.refresh_devices()
        self.deviceCombo.currentIndexChanged.connect(self._device_chosen)
        from .detect_panel import DetectPanel

        self.detectPanel = DetectPanel(iface, self.selected_device, self.detectTab)
        self.detectPlaceholder.hide()
        self.detectLayout.addWidget(self.detectPanel)

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("MrifeDock", text)

    def refresh_devices(self) -> None:
        """Fill the device combo from what torch sees, and select the remembered choice."""
        self.deviceCombo.blockSignals(True)
        self.deviceCombo.clear()
        self.deviceCombo.addItem(self.tr("Auto (GPU if available)"), "auto")
        status = check_deps()
        if status.ok:
            for dev in backend_module("devices").list_devices():
                self.deviceCombo.addItem(dev.label, dev.key)
        else:
            self.deviceCombo.addItem("CPU", "cpu")
        index = self.deviceCombo.findData(self.settings.device)
        if index < 0:  # a remembered GPU that is gone: keep the choice visible, say so below
            self.deviceCombo.addItem(self.tr("{0} (not available)").format(self.settings.device),
                                     self.settings.device)
            index = self.deviceCombo.count() - 1
        self.deviceCombo.setCurrentIndex(index)
        self.deviceCombo.blockSignals(False)
        self._describe()

    def selected_device(self) -> str:
        """The device key chosen in the combo."""
        return self.deviceCombo.currentData()

    def _device_chosen(self, _index: int) -> None:
        self.settings.device = self.selected_device()
        self.settings.save()
        self._describe()

    def _describe(self) -> None:
        status = check_deps()
        if not status.ok:
            self.deviceStatus.setText(
                self.tr("The deep-learning packages are not usable:\n") + status.message())
            self.deviceStatus.setStyleSheet("color: #b00020")
            return
        try:
            dev = backend_module("devices").resolve_device(self.selected_device())
        except ValueError as exc:
            self.deviceStatus.setText(str(exc))
            self.deviceStatus.setStyleSheet("color: #b00020")
            return
        self.deviceStatus.setStyleSheet("")
        self.deviceStatus.setText(self.tr("Will run on: {0}\ntorch {1}").format(
            dev.label, status.versions.get("torch", "?")))
