"""Inference engines and the training step, in one run (issue 15): ``make bench-engines``.

Detection, the bundled model (MRIFE resnet18, 128 px tiles at 2 m):
- per tile: a batch of 8 random tiles, the network alone, after two warm-up batches;
- end to end: ``mrife.detect.detect`` over a 2048 x 2048 px raster at the model's resolution
  (a VRT mosaic of the bundled sample), planning, reading, preprocessing, blending,
  polygonising and writing included. ONNX Runtime runs inside the same pipeline through an
  adapter (a network-only export), so the engines differ only in the network.
Engines: torch float32 NCHW (the path before the compute policy), torch float32 channels-last
(what ``auto`` picks on a CPU without native bfloat16), torch ``auto``, ONNX Runtime float32
(CPU provider, as Deepness runs it). Ratios are to ONNX Runtime.

Training step (MRIFE resnet18, batch 4, 128 px, the sample's real tiles): the float32 NCHW path
and ``auto``, split into the network (forward, backward, optimizer) and everything else (batch
assembly, EMA teacher update, loss read-out), and the real loop's seconds per step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mrife.checkpoint import LoadedModel, load_model  # noqa: E402
from mrife.compute import ComputePolicy, choose, set_threads  # noqa: E402
from mrife.config import DataSettings  # noqa: E402
from mrife.detect import DetectOptions, detect  # noqa: E402

MODEL = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"
SAMPLE = ROOT / "resources" / "sample" / "sichuan_sample.tif"
LABELS = ROOT / "resources" / "sample" / "sichuan_sample_landslides.gpkg"
def legacy(device: str) -> ComputePolicy:
    """The path before the policy: float32, NCHW, no autocast."""
    return ComputePolicy("float32-nchw", torch.device(device).type, None, False, False,
                         "the path before the policy")


class OrtModel(torch.nn.Module):
    """ONNX Runtime behind the two calls detection makes (``predict_proba``, ``eval``)."""

    def __init__(self, path: Path, threads: int, device: str):
        super().__init__()
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise SystemExit("ONNX Runtime has no CUDA provider here (pip install "
                                 "onnxruntime-gpu); the torch rows need no ONNX Runtime")
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), so, providers=providers)
        self.provider = self.session.get_providers()[0]

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"input": np.ascontiguousarray(x.cpu().numpy())})[0]
        return torch.from_numpy(out).to(x.device)


def export_network_only(loaded: LoadedModel, path: Path) -> None:
    class Prob(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.predict_proba(x)

    t = loaded.contract.tile_size
    wrapper = Prob(loaded.model.float().eval()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (torch.randn(1, 3, t, t),), str(path), input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "n"},
                                                                 "output": {0: "n"}},
                          opset_version=17, dynamo=False)
    loaded.model.eval()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def per_tile(fn, x: np.ndarray, repeats: int, device: str) -> float:
    for _ in range(2):
        fn(x)
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn(x)
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times) / len(x) * 1000.0


def torch_fn(model, policy: ComputePolicy, device: str):
    policy.prepare_model(model) if policy.channels_last else \
        model.to(memory_format=torch.contiguous_format)

    def fn(x):
        with torch.no_grad(), policy.autocast():
            return model.predict_proba(policy.prepare_input(torch.from_numpy(x).to(device)))
    return fn


def mosaic(work: Path) -> Path:
    """The sample at 2 m (512 px) tiled 4 x 4: 2048 px at the model's resolution."""
    from osgeo import gdal

    gdal.UseExceptions()
    small = work / "sample2m.tif"
    gdal.Translate(str(small), str(SAMPLE), xRes=2.0, yRes=2.0, resampleAlg="average")
    ds = gdal.Open(str(small))
    gt = ds.GetGeoTransform()
    parts = []
    for i in range(4):
        for j in range(4):
            p = work / f"part{i}{j}.vrt"
            shifted = gdal.Translate(str(p), ds, format="VRT")
            shifted.SetGeoTransform((gt[0] + j * 1024, 2.0, 0, gt[3] - i * 1024, 0, -2.0))
            shifted = None
            parts.append(str(p))
    out = work / "mosaic2048.vrt"
    gdal.BuildVRT(str(out), parts).FlushCache()
    return out


