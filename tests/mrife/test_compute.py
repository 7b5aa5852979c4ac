"""Precision and layout policy, background model writes, ONNX export (issue 15)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal, ogr

from mrife.checkpoint import BackgroundWriter, load_model, read_payload
from mrife.compute import choose, cpu_has_native_bf16, physical_cores
from mrife.config import DataSettings
from mrife.detect import DetectOptions, detect
from mrife.events import Plan, Step
from mrife.inference import predict_batch

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"
SAMPLE = ROOT / "resources" / "sample" / "sichuan_sample.tif"


def _cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text()
    line = next(li for li in text.splitlines() if li.startswith("flags"))
    return set(line.split(":", 1)[1].split())


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="Linux CPU flags")
def test_auto_follows_the_cpus_own_bf16_flags():
    """Independent of torch's check: the kernel's CPU flags say whether bf16 is native."""
    native = bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    assert cpu_has_native_bf16() == native
    auto = choose("auto", "cpu")
    assert auto.dtype == (torch.bfloat16 if native else None) and auto.channels_last
    assert choose("float32", "cpu").dtype is None
    assert not auto.grad_scaling
    with pytest.raises(ValueError, match="float16 is for CUDA"):
        choose("float16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        choose("half", "cpu")
    assert 1 <= physical_cores() <= os.cpu_count()


def test_auto_and_float32_give_the_same_detection(scene_model, geo_scene, tmp_path):
    """Probability maps within 0.05 everywhere and polygons the same within 2 % (IoU)."""
    runs = {}
    for p in ("float32", "auto"):
        r = detect(scene_model, geo_scene["raster"], tmp_path / f"{p}.gpkg", tmp_path / f"{p}.tif",
                   DetectOptions(device="cpu", precision=p))
        ds = gdal.Open(str(r.probability))
        runs[p] = (ds.ReadAsArray(), r.vector)
    (a, va), (b, vb) = runs["float32"], runs["auto"]
    assert np.abs(a - b).max() < 0.05 and np.abs(a - b).mean() < 0.005

    def union(path):
        ds = ogr.Open(str(path))
        u = None
        for f in ds.GetLayer(0):
            g = f.GetGeometryRef().Clone()
            u = g if u is None else u.Union(g)
        return u
    ua, ub = union(va), union(vb)
    assert ua.Intersection(ub).GetArea() / ua.Union(ub).GetArea() > 0.98


def test_predict_batch_under_a_policy_matches_float32():
    loaded = load_model(BUNDLED)
    x = np.random.default_rng(0).standard_normal((2, 3, 128, 128)).astype(np.float32)
    ref = predict_batch(loaded.model, x, torch.device("cpu"))
    policy = choose("auto", "cpu")
    policy.prepare_model(loaded.model)
    got = predict_batch(loaded.model, x, torch.device("cpu"), policy)
    assert np.abs(got - ref).max() < 0.05


def test_background_writer_orders_writes_and_reports_failures(tmp_path):
    w = BackgroundWriter()
    for i in range(3):
        w.save({"i": i, "t": torch.full((1000,), float(i))}, tmp_path / "a.pt")
    w.save({"b": 1}, tmp_path / "b.pt")
    w.wait()
    assert torch.load(tmp_path / "a.pt", weights_only=True)["i"] == 2     # the last one won
    assert torch.load(tmp_path / "b.pt", weights_only=True) == {"b": 1}

    class Fails(torch.Tensor):
        def __reduce_ex__(self, protocol):
            raise OSError(28, "No space left on device")

    before = (tmp_path / "a.pt").read_bytes()
    w.save({"x": torch.zeros(3).as_subclass(Fails)}, tmp_path / "a.pt")
    w.save({"after": 1}, tmp_path / "c.pt")            # queued behind the failure: dropped
    with pytest.raises(OSError, match="No space"):
        w.wait()
    assert (tmp_path / "a.pt").read_bytes() == before and not (tmp_path / "c.pt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt"]
    w.save({"ok": 1}, tmp_path / "d.pt")                # usable again after reporting
    w.wait()
    assert (tmp_path / "d.pt").exists()


def test_training_under_auto_writes_loadable_models(tmp_path):
    """A short MRIFE run under the auto policy: finite losses, both files written by the
    background writer are complete and load, and the model's weights stay float32."""
    import shutil

    from mrife.jobs import train_on_raster
    from mrife.models import arch_preset
    from mrife.train import TrainConfig

    labels = tmp_path / "l.gpkg"
    shutil.copyfile(ROOT / "resources" / "sample" / "sichuan_sample_landslides.gpkg", labels)
    out = tmp_path / "m.pt"
    events = []
    r = train_on_raster([SAMPLE], labels, None, arch_preset("mrife", backbone="resnet18"),
                        TrainConfig(epochs=2, batch_size=2, device="cpu", max_steps_per_epoch=2,
                                    precision="auto"), out,
                        DataSettings(tile_size=128, ground_resolution=4.0),
                        progress=events.append, log=lambda m: None)
    assert r.status == "completed" and out.exists() and not out.with_suffix(".resume.pt").exists()
    plan = next(e for e in events if isinstance(e, Plan))
    assert plan.compute.startswith(choose("auto", "cpu").label)
    steps = [e for e in events if isinstance(e, Step)]
    assert steps and all(np.isfinite(v) for e in steps for v in e.losses.values())
    data = read_payload(out)
    assert all(v.dtype == torch.float32 for v in data["state_dict"].values()
               if v.is_floating_point())
    load_model(out)


def test_onnx_export_runs_in_onnx_runtime_like_torch(tmp_path):
    """The exported graph (preprocessing inside) on a real 8-bit tile against the product's own
    path (preprocess in numpy, network in torch float32)."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from mrife.cli import main

    out = tmp_path / "m.onnx"
    assert main(["export-model", "--model", str(BUNDLED), "--format", "onnx", "--out",
                 str(out)]) == 0
    ds = gdal.Open(str(SAMPLE))
    img = ds.ReadAsArray(512, 512, 512, 512, buf_xsize=128, buf_ysize=128)
    loaded = load_model(BUNDLED)
    ref = predict_batch(loaded.model, loaded.contract.preprocess.apply(
        img.astype(np.float64))[None], torch.device("cpu"))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": (img[None] / 255.0).astype(np.float32)})[0]
    assert got.shape == (1, 2, 128, 128)
    assert np.abs(got[:, 1] - ref).max() < 1e-4
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    meta = {k: json.loads(v) for k, v in sess.get_modelmeta().custom_metadata_map.items()}
    assert meta["model_type"] == "Segmentor"
    assert meta["class_names"] == {"0": "background", "1": "landslide"}
    assert meta["resolution"] == pytest.approx(loaded.contract.ground_resolution * 100)
    assert meta["tiles_size"] == loaded.contract.tile_size
    # Deepness thresholds at the model's own decision threshold (0.4 for the bundled model, read
    # from the file's stored decision here), not at 0.5
    stored = torch.load(BUNDLED, weights_only=True)["decision"]["threshold"]
    assert stored != 0.5 and meta["seg_thresh"] == pytest.approx(stored)
    assert meta["mrife_data_contract"]["bands"] == loaded.contract.bands
    # a batch of two and a larger tile work too (dynamic axes)
    two = np.repeat((img[None] / 255.0).astype(np.float32), 2, axis=0)
    assert sess.run(None, {"input": two})[0].shape == (2, 2, 128, 128)
