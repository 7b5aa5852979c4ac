"""Regenerate the QML styles in mrife/styles with the QGIS API (so they are exactly what
QGIS writes): ``QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_styles.py``."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsColorRampShader,
    QgsFillSymbol,
    QgsGraduatedSymbolRenderer,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererRange,
    QgsSingleBandPseudoColorRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

STYLES = Path(__file__).resolve().parent.parent / "mrife" / "styles"

# mean-probability classes of the polygons: (low, high, colour, label)
CLASSES = [(0.0, 0.5, "#fee391", "low (< 0.5)"),
           (0.5, 0.65, "#fec44f", "0.50 - 0.65"),
           (0.65, 0.8, "#fe9929", "0.65 - 0.80"),
           (0.8, 0.9, "#e6550d", "0.80 - 0.90"),
           (0.9, 1.0001, "#a63603", "high (>= 0.90)")]


def landslides() -> None:
    layer = QgsVectorLayer("MultiPolygon?crs=EPSG:32648&field=mean_prob:double", "landslides",
                           "memory")
    ranges = []
    for lo, hi, colour, label in CLASSES:
        c = QColor(colour)
        sym = QgsFillSymbol.createSimple({
            "color": f"{c.red()},{c.green()},{c.blue()},90", "outline_color": colour,
            "outline_width": "0.6", "outline_width_unit": "MM", "style": "solid"})
        ranges.append(QgsRendererRange(lo, hi, sym, label))
    renderer = QgsGraduatedSymbolRenderer("mean_prob", ranges)
    renderer.setClassAttribute("mean_prob")
    layer.setRenderer(renderer)
    layer.saveNamedStyle(str(STYLES / "landslides.qml"))


def probability() -> None:
    layer = QgsRasterLayer(str(STYLES / "_tmp.tif"), "probability")
    shader_fn = QgsColorRampShader(0.0, 1.0)
    shader_fn.setColorRampType(QgsColorRampShader.Type.Interpolated)
    shader_fn.setColorRampItemList([
        QgsColorRampShader.ColorRampItem(0.0, QColor(0, 0, 4, 0), "0"),
        QgsColorRampShader.ColorRampItem(0.25, QColor(87, 16, 110, 90), "0.25"),
        QgsColorRampShader.ColorRampItem(0.5, QColor(188, 55, 84, 170), "0.5"),
        QgsColorRampShader.ColorRampItem(0.75, QColor(249, 142, 9, 210), "0.75"),
        QgsColorRampShader.ColorRampItem(1.0, QColor(252, 255, 164, 230), "1"),
    ])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_fn)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(1.0)
    layer.setRenderer(renderer)
    layer.saveNamedStyle(str(STYLES / "probability.qml"))


if __name__ == "__main__":
    from osgeo import gdal

    app = QgsApplication([], False)
    app.initQgis()
    tmp = STYLES / "_tmp.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp), 4, 4, 1, gdal.GDT_Float32)
    ds.SetGeoTransform((0, 1, 0, 4, 0, -1))
    ds = None
    try:
        landslides()
        probability()
    finally:
        tmp.unlink()
        for extra in STYLES.glob("_tmp.tif*"):
            extra.unlink()
    app.exitQgis()
    print("written:", *sorted(p.name for p in STYLES.glob("*.qml")))
