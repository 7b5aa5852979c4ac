"""Label layers for fine-tuning: landslide outlines and the mapped area, created, styled, filled
from reviewed detections, and turned into what the headless backend trains on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from qgis.core import (
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
from qgis.PyQt.QtCore import QVariant

LANDSLIDE = "landslide"
NOT_LANDSLIDE = "not landslide"
CLASSES = (LANDSLIDE, NOT_LANDSLIDE)
CERTAINTY = ("certain", "probable", "possible")
# Fewer outlines than this cannot give both the training and the validation split a landslide
# (the raster is split by spatial blocks 8:2); fine-tuning on them would measure nothing.
MIN_LANDSLIDES = 3


def label_fields() -> QgsFields:
    fields = QgsFields()
    fields.append(QgsField("class", QVariant.String, len=20))
    fields.append(QgsField("certainty", QVariant.String, len=10))
    fields.append(QgsField("note", QVariant.String, len=255))
    fields.append(QgsField("author", QVariant.String, len=80))
    fields.append(QgsField("date", QVariant.Date))
    return fields


def _write_layer(path: Path, name: str, fields: QgsFields, crs: QgsCoordinateReferenceSystem,
                 geoms: list[QgsGeometry] = ()) -> None:
    """Write a multipolygon layer ``name`` into the GeoPackage ``path`` (created, or the layer
    added/replaced), with ``geoms`` as its features."""
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = name
    options.actionOnExistingFile = (QgsVectorFileWriter.CreateOrOverwriteLayer
                                    if path.exists() else QgsVectorFileWriter.CreateOrOverwriteFile)
    writer = QgsVectorFileWriter.create(str(path), fields, QgsWkbTypes.MultiPolygon, crs,
                                        QgsProject.instance().transformContext(), options)
    if writer is None or writer.hasError() != QgsVectorFileWriter.NoError:
        why = writer.errorMessage() if writer is not None else "cannot create the file"
        raise ValueError(f"cannot write {path}: {why}; choose a folder you can write to")
    for g in geoms:
        f = QgsFeature(fields)
        f.setGeometry(g)
        writer.addFeature(f)
    del writer


def label_style(layer: QgsVectorLayer) -> None:
    """Outlines that read over imagery: landslides a bright yellow line with a dark halo,
    'not landslide' a cyan hatch."""
    slide = QgsFillSymbol.createSimple({"style": "no", "outline_color": "255,230,0",
                                        "outline_width": "0.7"})
    halo_symbol = QgsFillSymbol.createSimple({"style": "no", "outline_color": "20,20,20,180",
                                              "outline_width": "1.3"})
    slide.insertSymbolLayer(0, halo_symbol.symbolLayer(0).clone())
    other = QgsFillSymbol.createSimple({"style": "b_diagonal", "color": "0,200,255",
                                       "outline_color": "0,200,255", "outline_width": "0.5"})
    layer.setRenderer(QgsCategorizedSymbolRenderer("class", [
        QgsRendererCategory(LANDSLIDE, slide, "landslide"),
        QgsRendererCategory(NOT_LANDSLIDE, other, "not landslide")]))
    idx = layer.fields().indexOf("class")
    if idx >= 0:
        from qgis.core import QgsDefaultValue, QgsEditorWidgetSetup

        layer.setDefaultValueDefinition(idx, QgsDefaultValue(f"'{LANDSLIDE}'"))
        layer.setEditorWidgetSetup(idx, QgsEditorWidgetSetup(
            "ValueMap", {"map": [{c: c} for c in CLASSES]}))
        cidx = layer.fields().indexOf("certainty")
        layer.setEditorWidgetSetup(cidx, QgsEditorWidgetSetup(
            "ValueMap", {"map": [{c: c} for c in CERTAINTY]}))
        layer.setDefaultValueDefinition(cidx, QgsDefaultValue("'certain'"))
        layer.setDefaultValueDefinition(layer.fields().indexOf("date"),
                                        QgsDefaultValue("now()"))
        layer.setDefaultValueDefinition(layer.fields().indexOf("author"),
                                        QgsDefaultValue("@user_full_name"))
    layer.triggerRepaint()


def area_style(layer: QgsVectorLayer) -> None:
    layer.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple(
        {"style": "no", "outline_color": "255,255,255", "outline_width": "0.6",
         "outline_style": "dash"})))
    layer.triggerRepaint()


def _new_layer(path: Path, layer_name: str, fields: QgsFields,
               crs: QgsCoordinateReferenceSystem, display: str, style, title: str
               ) -> QgsVectorLayer:
    path = Path(path)
    _write_layer(path, layer_name, fields, crs)
    layer = QgsVectorLayer(f"{path}|layername={layer_name}", display, "ogr")
    if not layer.isValid():
        raise ValueError(f"cannot open the new layer '{display}' in {path}")
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
    if layer.geometryType() != QgsWkbTypes.PolygonGeometry:
        raise ValueError(f"{path.name} has a '{table}' layer that is not polygons; choose "
                         "another GeoPackage")
    return layer


def create_label_layer(path: Path, crs: QgsCoordinateReferenceSystem,
                       name: str = "landslide labels") -> QgsVectorLayer:
    """A polygon layer ``labels`` in the GeoPackage ``path`` (created or added to), in ``crs``
    (the raster's), styled, with value maps for class and certainty and defaults for date and
    author."""
    return _new_layer(path, "labels", label_fields(), crs, name, label_style,
                      "MRIFE label style")


def create_area_layer(path: Path, crs: QgsCoordinateReferenceSystem,
                      name: str = "mapped area") -> QgsVectorLayer:
    """Polygons ``mapped_area``: ground labelled completely (inside it, what is not a landslide
    polygon is a negative example)."""
    fields = QgsFields()
    fields.append(QgsField("note", QVariant.String, len=255))
    return _new_layer(path, "mapped_area", fields, crs, name, area_style,
                      "MRIFE mapped-area style")


def copy_features(source: QgsVectorLayer, target: QgsVectorLayer, as_class: str,
                  selected_only: bool = True, author: str = "") -> int:
    """Review loop: copy (selected) detection polygons into the label layer as ``as_class``,
    keeping attributes whose field names match; geometries are reprojected to the label
    layer's CRS. Returns the number of features added (committed)."""
    if as_class not in CLASSES:
        raise ValueError(f"class must be one of {CLASSES}")
    feats = list(source.getSelectedFeatures() if selected_only else source.getFeatures())
    if not feats:
        raise ValueError(f"no {'selected ' if selected_only else ''}features in layer "
                         f"'{source.name()}': select the polygons to "
                         f"{'accept' if as_class == LANDSLIDE else 'reject'} first")
    tr = None
    if source.crs() != target.crs():
        tr = QgsCoordinateTransform(source.crs(), target.crs(), QgsProject.instance())
    names = target.fields().names()
    shared = [n for n in source.fields().names() if n in names and n != "fid"]
    new = []
    for f in feats:
        g = QgsGeometry(f.geometry())
        if tr is not None:
            g.transform(tr)
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
        raise ValueError(f"could not add the features to '{target.name()}'")
    if not editing and not target.commitChanges():
        errors = "; ".join(target.commitErrors())
        target.rollBack()
        raise ValueError(f"could not save '{target.name()}': {errors}")
    if "review" in source.fields().names() and not source.isEditable():
        idx = source.fields().indexOf("review")
        source.startEditing()
        for f in feats:
            source.changeAttributeValue(f.id(), idx, "accepted" if as_class == LANDSLIDE
                                        else "rejected")
        source.commitChanges()
    return len(new)


@dataclass
class TrainingInputs:
    """Files the backend trains on, and what the user should read in the log."""

    landslides: Path
    mapped_area: Path | None
    landslide_count: int
    negative_count: int
    infos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # the assumption made without a map

    @property
    def messages(self) -> list[str]:
        return self.infos + self.warnings


def _polygon_parts(g: QgsGeometry) -> QgsGeometry | None:
    """The polygon parts of a (repaired) geometry; None when it has no area (points, lines,
    outlines collapsed to a line by the repair)."""
    if g.type() == QgsWkbTypes.PolygonGeometry:
        return g if g.area() > 0 else None
    parts = [p for p in g.asGeometryCollection()
             if p.type() == QgsWkbTypes.PolygonGeometry and p.area() > 0] \
        if QgsWkbTypes.isMultiType(g.wkbType()) else []
    return QgsGeometry.collectGeometry(parts) if parts else None


def _geometries(layer: QgsVectorLayer, crs: QgsCoordinateReferenceSystem
                ) -> tuple[list[tuple[QgsFeature, QgsGeometry]], int, int]:
    """(feature, polygon geometry in ``crs``) for every feature with an area, invalid ones
    repaired; how many were repaired; how many were dropped (empty, NULL, points, lines,
    outlines without area)."""
    tr = QgsCoordinateTransform(layer.crs(), crs, QgsProject.instance()) \
        if layer.crs() != crs else None
    out, repaired, dropped = [], 0, 0
    for f in layer.getFeatures():
        g = QgsGeometry(f.geometry())
        if g.isNull() or g.isEmpty():
            dropped += 1
            continue
        if not g.isGeosValid():
            g = g.makeValid()
            repaired += 1
        g = _polygon_parts(g)
        if g is None:
            dropped += 1
            continue
        if tr is not None:
            g.transform(tr)
        out.append((f, g))
    return out, repaired, dropped


def training_inputs(labels: QgsVectorLayer, area: QgsVectorLayer | None,
                    crs: QgsCoordinateReferenceSystem, workdir: Path,
                    min_landslides: int = MIN_LANDSLIDES) -> TrainingInputs:
    """Split the label layer by class (a layer without ``class`` is all landslides), reproject
    to ``crs`` (the raster's), repair invalid geometries, and write landslides and the mapped
    area (mapped-area polygons plus 'not landslide' polygons) as GeoPackages for the backend.
    ValueError, naming the layer and the fix, for too few landslides."""
    workdir = Path(workdir)
    messages = []
    if labels.crs() != crs:
        messages.append(f"labels in '{labels.name()}' reprojected from "
                        f"{labels.crs().authid()} to the raster's {crs.authid()}")
    has_class = "class" in labels.fields().names()
    slides, negatives = [], []
    read, repaired, dropped = _geometries(labels, crs)
    for f, g in read:
        cls = (f["class"] or LANDSLIDE) if has_class else LANDSLIDE
        (negatives if str(cls).strip().lower() == NOT_LANDSLIDE else slides).append(g)
    if repaired:
        messages.append(f"invalid geometries repaired in '{labels.name()}': {repaired}")
    if dropped:
        messages.append(f"features without a polygon area dropped from '{labels.name()}' "
                        f"(empty, points, lines or collapsed outlines): {dropped}")
    if len(slides) < min_landslides:
        raise ValueError(
            f"layer '{labels.name()}' has {len(slides)} landslide polygon(s)"
            + (f" ({dropped} feature(s) without a polygon area dropped)" if dropped else "")
            + f"; fine-tuning needs "
            f"at least {min_landslides} (so that training and validation each see one). Outline "
            "more landslides, or accept detections into the label layer")
    slide_path = workdir / "landslides.gpkg"
    _write_layer(slide_path, "landslides", QgsFields(), crs, slides)
    area_path, warnings = None, []
    if area is not None:
        area_path = workdir / "mapped_area.gpkg"
        area_geoms = negatives + [g for _f, g in _geometries(area, crs)[0]]
        _write_layer(area_path, "mapped_area", QgsFields(), crs, area_geoms + slides)
    elif negatives:
        warnings.append("no mapped-area layer: the raster's whole extent is taken as "
                        "completely labelled; 'not landslide' polygons are negatives there "
                        "anyway")
    else:
        warnings.append("no mapped-area layer: the raster's whole extent is taken as completely "
                        "labelled (everything outside the landslide polygons is a negative "
                        "example); add a mapped-area layer if parts are not labelled yet")
    return TrainingInputs(slide_path, area_path, len(slides), len(negatives), messages,
                          warnings)
