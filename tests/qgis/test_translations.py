"""The user interface in Simplified Chinese: every string the code passes through tr() has a
translation keeping its {fields}; the compiled .qm that ships says what the .ts says; and the
panel, started in a QGIS set to zh_CN, shows Chinese and runs a detection."""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProject,
    QgsRasterLayer,
    QgsSettings,
)
from qgis.PyQt.QtCore import QCoreApplication, QTranslator

from mrife_qgis import i18n
from mrife_qgis.gui.choices import select

ROOT = Path(__file__).resolve().parents[2]
FIELD = re.compile(r"\{[0-9]*(?:![rs])?(?::[^{}]*)?\}")
HAN = re.compile(r"[\u4e00-\u9fff]")
# names that stay as they are in a translation
NAMES = {"cuda", "float16", "float32", "bfloat16", "geopackage", "gpkg", "torch", "torchvision",
         "nvidia", "mrife", "icssn", "deeplabv3plus", "qgis", "geotiff", "numpy", "python",
         "pytorch", "backend", "json", "auto", "resume", "models", "gpus"}


def _translations_script():
    spec = importlib.util.spec_from_file_location("translations",
                                                  ROOT / "scripts" / "translations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_ui_string_has_a_chinese_translation_with_its_fields():
    script = _translations_script()
    strings, problems = script.extract()
    assert problems == []
    assert len(strings) > 250                     # the panels, dialogs and Processing texts
    _language, done = script.read_ts(i18n.I18N_DIR / "mrife_zh_CN.ts")
    missing = [s for s in strings if s not in done]
    assert missing == []
    for source in strings:
        text = done[source]
        assert sorted(FIELD.findall(text)) == sorted(FIELD.findall(source)), source
        assert text.count("\n") == source.count("\n"), source
        # a translation, not the English copied: Chinese characters wherever the source has
        # English words (names such as "CPU" or "GeoPackage" may stay as they are)
        words = [w for w in re.findall(r"[A-Za-z]{4,}", FIELD.sub("", source))
                 if w.lower() not in NAMES]
        if len(words) > 1:
            assert HAN.search(text), source


def test_the_shipped_qm_gives_the_ts_translations():
    """The compiled file QGIS loads, read by Qt itself, against the .ts read as XML."""
    script = _translations_script()
    _language, done = script.read_ts(i18n.I18N_DIR / "mrife_zh_CN.ts")
    translator = QTranslator()
    assert translator.load(str(i18n.I18N_DIR / "mrife_zh_CN.qm"))
    QCoreApplication.installTranslator(translator)
    try:            # the call the plugin makes (i18n.tr), sources with non-ASCII text included
        wrong = [s for s, t in done.items() if QCoreApplication.translate(i18n.CONTEXT, s) != t]
    finally:
        QCoreApplication.removeTranslator(translator)
    assert wrong == []
    assert QCoreApplication.translate(i18n.CONTEXT, "Detect") == "Detect"    # removed again


def test_english_is_the_source_and_other_languages_fall_back_to_it():
    assert i18n.qm_file("en_US") is None
    assert i18n.qm_file("zh_CN").name == "mrife_zh_CN.qm"
    assert i18n.qm_file("zh_TW") is None         # no Traditional Chinese yet: English
    assert i18n.qm_file("zh_HK") is None and i18n.qm_file("zh-Hant") is None
    # QGIS's own name for Simplified Chinese (its qgis_zh-Hans.qm), and a system's
    assert i18n.qm_file("zh-Hans") == i18n.qm_file("zh_CN") == i18n.qm_file("zh_CN.UTF-8")
    assert i18n.install("de_DE") is None
    assert i18n.tr("Detect") == "Detect"


@pytest.fixture()
def chinese_qgis():
    """QGIS's own setting for the interface language, as its Options dialog writes it."""
    settings = QgsSettings()
    before = (settings.value("locale/overrideFlag"), settings.value("locale/userLocale"))
    settings.setValue("locale/overrideFlag", True)
    settings.setValue("locale/userLocale", "zh-Hans")      # as QGIS's Options dialog writes it
    yield
    for key, value in zip(("locale/overrideFlag", "locale/userLocale"), before):
        if value is None:
            settings.remove(key)
        else:
            settings.setValue(key, value)
    i18n.remove()


def test_panel_in_chinese_runs_a_detection(chinese_qgis, plugin, scene_model, geo_scene,
                                           tmp_path):
    assert i18n.qgis_locale() == "zh-Hans"
    assert QCoreApplication.translate("mrife", "Detect") == "检测"   # loaded by the plugin
    assert plugin.action.text() == "MRIFE 古滑坡识别"
    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:32648"))
    layer = QgsRasterLayer(str(geo_scene["raster"]), "scene 011")
    project.addMapLayer(layer)
    plugin.action.trigger()
    dock = plugin.dock
    tabs = [dock.tabs.tabText(i) for i in range(dock.tabs.count())]
    assert tabs == ["标注", "训练", "检测"]
    panel = dock.detectPanel
    areas = [panel.areaCombo.itemText(i) for i in range(panel.areaCombo.count())]
    assert areas == ["当前地图范围", "整个图层", "在地图上绘制的矩形", "图层中的面要素内"]
    assert panel.runButton.text() == "检测"
    assert dock.trainPanel.startCombo.currentData() in ("catalogue", "file")
    # a check that fails speaks Chinese too
    select(panel.areaCombo, "rectangle")
    panel.layerCombo.setLayer(layer)
    panel.modelWidget.setFilePath(str(scene_model))
    panel.outWidget.setFilePath(str(tmp_path))
    assert not panel.start() and "请先在地图上绘制矩形" in panel.last_message
    # the choice is read by its key, whatever the label says
    select(panel.areaCombo, "layer")
    dock.deviceCombo.setCurrentIndex(dock.deviceCombo.findData("cpu"))
    assert "个波段" in panel.modelInfo.text()
    assert panel.start(), panel.last_message
    end = time.monotonic() + 240
    while panel.task is not None and time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert panel.task is None
    assert panel.last_result is not None and panel.last_result.count > 0
    assert panel.last_message.startswith(f"{panel.last_result.count} 个滑坡面")
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".gpkg", ".qml", ".tif"]
    project.removeAllMapLayers()
    project.layerTreeRoot().removeAllChildren()
