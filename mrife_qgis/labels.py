"""Label layers for fine-tuning: landslide outlines and the mapped area, created, styled and
filled from reviewed detections (``label_inputs`` turns them into what the backend trains on)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsFields,
    QgsFillSymbol,
    QgsGeometry,
    QgsProject,
    QgsRendererCategory,
    QgsSingleSymbolRenderer,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)

from .i18n import tr

LANDSLIDE = "landslide"
NOT_LANDSLIDE = "not landslide"
CLASSES = (LANDSLIDE, NOT_LANDSLIDE)
CERTAINTY = ("certain", "probable", "possible")
# Fewer outlines than this cannot give both the training and the validation split a landslide
# (the raster is split by spatial blocks 8:2); fine-tuning on them would measure nothing.
MIN_LANDSLIDES = 3


def _field(name: str, kind: str, length: int = 0) -> QgsField:
    """A ``kind`` ("String" or "Date") field, made the way this QGIS wants: QMetaType from QGIS
    3.38 on (QVariant's types are deprecated there and gone in Qt6), QVariant before."""
    if Qgis.QGIS_VERSION_INT >= 33800:
        from qgis.PyQt.QtCore import QMetaType

        return QgsField(name, getattr(QMetaType.Type, "Q" + kind), len=length)
    from qgis.PyQt.QtCore import QVariant

    return QgsField(name, getattr(QVariant, kind), len=length)


def text_field(name: str, length: int) -> QgsField:
    return _field(name, "String", length)


def label_fields() -> QgsFields:
    fields = QgsFields()
    for name, length in (("class", 20), ("certainty", 10), ("note", 255), ("author", 80)):
        fields.append(text_field(name, length))
    fields.append(_field("date", "Date"))
    return fields


def write_layer(path: Path, name: str, fields: QgsFields, crs: QgsCoordinateReferenceSystem,
                 geoms: list[QgsGeometry] = ()) -> None:
    """Write a multipolygon layer ``name`` into the GeoPackage ``path`` (created, or the layer
    added/replaced), with ``geoms`` as its features."""
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = name
    options.actionOnExistingFile = (
        QgsVectorFileWriter.ActionOnExistingFile.CreateOrOverwriteLayer
        if path.exists()
        else QgsVectorFileWriter.ActionOnExistingFile.CreateOrOverwriteFile
    )
    writer = QgsVectorFileWriter.create(
        str(path),
        fields,
        QgsWkbTypes.Type.MultiPolygon,
        crs,
        QgsProject.instance().transformContext(),
        options,
    )
    if writer is None or writer.hasError() != QgsVectorFileWriter.WriterError.NoError:
        why = writer.errorMessage() if writer is not None else "cannot create the file"
        raise ValueError(
            tr("cannot write {0}: {1}; choose a folder you can write to").format(path, why)
        )
    for g in geoms:
        f = QgsFeature(fields)
        f.setGeometry(g)
        writer.addFeature(f)
    del writer


def label_style(layer: QgsVectorLayer) -> None:
    """Outlines that read over imagery: landslides a bright yellow line with a dark halo,
    'not landslide' a cyan hatch."""
    slide = QgsFillSymbol.createSimple(
        {"style": "no", "outline_color": "255,230,0", "outline_width": "0.7"}
    )
    halo_symbol = QgsFillSymbol.createSimple(
        {"style": "no", "outline_color": "20,20,20,180", "outline_width": "1.3"}
    )
    slide.insertSymbolLayer(0, halo_symbol.symbolLayer(0).clone())
    other = QgsFillSymbol.createSimple(
        {
            "style": "b_diagonal",
            "color": "0,200,255",
            "outline_color": "0,200,255",
            "outline_width": "0.5",
        }
    )
    layer.setRenderer(
        QgsCategorizedSymbolRenderer(
            "class",
            [
                QgsRendererCategory(LANDSLIDE, slide, "landslide"),
                QgsRendererCategory(NOT_LANDSLIDE, other, "not landslide"),
            ],
        )
    )
    idx = layer.fields().indexOf("class")
    if idx >= 0:
        from qgis.core import QgsDefaultValue, QgsEditorWidgetSetup

        layer.setDefaultValueDefinition(idx, QgsDefaultValue(f"'{LANDSLIDE}'"))
        layer.setEditorWidgetSetup(
            idx, QgsEditorWidgetSetup("ValueMap", {"map": [{c: c} for c in CLASSES]})
        )
        cidx = layer.fields().indexOf("certainty")
        layer.setEditorWidgetSetup(
            cidx, QgsEditorWidgetSetup("ValueMap", {"map": [{c: c} for c in CERTAINTY]})
        )
        layer.setDefaultValueDefinition(cidx, QgsDefaultValue("'certain'"))
        layer.setDefaultValueDefinition(layer.fields().indexOf("date"), QgsDefaultValue("now()"))
        layer.setDefaultValueDefinition(
            layer.fields().indexOf("author"), QgsDefaultValue("@user_full_name")
        )
    layer.triggerRepaint()


def area_style(layer: QgsVectorLayer) -> None:
    layer.setRenderer(
        QgsSingleSymbolRenderer(
            QgsFillSymbol.createSimple(
                {
                    "style": "no",
                    "outline_color": "255,255,255",
                    "outline_width": "0.6",
                    "outline_style": "dash",
                }
            )
        )
    )
    layer.triggerRepaint()


def _new_layer(
    path: Path,
    layer_name: str,
    fields: QgsFields,
    crs: QgsCoordinateReferenceSystem,
    display: str,
    style,
    title: str,
) -> QgsVectorLayer:
    path = Path(path)
    write_layer(path, layer_name, fields, crs)
    layer = QgsVectorLayer(f"{path}|layername={layer_name}", display, "ogr")
    if not layer.isValid():
        raise ValueError(tr("cannot open the new layer '{0}' in {1}").format(display, path))
    style(layer)
    layer.saveStyleToDatabase(layer_name, title, True, "")
    return layer


def existing_layer(path: Path, table: str, display: str) -> QgsVectorLayer | None:
    """The polygon layer ``table`` of the GeoPackage ``path`` when it is already there (the
    panel opens it rather than overwrite someone's labels)."""
    path = Path(path)
    if not path.is_file():
        return None
    layer = QgsVectorLayer(f"{path}|layername={table}", display, "ogr")
    if not layer.isValid():
        return None
    if layer.geometryType() != QgsWkbTypes.GeometryType.PolygonGeometry:
        raise ValueError(
            tr("{0} has a '{1}' layer that is not polygons; choose another GeoPackage").format(
                path.name, table
            )
        )
    return layer


def create_label_layer(
    path: Path, crs: QgsCoordinateReferenceSystem, name: str = "landslide labels"
) -> QgsVectorLayer:
    """A polygon layer ``labels`` in the GeoPackage ``path`` (created or added to), in ``crs``
    (the raster's), styled, with value maps for class and certainty and defaults for date and
    author."""
    return _new_layer(path, "labels", label_fields(), crs, name, label_style, "MRIFE label style")


def create_area_layer(
    path: Path, crs: QgsCoordinateReferenceSystem, name: str = "mapped area"
) -> QgsVectorLayer:
    """Polygons ``mapped_area``: ground labelled completely (inside it, what is not a landslide
    polygon is a negative example)."""
    fields = QgsFields()
    fields.append(text_field("note", 255))
    return _new_layer(path, "mapped_area", fields, crs, name, area_style, "MRIFE mapped-area style")


def copy_features(
    source: QgsVectorLayer,
    target: QgsVectorLayer,
    as_class: str,
    selected_only: bool = True,
    author: str = "",
) -> int:
    """Review loop: copy (selected) detection polygons into the label layer as ``as_class``,
    keeping attributes whose field names match; geometries are reprojected to the label
    layer's CRS. Returns the number of features added (committed)."""
    if as_class not in CLASSES:
        raise ValueError(tr("class must be one of {0}").format(CLASSES))
    feats = list(source.getSelectedFeatures() if selected_only else source.getFeatures())
    if not feats:
        if not selected_only:
            raise ValueError(tr("no features in layer '{0}'").format(source.name()))
        text = (
            tr("no selected features in layer '{0}': select the polygons to accept first")
            if as_class == LANDSLIDE
            else tr("no selected features in layer '{0}': select the polygons to reject first")
        )
        raise ValueError(text.format(source.name()))
    xform = None
    if source.crs() != target.crs():
        xform = QgsCoordinateTransform(source.crs(), target.crs(), QgsProject.instance())
    names = target.fields().names()
    shared = [n for n in source.fields().names() if n in names and n != "fid"]
    new = []
    for f in feats:
        g = QgsGeometry(f.geometry())
        if xform is not None:
            g.transform(xform)
        if not g.isGeosValid():
            g = g.makeValid()
        out = QgsFeature(target.fields())
        out.setGeometry(g)
        for n in shared:
            out[n] = f[n]
        out["class"] = as_class
        if "date" in names:
            out["date"] = date.today().isoformat()
        if "author" in names and author:
            out["author"] = author
        if "note" in names and "mean_prob" in source.fields().names():
            out["note"] = f"from detection, mean probability {f['mean_prob']:.2f}"
        if "certainty" in names and not out["certainty"]:
            out["certainty"] = "certain"
        new.append(out)
    editing = target.isEditable()
    if not editing:
        target.startEditing()
    ok = target.addFeatures(new)
    if not ok:
        target.rollBack()
        raise ValueError(tr("could not add the features to '{0}'").format(target.name()))
    if not editing and not target.commitChanges():
        errors = "; ".join(target.commitErrors())
        target.rollBack()
        raise ValueError(tr("could not save '{0}': {1}").format(target.name(), errors))
    if "review" in source.fields().names() and not source.isEditable():
        idx = source.fields().indexOf("review")
        source.startEditing()
        for f in feats:
            source.changeAttributeValue(
                f.id(), idx, "accepted" if as_class == LANDSLIDE else "rejected"
            )
        source.commitChanges()
    return len(new)
