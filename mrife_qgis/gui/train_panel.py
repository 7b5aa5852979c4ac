"""The panel's Train tab: the inputs of ``mrife:train``, a QgsTask with progress, ETA, a live
plot of losses and validation metrics, cancel (resumable), and the new model handed to the
Detect tab when it ends."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMapLayerProxyModel,
    QgsProject,
)
from qgis.gui import QgsCollapsibleGroupBox, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mrife import events

from .. import catalogue, training
from ..deps import check_deps
from ..i18n import tr
from ..log import duration, log
from .choices import keyed_combo, precision_combo, select
from .download import download_then
from .plot import CurvePlot
from .task import TrainTask, chosen_file

DEFAULT_NAME = "mrife-finetuned.pt"


class TrainPanel(QWidget):
    """Widgets of the Train tab; ``task`` is the running TrainTask, if any. ``modelReady``
    carries the path of a newly trained model."""

    modelReady = pyqtSignal(str)  # noqa: N815 (Qt naming)
    finishedRun = pyqtSignal(str)  # noqa: N815 "completed", "cancelled" or "failed"

    def __init__(self, iface, device_getter, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.device_getter = device_getter
        self.task: TrainTask | None = None
        self.last_message = ""
        self.download = None                  # the catalogue model being downloaded
        self.last_result = None
        self.log_lines: list[str] = []
        form = QFormLayout()
        self.rasterList = QListWidget()
        self.rasterList.setMaximumHeight(64)
        self.rasterList.setToolTip(tr("tick the raster layers to train on (same bands)"))
        form.addRow(tr("Imagery"), self.rasterList)
        self.labelCombo = QgsMapLayerComboBox()
        self.labelCombo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.labelCombo.setAllowEmptyLayer(True)
        form.addRow(tr("Labels"), self.labelCombo)
        self.areaCombo = QgsMapLayerComboBox()
        self.areaCombo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.areaCombo.setAllowEmptyLayer(True)
        self.areaCombo.setToolTip(tr("empty: the whole raster is taken as completely labelled"))
        form.addRow(tr("Mapped area"), self.areaCombo)
        entry = catalogue.default_entry()
        self.startCombo = keyed_combo({
            "catalogue": tr("The catalogue model ({0})").format(entry.title) if entry else
            tr("The catalogue model"),
            "file": tr("A model file"), "scratch": tr("From scratch")})
        if entry is None:
            select(self.startCombo, "file")
        self.startCombo.currentIndexChanged.connect(self._start_changed)
        form.addRow(tr("Start from"), self.startCombo)
        self.baseWidget = QgsFileWidget()
        self.baseWidget.setFilter(tr("MRIFE models (*.pt)"))
        form.addRow(tr("Base model"), self.baseWidget)
        arch_row = QHBoxLayout()
        self.archCombo = QComboBox()
        for label, key in zip(training.ARCH_LABELS, training.ARCHS):
            self.archCombo.addItem(label, key)
        self.backboneCombo = QComboBox()
        self.backboneCombo.addItems(training.BACKBONES)
        arch_row.addWidget(self.archCombo)
        arch_row.addWidget(self.backboneCombo)
        form.addRow(tr("Network"), arch_row)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(training.TrainRequest.epochs)
        form.addRow(tr("Epochs"), self.epochs)
        self.outWidget = QgsFileWidget()
        self.outWidget.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.outWidget.setFilter(tr("MRIFE models (*.pt)"))
        self.outWidget.lineEdit().setPlaceholderText(tr("project folder/{0}").format(DEFAULT_NAME))
        self.outWidget.fileChanged.connect(self._output_changed)
        form.addRow(tr("Save model as"), self.outWidget)
        self.resume = QCheckBox(tr("Resume the cancelled run"))
        self.resume.setToolTip(tr("Continue the cancelled run of this model from its resume file"))
        self.resume.setEnabled(False)
        form.addRow("", self.resume)
        self.advanced = QgsCollapsibleGroupBox(tr("Advanced"))
        self.advanced.setCollapsed(True)
        adv = QFormLayout(self.advanced)
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setValue(training.TrainRequest.batch_size)
        adv.addRow(tr("Batch size"), self.batch)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(0.001)
        self.lr.setValue(training.TrainRequest.lr)
        adv.addRow(tr("Learning rate"), self.lr)
        self.freeze = QCheckBox(tr("Freeze the encoder"))
        self.freeze.setToolTip(tr("Train ASPP and the decoder only: faster, and safer with "
                                  "few labels"))
        self.freeze.setChecked(training.TrainRequest.freeze_encoder)
        adv.addRow("", self.freeze)
        self.tile = QSpinBox()
        self.tile.setRange(0, 4096)
        self.tile.setSpecialValueText(tr("base model's"))
        self.tile.setToolTip(tr("0: the base model's tile size (256 px from scratch)"))
        adv.addRow(tr("Tile size (px)"), self.tile)
        self.steps = QSpinBox()
        self.steps.setRange(0, 1_000_000)
        self.steps.setSpecialValueText(tr("all tiles"))
        self.steps.setToolTip(tr("at most this many steps per epoch (0: every training tile once)"))
        adv.addRow(tr("Steps per epoch"), self.steps)
        self.precision = precision_combo()
        adv.addRow(tr("Precision"), self.precision)
        form.addRow(self.advanced)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.trainButton = QPushButton(tr("Train"))
        self.trainButton.clicked.connect(self.start)
        self.cancelButton = QPushButton(tr("Cancel"))
        self.cancelButton.setEnabled(False)
        self.cancelButton.clicked.connect(self.cancel)
        buttons.addWidget(self.trainButton)
        buttons.addWidget(self.cancelButton)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        layout.addWidget(self.progress)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.plot = CurvePlot()
        layout.addWidget(self.plot)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.result)
        layout.addStretch(1)
        project = QgsProject.instance()
        project.layersAdded.connect(self.refresh_rasters)
        project.layersRemoved.connect(self.refresh_rasters)
        self.refresh_rasters()
        self._start_changed()

    # -- inputs --------------------------------------------------------------------------------
    def refresh_rasters(self, *_args) -> None:
        """List the project's raster layers, keeping the ticks."""
        from qgis.core import QgsRasterLayer

        ticked = set(self._ticked_ids())
        first = self.rasterList.count() == 0
        self.rasterList.clear()
        for layer in QgsProject.instance().mapLayers().values():
            if not isinstance(layer, QgsRasterLayer):
                continue
            item = QListWidgetItem(layer.name())
            item.setData(Qt.ItemDataRole.UserRole, layer.id())
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if layer.id() in ticked
                               else Qt.CheckState.Unchecked)
            self.rasterList.addItem(item)
        if first and self.rasterList.count() == 1:
            self.rasterList.item(0).setCheckState(Qt.CheckState.Checked)

    def _ticked_ids(self) -> list[str]:
        ids = []
        for i in range(self.rasterList.count()):
            item = self.rasterList.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                ids.append(item.data(Qt.ItemDataRole.UserRole))
        return ids

    def set_rasters(self, layers) -> None:
        want = {layer.id() for layer in layers}
        self.refresh_rasters()
        for i in range(self.rasterList.count()):
            item = self.rasterList.item(i)
            wanted = item.data(Qt.ItemDataRole.UserRole) in want
            item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)

    def rasters(self) -> list:
        project = QgsProject.instance()
        return [project.mapLayer(i) for i in self._ticked_ids() if project.mapLayer(i)]

    def _start_changed(self, *_args) -> None:
        start = self.startCombo.currentData()
        self.baseWidget.setEnabled(start == "file")
        scratch = start == "scratch"
        self.archCombo.setEnabled(scratch)
        self.backboneCombo.setEnabled(scratch)

    def out_path(self) -> Path | None:
        return chosen_file(self.outWidget, DEFAULT_NAME)

    def _output_changed(self, *_args) -> None:
        out = self.out_path()
        can = out is not None and out.with_suffix(".resume.pt").exists()
        self.resume.setEnabled(can)
        self.resume.setChecked(can)

    def request(self) -> training.TrainRequest:
        start = self.startCombo.currentData()
        if start == "file" and not self.baseWidget.filePath().strip():
            raise ValueError(tr("choose the base model file, or start from the catalogue model "
                                "or from scratch"))
        out = self.out_path()
        if out is None:
            raise ValueError(tr("choose where to save the new model (Save model as): the "
                                "project is not saved, so there is no project folder to "
                                "default to"))
        return training.TrainRequest(
            rasters=self.rasters(), labels=self.labelCombo.currentLayer(),
            area=self.areaCombo.currentLayer(), out=out,
            base_model=self.baseWidget.filePath().strip() if start == "file" else "",
            from_scratch=start == "scratch", arch=self.archCombo.currentData(),
            backbone=self.backboneCombo.currentText(), epochs=self.epochs.value(),
            batch_size=self.batch.value(), lr=self.lr.value(),
            freeze_encoder=self.freeze.isChecked(), tile_size=self.tile.value(),
            device=self.device_getter() or "", resume=self.resume.isChecked(),
            max_steps_per_epoch=self.steps.value() or None,
            precision=self.precision.currentData())

    # -- running -------------------------------------------------------------------------------
    def _say(self, text: str, level=Qgis.MessageLevel.Info) -> None:
        self.last_message = text
        self.status.setText(text)
        log(text, level, bar=self.iface.messageBar(),
            duration=10 if level == Qgis.MessageLevel.Success else 0)

    def _log(self, text: str, level=Qgis.MessageLevel.Info, bar_seconds: int | None = None) -> None:
        """Into the run's log lines and QGIS's log panel; with ``bar_seconds``, also into the
        message bar."""
        self.log_lines.append(text)
        log(
            text,
            level,
            bar=self.iface.messageBar() if bar_seconds is not None else None,
            duration=bar_seconds or 0,
        )

    def start(self) -> bool:
        """Check the inputs and start the task; False (with a message) if not."""
        status = check_deps()
        if not status.ok:
            self._say(status.message(), Qgis.MessageLevel.Critical)
            return False
        if self.task is not None:
            return False
        entry = catalogue.default_entry()
        if (
            self.startCombo.currentData() == "catalogue"
            and entry is not None
            and catalogue.local_path(entry) is None
        ):
            return download_then(self, entry, self.start)
        work = Path(tempfile.mkdtemp(prefix="mrife-train-"))
        try:
            req = self.request()
            labels = req.labels
            if labels is not None and labels.isEditable() and labels.isModified():
                raise ValueError(
                    tr(
                        "layer '{0}' has unsaved edits; save them (Ctrl+S) so "
                        "training sees your latest outlines"
                    ).format(labels.name())
                )
            prep = training.prepare(req, work)
        except ValueError as exc:
            shutil.rmtree(work, ignore_errors=True)
            self._say(str(exc), Qgis.MessageLevel.Critical)
            return False
        self.log_lines = []
        for m in prep.infos:
            self._log(m)
        for m in prep.warnings:
            self._log(m, Qgis.MessageLevel.Warning, bar_seconds=10)
        self.prep = prep
        self.task = TrainTask(tr("MRIFE training {0}").format(req.out.name), prep, work)
        self.task.on_done = self._done
        self.task.reported.connect(self._event)
        self.task.message.connect(self._log)
        self.plot.clear(req.epochs)
        self.result.setText("")
        self.progress.setValue(0)
        self.trainButton.setEnabled(False)
        self.cancelButton.setEnabled(True)
        self.status.setText(
            tr("Preparing tiles and measuring the speed on {0}...").format(prep.device_label)
        )
        self._eta = None
        QgsApplication.taskManager().addTask(self.task)
        return True

    def cancel(self) -> None:
        if self.download is not None:
            self.download.cancel()
        if self.task is not None:
            self.status.setText(tr("Cancelling: saving a resumable checkpoint..."))
            self.task.cancel()

    def _event(self, ev) -> None:
        if isinstance(ev, events.Plan):
            text = training.describe_plan(ev, self.prep.device_label)
            self._log(text)
            self.status.setText(tr("Training: {0}").format(text))
            if ev.device == "cpu" and ev.eta_s is not None:
                log(
                    tr("No GPU: training goes on on the CPU, {0}").format(text),
                    Qgis.MessageLevel.Warning,
                    bar=self.iface.messageBar(),
                    duration=15,
                )
        elif isinstance(ev, events.Step):
            self._eta = ev.eta_s
            x = ev.epoch - 1 + ev.step / max(ev.steps, 1)
            self.plot.add("loss (step)", x, ev.losses.get("loss"))
            text = tr("Epoch {0}/{1}, step {2}/{3}").format(ev.epoch, ev.epochs, ev.step, ev.steps)
            if self._eta:
                text += tr(", about {0} left").format(duration(self._eta))
            self.status.setText(text)
        elif isinstance(ev, events.Epoch):
            self.plot.add("loss (epoch)", ev.epoch, ev.train_loss)
            self.plot.add("val IoU", ev.epoch, ev.val_iou)
            self.plot.add("val F1", ev.epoch, ev.val_f1)
            self._log(training.describe_epoch(ev, self.prep.request.epochs, self._eta))

    def _done(self, task: TrainTask, ok: bool) -> None:
        self.trainButton.setEnabled(True)
        self.cancelButton.setEnabled(False)
        self.task = None
        req = task.prep.request
        r = task.result
        self.last_result = r
        if r is not None and r.status == "completed":
            self.progress.setValue(100)
            metrics = training.describe_metrics(r.best_metrics or {})
            self.result.setText(
                tr("{0}: {1} (best of {2} epoch(s)). It is now selected in the Detect tab.").format(
                    req.out.name, metrics, r.epochs_done
                )
            )
            self.modelReady.emit(str(req.out))
            self._output_changed()
            self._say(
                tr("Training finished: {0} ({1})").format(req.out, metrics),
                Qgis.MessageLevel.Success,
            )
            self.finishedRun.emit("completed")
        elif r is not None and r.status == "cancelled":
            self._output_changed()
            text = tr(
                "Training cancelled; {0} keeps the run: keep 'Resume' ticked and press "
                "Train to continue it."
            ).format(task.prep.resume_file.name)
            if req.out.exists():
                text += " " + tr("The best model so far is in {0}.").format(req.out.name)
            self._say(text, Qgis.MessageLevel.Info)
            self.finishedRun.emit("cancelled")
        else:
            self._output_changed()
            self._say(tr("Training failed: {0}").format(task.error), Qgis.MessageLevel.Critical)
            self.finishedRun.emit("failed")
