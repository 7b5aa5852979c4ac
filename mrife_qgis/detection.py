"""QGIS side of a detection, shared by the ``mrife:detect`` algorithm and the panel: turn layers
into what the headless backend reads, and put its results back into the project, styled."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsLayerTreeGroup,
    QgsProcessingFeatureSource,
    QgsProject,
    QgsRasterFileWriter,
    QgsRasterLayer,
    QgsRasterPipe,
    QgsRectangle,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)

from .i18n import tr
from .log import duration

if TYPE_CHECKING:
    from mrife.checkpoint import LoadedModel
    from mrife.detect import DetectOptions, DetectPlan

GROUP = "MRIFE detections"
MAX_EXPORT_PX = 20_000     # web layers are fetched at most this many pixels on a side


def default_model() -> Path | None:
    """The catalogue's default model when it is on disk (shipped beside the plugin or in the
    download cache, verified); None when it still has to be downloaded
    (``catalogue.ensure``)."""
    from . import catalogue

    entry = catalogue.default_entry()
    return catalogue.local_path(entry) if entry is not None else None


def default_model_or_download(feedback=None) -> Path:
    """The catalogue's default model, downloaded now (blocking: Processing's thread) when it is
    not on disk."""
    from . import catalogue

    entry = catalogue.default_entry()
    if entry is None:
        raise ValueError(tr("no model given and the catalogue lists none; choose a model file "
                            "(.pt) trained with the plugin or `python -m mrife train`"))
    try:
        return catalogue.ensure(entry, feedback, feedback.pushInfo if feedback else None)
    except catalogue.Cancelled as exc:
        raise ValueError(tr("the model download was cancelled; nothing was kept")) from exc


@dataclass
class DetectRequest:
    """What the user chose (the same in mrife:detect's dialog and the Detect tab)."""

    layer: QgsRasterLayer
    model: str | Path | None = None        # None or "": the bundled model
    extent: QgsRectangle | None = None     # None: the whole layer
    extent_crs: QgsCoordinateReferenceSystem | None = None
    area: Path | None = None               # polygons (GeoPackage) to search inside
    bands: list[int] | None = None
    overlap: int | None = None
    batch_size: int = 4
    threshold: float | None = None         # None: the model's own
    tta: bool = False
    min_area: float = 100.0
    device: str = "auto"
    precision: str = "auto"
    rescale: bool = False
    out_crs: str | None = None             # WKT; None: the layer's
    max_tiles: int | None = None


@dataclass
class PreparedDetection:
    """Everything the backend's ``detect`` needs, and the estimate a user sees first."""

    loaded: LoadedModel
    raster: Path
    options: DetectOptions
    plan: DetectPlan
    device_label: str
    seconds: float                          # estimated

    def estimate(self) -> str:
        p = self.plan
        return tr("{0} tile(s) of {1} px over {2} x {3} px at {4} m/px in {5}; about {6} on "
                  "{7}").format(p.tiles, p.tile, p.width, p.height, f"{p.pixel_size:g}",
                                p.crs_name, duration(self.seconds), self.device_label)


def parse_bands(text: str, layer: QgsRasterLayer) -> list[int] | None:
    """"3,2,1" -> [3, 2, 1] (None when empty); ValueError naming the layer's bands."""
    text = text.strip()
    if not text:
        return None
    try:
        bands = [int(v) for v in text.replace(" ", ",").split(",") if v]
    except ValueError as exc:
        raise ValueError(
            tr("Bands '{0}': give band numbers separated by commas, e.g. 3,2,1").format(text)
        ) from exc
    bad = [b for b in bands if not 1 <= b <= layer.bandCount()]
    if bad:
        raise ValueError(
            tr("layer '{0}' has bands 1-{1}; band(s) {2} do not exist").format(
                layer.name(), layer.bandCount(), bad
            )
        )
    return bands


def model_file(req: DetectRequest) -> Path:
    """The request's model file, or the bundled one."""
    model = Path(req.model) if req.model else default_model()
    if model is None:
        raise ValueError(
            tr(
                "the catalogue's model is not on disk yet: run again to download it, "
                "or choose a model file (.pt)"
            )
        )
    return model


def prepare(
    req: DetectRequest, work: Path, feedback=None, loaded: LoadedModel | None = None
) -> PreparedDetection:
    """Model (unless ``loaded``), raster file, options, plan and estimate for a request (main
    thread: it reads the layer). Raises ValueError (or the backend's errors) with a message for
    the user."""
    from mrife import checkpoint, detect, devices

    loaded = loaded or checkpoint.load_model(model_file(req))
    layer, extent = req.layer, req.extent
    if (
        extent is not None
        and req.extent_crs is not None
        and req.extent_crs.isValid()
        and req.extent_crs != layer.crs()
    ):
        tr = QgsCoordinateTransform(req.extent_crs, layer.crs(), QgsProject.instance())
        extent = tr.transformBoundingBox(extent)
    raster = raster_source(
        layer, extent, layer.crs(), loaded.contract.ground_resolution, work, feedback
    )
    opts = detect.DetectOptions(
        bands=req.bands,
        aoi=req.area,
        overlap=req.overlap,
        batch_size=req.batch_size,
        extent=None
        if extent is None
        else (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()),
        extent_crs=layer.crs().toWkt() if extent is not None else None,
        threshold=req.threshold,
        tta=req.tta,
        min_area=req.min_area,
        device=req.device,
        precision=req.precision,
        rescale=req.rescale,
        out_crs=req.out_crs,
        max_tiles=req.max_tiles,
        source_name=layer.name(),
    )
    plan = detect.plan_detection(loaded, raster, opts)
    dev = devices.resolve_device(opts.device)
    per_tile = detect.seconds_per_tile(loaded, dev.key, opts.batch_size, opts.precision, opts.tta)
    return PreparedDetection(loaded, raster, opts, plan, dev.label, plan.tiles * per_tile)


def raster_source(
    layer: QgsRasterLayer,
    extent: QgsRectangle | None,
    extent_crs: QgsCoordinateReferenceSystem | None,
    pixel_size_m: float | None,
    workdir: Path,
    feedback=None,
) -> Path:
    """A file GDAL can read for the layer: the layer's own file for the GDAL provider; for any
    other provider (WMS, XYZ, ...) the area is fetched through QGIS into a GeoTIFF at the
    model's resolution."""
    if layer.providerType() == "gdal":
        return Path(layer.source().split("|")[0])
    crs = layer.crs()
    area = layer.extent()
    if extent is not None and not extent.isNull():
        if extent_crs is not None and extent_crs.isValid() and extent_crs != crs:
            tr = QgsCoordinateTransform(extent_crs, crs, QgsProject.instance())
            extent = tr.transformBoundingBox(extent)
        area = area.intersect(extent)
    if area.isEmpty():
        raise ValueError(tr("the area does not overlap layer '{0}'").format(layer.name()))
    units = crs.mapUnits()
    from qgis.core import QgsUnitTypes

    per_m = QgsUnitTypes.fromUnitToUnitFactor(QgsUnitTypes.DistanceUnit.DistanceMeters, units)
    res = (pixel_size_m or 1.0) * per_m
    cols, rows = int(area.width() / res) + 1, int(area.height() / res) + 1
    if max(cols, rows) > MAX_EXPORT_PX:
        raise ValueError(
            tr(
                "layer '{0}' would be fetched at {1} x {2} px; zoom in or draw a "
                "smaller rectangle (at most {3} px a side)"
            ).format(layer.name(), cols, rows, MAX_EXPORT_PX)
        )
    out = workdir / "fetched.tif"
    pipe = QgsRasterPipe()
    pipe.set(layer.dataProvider().clone())
    writer = QgsRasterFileWriter(str(out))
    err = writer.writeRaster(
        pipe, cols, rows, area, crs, QgsProject.instance().transformContext(), feedback
    )
    if err != QgsRasterFileWriter.WriterError.NoError:
        raise ValueError(
            tr("could not fetch layer '{0}' (QgsRasterFileWriter error {1})").format(
                layer.name(), int(err)
            )
        )
    return out


def write_polygons(layer: QgsVectorLayer, selected_only: bool, workdir: Path) -> Path:
    """The layer's (selected) polygons as a GeoPackage the backend reads."""
    if layer.geometryType() != QgsWkbTypes.GeometryType.PolygonGeometry:
        raise ValueError(
            tr("layer '{0}' holds no polygons; choose a polygon layer").format(layer.name())
        )
    if selected_only and layer.selectedFeatureCount() == 0:
        raise ValueError(
            tr("no polygon of layer '{0}' is selected; select some or untick 'selected'").format(
                layer.name()
            )
        )
    out = workdir / "area.gpkg"
    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = "GPKG"
    opts.onlySelectedFeatures = selected_only
    res = QgsVectorFileWriter.writeAsVectorFormatV2(
        layer, str(out), QgsProject.instance().transformContext(), opts
    )
    if res[0] != QgsVectorFileWriter.WriterError.NoError:
        raise ValueError(
            tr("could not read the polygons of '{0}': {1}").format(layer.name(), res[1])
        )
    return out


def source_to_polygons(source, workdir: Path) -> Path:
    """A Processing feature source (already filtered to the selection when asked) as a
    GeoPackage. Invalid geometries are passed on as they are: the library repairs area
    polygons (``mrife.geodata``), and Processing's own check would stop the iteration with an
    exception thrown through this frame from C++, which skips its cleanup (the work folder was
    left behind)."""
    out = workdir / "area.gpkg"
    writer = QgsVectorFileWriter.create(
        str(out),
        source.fields(),
        source.wkbType(),
        source.sourceCrs(),
        QgsProject.instance().transformContext(),
        QgsVectorFileWriter.SaveVectorOptions(),
    )
    skip = QgsProcessingFeatureSource.Flag.FlagSkipGeometryValidityChecks
    for f in source.getFeatures(QgsFeatureRequest(), skip):
        writer.addFeature(f)
    del writer
    return out


def work_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="mrife-"))


