"""Command line: ``python -m mrife <command> ...``. Bad arguments give a one-line error and a
non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .cli_args import floats, ratios, writable_file
from .cli_output import RankProgress
from .signals import SIGNALS


def _cmd_devices(args: argparse.Namespace) -> int:
    from .devices import list_devices, resolve_device

    for dev in list_devices():
        print(dev.label)
    print(f"auto -> {resolve_device('auto').label}")
    return 0


def _progress_printer(quiet: bool):
    from .events import Epoch, Plan, Step

    last = [0.0]

    def show(ev) -> None:
        if isinstance(ev, Plan):
            if ev.eta_s is not None:
                print(f"{ev.steps_left} training steps ({ev.train_tiles} training, "
                      f"{ev.val_tiles} validation tiles) on {ev.device}: expected about "
                      f"{ev.eta_s / 60:.1f} min ({ev.seconds_per_step:.2f} s per step); "
                      f"compute: {ev.compute}", flush=True)
            if not ev.val_tiles:
                print("no validation tiles: the last epoch is kept, without metrics",
                      flush=True)
        elif isinstance(ev, Epoch):
            shown = {"epoch": ev.epoch, "train_loss": ev.train_loss,
                     "val_iou_landslide": ev.val_iou, "val_f1": ev.val_f1,
                     "best_iou": ev.best_iou}
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                              for k, v in shown.items() if v is not None}), flush=True)
        elif isinstance(ev, Step) and not quiet and time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            losses = " ".join(f"{k}={v:.3f}" for k, v in ev.losses.items())
            print(f"epoch {ev.epoch}/{ev.epochs} step {ev.step}/{ev.steps} {losses} "
                  f"eta {ev.eta_s / 60:.1f} min", flush=True)
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
    model file (with the fine-tuning changes of config.finetune_config), and the tile size and
    ground resolution from its data contract, unless given; an explicit --arch/--backbone/
    --preset that contradicts the file is an error."""
    from .checkpoint import read_payload
    from .config import finetune_config

    base = read_payload(Path(args.init_from))
    cfg = finetune_config(base["model_config"])
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
    from .config import DataSettings
    from .jobs import FolderData, train_on_folder, train_on_raster
    from .models import arch_preset, preset
    from .train import TrainConfig, resume_path_for

    writable_file(args.out, "--out", create_parents=True)      # both files, before any work
    writable_file(str(resume_path_for(Path(args.out))), "resume", create_parents=True)
    if args.init_from:
        cfg = _settings_from_base(args)
    else:
        args.tile_size = args.tile_size or 512
        overrides = {"backbone": args.backbone or "resnet101"}
        if args.weights:
            overrides["weights"] = args.weights
        cfg = preset(args.preset, **overrides) if args.preset else \
            arch_preset(args.arch or "mrife", **overrides)
    if args.set:
        cfg = cfg.with_(**_settings(args.set, cfg))
    data = DataSettings(tile_size=args.tile_size, ground_resolution=args.ground_resolution,
                        pos_neg_ratio=args.pos_neg_ratio, preprocessing=args.preprocessing,
                        split_seed=args.split_seed, split_ratios=ratios(args.split_ratios))
    folders = _source_is_folders(args)
    tcfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       seed=args.seed, device=args.device, freeze_encoder=args.freeze_encoder,
                       max_steps_per_epoch=args.max_steps_per_epoch, init_from=args.init_from,
                       precision=args.precision, photometric=args.photometric,
                       scale_jitter=args.scale_jitter, shards=args.shards,
                       sync_batchnorm=args.sync_batchnorm,
                       choose_threshold=not args.fixed_threshold)
    world = _join_ranks(args.device)
    if world.active:
        print(f"distributed: {world.describe()}; each step's batch of {args.batch_size} tiles "
              "is shared by the ranks; rank 0 validates and writes the files")
    t = time.monotonic()
    SIGNALS.graceful = ("stopping after this step and keeping the state in the resume file "
                        "(--resume continues)")
    common = dict(resume=args.resume, progress=_progress_printer(args.quiet),
                  should_stop=SIGNALS.requested)
    if folders:
        folder = FolderData(Path(args.images), Path(args.masks), data, args.source_resolution)
        result = train_on_folder(folder, cfg, tcfg, Path(args.out), **common)
    else:
        if not args.mapped_area:
            print("no --mapped-area: the raster's whole extent is taken as completely labelled "
                  "(everything outside the landslide polygons is a negative example)")
        result = train_on_raster(Path(args.raster), Path(args.labels),
                                 Path(args.mapped_area) if args.mapped_area else None, cfg, tcfg,
                                 Path(args.out), data, **common)
    print(f"{result.status} after {result.epochs_done} epoch(s) in "
          f"{time.monotonic() - t:.0f} s; best model: {result.best_path}")
    if result.best_metrics:
        print(json.dumps({k: round(v, 4) for k, v in result.best_metrics.items()
                          if isinstance(v, float)}))
    return 0 if result.status == "completed" else 3


