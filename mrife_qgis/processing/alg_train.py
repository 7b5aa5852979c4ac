"""``mrife:train``, ``mrife:exporttiles`` and ``mrife:evaluate``: fine-tuning on the user's own
labels, the same inputs the panel's Train tab collects."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from backend import errors

from .. import training
from ..deps import check_deps
from ..settings import PluginSettings
from ..training import ARCH_LABELS, ARCHS, BACKBONES
from .errors import processing_error
from .params import add_precision, precision_of


class _Base(QgsProcessingAlgorithm):
    RASTERS, LABELS, AREA = "RASTERS", "LABELS", "MAPPED_AREA"

    def group(self) -> str:
        return "Fine-tuning"

    def groupId(self) -> str:  # noqa: N802
        return "finetune"

    def _add_label_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.RASTERS, "Imagery (one or more raster layers)", QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.LABELS, "Label layer (landslide polygons)", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.AREA, "Mapped area (completely labelled ground)",
            [QgsProcessing.TypeVectorPolygon], optional=True))

    def _label_inputs(self, parameters, context, feedback, work: Path):
        layers = self.parameterAsLayerList(parameters, self.RASTERS, context)
        try:
            paths, inputs = training.label_inputs(
                layers, self.parameterAsVectorLayer(parameters, self.LABELS, context),
                self.parameterAsVectorLayer(parameters, self.AREA, context), work)
        except ValueError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for m in inputs.infos:
            feedback.pushInfo(m)
        for m in inputs.warnings:
            feedback.pushWarning(m)
        return layers, paths, inputs


class TrainAlgorithm(_Base):
    BASE, SCRATCH, ARCH, BACKBONE = "BASE_MODEL", "FROM_SCRATCH", "ARCH", "BACKBONE"
    EPOCHS, BATCH, LR, FREEZE = "EPOCHS", "BATCH_SIZE", "LR", "FREEZE_ENCODER"
    TEST_SHARE = "TEST_SHARE"
    TILE, DEVICE, RESUME, MAX_STEPS, OUTPUT = ("TILE_SIZE", "DEVICE", "RESUME",
                                               "MAX_STEPS_PER_EPOCH", "OUTPUT")

    def name(self) -> str:
        return "train"

    def displayName(self) -> str:  # noqa: N802
        return "Fine-tune a model on your labels"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Trains a landslide model on raster layers and a label layer (polygons with a "
                "'class' field: 'landslide' or 'not landslide'; a layer without it is all "
                "landslides). Inside the mapped-area polygons (default: the whole raster), "
                "ground that is not a landslide is a negative example. Starts from the bundled "
                "model (or another model file) or from scratch. The raster is cut into spatial "
                "blocks split 8:2 into training and validation (no test share: evaluate on your "
                "own polygons with 'Evaluate detections'); the best epoch and the decision "
                "threshold are chosen on validation. Cancelling keeps <output>.resume.pt; run "
                "again with 'Resume' to continue.")

    def createInstance(self):  # noqa: N802
        return TrainAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self._add_label_parameters()
        self.addParameter(QgsProcessingParameterFile(
            self.BASE, "Base model (empty: the bundled model)", extension="pt", optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.SCRATCH, "Start from scratch (ignore the base model)", False))
        self.addParameter(QgsProcessingParameterEnum(
            self.ARCH, "Architecture (from scratch)", ARCH_LABELS, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            self.BACKBONE, "Backbone (from scratch)", BACKBONES, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.EPOCHS, "Epochs", QgsProcessingParameterNumber.Integer, 10, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.BATCH, "Batch size", QgsProcessingParameterNumber.Integer, 4, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.LR, "Learning rate", QgsProcessingParameterNumber.Double, 0.007,
            minValue=1e-6, maxValue=1.0))
        self.addParameter(QgsProcessingParameterBoolean(
            self.FREEZE, "Freeze the encoder (train the decoder only)", False))
        self.addParameter(QgsProcessingParameterNumber(
            self.TILE, "Tile size in pixels (0: the base model's, or 256)",
            QgsProcessingParameterNumber.Integer, 0, minValue=0))
        self.addParameter(QgsProcessingParameterString(
            self.DEVICE, "Device (auto, cpu, cuda:N; empty: the panel's choice)",
            defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.RESUME, "Resume a cancelled run of this output", False))
        steps = QgsProcessingParameterNumber(
            self.MAX_STEPS, "Steps per epoch at most (0: all tiles)",
            QgsProcessingParameterNumber.Integer, 0, minValue=0)
        from qgis.core import QgsProcessingParameterDefinition

        steps.setFlags(steps.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(steps)
        test = QgsProcessingParameterNumber(
            self.TEST_SHARE, "Share of blocks held out as a test split (0: none; you evaluate "
            "on your own polygons)", QgsProcessingParameterNumber.Double, 0.0, minValue=0.0,
            maxValue=0.4)
        test.setFlags(test.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(test)
        add_precision(self)
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, "New model file", "Model files (*.pt)"))
        self.addOutput(QgsProcessingOutputNumber("VAL_IOU", "Validation landslide IoU"))
        self.addOutput(QgsProcessingOutputNumber("VAL_F1", "Validation F1"))
        self.addOutput(QgsProcessingOutputString("STATUS", "completed or cancelled"))

    def request(self, parameters, context) -> training.TrainRequest:
        p = parameters
        return training.TrainRequest(
            rasters=self.parameterAsLayerList(p, self.RASTERS, context),
            labels=self.parameterAsVectorLayer(p, self.LABELS, context),
            area=self.parameterAsVectorLayer(p, self.AREA, context),
            out=Path(self.parameterAsFileOutput(p, self.OUTPUT, context)),
            base_model=self.parameterAsFile(p, self.BASE, context) or "",
            from_scratch=self.parameterAsBool(p, self.SCRATCH, context),
            arch=ARCHS[self.parameterAsEnum(p, self.ARCH, context)],
            backbone=BACKBONES[self.parameterAsEnum(p, self.BACKBONE, context)],
            epochs=self.parameterAsInt(p, self.EPOCHS, context),
            batch_size=self.parameterAsInt(p, self.BATCH, context),
            lr=self.parameterAsDouble(p, self.LR, context),
            freeze_encoder=self.parameterAsBool(p, self.FREEZE, context),
            tile_size=self.parameterAsInt(p, self.TILE, context),
            device=self.parameterAsString(p, self.DEVICE, context) or "",
            resume=self.parameterAsBool(p, self.RESUME, context),
            max_steps_per_epoch=self.parameterAsInt(p, self.MAX_STEPS, context) or None,
            precision=precision_of(self, p, context),
            test_share=self.parameterAsDouble(p, self.TEST_SHARE, context))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        status = check_deps()
        if not status.ok:
            raise QgsProcessingException(status.message())
        req = self.request(parameters, context)
        work = Path(tempfile.mkdtemp(prefix="mrife-train-"))
        try:
            try:
                prep = training.prepare(req, work)
            except ValueError as exc:
                raise QgsProcessingException(str(exc)) from exc
            for m in prep.infos:
                feedback.pushInfo(m)
            for m in prep.warnings:
                feedback.pushWarning(m)
            eta = {"s": None}

            def progress(ev: dict) -> None:
                if ev["event"] == "plan":
                    text = training.describe_plan(ev, prep.device_label)
                    (feedback.pushWarning if ev["device"] == "cpu" else feedback.pushInfo)(text)
                elif ev["event"] == "step":
                    feedback.setProgress(100.0 * ev["global_step"] / max(ev["total_steps"], 1))
                    eta["s"] = ev.get("eta_s")
                elif ev["event"] == "epoch":
                    feedback.pushInfo(training.describe_epoch(ev, req.epochs, eta["s"]))

            try:
                result = training.run(prep, log=feedback.pushInfo, progress=progress,
                                      should_stop=feedback.isCanceled)
            except training.TrainFailedError as exc:
                raise QgsProcessingException(str(exc)) from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out = req.out
        if result.status != "completed":
            feedback.pushWarning(f"cancelled; {prep.resume_file.name} keeps the run: tick "
                                 "'Resume' to continue it")
        metrics = result.best_metrics or {}
        if out.exists():
            feedback.pushInfo(f"model written to {out}: {training.describe_metrics(metrics)}")
        return {self.OUTPUT: str(out) if out.exists() else None,
                "VAL_IOU": float(metrics.get("iou_landslide", 0.0)),
                "VAL_F1": float(metrics.get("f1", 0.0)), "STATUS": result.status}


class ExportTilesAlgorithm(_Base):
    TILE, RES, RATIO, OUTPUT = "TILE_SIZE", "GROUND_RESOLUTION", "POS_NEG_RATIO", "OUTPUT"

    def name(self) -> str:
        return "exporttiles"

    def displayName(self) -> str:  # noqa: N802
        return "Export training tiles"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Writes the tiles training would use as GeoTIFF image/mask pairs: "
                "<folder>/<train|val|test>/images and masks (mask 1 landslide, 0 background, "
                "255 not labelled). Positive tiles around landslides, negatives from labelled "
                "ground at the chosen ratio.")

    def createInstance(self):  # noqa: N802
        return ExportTilesAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self._add_label_parameters()
        self.addParameter(QgsProcessingParameterNumber(
            self.TILE, "Tile size (pixels)", QgsProcessingParameterNumber.Integer, 512,
            minValue=32))
        self.addParameter(QgsProcessingParameterNumber(
            self.RES, "Ground resolution (m/pixel; 0: the raster's)",
            QgsProcessingParameterNumber.Double, 0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.RATIO, "Positive : negative tiles", QgsProcessingParameterNumber.Double, 3.0,
            minValue=0.1))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT, "Tile folder"))
        self.addOutput(QgsProcessingOutputNumber("TILES", "Tiles written"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        out = Path(self.parameterAsString(parameters, self.OUTPUT, context))
        work = Path(tempfile.mkdtemp(prefix="mrife-tiles-"))
        try:
            layers, rasters, inputs = self._label_inputs(parameters, context, feedback, work)
            tile = self.parameterAsInt(parameters, self.TILE, context)
            res = self.parameterAsDouble(parameters, self.RES, context) or None
            from backend.export import export_tiles
            from backend.jobs import load_rasters

            try:
                parts, _summary, _facts = load_rasters(
                    rasters, inputs.landslides, inputs.mapped_area, tile_size=tile,
                    ground_resolution=res, split_seed=0, log=feedback.pushInfo)
                counts = export_tiles(
                    parts, out, tile, self.parameterAsDouble(parameters, self.RATIO, context),
                    should_stop=feedback.isCanceled)
            except OSError as exc:
                if errors.user_message(exc) is None:
                    raise QgsProcessingException(f"cannot write tiles to {out}: {exc}") from exc
                raise processing_error(exc, f"{layers[0].name()}: ") from exc
            except Exception as exc:
                raise processing_error(exc, f"{layers[0].name()}: ") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        feedback.pushInfo(f"tiles per split: {counts}")
        return {self.OUTPUT: str(out), "TILES": sum(counts.values())}


class EvaluateAlgorithm(QgsProcessingAlgorithm):
    INPUT, MODEL, LABELS, AREA, DEVICE, OUTPUT = ("INPUT", "MODEL", "LABELS", "MAPPED_AREA",
                                                  "DEVICE", "OUTPUT")

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:  # noqa: N802
        return "Evaluate a model against labels"

    def group(self) -> str:
        return "Fine-tuning"

    def groupId(self) -> str:  # noqa: N802
        return "finetune"

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Runs detection with the model over the raster (inside the mapped area when "
                "given) and compares the result with the label layer's landslide polygons, "
                "pixel by pixel on the raster's grid: PA, precision, recall, F1, landslide IoU, "
                "mIoU (MRIFE eqs. 9-14) and object accuracy (share of labelled landslides "
                "covered at least half). Writes them to a JSON file.")

    def createInstance(self):  # noqa: N802
        return EvaluateAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Imagery"))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, "Model file (empty: the bundled model)", extension="pt", optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.LABELS, "Label layer (landslide polygons)", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.AREA, "Evaluate only inside (mapped area)", [QgsProcessing.TypeVectorPolygon],
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.DEVICE, "Device (empty: the panel's choice)", defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, "Metrics (JSON)", "JSON (*.json)", optional=True))
        for key in ("IOU_LANDSLIDE", "F1", "PRECISION", "RECALL", "MIOU", "PA",
                    "OBJECT_ACCURACY"):
            self.addOutput(QgsProcessingOutputNumber(key, key.replace("_", " ").lower()))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        import json

        from ..detection import default_model
        from ..labels import training_inputs

        status = check_deps()
        if not status.ok:
            raise QgsProcessingException(status.message())
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        labels = self.parameterAsVectorLayer(parameters, self.LABELS, context)
        area = self.parameterAsVectorLayer(parameters, self.AREA, context)
        model = self.parameterAsFile(parameters, self.MODEL, context) or default_model()
        if not model:
            raise QgsProcessingException("choose a model file")
        device = self.parameterAsString(parameters, self.DEVICE, context).strip() or \
            PluginSettings.load().device
        work = Path(tempfile.mkdtemp(prefix="mrife-eval-"))
        try:
            try:
                inputs = training_inputs(labels, area, layer.crs(), work, min_landslides=1)
                raster = training.raster_paths([layer])[0]
            except ValueError as exc:
                raise QgsProcessingException(str(exc)) from exc
            from backend import detect
            from backend.checkpoint import load_model
            from backend.geodata import polygon_metrics
            from backend.inference import Cancelled

            found = work / "found.gpkg"
            try:
                loaded = load_model(Path(model))
                detect.detect(loaded, raster, found, None, detect.DetectOptions(
                    aoi=inputs.mapped_area, device=device, min_area=0.0, source_name=layer.name()),
                    progress=lambda d, t: feedback.setProgress(90.0 * d / max(t, 1)),
                    should_stop=feedback.isCanceled, log=feedback.pushInfo)
                metrics = polygon_metrics(
                    found, inputs.landslides, raster, inputs.mapped_area)
            except Cancelled:
                feedback.reportError("cancelled")
                return {}
            except Exception as exc:
                raise processing_error(exc, f"{layer.name()}: ") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        feedback.pushInfo(
            f"landslide IoU {metrics['iou_landslide']:.3f}, F1 {metrics['f1']:.3f}, precision "
            f"{metrics['precision']:.3f}, recall {metrics['recall']:.3f}, object accuracy "
            f"{metrics['object_accuracy']:.2f} ({metrics['objects_found']}/{metrics['objects']})")
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        if out:
            Path(out).write_text(json.dumps(metrics, indent=2) + "\n")
        result = {k.upper(): metrics[k] for k in ("iou_landslide", "f1", "precision", "recall",
                                                   "miou", "pa", "object_accuracy")}
        result[self.OUTPUT] = out or None
        return result
