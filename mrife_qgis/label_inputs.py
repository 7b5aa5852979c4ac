"""Label layers turned into what the headless backend trains on: landslides and the mapped area
(mapped-area polygons plus 'not landslide' polygons) as GeoPackages in the raster's CRS, with
invalid geometries repaired and the count checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFields,
    QgsGeometry,
    QgsProject,
    QgsVectorLayer,
    QgsWkbTypes,
)

from .i18n import tr
from .labels import LANDSLIDE, MIN_LANDSLIDES, NOT_LANDSLIDE, write_layer


@dataclass
class TrainingInputs:
    """Files the backend trains on, and what the user should read in the log."""

    landslides: Path
    mapped_area: Path | None
    landslide_count: int
    negative_count: int
    infos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the assumption made without a map

    @property
    def messages(self) -> list[str]:
        return self.infos + self.warnings


def _polygon_parts(g: QgsGeometry) -> QgsGeometry | None:
    """The polygon parts of a (repaired) geometry; None when it has no area (points, lines,
    outlines collapsed to a line by the repair)."""
    if g.type() == QgsWkbTypes.GeometryType.PolygonGeometry:
        return g if g.area() > 0 else None
    parts = (
        [
            p
            for p in g.asGeometryCollection()
            if p.type() == QgsWkbTypes.GeometryType.PolygonGeometry and p.area() > 0
        ]
        if QgsWkbTypes.isMultiType(g.wkbType())
        else []
    )
    return QgsGeometry.collectGeometry(parts) if parts else None


def _geometries(
    layer: QgsVectorLayer, crs: QgsCoordinateReferenceSystem
) -> tuple[list[tuple[QgsFeature, QgsGeometry]], int, int]:
    """(feature, polygon geometry in ``crs``) for every feature with an area, invalid ones
    repaired; how many were repaired; how many were dropped (empty, NULL, points, lines,
    outlines without area)."""
    xform = (
        QgsCoordinateTransform(layer.crs(), crs, QgsProject.instance())
        if layer.crs() != crs
        else None
    )
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
        if xform is not None:
            g.transform(xform)
        out.append((f, g))
    return out, repaired, dropped


def training_inputs(
    labels: QgsVectorLayer,
    area: QgsVectorLayer | None,
    crs: QgsCoordinateReferenceSystem,
    workdir: Path,
    min_landslides: int = MIN_LANDSLIDES,
) -> TrainingInputs:
    """Split the label layer by class (a layer without ``class`` is all landslides), reproject
    to ``crs`` (the raster's), repair invalid geometries, and write landslides and the mapped
    area (mapped-area polygons plus 'not landslide' polygons) as GeoPackages for the mrife.
    ValueError, naming the layer and the fix, for too few landslides."""
    workdir = Path(workdir)
    messages = []
    if labels.crs() != crs:
        messages.append(
            tr("labels in '{0}' reprojected from {1} to the raster's {2}").format(
                labels.name(), labels.crs().authid(), crs.authid()
            )
        )
    has_class = "class" in labels.fields().names()
    slides, negatives = [], []
    read, repaired, dropped = _geometries(labels, crs)
    for f, g in read:
        cls = (f["class"] or LANDSLIDE) if has_class else LANDSLIDE
        (negatives if str(cls).strip().lower() == NOT_LANDSLIDE else slides).append(g)
    if repaired:
        messages.append(
            tr("invalid geometries repaired in '{0}': {1}").format(labels.name(), repaired)
        )
    if dropped:
        messages.append(
            tr(
                "features without a polygon area dropped from '{0}' (empty, points, "
                "lines or collapsed outlines): {1}"
            ).format(labels.name(), dropped)
        )
    if len(slides) < min_landslides:
        text = tr("layer '{0}' has {1} landslide polygon(s)").format(labels.name(), len(slides))
        if dropped:
            text += tr(" ({0} feature(s) without a polygon area dropped)").format(dropped)
        raise ValueError(
            text
            + tr(
                "; fine-tuning needs at least {0} (so that training and "
                "validation each see one). Outline more landslides, or "
                "accept detections into the label layer"
            ).format(min_landslides)
        )
    slide_path = workdir / "landslides.gpkg"
    write_layer(slide_path, "landslides", QgsFields(), crs, slides)
    area_path, warnings = None, []
    if area is not None:
        area_path = workdir / "mapped_area.gpkg"
        area_geoms = negatives + [g for _f, g in _geometries(area, crs)[0]]
        write_layer(area_path, "mapped_area", QgsFields(), crs, area_geoms + slides)
    elif negatives:
        warnings.append(
            "no mapped-area layer: the raster's whole extent is taken as "
            "completely labelled; 'not landslide' polygons are negatives there "
            "anyway"
        )
    else:
        warnings.append(
            "no mapped-area layer: the raster's whole extent is taken as completely "
            "labelled (everything outside the landslide polygons is a negative "
            "example); add a mapped-area layer if parts are not labelled yet"
        )
    return TrainingInputs(slide_path, area_path, len(slides), len(negatives), messages, warnings)
