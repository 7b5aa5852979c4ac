"""The panel's Label tab: create (or reopen) the label and mapped-area layers in a GeoPackage,
put them into editing for digitising, and the review loop (accept / reject selected detections).
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import Qgis, QgsMapLayerProxyModel, QgsProject, QgsVectorLayer
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .. import labels as lab
from ..i18n import tr
from ..log import log
from .task import chosen_file

DEFAULT_GPKG = "mrife_labels.gpkg"


class LabelPanel(QWidget):
    """Widgets of the Label tab. ``labelLayerReady`` / ``areaLayerReady`` carry a layer the
    panel created or reopened (the Train tab selects it)."""

    labelLayerReady = pyqtSignal(object)  # noqa: N815 (Qt naming)
    areaLayerReady = pyqtSignal(object)   # noqa: N815

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.last_message = ""
        layout = QVBoxLayout(self)

        make = QGroupBox(tr("Label layers"))
        form = QFormLayout(make)
        self.rasterCombo = QgsMapLayerComboBox()
        self.rasterCombo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.rasterCombo.setToolTip(tr("the new layers take this raster's CRS"))
        form.addRow(tr("Imagery (CRS)"), self.rasterCombo)
        self.gpkgWidget = QgsFileWidget()
        self.gpkgWidget.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.gpkgWidget.setFilter(tr("GeoPackage (*.gpkg)"))
        self.gpkgWidget.setConfirmOverwrite(False)     # an existing file is added to, never lost
        self.gpkgWidget.lineEdit().setPlaceholderText(tr("project folder/{0}").format(DEFAULT_GPKG))
        form.addRow(tr("GeoPackage"), self.gpkgWidget)
        self.author = QLineEdit()
        self.author.setPlaceholderText(tr("your name (stored with each outline)"))
        form.addRow(tr("Author"), self.author)
        row = QHBoxLayout()
        self.newLabelsButton = QPushButton(tr("Label layer"))
        self.newLabelsButton.setToolTip(tr("Create (or reopen) the landslide label layer and start "
                                           "digitising"))
        self.newLabelsButton.clicked.connect(self.new_label_layer)
        self.newAreaButton = QPushButton(tr("Mapped-area layer"))
        self.newAreaButton.setToolTip(tr("Create (or reopen) the layer where you outline the "
                                         "ground you have labelled completely"))
        self.newAreaButton.clicked.connect(self.new_area_layer)
        row.addWidget(self.newLabelsButton)
        row.addWidget(self.newAreaButton)
        form.addRow(tr("Create / open"), row)
        layout.addWidget(make)

        review = QGroupBox(tr("Review detections"))
        rform = QFormLayout(review)
        self.detectionCombo = QgsMapLayerComboBox()
        self.detectionCombo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.detectionCombo.setAllowEmptyLayer(True)
        rform.addRow(tr("Detections"), self.detectionCombo)
        self.labelCombo = QgsMapLayerComboBox()
        self.labelCombo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.labelCombo.setAllowEmptyLayer(True)
        self.labelCombo.layerChanged.connect(self.describe)
        rform.addRow(tr("Into label layer"), self.labelCombo)
        self.areaCombo = QgsMapLayerComboBox()
        self.areaCombo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.areaCombo.setAllowEmptyLayer(True)
        self.areaCombo.layerChanged.connect(self.describe)
        rform.addRow(tr("Mapped area"), self.areaCombo)
        row = QHBoxLayout()
        self.acceptButton = QPushButton(tr("Accept selected"))
        self.acceptButton.setToolTip(tr("Copy the selected detection polygons into the label layer "
                                        "as 'landslide'"))
        self.acceptButton.clicked.connect(lambda: self.review(lab.LANDSLIDE))
        self.rejectButton = QPushButton(tr("Reject selected"))
        self.rejectButton.setToolTip(tr("Store the selected detection polygons in the label layer "
                                        "as 'not landslide' examples"))
        self.rejectButton.clicked.connect(lambda: self.review(lab.NOT_LANDSLIDE))
        row.addWidget(self.acceptButton)
        row.addWidget(self.rejectButton)
        rform.addRow("", row)
        layout.addWidget(review)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        self.describe()

    # -- helpers -------------------------------------------------------------------------------
    def _say(self, text: str, level=Qgis.MessageLevel.Info) -> None:
        self.last_message = text
        log(text, level, bar=self.iface.messageBar(),
            duration=10 if level in (Qgis.MessageLevel.Info, Qgis.MessageLevel.Success) else 0)

    def gpkg_path(self) -> Path | None:
        return chosen_file(self.gpkgWidget, DEFAULT_GPKG)

    def describe(self, *_args) -> None:
        """What training will take from the chosen layers (counts, and the mapped-area
        assumption)."""
        parts = []
        labels = self.labelCombo.currentLayer()
        if labels is None:
            parts.append(tr("No label layer yet: press 'Label layer', then outline landslides "
                            "(at least {0} for fine-tuning).").format(lab.MIN_LANDSLIDES))
        else:
            counts = {c: 0 for c in lab.CLASSES}
            has_class = "class" in labels.fields().names()
            for f in labels.getFeatures():
                cls = (f["class"] or lab.LANDSLIDE) if has_class else lab.LANDSLIDE
                key = lab.NOT_LANDSLIDE if str(cls).strip().lower() == lab.NOT_LANDSLIDE \
                    else lab.LANDSLIDE
                counts[key] += 1
            parts.append(tr("'{0}': {1} landslide and {2} 'not landslide' polygon(s).").format(
                labels.name(), counts[lab.LANDSLIDE], counts[lab.NOT_LANDSLIDE]))
        area = self.areaCombo.currentLayer()
        if area is None:
            parts.append(tr("No mapped-area layer: training will take the whole raster as "
                            "completely labelled (everything outside your landslide outlines "
                            "is a negative example)."))
        else:
            parts.append(tr("Mapped area '{0}': {1} polygon(s); outside them nothing is used "
                            "as a negative example.").format(area.name(), area.featureCount()))
        self.summary.setText("\n".join(parts))

    def _open_or_create(self, table: str, display: str, create) -> QgsVectorLayer | None:
        raster = self.rasterCombo.currentLayer()
        if raster is None or not raster.crs().isValid():
            self._say(tr("Choose the imagery (with a CRS) the labels are for: the new layer takes "
                         "its CRS."), Qgis.MessageLevel.Warning)
            return None
        path = self.gpkg_path()
        if path is None:
            self._say(tr("Choose a GeoPackage file for the labels (the project is not saved, so "
                         "there is no project folder to default to)."), Qgis.MessageLevel.Warning)
            return None
        try:
            layer = lab.existing_layer(path, table, display)
            reused = layer is not None
            if layer is None:
                layer = create(path, raster.crs(), display)
        except ValueError as exc:
            self._say(str(exc), Qgis.MessageLevel.Critical)
            return None
        QgsProject.instance().addMapLayer(layer)
        if self.author.text().strip() and "author" in layer.fields().names():
            from qgis.core import QgsDefaultValue

            idx = layer.fields().indexOf("author")
            layer.setDefaultValueDefinition(idx, QgsDefaultValue(
                "'" + self.author.text().strip().replace("'", "''") + "'"))
        layer.startEditing()
        self.iface.setActiveLayer(layer)
        try:
            self.iface.actionAddFeature().trigger()
        except (AttributeError, RuntimeError):  # no digitising tool (headless)
            pass
        text = tr("Opened the existing layer '{0}' in {1} (nothing overwritten)") if reused \
            else tr("Created the layer '{0}' in {1}")
        self._say(text.format(display, path) + tr("; it is in editing mode: draw polygons, "
                                                  "then save the edits (Ctrl+S)."),
                  Qgis.MessageLevel.Success)
        return layer

    # -- actions -------------------------------------------------------------------------------
    def new_label_layer(self) -> QgsVectorLayer | None:
        layer = self._open_or_create("labels", "landslide labels", lab.create_label_layer)
        if layer is not None:
            self.labelCombo.setLayer(layer)
            self.labelLayerReady.emit(layer)
            self.describe()
        return layer

    def new_area_layer(self) -> QgsVectorLayer | None:
        layer = self._open_or_create("mapped_area", "mapped area", lab.create_area_layer)
        if layer is not None:
            self.areaCombo.setLayer(layer)
            self.areaLayerReady.emit(layer)
            self.describe()
        return layer

    def review(self, as_class: str) -> int:
        """Accept (``landslide``) or reject (``not landslide``) the selected detections into
        the label layer; returns how many were copied."""
        source = self.detectionCombo.currentLayer()
        target = self.labelCombo.currentLayer()
        if source is None:
            self._say(tr("Choose the detection layer whose selected polygons you reviewed."),
                      Qgis.MessageLevel.Warning)
            return 0
        if target is None:
            self._say(tr("Choose (or create) the label layer to copy the polygons into."),
                      Qgis.MessageLevel.Warning)
            return 0
        if source.id() == target.id():
            self._say(tr("The detections and the label layer are the same layer; choose the "
                         "detection layer in 'Detections'."), Qgis.MessageLevel.Warning)
            return 0
        try:
            n = lab.copy_features(source, target, as_class, selected_only=True,
                                  author=self.author.text().strip())
        except ValueError as exc:
            self._say(str(exc), Qgis.MessageLevel.Warning)
            return 0
        source.removeSelection()
        target.triggerRepaint()
        text = tr("{0} polygon(s) from '{1}' accepted as landslides in '{2}'.") \
            if as_class == lab.LANDSLIDE else \
            tr("{0} polygon(s) from '{1}' stored as 'not landslide' examples in '{2}'.")
        self._say(text.format(n, source.name(), target.name()), Qgis.MessageLevel.Success)
        self.describe()
        return n
