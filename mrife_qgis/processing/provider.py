"""Processing provider ``mrife``: the plugin's algorithms for the toolbox, batch, modeler and
``qgis_process``."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..paths import resources_dir


class MrifeProvider(QgsProcessingProvider):
    """Only adds the algorithms; each lives in its own module."""

    def id(self) -> str:
        return "mrife"

    def name(self) -> str:
        return "MRIFE relic landslides"

    def longName(self) -> str:  # noqa: N802
        return "MRIFE relic-landslide detection and fine-tuning"

    def icon(self) -> QIcon:
        return QIcon(str(resources_dir() / "icons" / "mrife.svg"))

    def loadAlgorithms(self) -> None:  # noqa: N802
        for alg in self._algorithms():
            self.addAlgorithm(alg)

    @staticmethod
    def _algorithms() -> list:
        from .alg_detect import DetectAlgorithm
        from .alg_device import DeviceInfoAlgorithm
        from .alg_evaluate import EvaluateAlgorithm
        from .alg_export_tiles import ExportTilesAlgorithm
        from .alg_train import TrainAlgorithm

        return [DeviceInfoAlgorithm(), DetectAlgorithm(), TrainAlgorithm(),
                ExportTilesAlgorithm(), EvaluateAlgorithm()]

    def defaultVectorFileExtension(self, hasGeometry: bool = True) -> str:  # noqa: N802
        return "gpkg"

    def supportedOutputVectorLayerExtensions(self) -> list[str]:  # noqa: N802
        return ["gpkg"]
