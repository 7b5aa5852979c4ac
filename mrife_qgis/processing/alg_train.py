"""``mrife:train``: fine-tuning on the user's own labels, the same inputs the panel's Train tab
collects."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from mrife import events

from .. import training
from ..deps import check_deps
from ..i18n import tr
from ..training import ARCH_LABELS, ARCHS, BACKBONES, TrainRequest
from .labelled import LabelledAlgorithm
from .params import add_precision, precision_of


class TrainAlgorithm(LabelledAlgorithm):
    BASE, SCRATCH, ARCH, BACKBONE = "BASE_MODEL", "FROM_SCRATCH", "ARCH", "BACKBONE"
    EPOCHS, BATCH, LR, FREEZE = "EPOCHS", "BATCH_SIZE", "LR", "FREEZE_ENCODER"
    TEST_SHARE = "TEST_SHARE"
    TILE, DEVICE, RESUME, MAX_STEPS, OUTPUT = ("TILE_SIZE", "DEVICE", "RESUME",
                                               "MAX_STEPS_PER_EPOCH", "OUTPUT")

    def name(self) -> str:
        return "train"

    def displayName(self) -> str:  # noqa: N802
        return tr("Fine-tune a model on your labels")

    def shortHelpString(self) -> str:  # noqa: N802
        return (tr("Trains a landslide model on raster layers and a label layer (polygons with a "
                   "'class' field: 'landslide' or 'not landslide'; a layer without it is all "
                   "landslides). Inside the mapped-area polygons (default: the whole raster), "
                   "ground that is not a landslide is a negative example. Starts from the bundled "
                   "model (or another model file) or from scratch. The raster is cut into spatial "
                   "blocks split 8:2 into training and validation (no test share: evaluate on your "
                   "own polygons with 'Evaluate detections'); the best epoch and the decision "
                   "threshold are chosen on validation. Cancelling keeps <output>.resume.pt; run "
                   "again with 'Resume' to continue."))

    def createInstance(self):  # noqa: N802
        return TrainAlgorithm()

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self._add_label_parameters()
        self.addParameter(QgsProcessingParameterFile(
            self.BASE, tr("Base model (empty: the catalogue's model, downloaded once if needed)"),
            extension="pt", optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.SCRATCH, tr("Start from scratch (ignore the base model)"), False))
        self.addParameter(QgsProcessingParameterEnum(
            self.ARCH, tr("Architecture (from scratch)"), ARCH_LABELS, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            self.BACKBONE, tr("Backbone (from scratch)"), BACKBONES, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.EPOCHS, tr("Epochs"), QgsProcessingParameterNumber.Type.Integer,
            TrainRequest.epochs, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.BATCH, tr("Batch size"), QgsProcessingParameterNumber.Type.Integer,
            TrainRequest.batch_size, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.LR, tr("Learning rate"), QgsProcessingParameterNumber.Type.Double, TrainRequest.lr,
            minValue=1e-6, maxValue=1.0))
        self.addParameter(QgsProcessingParameterBoolean(
            self.FREEZE, tr("Freeze the encoder (train the decoder only)"),
            TrainRequest.freeze_encoder))
        self.addParameter(QgsProcessingParameterNumber(
            self.TILE, tr("Tile size in pixels (0: the base model's, or 256)"),
            QgsProcessingParameterNumber.Type.Integer, 0, minValue=0))
        self.addParameter(QgsProcessingParameterString(
            self.DEVICE, tr("Device (auto, cpu, cuda:N; empty: the panel's choice)"),
            defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.RESUME, tr("Resume a cancelled run of this output"), False))
        steps = QgsProcessingParameterNumber(
            self.MAX_STEPS, tr("Steps per epoch at most (0: all tiles)"),
            QgsProcessingParameterNumber.Type.Integer, 0, minValue=0)
        from qgis.core import QgsProcessingParameterDefinition

        steps.setFlags(steps.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(steps)
        test = QgsProcessingParameterNumber(
            self.TEST_SHARE,
            tr(
                "Share of blocks held out as a test split (0: none; you evaluate "
                "on your own polygons)"
            ),
            QgsProcessingParameterNumber.Type.Double,
            0.0,
            minValue=0.0,
            maxValue=0.4,
        )
        test.setFlags(test.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(test)
        add_precision(self)
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.OUTPUT, tr("New model file"), "Model files (*.pt)"
            )
        )
        self.addOutput(QgsProcessingOutputNumber("VAL_IOU", tr("Validation landslide IoU")))
        self.addOutput(QgsProcessingOutputNumber("VAL_F1", tr("Validation F1")))
        self.addOutput(QgsProcessingOutputString("STATUS", tr("completed or cancelled")))

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
            test_share=self.parameterAsDouble(p, self.TEST_SHARE, context),
        )

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        status = check_deps()
        if not status.ok:
            raise QgsProcessingException(status.message())
        req = self.request(parameters, context)
        work = Path(tempfile.mkdtemp(prefix="mrife-train-"))
        try:
            try:
                if not req.from_scratch and not req.base_model:
                    from ..detection import default_model_or_download

                    req.base_model = str(default_model_or_download(feedback))
                prep = training.prepare(req, work)
            except ValueError as exc:
                raise QgsProcessingException(str(exc)) from exc
            for m in prep.infos:
                feedback.pushInfo(m)
            for m in prep.warnings:
                feedback.pushWarning(m)
            eta = {"s": None}

            def progress(ev) -> None:
                if isinstance(ev, events.Plan):
                    text = training.describe_plan(ev, prep.device_label)
                    (feedback.pushWarning if ev.device == "cpu" else feedback.pushInfo)(text)
                elif isinstance(ev, events.Step):
                    feedback.setProgress(100.0 * ev.fraction)
                    eta["s"] = ev.eta_s
                elif isinstance(ev, events.Epoch):
                    feedback.pushInfo(training.describe_epoch(ev, req.epochs, eta["s"]))

            try:
                result = training.run(
                    prep, log=feedback.pushInfo, progress=progress, should_stop=feedback.isCanceled
                )
            except training.TrainFailedError as exc:
                raise QgsProcessingException(str(exc)) from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out = req.out
        if result.status != "completed":
            feedback.pushWarning(
                tr("cancelled; {0} keeps the run: tick 'Resume' to continue it").format(
                    prep.resume_file.name
                )
            )
        metrics = result.best_metrics or {}
        if out.exists():
            feedback.pushInfo(
                tr("model written to {0}: {1}").format(out, training.describe_metrics(metrics))
            )
        return {
            self.OUTPUT: str(out) if out.exists() else None,
            "VAL_IOU": float(metrics.get("iou_landslide", 0.0)),
            "VAL_F1": float(metrics.get("f1", 0.0)),
            "STATUS": result.status,
        }
