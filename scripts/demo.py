"""`make demo`: relic-landslide detection with the bundled model over the bundled sample scene,
through the plugin's Processing algorithm (``mrife:detect``) in a headless QGIS.

Writes, under build/demo/ (or --out):
  landslides.gpkg       polygons (layer ``landslides``) with their default style stored inside
  probability.tif       landslide probability (0-1, nodata -1) with probability.qml beside it
  demo-map.png          the styled result over the imagery, rendered by QGIS's layout engine
  metrics.json          the polygons against the sample's landslide outlines
and prints where everything is. `make qgis` opens the QGIS desktop; add the two files (or drag
them in) to see the same styled layers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "resources" / "sample" / "sichuan_sample.tif"
OUTLINES = ROOT / "resources" / "sample" / "sichuan_sample_landslides.gpkg"


def start_qgis():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing

    Processing.initialize()
    from mrife_qgis.processing.provider import MrifeProvider

    provider = MrifeProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    return app, provider


def make_feedback():
    """Processing feedback that prints the log and a progress line every 25 %."""
    from qgis.core import QgsProcessingFeedback

    class PrintFeedback(QgsProcessingFeedback):
        last = -10

        def pushInfo(self, text):  # noqa: N802
            print(f"  {text}", flush=True)

        def reportError(self, text, fatalError=False):  # noqa: N802
            print(f"  error: {text}", flush=True)

        def setProgress(self, p):  # noqa: N802
            super().setProgress(p)
            if p >= self.last + 25 or p >= 100 > self.last:
                self.last = p
                print(f"  {p:.0f} %", flush=True)

    return PrintFeedback()


def render_map(png: Path, image, polys, prob, outlines, metrics: dict, model_name: str) -> None:
    """A layout: imagery, probability, detected polygons (graduated by mean probability) and the
    reference outlines; legend, scale bar and a caption with the metrics."""
    from qgis.core import (
        QgsLayoutExporter,
        QgsLayoutItemLabel,
        QgsLayoutItemLegend,
        QgsLayoutItemMap,
        QgsLayoutItemScaleBar,
        QgsLayoutPoint,
        QgsLayoutSize,
        QgsPrintLayout,
        QgsProject,
        QgsUnitTypes,
    )
    from qgis.PyQt.QtGui import QFont

    project = QgsProject.instance()
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    page = layout.pageCollection().page(0)
    page.setPageSize(QgsLayoutSize(285, 190, QgsUnitTypes.LayoutUnit.LayoutMillimeters))
    mm = QgsUnitTypes.LayoutUnit.LayoutMillimeters

    title = QgsLayoutItemLabel(layout)
    title.setText("Relic landslides found by MRIFE on the Sichuan sample")
    title.setFont(QFont("DejaVu Sans", 14, QFont.Weight.Bold))
    title.attemptMove(QgsLayoutPoint(8, 5, mm))
    title.attemptResize(QgsLayoutSize(240, 9, mm))
    layout.addLayoutItem(title)

    mp = QgsLayoutItemMap(layout)
    mp.attemptMove(QgsLayoutPoint(8, 16, mm))
    mp.attemptResize(QgsLayoutSize(168, 168, mm))
    mp.setLayers([outlines, polys, prob, image])
    mp.setCrs(image.crs())
    mp.setExtent(image.extent())
    mp.setFrameEnabled(True)
    layout.addLayoutItem(mp)

    legend = QgsLayoutItemLegend(layout)
    legend.setLinkedMap(mp)
    legend.setAutoUpdateModel(False)
    root = legend.model().rootGroup()
    root.clear()
    for lyr in (outlines, polys, prob):
        root.addLayer(lyr)
    legend.setTitle("Legend")
    legend.setResizeToContents(True)
    legend.attemptMove(QgsLayoutPoint(180, 16, mm))
    layout.addLayoutItem(legend)

    bar = QgsLayoutItemScaleBar(layout)
    bar.setStyle("Single Box")
    bar.setLinkedMap(mp)
    bar.applyDefaultSize()
    bar.setUnits(QgsUnitTypes.DistanceUnit.DistanceMeters)
    bar.setNumberOfSegments(4)
    bar.setUnitsPerSegment(100)
    bar.setUnitLabel("m")
    bar.attemptMove(QgsLayoutPoint(180, 150, mm))
    layout.addLayoutItem(bar)

    note = QgsLayoutItemLabel(layout)
    note.setText(
        f"Model: {model_name}\n"
        f"Against the sample's outlines:\nlandslide IoU {metrics['iou_landslide']:.3f}\n"
        f"F1 {metrics['f1']:.3f}\nobject accuracy {metrics['object_accuracy']:.2f} "
        f"({metrics['objects_found']}/{metrics['objects']})\n\n"
        "Imagery: Zeng Chao et al., Science Data Bank 2021, CC BY 4.0.\n"
        "Synthetic georeference (EPSG:32648).")
    note.setFont(QFont("DejaVu Sans", 7))
    note.attemptMove(QgsLayoutPoint(180, 100, mm))
    note.attemptResize(QgsLayoutSize(100, 48, mm))
    layout.addLayoutItem(note)

    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 110
    result = QgsLayoutExporter(layout).exportToImage(str(png), settings)
    if result != QgsLayoutExporter.ExportResult.Success:
        raise RuntimeError(f"QGIS could not render {png} (layout export error {result})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="model file (default: the bundled one)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "demo")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    t0 = time.monotonic()
    from mrife_qgis.detection import default_model

    model = args.model or default_model()
    if model is None or not Path(model).is_file():
        print("error: no bundled model in resources/models/; build it with `make model`",
              file=sys.stderr)
        return 1
    for f in (SAMPLE, OUTLINES):
        if not f.is_file():
            print(f"error: {f} is missing; rebuild the sample with `python scripts/make_sample.py`",
                  file=sys.stderr)
            return 1
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    gpkg, prob_tif, png = out / "landslides.gpkg", out / "probability.tif", out / "demo-map.png"

    print(f"Starting a headless QGIS ({time.monotonic() - t0:.1f} s)")
    app, _provider = start_qgis()
    import processing
    from qgis.core import Qgis, QgsProject, QgsRasterLayer, QgsVectorLayer

    from mrife.geodata import polygon_metrics
    from mrife_qgis.detection import style

    project = QgsProject.instance()
    image = QgsRasterLayer(str(SAMPLE), "Sichuan sample (aerial, 0.5 m)")
    project.addMapLayer(image)
    project.setCrs(image.crs())
    print(f"QGIS {Qgis.QGIS_VERSION}; running mrife:detect with {Path(model).name} on "
          f"{SAMPLE.name}")
    t = time.monotonic()
    result = processing.run("mrife:detect", {
        "INPUT": image, "MODEL": str(model), "DEVICE": args.device,
        "OUTPUT": str(gpkg), "PROBABILITY": str(prob_tif)}, feedback=make_feedback())
    detect_s = time.monotonic() - t

    polys = QgsVectorLayer(f"{gpkg}|layername=landslides", "found (mean probability)",
                           "ogr")
    style(polys, "landslides.qml")
    prob = QgsRasterLayer(str(prob_tif), "landslide probability")
    style(prob, "probability.qml")
    import shutil

    outlines_copy = out / "reference_outlines.gpkg"   # QGIS opens GeoPackages for update
    shutil.copyfile(OUTLINES, outlines_copy)
    outlines = QgsVectorLayer(str(outlines_copy), "reference outlines", "ogr")
    from qgis.core import QgsFillSymbol, QgsSingleSymbolRenderer

    outlines.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple(
        {"style": "no", "outline_color": "0,255,255", "outline_width": "0.5",
         "outline_style": "dash"})))
    for lyr in (prob, polys, outlines):
        project.addMapLayer(lyr)

    metrics = polygon_metrics(gpkg, OUTLINES, SAMPLE)
    metrics.update(count=result["COUNT"], total_area_m2=round(result["TOTAL_AREA_M2"], 1),
                   detect_seconds=round(detect_s, 1), model=Path(model).name)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    render_map(png, image, polys, prob, outlines, metrics, Path(model).name)
    project.clear()
    del app

    print(f"\n{result['COUNT']} landslide polygons, {metrics['total_area_m2'] / 1e4:.2f} ha, "
          f"detection {detect_s:.1f} s")
    print(f"Against the sample's outlines ({metrics['objects']} landslide areas): landslide IoU "
          f"{metrics['iou_landslide']:.3f}, F1 {metrics['f1']:.3f}, precision "
          f"{metrics['precision']:.3f}, recall {metrics['recall']:.3f}, object accuracy "
          f"{metrics['object_accuracy']:.2f} ({metrics['objects_found']}/{metrics['objects']})")
    print(f"\nwritten:\n  polygons     {gpkg} (layer 'landslides', styled)\n"
          f"  probability  {prob_tif} (+ {prob_tif.with_suffix('.qml').name})\n"
          f"  map          {png}\n  metrics      {out / 'metrics.json'}\n"
          f"Open them in QGIS: `make qgis`, then drag the .gpkg and .tif onto the map "
          f"(imagery: {SAMPLE.relative_to(ROOT)}).\nTotal {time.monotonic() - t0:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
