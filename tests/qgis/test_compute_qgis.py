"""The precision choice in QGIS (issue 15): mrife:detect's advanced parameter and the panels'
combo, each reaching the backend (the log says what ran)."""

from __future__ import annotations

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProject,
    QgsRasterLayer,
)


class Feedback(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.infos = []

    def pushInfo(self, text):  # noqa: N802
        self.infos.append(text)


def test_detect_algorithm_precision_parameter(plugin, scene_model, geo_scene, tmp_path):
    from mrife.compute import PRECISIONS, choose

    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:32648"))
    layer = QgsRasterLayer(str(geo_scene["raster"]), "scene 011")
    project.addMapLayer(layer)
    alg = QgsApplication.processingRegistry().createAlgorithmById("mrife:detect")
    param = alg.parameterDefinition("PRECISION")
    assert param.options() == list(PRECISIONS) and param.defaultValue() == 0
    assert param.flags() & QgsProcessingParameterDefinition.Flag.FlagAdvanced
    counts = {}
    for index, name in enumerate(PRECISIONS[:2]):            # auto, float32
        feedback = Feedback()
        context = QgsProcessingContext()
        context.setProject(project)
        params = {"INPUT": layer, "MODEL": str(scene_model), "DEVICE": "cpu",
                  "PRECISION": index, "OUTPUT": str(tmp_path / f"{name}.gpkg")}
        assert alg.prepare(params, context, feedback)
        result = alg.runPrepared(params, context, feedback)
        counts[name] = result["COUNT"]
        said = next(t for t in feedback.infos if t.startswith("compute:"))
        assert choose(name, "cpu").label in said, said
    assert counts["auto"] > 0 and abs(counts["auto"] - counts["float32"]) <= 1
    project.removeAllMapLayers()


def test_panels_offer_the_precision_choice(plugin):
    plugin.action.trigger()
    for panel in (plugin.dock.detectPanel, plugin.dock.trainPanel):
        keys = [panel.precision.itemData(i) for i in range(panel.precision.count())]
        assert keys == ["auto", "float32", "bfloat16", "float16"]
        assert panel.precision.currentData() == "auto"