def style(layer, name: str) -> None:
    """The library's QML style ``name`` on ``layer`` (the one detection writes with)."""
    from mrife.detect.vector import style as style_file

    layer.loadNamedStyle(str(style_file(name)))
    layer.triggerRepaint()


def result_group(project: QgsProject, title: str) -> QgsLayerTreeGroup:
    root = project.layerTreeRoot()
    parent = root.findGroup(GROUP) or root.insertGroup(0, GROUP)
    return parent.insertGroup(0, title)


def add_results(
    project: QgsProject, vector: Path, probability: Path | None, title: str
) -> tuple[QgsVectorLayer, QgsRasterLayer | None]:
    """Polygons (styled by mean probability) above the probability map (colour ramp), in a
    group of their own under "MRIFE detections"."""
    group = result_group(project, title)
    polys = QgsVectorLayer(f"{vector}|layername=landslides", "landslides", "ogr")
    if not polys.isValid():
        raise ValueError(tr("could not open the result {0}").format(vector))
    style(polys, "landslides.qml")
    project.addMapLayer(polys, False)
    group.addLayer(polys)
    prob = None
    if probability is not None:
        prob = QgsRasterLayer(str(probability), "landslide probability", "gdal")
        style(prob, "probability.qml")
        project.addMapLayer(prob, False)
        group.addLayer(prob)
    return polys, prob


def place_in_group(project: QgsProject, layer, title: str, on_top: bool) -> None:
    """Move a layer Processing has just added into the result group."""
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    group = root.findGroup(GROUP)
    target = group.findGroup(title) if group else None
    if target is None:
        target = result_group(project, title)
    if node is None:
        target.insertLayer(0 if on_top else -1, layer)
        return
    clone = node.clone()
    if on_top:
        target.insertChildNode(0, clone)
    else:
        target.addChildNode(clone)
    node.parent().removeChildNode(node)