def _settings(items: list[str], cfg) -> dict:
    """--set KEY=VALUE pairs as typed ModelConfig overrides (ValueError naming a bad one)."""
    from dataclasses import fields

    types = {f.name: type(getattr(cfg, f.name)) for f in fields(cfg)}
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in types or types[key] in (dict, tuple, list):
            raise ValueError(f"--set {item}: expected KEY=VALUE with KEY a network setting "
                             f"such as dice_weight or teacher_bn")
        kind = types[key]
        try:
            out[key] = (text.lower() in ("1", "true", "yes")) if kind is bool else \
                (None if text.lower() == "none" else kind(text) if kind is not type(None)
                 else text)
        except ValueError as exc:
            raise ValueError(f"--set {item}: {text!r} is not a {kind.__name__}") from exc
    return out


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import load_model
    from .data import load_folder_scenes
    from .devices import resolve_device

    writable_file(args.json, "--json")
    device = resolve_device(args.device).key
    loaded = load_model(Path(args.model), device)
    res = loaded.contract.ground_resolution
    if res and not args.source_resolution:
        raise ValueError(f"{Path(args.model).name} works at {res:g} m per pixel and a folder "
                         "of images has no georeference: give --source-resolution (the images' "
                         "own metres per pixel) so they are resampled as in training")
    scale = args.source_resolution / res if res else 1.0
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
                              precision=args.precision, tta=args.tta)
    metrics["seconds"] = round(time.monotonic() - t, 1)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def _cmd_export_tiles(args: argparse.Namespace) -> int:
    from .export import export_tiles

    writable_file(args.out, "--out", folder=True)
    if _source_is_folders(args):
        from .config import DataSettings
        from .jobs import FolderData, split_folder

        settings = DataSettings(tile_size=args.tile_size,
                                ground_resolution=args.ground_resolution,
                                split_seed=args.split_seed)
        parts, _ = split_folder(FolderData(Path(args.images), Path(args.masks), settings,
                                           args.source_resolution))
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

    writable_file(args.out, "--out", create_parents=True)
    loaded = load_model(Path(args.model), "cpu")
    if args.format == "onnx":
        try:
            from .onnx_export import export_onnx
        except ModuleNotFoundError as exc:
            raise ValueError("ONNX export needs the onnx package (pip install onnx); the plugin "
                             "itself never does") from exc
        writable_file(args.out, "--out")
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
                            precision=args.precision, decision=data.get("decision"))
    payload["created"] = data.get("created") or payload["created"]
    payload["exported_from"] = {"file": Path(args.model).name,
                                "sha256_16": file_checksum(Path(args.model))}
    atomic_save(payload, Path(args.out))
    size = Path(args.out).stat().st_size / 2**20
    print(f"{args.out}: {size:.1f} MiB, {args.precision} weights"
          f"{', inference only' if payload['inference_only'] else ''}")
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    from .compute import LARGE_PLAN_TILES
    from .detect import DetectOptions, detect, plan_detection, seconds_per_tile
    from .grid import mosaic

    writable_file(args.json, "--json")
    world = _join_ranks(args.device)
    raster = mosaic(args.raster, Path(args.out), world)
    opts = DetectOptions(
        bands=[int(b) for b in args.bands.split(",")] if args.bands else None,
        extent=floats(args.extent, 4, "--extent") if args.extent else None,
        extent_crs=args.extent_crs, aoi=Path(args.aoi) if args.aoi else None,
        overlap=args.overlap, batch_size=args.batch_size, threshold=args.threshold,
        tta=args.tta, min_area=args.min_area, device=args.device, precision=args.precision,
        out_crs=args.out_crs, source_name=", ".join(Path(r).name for r in args.raster),
        rescale=args.rescale, simplify=not args.no_simplify,
        max_tiles=None if args.allow_large else LARGE_PLAN_TILES)
    if args.plan:
        from .checkpoint import load_model
        from .devices import resolve_device
        from .errors import reading

        dev = resolve_device(args.device)
        loaded = load_model(Path(args.model), dev.key)
        with reading(raster):
            plan = plan_detection(loaded, raster, opts)
        hours = plan.tiles * seconds_per_tile(loaded, dev.key, args.batch_size,
                                              args.precision) / 3600
        for line in plan.notes + plan.warnings:
            print(line)
        print(f"{plan.describe()}; about {hours * 60:.1f} min on {dev.label}")
        if plan.tiles > LARGE_PLAN_TILES:
            print(f"more than {LARGE_PLAN_TILES} tiles: running it needs --allow-large")
        return 0
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if not args.quiet and (time.monotonic() - last[0] > 5 or done == total):
            last[0] = time.monotonic()
            print(f"tiles {done}/{total}", flush=True)

    from .inference import Cancelled

    SIGNALS.graceful = "stopping at the next batch of tiles; nothing will be written"
    try:
        result = detect(Path(args.model), raster, Path(args.out),
                        Path(args.probability) if args.probability else None, opts,
                        progress=progress, log=lambda m: print(m, flush=True),
                        should_stop=SIGNALS.requested)
    except Cancelled:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    finally:
        if raster.name.startswith(f".{Path(args.out).stem}.mosaic"):
            raster.unlink(missing_ok=True)
    print(result.summary())
    print(f"polygons: {result.vector} (layer landslides)")
    if result.probability:
        print(f"probability: {result.probability}")
    if args.json and world.main:
        Path(args.json).write_text(json.dumps(result.as_dict(), indent=2, default=str) + "\n")
    return 0


