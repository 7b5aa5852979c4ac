"""The panel's Detect tab: pick imagery, a model and an area, run detection as a QgsTask (QGIS
stays responsive; progress per tile; cancel), get styled layers and a summary."""

from __future__ import annotations

import re
import shutil
import time
from datetime import datetime
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCsException,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRectangle,
)
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox, QgsMapToolExtent
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mrife import errors

from .. import catalogue, detection
from ..deps import check_deps
from ..i18n import tr
from ..log import log, user_error
from ..settings import PluginSettings
from .choices import keyed_combo, precision_combo, select
from .download import download_then
from .task import DetectTask

ASK_ABOVE_SECONDS = 15 * 60      # ask before runs estimated longer than this


class DetectPanel(QWidget):
    """Widgets of the Detect tab; ``task`` is the running QgsTask, if any."""

    finishedRun = pyqtSignal(bool)  # noqa: N815 (Qt naming)

    def __init__(self, iface, device_getter, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.device_getter = device_getter
        self.task: DetectTask | None = None
        self.drawn: QgsRectangle | None = None
        self.drawn_crs: QgsCoordinateReferenceSystem | None = None
        self.last_result = None
        self.last_message = ""
        self.download = None                  # a catalogue model being downloaded
        form = QFormLayout()
        self.layerCombo = QgsMapLayerComboBox()
        self.layerCombo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        form.addRow(tr("Imagery"), self.layerCombo)
        self.modelCombo = QComboBox()        # catalogue models, then "Model file"
        for entry in catalogue.load()[0]:
            self.modelCombo.addItem(entry.title, entry.name)
        self.modelCombo.addItem(tr("Model file (.pt)"), "")
        self.modelCombo.currentIndexChanged.connect(self._describe_model)
        form.addRow(tr("Model"), self.modelCombo)
        self.modelWidget = QgsFileWidget()
        self.modelWidget.setFilter(tr("MRIFE models (*.pt)"))
        self.modelWidget.lineEdit().setPlaceholderText(tr("a model file trained with the plugin"))
        self.modelWidget.fileChanged.connect(self._file_chosen)
        form.addRow("", self.modelWidget)
        self.modelInfo = QLabel()
        self.modelInfo.setWordWrap(True)
        form.addRow("", self.modelInfo)
        self.bandsEdit = QLineEdit()
        self.bandsEdit.setPlaceholderText(tr("the first ones (1, 2, 3)"))
        self.bandsEdit.setToolTip(tr("The raster's bands for the model's bands, in the model's "
                                     "order, e.g. 3,2,1 for a BGR raster and an RGB model"))
        form.addRow(tr("Bands"), self.bandsEdit)
        self.rescale = QCheckBox(tr("Rescale values"))
        self.rescale.setToolTip(tr("Stretch the imagery onto the model's value range: for "
                                   "imagery whose values differ from the training data's "
                                   "(16-bit imagery, an 8-bit model): each band's 0.5-99.5 % "
                                   "range is mapped onto the training data's"))
        form.addRow("", self.rescale)
        self.areaCombo = keyed_combo({
            "extent": tr("Visible map extent"), "layer": tr("Whole layer"),
            "rectangle": tr("Rectangle drawn on the map"),
            "polygons": tr("Inside polygons of a layer")})
        form.addRow(tr("Area"), self.areaCombo)
        self.drawButton = QPushButton(tr("Draw rectangle"))
        self.drawButton.clicked.connect(self._draw)
        form.addRow("", self.drawButton)
        row = QHBoxLayout()
        self.polygonCombo = QgsMapLayerComboBox()
        self.polygonCombo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.polygonCombo.setAllowEmptyLayer(True)
        self.selectedOnly = QCheckBox(tr("selected"))
        self.selectedOnly.setToolTip(tr("only the selected polygons of the layer"))
        self.selectedOnly.setChecked(True)
        row.addWidget(self.polygonCombo, 1)
        row.addWidget(self.selectedOnly)
        form.addRow(tr("Polygons"), row)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 0.99)
        self.threshold.setSingleStep(0.05)
        # 0 = the model's own threshold (chosen on validation in training, stored in the file)
        self.threshold.setSpecialValueText(tr("model's"))
        self.threshold.setValue(0.0)
        self.threshold.setToolTip(tr("Probability at or above which a pixel is landslide; "
                                     "\"model's\": the threshold chosen on validation when the "
                                     "model was trained (0.5 for older files)"))
        form.addRow(tr("Threshold"), self.threshold)
        self.minArea = QDoubleSpinBox()
        self.minArea.setRange(0, 1e9)
        self.minArea.setValue(100.0)
        self.minArea.setSuffix(" m²")
        form.addRow(tr("Minimum area"), self.minArea)
        self.overlap = QSpinBox()
        self.overlap.setRange(-1, 4096)
        self.overlap.setValue(-1)
        self.overlap.setSpecialValueText(tr("auto (a quarter tile)"))
        form.addRow(tr("Tile overlap (px)"), self.overlap)
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setValue(4)
        form.addRow(tr("Batch size"), self.batch)
        self.precision = precision_combo()
        form.addRow(tr("Precision"), self.precision)
        self.outWidget = QgsFileWidget()
        self.outWidget.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.outWidget.lineEdit().setPlaceholderText(tr("the project's folder"))
        self.outWidget.setFilePath(PluginSettings.load().results_folder)
        form.addRow(tr("Save results in"), self.outWidget)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.runButton = QPushButton(tr("Detect"))
        self.runButton.clicked.connect(self.start)
        self.cancelButton = QPushButton(tr("Cancel"))
        self.cancelButton.setEnabled(False)
        self.cancelButton.clicked.connect(self.cancel)
        buttons.addWidget(self.runButton)
        buttons.addWidget(self.cancelButton)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        layout.addWidget(self.progress)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self._describe_model()

    # -- inputs --------------------------------------------------------------------------------
    def catalogue_choice(self) -> catalogue.CatalogueModel | None:
        name = self.modelCombo.currentData()
        return catalogue.find(name) if name else None

    def model_path(self) -> Path | None:
        """The chosen model's file; None when it is a catalogue model not downloaded yet (or no
        file is chosen)."""
        entry = self.catalogue_choice()
        if entry is not None:
            return catalogue.local_path(entry)
        text = self.modelWidget.filePath().strip()
        return Path(text) if text else None

    def _file_chosen(self, path: str) -> None:
        if path.strip():
            self.modelCombo.setCurrentIndex(self.modelCombo.count() - 1)
        self._describe_model()

    def _describe_model(self, *_args) -> None:
        entry = self.catalogue_choice()
        self.modelWidget.setEnabled(entry is None)
        path = self.model_path()
        if entry is not None and path is None:
            self.modelInfo.setText(tr("{0}. Not on disk yet: downloaded and verified when you "
                                      "press Detect.").format(entry.describe()))
            return
        if path is None:
            self.modelInfo.setText(tr("No model yet: choose a model file."))
            return
        if not check_deps().ok:
            self.modelInfo.setText("")
            return
        from mrife.checkpoint import read_payload

        try:
            meta = read_payload(path)
        except Exception as exc:  # a bad file is reported, not raised
            text = str(exc)
            self.modelInfo.setText(text if text.startswith(path.name) else f"{path.name}: {text}")
            return
        c = meta.get("data_contract", {})
        arch = meta.get("model_config", {}).get("arch", "?")
        res = c.get("ground_resolution")
        bands = c.get("bands", [])
        self.modelInfo.setText(tr("{0}, {1} bands ({2}), {3} px tiles at {4}").format(
            arch, len(bands), ", ".join(bands), c.get("tile_size"),
            tr("{0} m/px").format(f"{res:g}") if res else tr("native resolution")))

    def _draw(self) -> None:
        canvas = self.iface.mapCanvas()
        self._tool = QgsMapToolExtent(canvas)
        self._previous_tool = canvas.mapTool()

        def done(rect: QgsRectangle) -> None:
            self.set_drawn_extent(rect, canvas.mapSettings().destinationCrs())
            if self._previous_tool is not None:
                canvas.setMapTool(self._previous_tool)

        self._tool.extentChanged.connect(done)
        canvas.setMapTool(self._tool)

    def set_drawn_extent(self, rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> None:
        self.drawn, self.drawn_crs = QgsRectangle(rect), crs
        select(self.areaCombo, "rectangle")

    def _area(self, layer) -> tuple:
        """(extent, extent CRS, polygon layer, selected only) for the chosen area."""
        choice = self.areaCombo.currentData()
        if choice == "extent":
            canvas = self.iface.mapCanvas()
            return canvas.extent(), canvas.mapSettings().destinationCrs(), None, False
        if choice == "rectangle":
            if self.drawn is None or self.drawn.isEmpty():
                raise ValueError(tr("draw a rectangle on the map first (Draw rectangle)"))
            return self.drawn, self.drawn_crs, None, False
        if choice == "polygons":
            poly = self.polygonCombo.currentLayer()
            if poly is None:
                raise ValueError(tr("choose the polygon layer that outlines the area"))
            return None, None, poly, self.selectedOnly.isChecked()
        return None, None, None, False

    def _out_folder(self) -> Path:
        """The chosen folder (remembered), else the project's folder; an unsaved project with
        no folder chosen is refused (results in a temporary folder would be lost)."""
        text = self.outWidget.filePath().strip()
        if text:
            return Path(text)
        home = QgsProject.instance().homePath()
        if home:
            return Path(home)
        raise ValueError(tr("choose a folder in 'Save results in': the project is not saved, "
                            "so there is no project folder to keep the results in"))

    # -- running -------------------------------------------------------------------------------
    def confirm_large(self, text: str) -> bool:
        """Ask before a very long run (tests replace this)."""
        answer = QMessageBox.question(self, tr("MRIFE detection"), text)
        return answer == QMessageBox.StandardButton.Yes

    def _say(self, text: str, level=Qgis.MessageLevel.Info) -> None:
        self.last_message = text
        self.status.setText(text)
        log(text, level, bar=self.iface.messageBar(),
            duration=10 if level == Qgis.MessageLevel.Success else 0)

    def start(self) -> bool:
        """Check the inputs, estimate, and start the task; False (with a message) if not."""
        status = check_deps()
        if not status.ok:
            self._say(status.message(), Qgis.MessageLevel.Critical)
            return False
        layer = self.layerCombo.currentLayer()
        if layer is None:
            self._say(tr("Choose the imagery layer to search."), Qgis.MessageLevel.Warning)
            return False
        entry = self.catalogue_choice()
        if entry is not None and catalogue.local_path(entry) is None:
            return download_then(self, entry, self.start)
        model = self.model_path()
        if model is None:
            self._say(tr("Choose a model file (.pt)."), Qgis.MessageLevel.Warning)
            return False
        work = detection.work_folder()
        try:
            extent, ecrs, poly, selected = self._area(layer)
            out = self._out_folder()
            project_crs = QgsProject.instance().crs()
            req = detection.DetectRequest(
                layer=layer, model=model, extent=extent, extent_crs=ecrs,
                bands=detection.parse_bands(self.bandsEdit.text(), layer),
                rescale=self.rescale.isChecked(),
                area=detection.write_polygons(poly, selected, work) if poly is not None else None,
                overlap=None if self.overlap.value() < 0 else self.overlap.value(),
                batch_size=self.batch.value(), threshold=self.threshold.value() or None,
                precision=self.precision.currentData(), min_area=self.minArea.value(),
                device=self.device_getter(),
                out_crs=project_crs.toWkt() if project_crs.isValid() else None)
            prep = detection.prepare(req, work)
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            base = re.sub(r"[^\w.-]+", "_", layer.name()) + f"_{stamp}"
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValueError(tr("cannot create the results folder {0} ({1}); choose another "
                                    "in 'Save results in'").format(out, exc.strerror or exc)
                                 ) from exc
        except QgsCsException as exc:
            shutil.rmtree(work, ignore_errors=True)
            self._say(
                tr(
                    "{0}: the area cannot be transformed to the layer's CRS ({1}); zoom "
                    "to the layer or choose 'Whole layer'"
                ).format(layer.name(), exc),
                Qgis.MessageLevel.Critical,
            )
            return False
        except Exception as exc:
            shutil.rmtree(work, ignore_errors=True)
            if errors.user_message(exc) is None:
                raise
            self._say(f"{layer.name()}: {user_error(exc)}", Qgis.MessageLevel.Critical)
            return False
        text = prep.estimate()
        if prep.seconds > ASK_ABOVE_SECONDS and not self.confirm_large(
            tr("This detection covers {0}. Start it?").format(text)
        ):
            shutil.rmtree(work, ignore_errors=True)
            self._say(tr("Not started."), Qgis.MessageLevel.Info)
            return False
        if self.outWidget.filePath().strip():
            settings = PluginSettings.load()
            settings.results_folder = str(out)
            settings.save()
        kwargs = dict(
            model=prep.loaded,
            raster=prep.raster,
            out_vector=out / f"{base}.gpkg",
            probability=out / f"{base}_probability.tif",
            options=prep.options,
        )
        self.task = DetectTask(tr("MRIFE detection on {0}").format(layer.name()), kwargs, work)
        self.task.on_done = self._done
        self.task.progressChanged.connect(lambda p: self.progress.setValue(int(p)))
        self._title = f"{layer.name()} - {prep.loaded.name}"
        self._started = time.monotonic()
        self.runButton.setEnabled(False)
        self.cancelButton.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(tr("Running: {0}").format(text))
        QgsApplication.taskManager().addTask(self.task)
        return True

    def cancel(self) -> None:
        if self.download is not None:
            self.download.cancel()
        if self.task is not None:
            self.status.setText(tr("Cancelling..."))
            self.task.cancel()

    def _done(self, task: DetectTask, ok: bool) -> None:
        self.runButton.setEnabled(True)
        self.cancelButton.setEnabled(False)
        self.task = None
        if ok and task.result is not None:
            r = task.result
            self.last_result = r
            try:
                detection.add_results(QgsProject.instance(), r.vector, r.probability, self._title)
            except ValueError as exc:
                self._say(str(exc), Qgis.MessageLevel.Critical)
                self.finishedRun.emit(False)
                return
            self.progress.setValue(100)
            text = tr("{0} landslide polygon(s), {1} ha in all, {2} tiles in {3} s on {4}").format(
                r.count, f"{r.total_area_m2 / 1e4:.2f}", r.tiles, f"{r.seconds:.1f}", r.device
            )
            self._say(text + "".join(f"; {w}" for w in r.warnings), Qgis.MessageLevel.Success)
            self.finishedRun.emit(True)
        elif task.cancelled or task.isCanceled():
            self.progress.setValue(0)
            self._say(tr("Detection cancelled; nothing was written."), Qgis.MessageLevel.Info)
            self.finishedRun.emit(False)
        else:
            self._say(tr("Detection failed: {0}").format(task.error), Qgis.MessageLevel.Critical)
            self.finishedRun.emit(False)
