"""``mrife:detect`` in headless QGIS, on a real Sichuan scene with a synthetic georeference."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from osgeo import gdal
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)

from mrife_qgis.gui.choices import select


def run(params: dict, feedback=None, context=None):
    alg = QgsApplication.processingRegistry().createAlgorithmById("mrife:detect")
    context = context or QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = feedback or QgsProcessingFeedback()
    ok = alg.prepare(params, context, feedback)
    assert ok
    return alg.runPrepared(params, context, feedback), context


def test_detect_algorithm_end_to_end(plugin, scene_model, geo_scene, tmp_path):
    import processing

    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:32648"))
    layer = QgsRasterLayer(str(geo_scene["raster"]), "scene 011")
    project.addMapLayer(layer)
    out, prob = tmp_path / "found.gpkg", tmp_path / "prob.tif"
    context = QgsProcessingContext()
    context.setProject(project)
    result = processing.runAndLoadResults(
        "mrife:detect", {"INPUT": layer, "MODEL": str(scene_model), "DEVICE": "cpu",
                         "OUTPUT": str(out), "PROBABILITY": str(prob)}, context=context)
    assert result["COUNT"] > 0 and Path(result["OUTPUT"]) == out and out.exists()
    polys = QgsVectorLayer(f"{out}|layername=landslides", "p", "ogr")
    names = polys.fields().names()
    for field in ("id", "mean_prob", "max_prob", "area_m2", "perimeter_m", "model",
                  "model_sha", "source", "created"):
        assert field in names
    assert {f["source"] for f in polys.getFeatures()} == {"scene 011"}
    # the loaded layers: styled, in the result group, polygons above the probability map
    group = project.layerTreeRoot().findGroup("MRIFE detections")
    assert group is not None
    sub = group.children()[0]
    layers = [n.layer() for n in sub.findLayers()]
    assert [lyr.type() for lyr in layers] == [polys.type(), layer.type()]
    assert layers[0].renderer().type() == "graduatedSymbol"
    assert layers[0].renderer().classAttribute() == "mean_prob"
    assert layers[1].renderer().type() == "singlebandpseudocolor"
    project.removeAllMapLayers()
    project.layerTreeRoot().removeAllChildren()


def test_detect_algorithm_cancel_leaves_nothing(plugin, scene_model, geo_scene, tmp_path):
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda p: p > 20 and feedback.cancel())
    layer = QgsRasterLayer(str(geo_scene["raster"]), "scene")
    result, _ = run({"INPUT": layer, "MODEL": str(scene_model), "DEVICE": "cpu",
                     "BATCH_SIZE": 1, "OUTPUT": str(tmp_path / "x.gpkg"),
                     "PROBABILITY": str(tmp_path / "x.tif")}, feedback)
    assert feedback.isCanceled()
    assert result == {} and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["no_crs", "outside", "bands", "model"])
def test_detect_algorithm_bad_input(plugin, scene_model, geo_scene, sichuan_dir, tmp_path, case):
    params = {"INPUT": str(geo_scene["raster"]), "MODEL": str(scene_model), "DEVICE": "cpu",
              "OUTPUT": str(tmp_path / "x.gpkg")}
    expect = {"no_crs": "Landslide011: Landslide011.png has no coordinate reference system",
              "outside": "does not overlap",
              "bands": r"needs 3 band\(s\)",
              "model": "model broken.pt: .*corrupt"}[case]
    if case == "no_crs":
        # a copy: QGIS writes its statistics (.aux.xml) beside the file it reads
        params["INPUT"] = shutil.copy(sichuan_dir / "images" / "Landslide011.png", tmp_path)
    elif case == "outside":
        params["EXTENT"] = "0,10,0,10 [EPSG:32648]"
    elif case == "bands":
        one = tmp_path / "one.tif"
        gdal.Translate(str(one), str(geo_scene["raster"]), bandList=[1])
        params["INPUT"] = str(one)
    else:
        bad = tmp_path / "broken.pt"
        bad.write_bytes(scene_model.read_bytes()[:4000])
        params["MODEL"] = str(bad)
    with pytest.raises(QgsProcessingException, match=expect):
        run(params)
    assert not (tmp_path / "x.gpkg").exists()


# --- the panel's Detect tab: a QgsTask --------------------------------------------------------

def _wait(panel, seconds: float = 240.0) -> None:
    import time

    from qgis.PyQt.QtCore import QCoreApplication

    end = time.monotonic() + seconds
    while panel.task is not None and time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert panel.task is None, "detection task did not finish"


def _panel(plugin, scene_model, geo_scene, tmp_path):
    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:32648"))
    layer = QgsRasterLayer(str(geo_scene["raster"]), "scene 011")
    project.addMapLayer(layer)
    plugin.action.trigger()
    panel = plugin.dock.detectPanel
    panel.layerCombo.setLayer(layer)
    panel.modelWidget.setFilePath(str(scene_model))
    select(panel.areaCombo, "layer")  # whole layer
    panel.outWidget.setFilePath(str(tmp_path))
    plugin.dock.deviceCombo.setCurrentIndex(plugin.dock.deviceCombo.findData("cpu"))
    return panel, layer


def test_panel_runs_detection_as_task(plugin, scene_model, geo_scene, tmp_path):
    panel, _ = _panel(plugin, scene_model, geo_scene, tmp_path)
    results = tmp_path / "new" / "results"            # created by the panel
    panel.outWidget.setFilePath(str(results))
    assert "deeplabv3plus" in panel.modelInfo.text() and "2 m/px" in panel.modelInfo.text()
    assert panel.start()
    assert not panel.runButton.isEnabled() and panel.cancelButton.isEnabled()
    _wait(panel)
    r = panel.last_result
    assert r is not None and r.count > 0
    assert "landslide polygon(s)" in panel.last_message and "CPU" in panel.last_message
    group = QgsProject.instance().layerTreeRoot().findGroup("MRIFE detections")
    layers = [n.layer() for n in group.children()[0].findLayers()]
    assert layers[0].renderer().type() == "graduatedSymbol"
    assert layers[1].renderer().type() == "singlebandpseudocolor"
    assert sorted(p.suffix for p in results.iterdir()) == [".gpkg", ".qml", ".tif"]
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()


def test_panel_cancel_leaves_nothing(plugin, scene_model, geo_scene, tmp_path):
    panel, _ = _panel(plugin, scene_model, geo_scene, tmp_path)
    panel.batch.setValue(1)
    assert panel.start()
    panel.task.progressChanged.connect(lambda p: p > 10 and panel.cancel())
    _wait(panel)
    assert panel.last_result is None or panel.last_message.startswith("Detection cancelled")
    assert "cancelled" in panel.last_message
    assert list(tmp_path.iterdir()) == []
    QgsProject.instance().removeAllMapLayers()


def test_panel_reports_bad_input_in_message_bar(plugin, scene_model, geo_scene, tmp_path):
    panel, layer = _panel(plugin, scene_model, geo_scene, tmp_path)
    select(panel.areaCombo, "rectangle")  # drawn rectangle, none drawn yet
    assert not panel.start()
    assert "draw a rectangle" in panel.last_message
    panel.set_drawn_extent(QgsRectangle(0, 0, 10, 10), QgsCoordinateReferenceSystem("EPSG:32648"))
    assert not panel.start()
    assert panel.last_message.startswith("scene 011:") and "does not overlap" in \
        panel.last_message
    select(panel.areaCombo, "layer")  # whole layer, into a folder it cannot make
    panel.outWidget.setFilePath("/proc/mrife-results")
    assert not panel.start()
    assert "cannot create the results folder /proc/mrife-results" in panel.last_message
    QgsProject.instance().removeAllMapLayers()


def test_panel_reports_untransformable_map_extent(plugin, scene_model, geo_scene, tmp_path):
    """Found by running the panel in the QGIS desktop: a map extent that cannot be expressed in
    the layer's CRS raised QgsCsException out of the panel; now it is a message."""
    panel, _ = _panel(plugin, scene_model, geo_scene, tmp_path)
    canvas = plugin.iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    canvas.setExtent(QgsRectangle(400000, 3400000, 400512, 3400512))   # metres read as degrees
    select(panel.areaCombo, "extent")  # visible map extent
    assert not panel.start()
    assert panel.last_message.startswith("scene 011:")
    assert "cannot be transformed" in panel.last_message or "does not overlap" in \
        panel.last_message
    QgsProject.instance().removeAllMapLayers()