COMMANDS = {"devices": _cmd_devices, "train": _cmd_train, "evaluate": _cmd_evaluate,
            "detect": _cmd_detect, "export_tiles": _cmd_export_tiles,
            "export_model": _cmd_export_model}


def _join_ranks(device: str):
    """Under torchrun: join the process group (gloo on CPU, nccl on CUDA); only rank 0 prints."""
    from . import distributed

    world = distributed.join(device)
    if not world.main:
        sys.stdout = RankProgress(world.rank)
    return world


def _single_process_only(command: str) -> None:
    """Under torchrun (or any launcher that sets WORLD_SIZE > 1) each rank would evaluate the
    same data on its own: refuse instead (training and detection share the work)."""
    world = os.environ.get("WORLD_SIZE", "1")
    if command == "evaluate" and world.isdigit() and int(world) > 1:
        raise ValueError(f"{command} runs in one process; this one is rank "
                         f"{os.environ.get('RANK', '?')} of {world} (torchrun?). Several ranks "
                         "would each do the whole job and write the same files: start it once, "
                         "without torchrun")




def main(argv: list[str] | None = None) -> int:
    from .cli_args import build_parser

    parser = build_parser(COMMANDS)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from osgeo import gdal

    from .errors import user_message

    # GDAL's own "ERROR 4: ..." lines (also from its worker threads) stay off stderr: the
    # exception carries the same text, which the one-line error below shows
    gdal.SetConfigOption("CPL_LOG", os.devnull)
    gdal.SetErrorHandler("CPLQuietErrorHandler")
    try:
        _single_process_only(args.command)
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
    finally:
        if "mrife.distributed" in sys.modules:   # leave torchrun's process group cleanly
            sys.modules["mrife.distributed"].stop()
