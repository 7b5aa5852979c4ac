"""Command line: ``python -m backend <command> ...``. Bad arguments give a one-line error and a
non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _writable_file(path: str | None, flag: str) -> None:
    """ValueError before any work when ``path`` (an output) cannot be written."""
    if not path:
        return
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{flag} {path}: folder {folder} is not writable")
    if Path(path).is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name")


def _cmd_devices(args: argparse.Namespace) -> int:
    from .devices import list_devices, resolve_device

    for dev in list_devices():
        print(dev.label)
    print(f"auto -> {resolve_device('auto').label}")
    return 0


def _progress_printer(quiet: bool):
    last = [0.0]

    def show(ev: dict) -> None:
        if ev["event"] == "plan":
            if ev.get("eta_s") is not None:
                print(f"{ev['steps_left']} training steps ({ev['train_tiles']} training, "
                      f"{ev['val_tiles']} validation tiles) on {ev['device']}: expected about "
                      f"{ev['eta_s'] / 60:.1f} min ({ev['seconds_per_step']:.2f} s per step); "
                      f"compute: {ev['compute']}", flush=True)
            if not ev["val_tiles"]:
                print("no validation tiles: the last epoch is kept, without metrics",
                      flush=True)
        elif ev["event"] == "epoch":
            keys = ("train_loss", "val_iou_landslide", "val_f1", "best_iou")
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                              for k, v in ev.items() if k in keys or k == "epoch"}), flush=True)
        elif ev["event"] == "step" and not quiet and time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            losses = " ".join(f"{k}={v:.3f}" for k, v in ev["losses"].items())
            print(f"epoch {ev['epoch']}/{ev['epochs']} step {ev['step']}/{ev['steps']} {losses} "
                  f"eta {ev['eta_s'] / 60:.1f} min", flush=True)
    return show


def _source_is_folders(args: argparse.Namespace) -> bool:
    """True for --images/--masks, False for --raster/--labels; ValueError otherwise."""
    folders = bool(args.images or args.masks)
    if folders == bool(args.raster or args.labels):
        raise ValueError("give either --images and --masks, or --raster and --labels")
    if folders and not (args.images and args.masks):
        raise ValueError("--images and --masks go together")
    if not folders and not (args.raster and args.labels):
        raise ValueError("--raster and --labels go together")
    return folders


def _settings_from_base(args: argparse.Namespace):
    """Fine-tuning: architecture, backbone, bands and every network setting come from the base
    model file, and the tile size and ground resolution from its data contract, unless given;
    an explicit --arch/--backbone/--preset that contradicts the file is an error."""
    from .checkpoint import read_payload
    from .models import ModelConfig

    base = read_payload(Path(args.init_from))
    cfg = ModelConfig.from_dict(base["model_config"])
    cfg.weights = None
    name = Path(args.init_from).name
    for flag, given, have in (("--arch", args.arch, cfg.arch),
                              ("--backbone", args.backbone, cfg.backbone)):
        if given and given != have:
            raise ValueError(f"{flag} {given} contradicts {name}, a {cfg.arch}/{cfg.backbone} "
                             f"model; leave {flag} out when fine-tuning (it comes from the file)")
    if args.preset:
        raise ValueError(f"--preset does not apply when fine-tuning: {name} fixes the network")
    contract = base["data_contract"]
    args.tile_size = args.tile_size or int(contract["tile_size"])
    if args.ground_resolution is None:
        args.ground_resolution = contract.get("ground_resolution")
    return cfg


def _cmd_train(args: argparse.Namespace) -> int:
    from .jobs import FolderData, train_on_folder, train_on_raster
    from .models import arch_preset, preset
    from .train import TrainConfig

    if args.init_from:
        cfg = _settings_from_base(args)
    else:
        args.tile_size = args.tile_size or 512
        overrides = {"backbone": args.backbone or "resnet101"}
        if args.weights:
            overrides["weights"] = args.weights
        cfg = preset(args.preset, **overrides) if args.preset else \
            arch_preset(args.arch or "mrife", **overrides)
    if args.tile_size % 16:
        raise ValueError(f"--tile-size {args.tile_size} must be a multiple of 16")
    folders = _source_is_folders(args)
    tcfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       seed=args.seed, device=args.device, freeze_encoder=args.freeze_encoder,
                       max_steps_per_epoch=args.max_steps_per_epoch, init_from=args.init_from,
                       precision=args.precision)
    t = time.monotonic()
    common = dict(resume=args.resume, progress=_progress_printer(args.quiet))
    if folders:
        data = FolderData(Path(args.images), Path(args.masks), tile_size=args.tile_size,
                          source_resolution=args.source_resolution,
                          ground_resolution=args.ground_resolution,
                          pos_neg_ratio=args.pos_neg_ratio, preprocessing=args.preprocessing,
                          split_seed=args.split_seed)
        result = train_on_folder(data, cfg, tcfg, Path(args.out), **common)
    else:
        if not args.mapped_area:
            print("no --mapped-area: the raster's whole extent is taken as completely labelled "
                  "(everything outside the landslide polygons is a negative example)")
        result = train_on_raster(Path(args.raster), Path(args.labels),
                                 Path(args.mapped_area) if args.mapped_area else None, cfg, tcfg,
                                 Path(args.out), tile_size=args.tile_size,
                                 ground_resolution=args.ground_resolution,
                                 pos_neg_ratio=args.pos_neg_ratio,
                                 preprocessing=args.preprocessing, split_seed=args.split_seed,
                                 **common)
    print(f"{result.status} after {result.epochs_done} epoch(s) in "
          f"{time.monotonic() - t:.0f} s; best model: {result.best_path}")
    if result.best_metrics:
        print(json.dumps({k: round(v, 4) for k, v in result.best_metrics.items()
                          if isinstance(v, float)}))
    return 0 if result.status == "completed" else 3


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .data import load_folder_scenes
    from .devices import resolve_device

    _writable_file(args.json, "--json")
    device = resolve_device(args.device).key
    loaded = load_model(Path(args.model), device)
    scale = 1.0
    res = loaded.contract.ground_resolution
    if res and args.source_resolution:
        scale = args.source_resolution / res
    scenes = load_folder_scenes(Path(args.images), Path(args.masks), scale)
    if args.split != "all":
        wanted = set((loaded.meta.get("training_data") or {}).get("split", {}).get(args.split, []))
        if not wanted:
            raise ValueError(f"{Path(args.model).name} records no '{args.split}' split; use "
                             "--split all")
        scenes = [s for s in scenes if s.name in wanted]
    from .jobs import evaluate_scenes

    t = time.monotonic()
    metrics = evaluate_scenes(loaded, scenes, overlap=args.overlap, batch_size=args.batch_size,
                              device=device, threshold=args.threshold,
                              precision=args.precision)
    metrics["seconds"] = round(time.monotonic() - t, 1)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def _cmd_export_tiles(args: argparse.Namespace) -> int:
    from .export import export_tiles

    if _source_is_folders(args):
        from .jobs import FolderData, split_folder

        parts, _ = split_folder(FolderData(Path(args.images), Path(args.masks),
                                           source_resolution=args.source_resolution,
                                           ground_resolution=args.ground_resolution,
                                           split_seed=args.split_seed))
    else:
        from .geodata import load_raster_scenes

        parts, report, _ = load_raster_scenes(
            Path(args.raster), Path(args.labels),
            Path(args.mapped_area) if args.mapped_area else None,
            ground_resolution=args.ground_resolution, tile_size=args.tile_size,
            split_seed=args.split_seed)
        if report.repaired:
            print(f"invalid landslide geometries repaired: {report.repaired}")
    counts = export_tiles(parts, Path(args.out), args.tile_size, args.pos_neg_ratio)
    print(f"tiles written to {args.out}: {counts}")
    return 0


def _cmd_export_model(args: argparse.Namespace) -> int:
    from .checkpoint import atomic_save, file_checksum, load_model, model_payload

    loaded = load_model(Path(args.model), "cpu")
    if args.format == "onnx":
        try:
            from .onnx_export import export_onnx
        except ModuleNotFoundError as exc:
            raise ValueError("ONNX export needs the onnx package (pip install onnx); the plugin "
                             "itself never does") from exc
        _writable_file(args.out, "--out")
        meta = export_onnx(loaded, Path(args.out), source=Path(args.model))
        size = Path(args.out).stat().st_size / 2**20
        print(f"{args.out}: {size:.1f} MiB ONNX, float32, input (N, {len(loaded.contract.bands)}"
              f", H, W) in [0, 1], output (N, 2, H, W); metadata: {', '.join(sorted(meta))}")
        return 0
    data = loaded.meta
    metrics = dict(data.get("metrics") or {})
    if args.test_metrics:
        try:
            metrics["test"] = json.loads(Path(args.test_metrics).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--test-metrics {args.test_metrics}: not a JSON file ({exc})") \
                from exc
    payload = model_payload(loaded.model, loaded.contract, metrics=metrics,
                            training_data=data.get("training_data"),
                            train_config=data.get("train_config"),
                            name=args.name or data.get("name") or Path(args.out).stem,
                            precision=args.precision)
    payload["created"] = data.get("created") or payload["created"]
    payload["exported_from"] = {"file": Path(args.model).name,
                                "sha256_16": file_checksum(Path(args.model))}
    atomic_save(payload, Path(args.out))
    size = Path(args.out).stat().st_size / 2**20
    print(f"{args.out}: {size:.1f} MiB, {args.precision} weights"
          f"{', inference only' if payload['inference_only'] else ''}")
    return 0


def _floats(text: str, n: int, what: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != n:
        raise ValueError(f"{what} takes {n} comma-separated numbers, got '{text}'")
    return vals


def _cmd_detect(args: argparse.Namespace) -> int:
    from .detect import LARGE_PLAN_TILES, DetectOptions, detect, plan_detection, seconds_per_tile

    _writable_file(args.json, "--json")
    opts = DetectOptions(
        bands=[int(b) for b in args.bands.split(",")] if args.bands else None,
        extent=_floats(args.extent, 4, "--extent") if args.extent else None,
        extent_crs=args.extent_crs, aoi=Path(args.aoi) if args.aoi else None,
        overlap=args.overlap, batch_size=args.batch_size, threshold=args.threshold,
        min_area=args.min_area, device=args.device, precision=args.precision,
        out_crs=args.out_crs,
        rescale=args.rescale, simplify=not args.no_simplify,
        max_tiles=None if args.allow_large else LARGE_PLAN_TILES)
    if args.plan:
        from .checkpoint import load_model
        from .devices import resolve_device
        from .errors import reading

        dev = resolve_device(args.device)
        loaded = load_model(Path(args.model), dev.key)
        with reading(args.raster):
            plan = plan_detection(loaded, Path(args.raster), opts)
        hours = plan.tiles * seconds_per_tile(loaded, dev.key, args.batch_size,
                                              args.precision) / 3600
        print(f"{plan.describe()}; about {hours * 60:.1f} min on {dev.label}")
        if plan.tiles > LARGE_PLAN_TILES:
            print(f"more than {LARGE_PLAN_TILES} tiles: running it needs --allow-large")
        return 0
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if not args.quiet and (time.monotonic() - last[0] > 5 or done == total):
            last[0] = time.monotonic()
            print(f"tiles {done}/{total}", flush=True)

    result = detect(Path(args.model), Path(args.raster), Path(args.out),
                    Path(args.probability) if args.probability else None, opts,
                    progress=progress, log=lambda m: print(m, flush=True))
    print(result.summary())
    print(f"polygons: {result.vector} (layer landslides)")
    if result.probability:
        print(f"probability: {result.probability}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.as_dict(), indent=2, default=str) + "\n")
    return 0


def _precision_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16"),
                   default="auto", help="auto: bfloat16 on CPUs and GPUs that compute it "
                   "natively, else float32 (float16 with scaling on older GPUs); float32: no "
                   "reduced precision")


def build_parser() -> argparse.ArgumentParser:
    from .detect import LARGE_PLAN_TILES
    from .models import ARCHITECTURES, BACKBONES, PRESETS

    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description="MRIFE relic-landslide networks without QGIS: train, evaluate, detect.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("devices", help="list the devices torch can use here")
    p.set_defaults(func=_cmd_devices)

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
    p.add_argument("--preset", choices=sorted(PRESETS),
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
    p.add_argument("--device", default="auto", help="auto, cpu or cuda:N")
    _precision_option(p)
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--init-from", help="fine-tune from this model file (its architecture, "
                   "backbone, bands, tile size and ground resolution are used)")
    p.add_argument("--resume", action="store_true", help="continue from <out>.resume.pt")
    p.add_argument("--max-steps-per-epoch", type=int)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", required=True, help="model file to write (.pt)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a model over whole images (sliding window)")
    p.add_argument("--model", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--masks", required=True)
    p.add_argument("--split", choices=("all", "train", "val", "test"), default="all",
                   help="only the scenes the model file records for this split")
    p.add_argument("--source-resolution", type=float)
    p.add_argument("--overlap", type=int, help="tile overlap in pixels (default: tile / 4)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--device", default="auto")
    _precision_option(p)
    p.add_argument("--json", help="also write the metrics to this file")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("detect", help="landslide polygons (GeoPackage) and a probability map "
                       "(GeoTIFF) over a raster")
    p.add_argument("--model", required=True, help="model file (.pt)")
    p.add_argument("--raster", required=True, help="imagery (anything GDAL opens)")
    p.add_argument("--out", required=True, help="GeoPackage to write (layer 'landslides')")
    p.add_argument("--probability", help="also write the probability map to this GeoTIFF")
    p.add_argument("--extent", help="xmin,ymin,xmax,ymax of the area (default: whole raster)")
    p.add_argument("--extent-crs", help="CRS of --extent (default: the raster's), e.g. EPSG:4326")
    p.add_argument("--aoi", help="polygons (anything OGR opens) to search inside")
    p.add_argument("--bands", help="raster bands for the model's bands, e.g. 3,2,1 "
                   "(default: the first ones)")
    p.add_argument("--overlap", type=int, help="tile overlap in pixels (default: tile / 4)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threshold", type=float, default=0.5)
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
    p.set_defaults(func=_cmd_detect)

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
    p.set_defaults(func=_cmd_export_tiles)

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
    p.set_defaults(func=_cmd_export_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from osgeo import gdal

    from .errors import user_message

    # GDAL prints its own "ERROR 4: ..." / "Warning 1: ..." lines on stderr besides raising (the
    # bindings pass errors of its worker threads to GDAL's default handler, which writes to
    # stderr unless CPL_LOG names a file); the exception carries the same text, which the
    # one-line error below shows
    gdal.SetConfigOption("CPL_LOG", os.devnull)
    gdal.SetErrorHandler("CPLQuietErrorHandler")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise                      # a bug: keep the traceback for the report
        print(f"error: {message}", file=sys.stderr)
        return 1