def test_panel_results_folder_bands_and_rescale(plugin, scene_model, geo_scene, tmp_path):
    """The Detect tab has what mrife:detect has: no silent temporary folder for an unsaved
    project, band mapping, and the rescale the range check asks for; the chosen results folder
    is remembered."""
    from osgeo import gdal

    from mrife_qgis.settings import PluginSettings

    panel, layer = _panel(plugin, scene_model, geo_scene, tmp_path)
    assert QgsProject.instance().homePath() == ""
    panel.outWidget.setFilePath("")
    assert not panel.start()
    assert "choose a folder in 'Save results in'" in panel.last_message
    panel.outWidget.setFilePath(str(tmp_path / "kept"))
    panel.bandsEdit.setText("1,2,7")
    assert not panel.start()
    assert "band(s) [7] do not exist" in panel.last_message
    # a 16-bit copy: refused with the advice to stretch, accepted with the box ticked
    wide = tmp_path / "wide.tif"
    src = gdal.Open(str(geo_scene["raster"]))
    arr = src.ReadAsArray().astype("uint16") * 200
    ds = gdal.GetDriverByName("GTiff").Create(str(wide), src.RasterXSize, src.RasterYSize, 3,
                                              gdal.GDT_UInt16)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteArray(arr[b])
    ds = None
    wide_layer = QgsRasterLayer(str(wide), "wide")
    QgsProject.instance().addMapLayer(wide_layer)
    panel.layerCombo.setLayer(wide_layer)
    panel.bandsEdit.setText("3,2,1")
    assert panel.start()                     # the range check runs in the task
    _wait(panel)
    assert panel.last_result is None and "rescale" in panel.last_message
    panel.rescale.setChecked(True)
    assert panel.start()
    assert panel.task.kwargs["options"].bands == [3, 2, 1]
    assert panel.task.kwargs["options"].rescale is True
    _wait(panel)
    assert panel.last_result is not None and (tmp_path / "kept").is_dir()
    assert PluginSettings.load().results_folder == str(tmp_path / "kept")
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()
