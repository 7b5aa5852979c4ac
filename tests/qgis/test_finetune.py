"""Labelling and fine-tuning in headless QGIS, end to end on a real Sichuan scene with a synthetic
georeference: label layers, the review loop, mrife:exporttiles, mrife:train, mrife:evaluate, and
detection with the fine-tuned model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
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
    QgsRectangle,
    QgsVectorLayer,
)

from mrife_qgis import labels as lab
from mrife_qgis.label_inputs import training_inputs


class Feedback(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.infos, self.warnings = [], []

    def pushInfo(self, text):  # noqa: N802
        self.infos.append(text)

    def pushWarning(self, text):  # noqa: N802
        self.warnings.append(text)

    def text(self) -> str:
        return "\n".join(self.infos + self.warnings)


def run(alg_id: str, params: dict, feedback=None):
    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    assert alg is not None, alg_id
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = feedback or Feedback()
    assert alg.prepare(params, context, feedback)
    return alg.runPrepared(params, context, feedback), feedback


@pytest.fixture
def raster_layer(plugin, geo_scene):
    layer = QgsRasterLayer(str(geo_scene["raster"]), "scene 011")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    yield layer
    QgsProject.instance().removeAllMapLayers()


def test_label_layer_fields_style_and_editing_defaults(raster_layer, tmp_path):
    layer = lab.create_label_layer(tmp_path / "l.gpkg", raster_layer.crs())
    assert layer.crs() == raster_layer.crs()
    assert layer.fields().names()[-5:] == ["class", "certainty", "note", "author", "date"]
    assert layer.renderer().type() == "categorizedSymbol"
    assert {c.value() for c in layer.renderer().categories()} == set(lab.CLASSES)
    idx = layer.fields().indexOf("class")
    assert layer.editorWidgetSetup(idx).type() == "ValueMap"
    assert layer.defaultValueDefinition(idx).expression() == f"'{lab.LANDSLIDE}'"
    # the style is stored in the GeoPackage: opening the file again shows the same outlines
    again = QgsVectorLayer(f"{tmp_path / 'l.gpkg'}|layername=labels", "again", "ogr")
    assert again.renderer().type() == "categorizedSymbol"
    area = lab.create_area_layer(tmp_path / "l.gpkg", raster_layer.crs())
    assert area.isValid() and area.fields().names()[-1] == "note"


def test_review_loop_accepts_and_rejects_detections(raster_layer, tmp_path, scene_model):
    import processing

    out = tmp_path / "found.gpkg"
    processing.run("mrife:detect", {"INPUT": raster_layer, "MODEL": str(scene_model),
                                    "DEVICE": "cpu", "OUTPUT": str(out)})
    found = QgsVectorLayer(f"{out}|layername=landslides", "found", "ogr")
    ids = [f.id() for f in found.getFeatures()]
    assert len(ids) >= 2
    labels = lab.create_label_layer(tmp_path / "labels.gpkg", raster_layer.crs())
    with pytest.raises(ValueError, match="no selected features in layer 'found'"):
        lab.copy_features(found, labels, lab.LANDSLIDE)
    found.selectByIds(ids[:1])
    assert lab.copy_features(found, labels, lab.LANDSLIDE, author="tester") == 1
    found.selectByIds(ids[1:2])
    assert lab.copy_features(found, labels, lab.NOT_LANDSLIDE) == 1
    got = list(labels.getFeatures())
    assert [f["class"] for f in got] == [lab.LANDSLIDE, lab.NOT_LANDSLIDE]
    assert got[0]["author"] == "tester" and "mean probability" in got[0]["note"]
    src = {f.id(): f for f in found.getFeatures()}
    assert got[0].geometry().area() == pytest.approx(src[ids[0]].geometry().area(), rel=1e-6)
    assert src[ids[0]]["review"] == "accepted" and src[ids[1]]["review"] == "rejected"


def test_training_inputs_split_classes_reproject_and_repair(raster_layer, tmp_path):
    wgs = lab.create_label_layer(tmp_path / "w.gpkg", QgsCoordinateReferenceSystem("EPSG:4326"))
    from qgis.core import QgsCoordinateTransform

    tr = QgsCoordinateTransform(raster_layer.crs(), wgs.crs(), QgsProject.instance())
    e = raster_layer.extent()
    feats = []
    for i, (cls, bowtie) in enumerate([(lab.LANDSLIDE, False), (lab.LANDSLIDE, True),
                                       (lab.LANDSLIDE, False), (lab.NOT_LANDSLIDE, False)]):
        x, y = e.xMinimum() + 50 + 100 * i, e.yMinimum() + 50
        ring = [(x, y), (x + 40, y + 40), (x + 40, y), (x, y + 40)] if bowtie else \
            [(x, y), (x + 40, y), (x + 40, y + 40), (x, y + 40)]
        g = QgsGeometry.fromWkt("POLYGON((" + ",".join(f"{a} {b}" for a, b in ring + ring[:1])
                                + "))")
        g.transform(tr)
        f = QgsFeature(wgs.fields())
        f.setGeometry(g)
        f["class"] = cls
        feats.append(f)
    wgs.startEditing()
    wgs.addFeatures(feats)
    assert wgs.commitChanges()
    got = training_inputs(wgs, None, raster_layer.crs(), tmp_path)
    assert (got.landslide_count, got.negative_count) == (3, 1)
    text = "\n".join(got.messages)
    assert "reprojected from EPSG:4326" in text and "repaired in 'landslide labels': 1" in text
    assert "whole extent" in text
    back = QgsVectorLayer(str(got.landslides), "b", "ogr")
    assert back.crs() == raster_layer.crs() and back.featureCount() == 3
    # too few landslides: the message names the layer and the fix
    with pytest.raises(ValueError, match="'landslide labels' has 3 landslide.*at least 4"):
        training_inputs(wgs, None, raster_layer.crs(), tmp_path, min_landslides=4)


def test_export_tiles_algorithm(sample_layer, label_layer, tmp_path):
    out = tmp_path / "tiles"
    result, fb = run("mrife:exporttiles", {"RASTERS": [sample_layer], "LABELS": label_layer,
                                           "TILE_SIZE": 128, "GROUND_RESOLUTION": 2.0,
                                           "OUTPUT": str(out)})
    assert result["TILES"] > 0
    masks = sorted(out.glob("*/masks/*.tif"))
    assert len(masks) == result["TILES"]
    ds = gdal.Open(str(masks[0]))
    assert ds.RasterXSize == 128 and abs(ds.GetGeoTransform()[1] - 2.0) < 1e-9
    values = set(np.unique(np.concatenate([gdal.Open(str(m)).ReadAsArray().ravel()
                                           for m in masks])).tolist())
    assert 1 in values and values <= {0, 1, 255}
    # every mask against the label polygons, burnt here on the tile's own grid (pixel centres)
    from osgeo import ogr

    src = ogr.Open(label_layer.source().split("|")[0])
    lyr = src.GetLayer(0)
    landslide_px = 0
    for m in masks:
        mds = gdal.Open(str(m))
        mask = mds.ReadAsArray()
        ref = gdal.GetDriverByName("MEM").Create("", mds.RasterXSize, mds.RasterYSize, 1,
                                                 gdal.GDT_Byte)
        ref.SetGeoTransform(mds.GetGeoTransform())
        ref.SetProjection(mds.GetProjection())
        lyr.SetAttributeFilter("class = 'landslide'")
        gdal.RasterizeLayer(ref, [1], lyr, burn_values=[1])
        expected = ref.ReadAsArray()
        known = mask != 255
        assert np.array_equal(mask[known] == 1, expected[known] == 1), m.name
        landslide_px += int(expected[known].sum())
    assert landslide_px > 0


def test_train_algorithm_fine_tunes_then_detect_uses_the_new_model(
        sample_layer, label_layer, tmp_path, scene_model):
    import torch

    raster_layer = sample_layer
    out = tmp_path / "finetuned.pt"
    result, fb = run("mrife:train", {
        "RASTERS": [raster_layer], "LABELS": label_layer, "BASE_MODEL": str(scene_model),
        "EPOCHS": 1, "BATCH_SIZE": 2, "MAX_STEPS_PER_EPOCH": 2, "DEVICE": "cpu",
        "FREEZE_ENCODER": True, "OUTPUT": str(out)})
    assert result["STATUS"] == "completed" and Path(result["OUTPUT"]) == out
    text = fb.text()
    assert "fine-tuning scene.pt" in text and "no mapped-area layer" in text
    assert "training runs on the CPU" in text
    # the sample is 0.5 m, the base model 2 m: resampled, with a warning that says so
    assert any("layer 'sample' has 0.50 m pixels; the base model was trained at 2.00 m: the "
               "imagery is resampled to 2.00 m" in w for w in fb.warnings)
    assert any("expected time about" in w and "on CPU" in w for w in fb.warnings)
    meta = torch.load(out, weights_only=False)
    contract = meta["data_contract"]
    assert contract["ground_resolution"] == 2.0 and contract["tile_size"] == 128
    assert contract["bands"] == ["red", "green", "blue"]
    td = meta["training_data"]
    assert td["raster"] == str(raster_layer.source()) and td["landslide_polygons"] == 15
    assert meta["train_config"]["init_from"] == str(scene_model)
    assert meta["train_config"]["freeze_encoder"] is True
    # the new model detects through mrife:detect
    found = tmp_path / "found.gpkg"
    res, _ = run("mrife:detect", {"INPUT": raster_layer, "MODEL": str(out), "DEVICE": "cpu",
                                  "OUTPUT": str(found)})
    poly = QgsVectorLayer(f"{found}|layername=landslides", "p", "ogr")
    assert poly.isValid() and res["COUNT"] == poly.featureCount()
    assert {f["model"] for f in poly.getFeatures()} <= {"finetuned"}


def test_evaluate_algorithm_agrees_with_itself_on_its_own_detections(
        raster_layer, tmp_path, scene_model):
    """Labels = the model's own polygons: every metric must be perfect; labels shifted by a
    known amount give the IoU computed by hand."""
    found = tmp_path / "found.gpkg"
    run("mrife:detect", {"INPUT": raster_layer, "MODEL": str(scene_model), "DEVICE": "cpu",
                         "OUTPUT": str(found), "MIN_AREA": 0.0})
    own = QgsVectorLayer(f"{found}|layername=landslides", "own", "ogr")
    assert own.featureCount() >= lab.MIN_LANDSLIDES
    result, _ = run("mrife:evaluate", {"INPUT": raster_layer, "MODEL": str(scene_model),
                                       "LABELS": own, "DEVICE": "cpu",
                                       "OUTPUT": str(tmp_path / "m.json")})
    assert result["IOU_LANDSLIDE"] == pytest.approx(1.0)
    assert result["F1"] == pytest.approx(1.0) and result["OBJECT_ACCURACY"] == 1.0
    assert (tmp_path / "m.json").exists()
    # the same polygons moved 10 m east: the IoU from the vector geometries (areas of the
    # intersection and union, computed here with GEOS, not by the evaluation's rasterising)
    shifted = QgsVectorLayer(f"MultiPolygon?crs={own.crs().authid()}", "shifted", "memory")
    feats = []
    for f in own.getFeatures():
        g = QgsGeometry(f.geometry())
        g.translate(10.0, 0.0)
        nf = QgsFeature(shifted.fields())
        nf.setGeometry(g)
        feats.append(nf)
    assert shifted.dataProvider().addFeatures(feats)[0]
    a = QgsGeometry.unaryUnion([f.geometry() for f in own.getFeatures()])
    b = QgsGeometry.unaryUnion([f.geometry() for f in shifted.getFeatures()])
    expected = a.intersection(b).area() / a.combine(b).area()
    assert 0.2 < expected < 0.95                       # a shift the metric can see
    moved, _ = run("mrife:evaluate", {"INPUT": raster_layer, "MODEL": str(scene_model),
                                      "LABELS": shifted, "DEVICE": "cpu"})
    assert moved["IOU_LANDSLIDE"] == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("case", ["empty", "outside", "readonly", "bands"])
def test_train_bad_input_is_a_clear_message(case, sample_layer, label_layer, tmp_path,
                                            scene_model):
    raster_layer = sample_layer
    params = {"RASTERS": [raster_layer], "LABELS": label_layer, "BASE_MODEL": str(scene_model),
              "EPOCHS": 1, "MAX_STEPS_PER_EPOCH": 1, "DEVICE": "cpu",
              "OUTPUT": str(tmp_path / "m.pt")}
    if case == "empty":
        params["LABELS"] = lab.create_label_layer(tmp_path / "empty.gpkg", raster_layer.crs(),
                                                  "my empty labels")
        QgsProject.instance().addMapLayer(params["LABELS"])   # as in QGIS: the project owns it
        expect = "'my empty labels' has 0 landslide polygon"
    elif case == "outside":
        far = lab.create_label_layer(tmp_path / "far.gpkg", raster_layer.crs(), "far labels")
        far.startEditing()
        for i in range(3):
            f = QgsFeature(far.fields())
            f.setGeometry(QgsGeometry.fromRect(QgsRectangle(0 + 100 * i, 0, 50 + 100 * i, 50)))
            f["class"] = lab.LANDSLIDE
            far.addFeature(f)
        far.commitChanges()
        QgsProject.instance().addMapLayer(far)
        params["LABELS"] = far
        expect = "falls inside"
    elif case == "readonly":
        params["OUTPUT"] = "/proc/mrife-cannot-write/m.pt"
        expect = "cannot write to /proc/mrife-cannot-write"
    else:
        one = tmp_path / "one_band.tif"
        gdal.Translate(str(one), str(raster_layer.source()), bandList=[1])
        layer = QgsRasterLayer(str(one), "grey scene")
        QgsProject.instance().addMapLayer(layer)
        params["RASTERS"] = [layer]
        expect = "layer 'grey scene' has 1 band\\(s\\); the base model needs 3"
    with pytest.raises(QgsProcessingException, match=expect):
        run("mrife:train", params)
    assert not (tmp_path / "m.pt").exists()


def test_train_algorithm_refuses_a_tile_size_the_networks_cannot_take(sample_layer, label_layer,
                                                                      tmp_path, scene_model):
    with pytest.raises(QgsProcessingException, match="tile size 100 must be a multiple of 16"):
        run("mrife:train", {"RASTERS": [sample_layer], "LABELS": label_layer,
                            "BASE_MODEL": str(scene_model), "TILE_SIZE": 100, "EPOCHS": 1,
                            "DEVICE": "cpu", "OUTPUT": str(tmp_path / "x.pt")})
    assert not (tmp_path / "x.pt").exists()


def test_fine_tuning_mrife_fuses_the_teachers_features_as_inference_does(
        sample_layer, label_layer, tmp_path):
    """The Train tab and mrife:train fine-tune the bundled MRIFE with its own settings but one
    (mrife.config.FINETUNE_SETTINGS, chosen on dev scenes); from scratch the paper's
    training fusion stays."""
    from mrife.checkpoint import read_payload
    from mrife.config import ModelConfig
    from mrife_qgis.detection import default_model
    from mrife_qgis.training import TrainRequest, prepare

    stored = ModelConfig.from_dict(read_payload(default_model())["model_config"])
    assert stored.train_fusion_source == "student_masked"
    (tmp_path / "ft").mkdir()
    (tmp_path / "scratch").mkdir()
    tuned = prepare(TrainRequest([sample_layer], label_layer, None, tmp_path / "ft.pt"),
                    tmp_path / "ft")
    assert tuned.model_cfg == stored.with_(train_fusion_source="teacher_original", weights=None)
    scratch = prepare(TrainRequest([sample_layer], label_layer, None, tmp_path / "s.pt",
                                   from_scratch=True), tmp_path / "scratch")
    assert scratch.model_cfg.arch == "mrife"
    assert scratch.model_cfg.train_fusion_source == "student_masked"
