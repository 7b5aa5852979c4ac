"""The arguments of ``python -m mrife``: one sub-parser per command (the commands themselves
are in ``mrife.cli``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _precision_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16"),
                   default="auto", help="auto: bfloat16 on CPUs and GPUs that compute it "
                   "natively, else float32 (float16 with scaling on older GPUs); float32: no "
                   "reduced precision")


def _decision_options(p: argparse.ArgumentParser) -> None:
    """--threshold and --tta, the same for evaluate and detect."""
    p.add_argument("--threshold", type=float, help="decision threshold (default: the one "
                   "stored in the model file, chosen on validation in training, else 0.5)")
    p.add_argument("--tta", action="store_true", help="test-time augmentation: average each "
                   "tile over its flips (4x the network time)")


def build_parser(commands: dict) -> argparse.ArgumentParser:
    """The parser of ``python -m mrife``; ``commands`` maps a command's name to its function
    (``mrife.cli.COMMANDS``)."""
    from .compute import LARGE_PLAN_TILES
    from .config import ARCHITECTURES, BACKBONES, PRESET_NAMES

    parser = argparse.ArgumentParser(
        prog="python -m mrife",
        description="MRIFE relic-landslide networks without QGIS: train, evaluate, detect.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("devices", help="list the devices torch can use here")
    p.set_defaults(func=commands["devices"])

    p = sub.add_parser("train", help="train a network on folders of images and masks, or on a "
                       "raster and landslide polygons")
    p.add_argument("--images", help="folder of images (PNG, GeoTIFF, ...)")
    p.add_argument("--masks", help="folder of masks (non-zero = landslide)")
    p.add_argument("--raster", help="a georeferenced raster (anything GDAL opens)")
    p.add_argument("--labels", help="landslide polygons (anything OGR opens)")
    p.add_argument("--mapped-area", help="polygons where labelling is complete (default: the "
                   "raster's whole extent)")
    p.add_argument("--arch", choices=ARCHITECTURES,
                   help="default mrife; with --init-from: the base model's")
    p.add_argument("--preset", choices=PRESET_NAMES,
                   help="a row of the paper's tables (overrides --arch)")
    p.add_argument("--backbone", choices=BACKBONES,
                   help="default resnet101; with --init-from: the base model's")
    p.add_argument("--weights", help="'imagenet' (downloads once) or a local ResNet state_dict")
    p.add_argument("--tile-size", type=int, help="default 512; with --init-from: the base model's")
    p.add_argument("--source-resolution", type=float, help="the images' metres per pixel")
    p.add_argument("--ground-resolution", type=float, help="train at this metres per pixel "
                   "(with --init-from: the base model's)")
    p.add_argument("--pos-neg-ratio", type=float, default=3.0)
    p.add_argument("--preprocessing", choices=("dataset", "tile", "none"), default="dataset")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.007)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--split-ratios", metavar="TRAIN:VAL:TEST", help="shares of the scenes "
                   "(or raster blocks) for training, validation and test; default 6:2:2 for "
                   "folders, 8:2:0 for a raster and labels (you evaluate on your own polygons)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda:N")
    _precision_option(p)
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a network setting of mrife/config.py, e.g. dice_weight=0.5 "
                   "or teacher_bn=copy (repeatable)")
    p.add_argument("--photometric", type=float, default=0.0, help="photometric augmentation "
                   "strength (0: off; see TileDataset)")
    p.add_argument("--scale-jitter", type=float, default=0.0, help="scale augmentation: zoom "
                   "by up to 1 + this (0: off)")
    p.add_argument("--fixed-threshold", action="store_true", help="keep the decision "
                   "threshold at 0.5 instead of choosing it on validation")
    p.add_argument("--init-from", help="fine-tune from this model file (its architecture, "
                   "backbone, bands, tile size and ground resolution are used)")
    p.add_argument("--resume", action="store_true", help="continue from <out>.resume.pt")
    p.add_argument("--shards", type=int, default=0, help="cut each step's batch into this many "
                   "equal shards, gradients averaged (default: one per rank under torchrun, "
                   "else 1); a run continues on any number of ranks that divides them")
    p.add_argument("--sync-batchnorm", action="store_true", help="under torchrun on CUDA: "
                   "batch norm over the whole batch (SyncBatchNorm)")
    p.add_argument("--max-steps-per-epoch", type=int)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", required=True, help="model file to write (.pt)")
    p.set_defaults(func=commands["train"])

    p = sub.add_parser("evaluate", help="metrics of a model over whole images (sliding window)")
    p.add_argument("--model", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--masks", required=True)
    p.add_argument("--split", choices=("all", "train", "val", "test"), default="all",
                   help="only the scenes the model file records for this split")
    p.add_argument("--source-resolution", type=float)
    p.add_argument("--overlap", type=int, help="tile overlap in pixels (default: tile / 4)")
    p.add_argument("--batch-size", type=int, default=4)
    _decision_options(p)
    p.add_argument("--device", default="auto")
    _precision_option(p)
    p.add_argument("--json", help="also write the metrics to this file")
    p.set_defaults(func=commands["evaluate"])

    p = sub.add_parser("detect", help="landslide polygons (GeoPackage) and a probability map "
                       "(GeoTIFF) over a raster")
    p.add_argument("--model", required=True, help="model file (.pt)")
    p.add_argument("--raster", required=True, nargs="+", help="imagery (anything GDAL opens: "
                   "a file, a VRT or tile index); several files or a folder of them are "
                   "mosaicked into one grid (same CRS and bands)")
    p.add_argument("--out", required=True, help="GeoPackage to write (layer 'landslides')")
    p.add_argument("--probability", help="also write the probability map to this GeoTIFF")
    p.add_argument("--extent", help="xmin,ymin,xmax,ymax of the area (default: whole raster)")
    p.add_argument("--extent-crs", help="CRS of --extent (default: the raster's), e.g. EPSG:4326")
    p.add_argument("--aoi", help="polygons (anything OGR opens) to search inside")
    p.add_argument("--bands", help="raster bands for the model's bands, e.g. 3,2,1 "
                   "(default: the first ones)")
    p.add_argument("--overlap", type=int, help="tile overlap in pixels (default: tile / 4)")
    p.add_argument("--batch-size", type=int, default=4)
    _decision_options(p)
    p.add_argument("--min-area", type=float, default=100.0, help="drop polygons below this "
                   "many m² (default 100)")
    p.add_argument("--out-crs", help="CRS of the polygons (default: the raster's)")
    p.add_argument("--rescale", action="store_true", help="stretch imagery whose values differ "
                   "from the training data's (e.g. 16-bit imagery, 8-bit model)")
    p.add_argument("--no-simplify", action="store_true", help="keep raw pixel-edge outlines")
    p.add_argument("--device", default="auto")
    _precision_option(p)
    p.add_argument("--plan", action="store_true", help="print the tile count, grid and expected "
                   "time, and stop")
    p.add_argument("--allow-large", action="store_true",
                   help=f"run plans of more than {LARGE_PLAN_TILES} tiles (refused without it, "
                   "so a mistyped extent cannot start a day-long run)")
    p.add_argument("--json", help="also write the run's summary to this file")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands["detect"])

    p = sub.add_parser("export-tiles", help="write training tiles (GeoTIFF image/mask pairs)")
    for flag, text in (("--images", "folder of images"), ("--masks", "folder of masks"),
                       ("--raster", "georeferenced raster"), ("--labels", "landslide polygons"),
                       ("--mapped-area", "polygons where labelling is complete")):
        p.add_argument(flag, help=text)
    p.add_argument("--tile-size", type=int, default=512)
    p.add_argument("--source-resolution", type=float)
    p.add_argument("--ground-resolution", type=float)
    p.add_argument("--pos-neg-ratio", type=float, default=3.0)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder to write")
    p.set_defaults(func=commands["export_tiles"])

    p = sub.add_parser("export-model", help="write a model file for shipping: float16 weights, "
                       "without what only training needs (MRIFE's student)")
    p.add_argument("--model", required=True, help="model file written by train")
    p.add_argument("--out", required=True, help="model file to write (.pt)")
    p.add_argument("--precision", choices=("float32", "float16", "int8"), default="float16",
                   help="storage precision: float16 halves the file; int8 (per-channel "
                   "convolution weights) quarters it. Weights are widened to float32 on load")
    p.add_argument("--format", choices=("mrife", "onnx"), default="mrife",
                   help="mrife: this product's model file; onnx: an ONNX graph with the "
                   "preprocessing inside and Deepness's metadata (needs the onnx package)")
    p.add_argument("--name", help="display name stored in the file")
    p.add_argument("--test-metrics", help="JSON from `evaluate --json` to store as metrics.test")
    p.set_defaults(func=commands["export_model"])
    return parser


def writable_file(path: str | None, flag: str, *, folder: bool = False,
                  create_parents: bool = False) -> None:
    """ValueError before any work when the output ``path`` (if given) cannot be written (with
    ``folder``: a folder to write into)."""
    if path:
        from .leftovers import check_destination

        check_destination(Path(path), f"{flag} {'folder' if folder else 'file'}", folder=folder,
                          create_parents=create_parents)


def ratios(text: str | None) -> tuple[float, float, float] | None:
    if not text:
        return None
    try:
        vals = tuple(float(v) for v in text.split(":"))
    except ValueError:
        vals = ()
    if len(vals) != 3 or min(vals) < 0 or vals[0] <= 0 or vals[1] <= 0:
        raise ValueError(f"--split-ratios {text}: expected TRAIN:VAL:TEST such as 8:2:0 "
                         "(training and validation above 0)")
    return vals


def floats(text: str, n: int, what: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != n:
        raise ValueError(f"{what} takes {n} comma-separated numbers, got '{text}'")
    return vals