def end_to_end(loaded: LoadedModel, raster: Path, work: Path, precision: str, tag: str,
               repeats: int, device: str) -> tuple[float, int]:
    times, tiles = [], 0
    for k in range(repeats):                      # kernels are warm from the per-tile runs
        t = time.perf_counter()
        r = detect(loaded, raster, work / f"{tag}{k}.gpkg", work / f"{tag}{k}.tif",
                   DetectOptions(device=device, precision=precision, batch_size=8))
        times.append(time.perf_counter() - t)
        tiles = r.tiles_run
    return statistics.median(times), tiles


def training_step(policy: ComputePolicy, steps: int, device: str) -> dict:
    from mrife.data import TileDataset
    from mrife.geodata import load_raster_scenes
    from mrife.models import arch_preset, build_model
    from mrife.preprocess import fit_preprocessing
    from mrife.train_measure import batch_of as _batch

    parts, _, _ = load_raster_scenes(SAMPLE, LABELS, ground_resolution=2.0, tile_size=128)
    pre = fit_preprocessing([s.image for s in parts["train"]],
                            valids=[s.valid for s in parts["train"]])
    ds = TileDataset(parts["train"], pre, 128, augment=True)
    torch.manual_seed(0)
    model = build_model(arch_preset("mrife", backbone="resnet18")).to(device)
    policy.prepare_model(model) if policy.channels_last else None
    model.train()
    opt = torch.optim.SGD(model.trainable_parameters(), lr=0.007, momentum=0.9)
    net, other = [], []
    for step in range(steps + 2):
        t0 = time.perf_counter()
        x, y = _batch(ds, [(step * 4 + k) % len(ds) for k in range(4)], torch.device(device))
        x = policy.prepare_input(x)
        t1 = time.perf_counter()
        with policy.autocast():
            losses = model.compute_losses(x, y, torch.Generator().manual_seed(step))
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        opt.step()
        _sync(device)
        t2 = time.perf_counter()
        model.update_teacher()
        _ = {k: float(v.detach()) for k, v in losses.items()
             if k != "logits" and torch.is_tensor(v) and v.ndim == 0}
        _sync(device)
        t3 = time.perf_counter()
        if step >= 2:
            net.append(t2 - t1)
            other.append((t1 - t0) + (t3 - t2))
    n, o = statistics.median(net), statistics.median(other)
    return {"network": n, "other": o, "step": n + o}


def real_loop(precision: str, work: Path, device: str) -> float:
    """Median seconds per step of mrife.train itself (progress events), 3 epochs."""
    from mrife.jobs import train_on_raster
    from mrife.models import arch_preset
    from mrife.train import TrainConfig

    stamps = []
    train_on_raster([SAMPLE], LABELS, None, arch_preset("mrife", backbone="resnet18"),
                    TrainConfig(epochs=3, batch_size=4, device=device, precision=precision,
                                estimate_time=False), work / f"loop-{precision}.pt",
                    DataSettings(tile_size=128, ground_resolution=2.0), log=lambda m: None,
                    progress=lambda e: stamps.append((type(e).__name__.lower(),
                                                      time.perf_counter())))
    t = [s for e, s in stamps if e in ("step", "epoch")]
    return (t[-1] - t[0]) / (sum(e == "step" for e, _ in stamps) - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-engines.md")
    ap.add_argument("--repeats", type=int, default=5, help="timed batches per tile figure")
    ap.add_argument("--runs", type=int, default=2, help="timed end-to-end runs per engine")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (ONNX Runtime then needs "
                    "its CUDA provider)")
    args = ap.parse_args()
    threads = set_threads()
    dev = args.device
    LEGACY = legacy(dev)
    loaded = load_model(MODEL, dev)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="mrife-engines-") as tmp:
        work = Path(tmp)
        onnx_path = work / "net.onnx"
        export_network_only(loaded, onnx_path)
        ort_model = OrtModel(onnx_path, threads, dev)
        x = np.random.default_rng(0).standard_normal((8, 3, 128, 128)).astype(np.float32)
        engines = {
            "torch float32 NCHW (before)": (LEGACY, "float32"),
            "torch float32 channels-last (auto without native bf16)": (choose("float32", dev),
                                                                       "float32"),
            f"torch auto ({choose('auto', dev).label})": (choose("auto", dev), "auto"),
        }
        ort_tile = per_tile(lambda b: ort_model.predict_proba(torch.from_numpy(b)), x,
                            args.repeats, dev)
        raster = mosaic(work)
        ort_loaded = LoadedModel(ort_model, loaded.config, loaded.contract, loaded.meta, None)
        ort_e2e, tiles = end_to_end(ort_loaded, raster, work, "float32", "ort", args.runs, dev)
        for name, (policy, precision) in engines.items():
            tile_ms = per_tile(torch_fn(loaded.model, policy, dev), x, args.repeats, dev)
            if policy is LEGACY:
                # detect() always applies the policy it chooses; the old path is NCHW float32
                import mrife.detect.run as det

                orig = det.choose
                det.choose = lambda p, d: LEGACY
                loaded.model.to(memory_format=torch.contiguous_format)
                try:
                    e2e, _ = end_to_end(loaded, raster, work, "float32", "legacy", args.runs,
                                        dev)
                finally:
                    det.choose = orig
            else:
                e2e, _ = end_to_end(loaded, raster, work, precision, precision, args.runs, dev)
            rows[name] = (tile_ms, e2e)
        rows[f"ONNX Runtime float32 ({ort_model.provider})"] = (ort_tile, ort_e2e)
        train_rows = {"float32 NCHW (before)": training_step(LEGACY, 8, dev),
                      f"auto ({choose('auto', dev).label})": training_step(choose("auto", dev),
                                                                         8, dev)}
        loops = {"float32": real_loop("float32", work, dev),
                 "auto": real_loop("auto", work, dev)}
    write(args.out, rows, tiles, train_rows, loops, threads, dev)


