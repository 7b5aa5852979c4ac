"""``mrife:evaluate``: a model's detections scored against the user's own polygons."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .. import training
from ..deps import check_deps
from ..i18n import tr
from ..settings import PluginSettings
from . import params
from .errors import processing_error


class EvaluateAlgorithm(QgsProcessingAlgorithm):
    INPUT, MODEL, LABELS, AREA, DEVICE, OUTPUT = ("INPUT", "MODEL", params.LABELS, params.AREA,
                                                  "DEVICE", "OUTPUT")

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:  # noqa: N802
        return tr("Evaluate a model against labels")

    def group(self) -> str:
        return tr("Fine-tuning")

    def groupId(self) -> str:  # noqa: N802
        return "finetune"

    def shortHelpString(self) -> str:  # noqa: N802
        return (tr("Runs detection with the model over the raster (inside the mapped area when "
                   "given) and compares the result with the label layer's landslide polygons, "
                   "pixel by pixel on the raster's grid: PA, precision, recall, F1, landslide IoU, "
                   "mIoU (MRIFE eqs. 9-14) and object accuracy (share of labelled landslides "
                   "covered at least half). Writes them to a JSON file."))

    def createInstance(self):  # noqa: N802
        return EvaluateAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Imagery")))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, tr("Model file (empty: the bundled model)"), extension="pt", optional=True))
        params.add_labels(self, tr("Evaluate only inside (mapped area)"))
        self.addParameter(
            QgsProcessingParameterString(
                self.DEVICE,
                tr("Device (empty: the panel's choice)"),
                defaultValue="",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.OUTPUT, tr("Metrics (JSON)"), "JSON (*.json)", optional=True
            )
        )
        for key in ("IOU_LANDSLIDE", "F1", "PRECISION", "RECALL", "MIOU", "PA", "OBJECT_ACCURACY"):
            self.addOutput(QgsProcessingOutputNumber(key, key.replace("_", " ").lower()))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        import json

        from ..detection import default_model_or_download
        from ..label_inputs import training_inputs

        status = check_deps()
        if not status.ok:
            raise QgsProcessingException(status.message())
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        labels = self.parameterAsVectorLayer(parameters, self.LABELS, context)
        area = self.parameterAsVectorLayer(parameters, self.AREA, context)
        model = self.parameterAsFile(parameters, self.MODEL, context)
        if not model:
            try:
                model = default_model_or_download(feedback)
            except Exception as exc:
                raise processing_error(exc) from exc
        device = (
            self.parameterAsString(parameters, self.DEVICE, context).strip()
            or PluginSettings.load().device
        )
        work = Path(tempfile.mkdtemp(prefix="mrife-eval-"))
        try:
            try:
                inputs = training_inputs(labels, area, layer.crs(), work, min_landslides=1)
                raster = training.raster_paths([layer])[0]
            except ValueError as exc:
                raise QgsProcessingException(str(exc)) from exc
            from mrife import detect
            from mrife.checkpoint import load_model
            from mrife.geodata import polygon_metrics
            from mrife.inference import Cancelled

            found = work / "found.gpkg"
            try:
                loaded = load_model(Path(model))
                detect.detect(
                    loaded,
                    raster,
                    found,
                    None,
                    detect.DetectOptions(
                        aoi=inputs.mapped_area,
                        device=device,
                        min_area=0.0,
                        source_name=layer.name(),
                    ),
                    progress=lambda d, t: feedback.setProgress(90.0 * d / max(t, 1)),
                    should_stop=feedback.isCanceled,
                    log=feedback.pushInfo,
                )
                metrics = polygon_metrics(found, inputs.landslides, raster, inputs.mapped_area)
            except Cancelled:
                feedback.reportError(tr("cancelled"))
                return {}
            except Exception as exc:
                raise processing_error(exc, f"{layer.name()}: ") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        feedback.pushInfo(
            tr(
                "landslide IoU {0:.3f}, F1 {1:.3f}, precision {2:.3f}, recall {3:.3f}, object "
                "accuracy {4:.2f} ({5}/{6})"
            ).format(
                metrics["iou_landslide"],
                metrics["f1"],
                metrics["precision"],
                metrics["recall"],
                metrics["object_accuracy"],
                metrics["objects_found"],
                metrics["objects"],
            )
        )
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        if out:
            Path(out).write_text(json.dumps(metrics, indent=2) + "\n")
        result = {
            k.upper(): metrics[k]
            for k in ("iou_landslide", "f1", "precision", "recall", "miou", "pa", "object_accuracy")
        }
        result[self.OUTPUT] = out or None
        return result
