"""End-to-end detection versus the bare model forward over the same tiles, and peak memory,
over square rasters of growing size (a mosaic of a real Sichuan scene, as a VRT).

Each size runs in a fresh process so its peak resident memory is its own.

    python bench/bench_detect.py --out docs/benchmarks-detect.md                  # CPU sizes
    python bench/bench_detect.py --sizes 2048 8192 16384 --arch mrife --backbone resnet101 \
        --tile 512 --out docs/benchmarks-detect-gpu.md                           # lent GPU
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCENE = ROOT.parent / "shared" / "data" / "sichuan" / "images" / "Landslide011.png"


def mosaic(size: int, pixel: float, out: Path) -> Path:
    """A size x size VRT tiling the 1024 px scene, georeferenced in EPSG:32648."""
    from osgeo import gdal, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32648)
    n = -(-size // 1024)
    src = []
    for r in range(n):
        for c in range(n):
            for b in (1, 2, 3):
                src.append((b, f'<SimpleSource><SourceFilename relativeToVRT="0">{SCENE}'
                               f'</SourceFilename><SourceBand>{b}</SourceBand>'
                               f'<SrcRect xOff="0" yOff="0" xSize="1024" ySize="1024"/>'
                               f'<DstRect xOff="{c * 1024}" yOff="{r * 1024}" xSize="1024" '
                               f'ySize="1024"/></SimpleSource>'))
    bands = "".join(
        f'<VRTRasterBand dataType="Byte" band="{b}">'
        + "".join(s for bb, s in src if bb == b) + "</VRTRasterBand>" for b in (1, 2, 3))
    xml = (f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}"><SRS>'
           f'{srs.ExportToWkt()}</SRS><GeoTransform>400000, {pixel}, 0, 3500000, 0, -{pixel}'
           f'</GeoTransform>{bands}</VRTDataset>')
    out.write_text(xml)
    assert gdal.Open(str(out)).RasterXSize == size
    return out


def ensure_model(path: Path, arch: str, backbone: str, tile: int, pixel: float) -> Path:
    """A model trained briefly on the scene (enough to give realistic polygons)."""
    if path.exists():
        return path
    from mrife.config import DataSettings
    from mrife.data import load_folder_scenes
    from mrife.jobs import train_on_scenes
    from mrife.models import preset
    from mrife.train import TrainConfig

    data = SCENE.parent.parent
    scenes = [s for s in load_folder_scenes(data / "images", data / "masks", 1.0)
              if s.name.endswith("011")]
    train_on_scenes({"train": scenes, "val": scenes, "test": []}, {"source": "bench"},
                    preset({"deeplabv3plus": "baseline"}.get(arch, arch), backbone=backbone),
                    TrainConfig(epochs=1, max_steps_per_epoch=20, device="auto"), path,
                    DataSettings(tile_size=tile, ground_resolution=pixel, pos_neg_ratio=0.0))
    return path


def one_size(args) -> dict:
    """Runs in a child process: detect, then the bare forward over as many tiles."""
    import numpy as np
    import torch

    from mrife.checkpoint import load_model
    from mrife.compute import choose
    from mrife.detect import DetectOptions, detect
    from mrife.devices import resolve_device
    from mrife.inference import predict_batch

    dev = resolve_device(args.device)
    work = Path(args.work)
    raster = mosaic(args.one, args.pixel, work / f"mosaic{args.one}.vrt")
    loaded = load_model(Path(args.model), dev.key)
    t = time.perf_counter()
    r = detect(loaded, raster, work / f"out{args.one}.gpkg", work / f"prob{args.one}.tif",
               DetectOptions(device=dev.key, batch_size=args.batch,
                             precision=args.precision))
    end_to_end = time.perf_counter() - t
    tile = loaded.contract.tile_size
    x = np.random.default_rng(0).normal(size=(args.batch, 3, tile, tile)).astype(np.float32)
    policy = choose(args.precision, dev.key)
    policy.prepare_model(loaded.model)
    predict_batch(loaded.model, x, torch.device(dev.key), policy)          # warm-up
    if dev.key.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(-(-r.tiles_run // args.batch)):
        predict_batch(loaded.model, x, torch.device(dev.key), policy)
    if dev.key.startswith("cuda"):
        torch.cuda.synchronize()
    bare = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if dev.key.startswith("cuda") else None
    return {"size": args.one, "tiles": r.tiles, "polygons": r.count, "end_to_end_s": end_to_end,
            "bare_model_s": bare, "in_stream_model_s": r.model_seconds, "peak_rss_mib": peak,
            "gpu_peak_mib": gpu_peak, "device": dev.label,
            "tiles_per_s": r.tiles_run / end_to_end}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--arch", default="deeplabv3plus")
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--pixel", type=float, default=2.0, help="metres per pixel of model and "
                    "raster (equal, so the timing is the pipeline's, not resampling)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model", type=Path)
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bench-detect")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--table-from", type=Path, help="only write the table from the JSON lines "
                    "of an earlier run's log")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.table_from:
        rows = [json.loads(line) for line in args.table_from.read_text().splitlines()
                if line.startswith("{")]
        write_table(rows, args)
        return
    if args.one:
        print(json.dumps(one_size(args)))
        return
    model = args.model or ensure_model(
        args.work / f"{args.arch}-{args.backbone}-{args.tile}.pt", args.arch, args.backbone,
        args.tile, args.pixel)
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(size), "--model", str(model),
               "--pixel", str(args.pixel), "--batch", str(args.batch), "--device", args.device,
               "--work", str(args.work), "--precision", args.precision]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_table(rows, args)


def write_table(rows: list[dict], args) -> None:
    import torch

    lines = ["# Detection benchmark: pipeline overhead and memory", "",
             f"Command: `{' '.join(['python'] + sys.argv)}`", "",
             f"Device: {rows[0]['device']} ({platform.machine()}, "
             f"{torch.get_num_threads()} threads); torch {torch.__version__}. Model "
             f"{args.arch} {args.backbone}, {args.tile} px tiles at {args.pixel} m/px, batch "
             f"{args.batch}, precision {args.precision}. Raster: a VRT mosaic of Sichuan scene "
             "011 at the model's resolution (no resampling). Each size in a fresh process.", "",
             "| size (px) | tiles | polygons | end-to-end (s) | bare model forward (s) | "
             "overhead vs bare | network time in the run (s) | overhead in the run | tiles/s | "
             "peak RSS (MiB) |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        over = (r["end_to_end_s"] - r["bare_model_s"]) / r["bare_model_s"] * 100
        inner = (r["end_to_end_s"] - r["in_stream_model_s"]) / r["in_stream_model_s"] * 100
        lines.append(f"| {r['size']} | {r['tiles']} | {r['polygons']} | "
                     f"{r['end_to_end_s']:.1f} | {r['bare_model_s']:.1f} | {over:+.1f} % | "
                     f"{r['in_stream_model_s']:.1f} | {inner:+.1f} % | "
                     f"{r['tiles_per_s']:.2f} | {r['peak_rss_mib']:.0f} |")
    lines += ["", "Overhead vs bare = (end-to-end - bare forward) / bare forward, where bare "
              "forward is the same number of forward passes on random tiles (same batch, "
              "device), timed after the run. Overhead in the run = (end-to-end - time inside "
              "the network during the run) / that time: everything else (reading, "
              "preprocessing, blending, writing, polygonising, the GeoPackage), measured in the "
              "same run, so it is not disturbed by other load on the machine.", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