def write(out: Path, rows: dict, tiles: int, train_rows: dict, loops: dict, threads: int,
          device: str):
    import platform

    import onnxruntime

    ort_tile, ort_e2e = next(v for k, v in rows.items() if k.startswith("ONNX Runtime"))
    cpu = next((li.split(":", 1)[1].strip() for li in Path("/proc/cpuinfo").read_text()
                .splitlines() if li.startswith("model name")), platform.processor())
    if device.startswith("cuda"):
        cpu = f"{torch.cuda.get_device_name(torch.device(device))} (host: {cpu})"
    lines = [
        "# Engines: torch policies against ONNX Runtime",
        "",
        f"Made by `make bench-engines` (`python bench/bench_engines.py --device {device}`) on "
        f"{time.strftime('%Y-%m-%d')}: {cpu}, {threads} torch threads (physical cores), torch "
        f"{torch.__version__}, ONNX Runtime {onnxruntime.__version__}. Bundled model (MRIFE "
        "resnet18, 128 px tiles at 2 m). "
        "Per tile: median of the network alone on batches of 8. End to end: median of "
        f"`mrife.detect.detect` over a 2048 x 2048 px raster ({tiles} tiles, batch 8), "
        "everything from planning to the written GeoPackage and GeoTIFF; ONNX Runtime runs in "
        "the same pipeline. One machine, one run: read the ratios, not the third digit.",
        "",
        "| engine | ms per tile | per tile vs ORT | end to end (s) | tiles/s | end to end vs ORT |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, (tile_ms, e2e) in rows.items():
        lines.append(f"| {name} | {tile_ms:.1f} | {ort_tile / tile_ms:.2f}x | {e2e:.2f} | "
                     f"{tiles / e2e:.1f} | {ort_e2e / e2e:.2f}x |")
    lines += ["", "## Training step (MRIFE resnet18, batch 4, 128 px, real sample tiles)", "",
              "| path | network (s) | everything else (s) | step (s) | network share |",
              "|---|---:|---:|---:|---:|"]
    for name, r in train_rows.items():
        lines.append(f"| {name} | {r['network']:.3f} | {r['other']:.3f} | {r['step']:.3f} | "
                     f"{100 * r['network'] / r['step']:.0f} % |")
    base = list(train_rows.values())[0]["step"]
    new = list(train_rows.values())[1]["step"]
    lines += ["", f"Step speed-up: {base / new:.2f}x. The real loop (`mrife.train`, 3 epochs "
              "on the sample: 5 steps and a validation of 9 tiles per epoch, model and resume "
              "files written every epoch), seconds per step including validation and "
              f"writing: float32 {loops['float32']:.3f}, auto {loops['auto']:.3f} "
              f"({loops['float32'] / loops['auto']:.2f}x).", ""]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
