"""``mrife:detect``: landslide polygons and a probability map over a raster layer."""

from __future__ import annotations

import shutil
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ..deps import check_deps
from ..i18n import tr
from ..settings import PluginSettings
from .errors import processing_error
from .params import add_precision, large_plan_tiles, precision_of


class _Styler(QgsProcessingLayerPostProcessorInterface):
    """Applies the shipped QML and moves the layer into the result group."""

    def __init__(self, qml: str, title: str, on_top: bool):
        super().__init__()
        self.qml, self.title, self.on_top = qml, title, on_top

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        from .. import detection

        detection.style(layer, self.qml)
        if context.project() is not None:
            detection.place_in_group(context.project(), layer, self.title, self.on_top)


class DetectAlgorithm(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    BANDS = "BANDS"
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    AREA = "AREA"
    THRESHOLD = "THRESHOLD"
    TTA = "TTA"
    MIN_AREA = "MIN_AREA"
    OVERLAP = "OVERLAP"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    RESCALE = "RESCALE"
    ALLOW_LARGE = "ALLOW_LARGE"
    OUTPUT_CRS = "OUTPUT_CRS"
    OUTPUT = "OUTPUT"
    PROBABILITY = "PROBABILITY"
    COUNT = "COUNT"
    TOTAL_AREA = "TOTAL_AREA_M2"

    _stylers: list = []   # post-processors must outlive processAlgorithm

    def name(self) -> str:
        return "detect"

    def displayName(self) -> str:  # noqa: N802
        return tr("Detect relic landslides")

    def shortHelpString(self) -> str:  # noqa: N802
        return (
            tr("Runs a MRIFE (or ICSSN / DeepLabv3+) model over a raster and returns landslide "
               "polygons, styled by mean probability, and a probability map.<br><br>"
               "The model file fixes the bands, ground resolution, tile size and preprocessing; "
               "leave <i>Model</i> empty for the bundled model. Rasters in a geographic CRS are "
               "processed in the UTM zone of the area. Overlapping tiles are blended so no seams "
               "remain. Polygons carry id, mean and max probability, area (m²), perimeter (m), "
               "model name and checksum, source layer and creation time, and a <i>review</i> "
               "field for your verdict.<br><br>"
               "<b>Area</b>: the extent, and/or polygons (tick 'Selected features only' to use "
               "the selection). <b>Rescale</b>: stretch imagery whose values differ from the "
               "training data's (e.g. 16-bit imagery for an 8-bit model)."))

    def createInstance(self):  # noqa: N802
        return DetectAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Imagery")))
        self.addParameter(QgsProcessingParameterBand(
            self.BANDS, tr("Bands for the model, in order (default: the first ones)"), None,
            self.INPUT, optional=True, allowMultiple=True))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, tr("Model file (empty: the catalogue's model, downloaded once if needed)"),
            extension="pt", optional=True))
        self.addParameter(QgsProcessingParameterExtent(
            self.EXTENT, tr("Extent (default: the whole layer)"), optional=True))
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.AREA,
                tr("Search only inside these polygons"),
                [QgsProcessing.SourceType.TypeVectorPolygon],
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.THRESHOLD,
                tr("Probability threshold (0: the model's own, chosen on validation in training)"),
                QgsProcessingParameterNumber.Type.Double,
                0.0,
                minValue=0.0,
                maxValue=0.99,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MIN_AREA,
                tr("Minimum polygon area (m²)"),
                QgsProcessingParameterNumber.Type.Double,
                100.0,
                minValue=0.0,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.OVERLAP,
                tr("Tile overlap in pixels (-1: a quarter tile)"),
                QgsProcessingParameterNumber.Type.Integer,
                -1,
                minValue=-1,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.BATCH_SIZE,
                tr("Batch size"),
                QgsProcessingParameterNumber.Type.Integer,
                4,
                minValue=1,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.DEVICE,
                tr("Device (auto, cpu, cuda:N; empty: the panel's choice)"),
                defaultValue="",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                self.RESCALE, tr("Rescale imagery to the model's value range"), False
            )
        )
        add_precision(self)
        tta = QgsProcessingParameterBoolean(
            self.TTA,
            tr("Test-time augmentation: average each tile over its flips (4x the time)"),
            False,
        )
        tta.setFlags(tta.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(tta)
        large = QgsProcessingParameterBoolean(
            self.ALLOW_LARGE,
            tr(
                "Allow runs over {0} tiles (Processing cannot ask; without it "
                "such a run is refused with its estimate)"
            ).format(large_plan_tiles()),
            False,
        )
        large.setFlags(large.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(large)
        self.addParameter(
            QgsProcessingParameterCrs(
                self.OUTPUT_CRS, tr("CRS of the polygons (default: the project's)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                self.OUTPUT, tr("Landslide polygons"), QgsProcessing.SourceType.TypeVectorPolygon
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                self.PROBABILITY, tr("Landslide probability"), optional=True, createByDefault=True
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.COUNT, tr("Number of polygons")))
        self.addOutput(QgsProcessingOutputNumber(self.TOTAL_AREA, tr("Total area (m²)")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from .. import detection

        status = check_deps()
        if not status.ok:
            raise QgsProcessingException(status.message())
        from mrife import checkpoint, detect, inference

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(tr("choose the imagery layer to search"))
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not out.lower().endswith(".gpkg"):
            raise QgsProcessingException(
                tr(
                    "the polygons are written to a GeoPackage; name the output *.gpkg, not {0}"
                ).format(Path(out).name)
            )
        prob = self.parameterAsOutputLayer(parameters, self.PROBABILITY, context) or None
        if prob and not prob.lower().endswith((".tif", ".tiff")):
            raise QgsProcessingException(
                tr("the probability map is a GeoTIFF; name it *.tif, not {0}").format(
                    Path(prob).name
                )
            )
        out_crs = self.parameterAsCrs(parameters, self.OUTPUT_CRS, context)
        if not out_crs.isValid() and context.project() is not None:
            out_crs = context.project().crs()
        if not out_crs.isValid():
            out_crs = layer.crs()
        rect = None
        if parameters.get(self.EXTENT):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
            rect = None if rect.isNull() else rect
        overlap = self.parameterAsInt(parameters, self.OVERLAP, context)
        work = detection.work_folder()
        try:
            source = self.parameterAsSource(parameters, self.AREA, context)
            req = detection.DetectRequest(
                layer=layer,
                model=self.parameterAsFile(parameters, self.MODEL, context) or None,
                extent=rect,
                extent_crs=layer.crs() if rect is not None else None,
                area=detection.source_to_polygons(source, work) if source is not None else None,
                bands=self.parameterAsInts(parameters, self.BANDS, context) or None,
                overlap=None if overlap < 0 else overlap,
                batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
                threshold=self.parameterAsDouble(parameters, self.THRESHOLD, context) or None,
                tta=self.parameterAsBool(parameters, self.TTA, context),
                min_area=self.parameterAsDouble(parameters, self.MIN_AREA, context),
                device=self.parameterAsString(parameters, self.DEVICE, context).strip()
                or PluginSettings.load().device,
                precision=precision_of(self, parameters, context),
                rescale=self.parameterAsBool(parameters, self.RESCALE, context),
                out_crs=out_crs.toWkt(),
                max_tiles=None
                if self.parameterAsBool(parameters, self.ALLOW_LARGE, context)
                else large_plan_tiles(),
            )
            try:
                if not req.model:
                    req.model = detection.default_model_or_download(feedback)
                loaded = checkpoint.load_model(detection.model_file(req))
            except Exception as exc:
                prefix = f"model {Path(req.model).name}: " if req.model else ""
                raise processing_error(exc, prefix) from exc
            try:
                prep = detection.prepare(req, work, feedback, loaded)
                feedback.pushInfo(f"{layer.name()}: {prep.estimate()}")
                for w in prep.plan.warnings:
                    feedback.pushWarning(w)
                result = detect.detect(
                    prep.loaded,
                    prep.raster,
                    Path(out),
                    Path(prob) if prob else None,
                    prep.options,
                    progress=lambda d, t: feedback.setProgress(100.0 * d / max(t, 1)),
                    should_stop=feedback.isCanceled,
                    log=feedback.pushInfo,
                )
            except inference.Cancelled:
                feedback.reportError(tr("cancelled: nothing was written"))
                return {}
            except Exception as exc:
                raise processing_error(exc, f"{layer.name()}: ") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for w in result.warnings:
            feedback.pushWarning(w)
        feedback.pushInfo(result.summary())
        title = f"{layer.name()} - {loaded.name}"
        for path, qml, top in ((out, "landslides.qml", True), (prob, "probability.qml", False)):
            if path and context.willLoadLayerOnCompletion(path):
                styler = _Styler(qml, title, top)
                DetectAlgorithm._stylers.append(styler)
                context.layerToLoadOnCompletionDetails(path).setPostProcessor(styler)
        return {
            self.OUTPUT: out,
            self.PROBABILITY: prob,
            self.COUNT: result.count,
            self.TOTAL_AREA: result.total_area_m2,
        }
