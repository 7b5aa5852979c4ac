"""Issue 14 in QGIS: crafted model files through the Detect panel's model preview and
mrife:detect (nothing runs, a clear message), and label layers whose features have no polygon
area (dropped and counted; none left is a clear error)."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from mrife_qgis import labels as lab
from mrife_qgis.gui.choices import select
from mrife_qgis.label_inputs import training_inputs
from tests import crafted

BUNDLED = Path(__file__).resolve().parents[2] / "resources" / "models" / "mrife-r18-sichuan.pt"


@pytest.fixture
def scene_layer(plugin, geo_scene):
    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:32648"))
    layer = QgsRasterLayer(str(geo_scene["raster"]), "scene 011")
    project.addMapLayer(layer)
    yield layer
    project.removeAllMapLayers()


def test_panel_model_preview_refuses_crafted_file(plugin, scene_layer, tmp_path):
    """Merely choosing the file used to run its payload (the preview reads the contract)."""
    sentinel = tmp_path / "ran"
    plugin.action.trigger()
    panel = plugin.dock.detectPanel
    panel.layerCombo.setLayer(scene_layer)
    for evil in (crafted.top_level(tmp_path / "top.pt", sentinel),
                 crafted.in_metadata(tmp_path / "meta.pt", sentinel, BUNDLED)):
        panel.modelWidget.setFilePath(str(evil))
        assert "not opened" in panel.modelInfo.text() and "Python code" in \
            panel.modelInfo.text()
        panel.outWidget.setFilePath(str(tmp_path / "results"))
        select(panel.areaCombo, "layer")
        assert not panel.start()
        assert "not opened" in panel.last_message
    assert not sentinel.exists()
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())
    panel.modelWidget.setFilePath(str(BUNDLED))
    assert "mrife" in panel.modelInfo.text()


def test_detect_algorithm_refuses_crafted_file(plugin, scene_layer, tmp_path):
    sentinel = tmp_path / "ran"
    evil = crafted.in_metadata(tmp_path / "meta.pt", sentinel, BUNDLED)
    alg = QgsApplication.processingRegistry().createAlgorithmById("mrife:detect")
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    params = {"INPUT": scene_layer, "MODEL": str(evil), "DEVICE": "cpu",
              "OUTPUT": str(tmp_path / "o.gpkg")}
    assert alg.prepare(params, context, feedback)
    with pytest.raises(QgsProcessingException, match="meta.pt: meta.pt was not opened"):
        alg.runPrepared(params, context, feedback)
    assert not sentinel.exists() and not (tmp_path / "o.gpkg").exists()


def test_label_features_without_area_are_dropped_and_counted(scene_layer, tmp_path):
    layer = lab.create_label_layer(tmp_path / "l.gpkg", scene_layer.crs())
    e = scene_layer.extent()
    x, y = e.xMinimum() + 50, e.yMinimum() + 50
    wkts = [f"POLYGON(({x} {y}, {x + 50} {y}, {x + 100} {y}, {x} {y}))",      # collinear
            f"POLYGON(({x} {y}, {x} {y}, {x} {y}, {x} {y}))"]                  # a point
    feats = []
    for wkt in wkts:
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        f["class"] = lab.LANDSLIDE
        feats.append(f)
    f = QgsFeature(layer.fields())                 # no geometry at all
    f["class"] = lab.LANDSLIDE
    feats.append(f)
    layer.startEditing()
    layer.addFeatures(feats)
    assert layer.commitChanges()
    with pytest.raises(ValueError, match=r"has 0 landslide polygon\(s\) \(3 feature\(s\) without "
                                         r"a polygon area dropped\)"):
        training_inputs(layer, None, scene_layer.crs(), tmp_path, min_landslides=1)
    square = QgsFeature(layer.fields())
    square.setGeometry(QgsGeometry.fromWkt(
        f"POLYGON(({x} {y}, {x + 40} {y}, {x + 40} {y + 40}, {x} {y + 40}, {x} {y}))"))
    square["class"] = lab.LANDSLIDE
    layer.startEditing()
    layer.addFeatures([square])
    assert layer.commitChanges()
    got = training_inputs(layer, None, scene_layer.crs(), tmp_path, min_landslides=1)
    assert got.landslide_count == 1
    assert "without a polygon area dropped from 'landslide labels' (empty, points, lines or " \
           "collapsed outlines): 3" in "\n".join(got.messages)
    back = QgsVectorLayer(str(got.landslides), "b", "ogr")
    assert back.featureCount() == 1
    assert abs(next(back.getFeatures()).geometry().area() - 1600.0) < 1e-6


def test_detect_algorithm_refuses_a_huge_plan_without_allow_large(plugin, scene_model, tmp_path):
    """Processing cannot ask: a 100 000 px raster (a sparse 2 MB file) is refused at once with
    the estimate and the parameter to tick; nothing is written."""
    from osgeo import gdal, osr

    path = tmp_path / "huge.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 100_000, 100_000, 3, gdal.GDT_Byte,
                                              ["SPARSE_OK=TRUE", "TILED=YES"])
    ds.SetGeoTransform((400000.0, 0.5, 0, 3400000.0, 0, -0.5))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    ds.SetProjection(srs.ExportToWkt())
    ds = None
    layer = QgsRasterLayer(str(path), "huge")
    QgsProject.instance().addMapLayer(layer)
    alg = QgsApplication.processingRegistry().createAlgorithmById("mrife:detect")
    assert alg.parameterDefinition("ALLOW_LARGE").defaultValue() is False
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    params = {"INPUT": layer, "MODEL": str(scene_model), "DEVICE": "cpu",
              "OUTPUT": str(tmp_path / "o.gpkg")}
    assert alg.prepare(params, context, feedback)
    with pytest.raises(QgsProcessingException, match=r"huge: .*more than 20000 tiles, about "
                       r".* h on CPU.*'Allow runs over 20000 tiles' in Processing"):
        alg.runPrepared(params, context, feedback)
    assert not (tmp_path / "o.gpkg").exists()
    QgsProject.instance().removeAllMapLayers()
