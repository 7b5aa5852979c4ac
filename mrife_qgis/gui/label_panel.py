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

        make = QGroupBox("Label layers")
        form = QFormLayout(make)
        self.rasterCombo = QgsMapLayerComboBox()
        self.rasterCombo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.rasterCombo.setToolTip("the new layers take this raster's CRS")
        form.addRow("Imagery (CRS)", self.rasterCombo)
        self.gpkgWidget = QgsFileWidget()
        self.gpkgWidget.setStorageMode(QgsFileWidget.SaveFile)
        self.gpkgWidget.setFilter("GeoPackage (*.gpkg)")
        self.gpkgWidget.setConfirmOverwrite(False)     # an existing file is added to, never lost
        self.gpkgWidget.lineEdit().setPlaceholderText(f"project folder/{DEFAULT_GPKG}")
        form.addRow("GeoPackage", self.gpkgWidget)
        self.author = QLineEdit()
        self.author.setPlaceholderText("your name (stored with each outline)")
        form.addRow("Author", self.author)
        row = QHBoxLayout()
        self.newLabelsButton = QPushButton("Label layer")
        self.newLabelsButton.setToolTip("Create (or reopen) the landslide label layer and start "
                                        "digitising")
        self.newLabelsButton.clicked.connect(self.new_label_layer)
        self.newAreaButton = QPushButton("Mapped-area layer")
        self.newAreaButton.setToolTip("Create (or reopen) the layer where you outline the "
                                      "ground you have labelled completely")
        self.newAreaButton.clicked.connect(self.new_area_layer)
        row.addWidget(self.newLabelsButton)
        row.addWidget(self.newAreaButton)
        form.addRow("Create / open", row)
        layout.addWidget(make)

        review = QGroupBox("Review detections")
        rform = QFormLayout(review)
        self.detectionCombo = QgsMapLayerComboBox()
        self.detectionCombo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.detectionCombo.setAllowEmptyLayer(True)
        rform.addRow("Detections", self.detectionCombo)
        self.labelCombo = QgsMapLayerComboBox()
        self.labelCombo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.labelCombo.setAllowEmptyLayer(True)
        self.labelCombo.layerChanged.connect(self.describe)
        rform.addRow("Into label layer", self.labelCombo)
        self.areaCombo = QgsMapLayerComboBox()
        self.areaCombo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.areaCombo.setAllowEmptyLayer(True)
        self.areaCombo.layerChanged.connect(self.describe)
        rform.addRow("Mapped area", self.areaCombo)
        row = QHBoxLayout()
        self.acceptButton = QPushButton("Accept selected")
        self.acceptButton.setToolTip("Copy the selected detection polygons into the label layer "
                                     "as 'landslide'")
        self.acceptButton.clicked.connect(lambda: self.review(lab.LANDSLIDE))
        self.rejectButton = QPushButton("Reject selected")
        self.rejectButton.setToolTip("Store the selected detection polygons in the label layer "
                                     "as 'not landslide' examples")
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
    def _say(self, text: str, level=Qgis.Info) -> None:
        self.last_message = text
        log(text, level, bar=self.iface.messageBar(),
            duration=10 if level in (Qgis.Info, Qgis.Success) else 0)

    def gpkg_path(self) -> Path | None:
        return chosen_file(self.gpkgWidget, DEFAULT_GPKG)

    def describe(self, *_args) -> None:
        """What training will take from the chosen layers (counts, and the mapped-area
        assumption)."""
        parts = []
        labels = self.labelCombo.currentLayer()
        if labels is None:
            parts.append("No label layer yet: press 'Label layer', then outline landslides "
                         f"(at least {lab.MIN_LANDSLIDES} for fine-tuning).")
        else:
            counts = {c: 0 for c in lab.CLASSES}
            has_class = "class" in labels.fields().names()
            for f in labels.getFeatures():
                cls = (f["class"] or lab.LANDSLIDE) if has_class else lab.LANDSLIDE
                key = lab.NOT_LANDSLIDE if str(cls).strip().lower() == lab.NOT_LANDSLIDE \
                    else lab.LANDSLIDE
                counts[key] += 1
            parts.append(f"'{labels.name()}': {counts[lab.LANDSLIDE]} landslide and "
                         f"{counts[lab.NOT_LANDSLIDE]} 'not landslide' polygon(s).")
        area = self.areaCombo.currentLayer()
        if area is None:
            parts.append("No mapped-area layer: training will take the whole raster as "
                         "completely labelled (everything outside your landslide outlines is a "
                         "negative example).")
        else:
            parts.append(f"Mapped area '{area.name()}': {area.featureCount()} polygon(s); "
                         "outside them nothing is used as a negative example.")
        self.summary.setText("\n".join(parts))

    def _open_or_create(self, table: str, display: str, create) -> QgsVectorLayer | None:
        raster = self.rasterCombo.currentLayer()
        if raster is None or not raster.crs().isValid():
            self._say("Choose the imagery (with a CRS) the labels are for: the new layer takes "
                      "its CRS.", Qgis.Warning)
            return None
        path = self.gpkg_path()
        if path is None:
            self._say("Choose a GeoPackage file for the labels (the project is not saved, so "
                      "there is no project folder to default to).", Qgis.Warning)
            return None
        try:
            layer = lab.existing_layer(path, table, display)
            reused = layer is not None
            if layer is None:
                layer = create(path, raster.crs(), display)
        except ValueError as exc:
            self._say(str(exc), Qgis.Critical)
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
        verb = "Opened the existing" if reused else "Created the"
        extra = " (nothing overwritten)" if reused else ""
        self._say(f"{verb} layer '{display}' in {path}{extra}; it is in editing mode: draw "
                  "polygons, then save the edits (Ctrl+S).", Qgis.Success)
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
            self._say("Choose the detection layer whose selected polygons you reviewed.",
                      Qgis.Warning)
            return 0
        if target is None:
            self._say("Choose (or create) the label layer to copy the polygons into.",
                      Qgis.Warning)
            return 0
        if source.id() == target.id():
            self._say("The detections and the label layer are the same layer; choose the "
                      "detection layer in 'Detections'.", Qgis.Warning)
            return 0
        try:
            n = lab.copy_features(source, target, as_class, selected_only=True,
                                  author=self.author.text().strip())
        except ValueError as exc:
            self._say(str(exc), Qgis.Warning)
            return 0
        source.removeSelection()
        target.triggerRepaint()
        what = "accepted as landslides" if as_class == lab.LANDSLIDE else \
            "stored as 'not landslide' examples"
        self._say(f"{n} polygon(s) from '{source.name()}' {what} in '{target.name()}'.",
                  Qgis.Success)
        self.describe()
        return n
