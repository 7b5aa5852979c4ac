"""``mrife:deviceinfo``: report the deep-learning stack and the compute device (for scripts)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterString,
)

from mrife import devices

from ..deps import check_deps
from ..i18n import tr


class DeviceInfoAlgorithm(QgsProcessingAlgorithm):
    DEVICE = "DEVICE"
    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "deviceinfo"

    def displayName(self) -> str:  # noqa: N802
        return tr("Device information")

    def shortHelpString(self) -> str:  # noqa: N802
        return (tr("Says which device (GPU or CPU) MRIFE will run on for a device choice "
                   "(auto, cpu, cuda:N), and which torch it found."))

    def createInstance(self):  # noqa: N802
        return DeviceInfoAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterString(self.DEVICE, tr("Device"), defaultValue="auto")
        )
        self.addOutput(QgsProcessingOutputString(self.OUTPUT, tr("Device")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        status = check_deps()
        if not status.ok:
            raise QgsProcessingException(status.message())
        choice = self.parameterAsString(parameters, self.DEVICE, context)
        try:
            dev = devices.resolve_device(choice)
        except ValueError as exc:
            raise QgsProcessingException(str(exc)) from exc
        feedback.pushInfo(
            tr("torch {0}; device: {1}").format(status.versions.get("torch"), dev.label)
        )
        return {self.OUTPUT: dev.label}
