"""``mrife:exporttiles``: the training tiles of the user's labels as georeferenced GeoTIFFs."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from mrife import errors

from ..i18n import tr
from .errors import processing_error
from .labelled import LabelledAlgorithm


class ExportTilesAlgorithm(LabelledAlgorithm):
    TILE, RES, RATIO, OUTPUT = "TILE_SIZE", "GROUND_RESOLUTION", "POS_NEG_RATIO", "OUTPUT"

    def name(self) -> str:
        return "exporttiles"

    def displayName(self) -> str:  # noqa: N802
        return tr("Export training tiles")

    def shortHelpString(self) -> str:  # noqa: N802
        return (tr("Writes the tiles training would use as GeoTIFF image/mask pairs: "
                   "<folder>/<train|val|test>/images and masks (mask 1 landslide, 0 background, "
                   "255 not labelled). Positive tiles around landslides, negatives from labelled "
                   "ground at the chosen ratio."))

    def createInstance(self):  # noqa: N802
        return ExportTilesAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self._add_label_parameters()
        self.addParameter(QgsProcessingParameterNumber(
            self.TILE, tr("Tile size (pixels)"), QgsProcessingParameterNumber.Type.Integer, 512,
            minValue=32))
        self.addParameter(QgsProcessingParameterNumber(
            self.RES, tr("Ground resolution (m/pixel; 0: the raster's)"),
            QgsProcessingParameterNumber.Type.Double, 0.0, minValue=0.0))
        self.addParameter(
            QgsProcessingParameterNumber(
                self.RATIO,
                tr("Positive : negative tiles"),
                QgsProcessingParameterNumber.Type.Double,
                3.0,
                minValue=0.1,
            )
        )
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT, tr("Tile folder")))
        self.addOutput(QgsProcessingOutputNumber("TILES", tr("Tiles written")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        out = Path(self.parameterAsString(parameters, self.OUTPUT, context))
        work = Path(tempfile.mkdtemp(prefix="mrife-tiles-"))
        try:
            layers, rasters, inputs = self._label_inputs(parameters, context, feedback, work)
            tile = self.parameterAsInt(parameters, self.TILE, context)
            res = self.parameterAsDouble(parameters, self.RES, context) or None
            from mrife.config import DataSettings
            from mrife.export import export_tiles
            from mrife.jobs import load_rasters

            try:
                data = DataSettings(tile_size=tile, ground_resolution=res)
                parts, _summary, _facts = load_rasters(
                    rasters, inputs.landslides, inputs.mapped_area, data, log=feedback.pushInfo
                )
                counts = export_tiles(
                    parts,
                    out,
                    tile,
                    self.parameterAsDouble(parameters, self.RATIO, context),
                    should_stop=feedback.isCanceled,
                )
            except OSError as exc:
                if errors.user_message(exc) is None:
                    raise QgsProcessingException(
                        tr("cannot write tiles to {0}: {1}").format(out, exc)
                    ) from exc
                raise processing_error(exc, f"{layers[0].name()}: ") from exc
            except Exception as exc:
                raise processing_error(exc, f"{layers[0].name()}: ") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        feedback.pushInfo(tr("tiles per split: {0}").format(counts))
        return {self.OUTPUT: str(out), "TILES": sum(counts.values())}
