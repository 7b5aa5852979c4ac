"""Training on real Sichuan tiles (CPU, tiny budgets): each architecture runs, the model file
holds what detection needs, resume equals an uninterrupted run, bad states stop clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mrife.checkpoint import (
    CheckpointError,
    DataContract,
    atomic_save,
    check_bands,
    load_model,
    quantize_int8,
    read_payload,
    save_model,
)
from mrife.config import DataSettings
from mrife.events import Epoch, Plan, Step
from mrife.jobs import FolderData, evaluate_scenes, split_folder, train_on_folder
from mrife.models import ARCHITECTURES, ModelConfig, build_model
from mrife.train import TrainConfig, TrainingError, resume_path_for
from tests.conftest import link_scenes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_sichuan(tmp_path_factory, sichuan_dir):
    """Six real scenes (1024 px at ~0.5 m), used at 4 m/px: 128 px scenes, 64 px tiles."""
    root = link_scenes(sichuan_dir, tmp_path_factory.mktemp("sichuan6"), range(1, 7))
    return FolderData(root / "images", root / "masks",
                      DataSettings(tile_size=64, ground_resolution=4.0), 0.5)


def _tcfg(**kw) -> TrainConfig:
    base = dict(epochs=1, batch_size=2, lr=0.01, device="cpu", max_steps_per_epoch=2)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_short_run_writes_complete_model_file(arch, small_sichuan, tmp_path):
    out = tmp_path / f"{arch}.pt"
    events = []
    cfg = ModelConfig.for_arch(arch, backbone="resnet18")
    result = train_on_folder(small_sichuan, cfg, _tcfg(epochs=2), out, progress=events.append)
    assert result.status == "completed" and out.is_file()
    assert not resume_path_for(out).exists()          # removed once the run completed
    steps = [e for e in events if isinstance(e, Step)]
    assert [e.global_step for e in steps] == [1, 2, 3, 4]
    assert all(e.eta_s >= 0 and "loss" in e.losses for e in steps)
    assert len([e for e in events if isinstance(e, Epoch)]) == 2

    data = read_payload(out)
    assert data["model_config"]["arch"] == arch
    contract = data["data_contract"]
    assert contract["bands"] == ["red", "green", "blue"]
    assert contract["ground_resolution"] == 4.0 and contract["tile_size"] == 64
    assert contract["settings"]["tile_size"] == 64 and contract["settings"]["pos_neg_ratio"] == 3
    assert contract["preprocessing"]["mode"] == "dataset"
    assert len(contract["preprocessing"]["quantiles"]) == 3
    assert set(data["metrics"]) >= {"iou_landslide", "f1", "precision", "recall"}
    assert data["training_data"]["split"]["train"] and data["format_version"] == 1
    if arch == "icssn":  # the iterative schedule ran both phases
        assert any("bce" in e.losses for e in steps) and any("ce" in e.losses
                                                                for e in steps)
    if arch == "mrife":
        assert any(k.startswith("teacher.") for k in data["state_dict"])


def test_checkpoint_round_trip_identical_predictions(small_sichuan, tmp_path):
    out = tmp_path / "m.pt"
    train_on_folder(small_sichuan, ModelConfig(arch="mrife", backbone="resnet18"), _tcfg(), out)
    first = load_model(out)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        p1 = first.model(x)
    again = save_model(tmp_path / "copy.pt", first.model, first.contract)
    with torch.no_grad():
        p2 = load_model(again).model(x)
    assert torch.equal(p1, p2)
    half = save_model(tmp_path / "half.pt", first.model, first.contract, half=True)
    assert half.stat().st_size < 0.4 * out.stat().st_size       # fp16, no student
    with torch.no_grad():
        p3 = load_model(half).model(x)
    assert float((p3.softmax(1) - p1.softmax(1)).abs().max()) < 0.02
    small = save_model(tmp_path / "int8.pt", first.model, first.contract, precision="int8")
    assert small.stat().st_size < 0.6 * half.stat().st_size     # int8 convolutions
    with torch.no_grad():
        p4 = load_model(small).model(x)
    assert float((p4.softmax(1) - p1.softmax(1)).abs().max()) < 0.05


def test_int8_quantisation_matches_hand_computation():
    w = torch.tensor([[1.0, -0.3, 0.25, 0.0], [0.01, 0.021, -0.04, 0.03]]).reshape(2, 4, 1, 1)
    q, scale = quantize_int8(w)
    # per output channel: scale = max|w| / 127; q = round(w / scale)
    assert torch.allclose(scale, torch.tensor([1.0 / 127, 0.04 / 127]))
    # -0.3 * 127 = -38.1; 0.25 * 127 = 31.75; 0.01 * 127 / 0.04 = 31.75; 0.021 * 127 / 0.04 =
    # 66.675; 0.03 * 127 / 0.04 = 95.25
    assert q.reshape(2, 4).tolist() == [[127, -38, 32, 0], [32, 67, -127, 95]]
    assert float((q.float() * scale[:, None, None, None] - w).abs().max()) <= 0.5 * 1.0 / 127


def test_fine_tune_from_inference_only_file_starts_student_from_teacher(small_sichuan, tmp_path):
    cfg = ModelConfig(arch="mrife", backbone="resnet18")
    torch.manual_seed(123)
    base = build_model(cfg)
    curve = [float(v) for v in np.linspace(0, 255, 1025)]      # a complete preprocessing:
    contract = DataContract(["red", "green", "blue"], 4.0, 64, {   # model files are checked
        "mode": "none", "quantiles": [curve] * 3, "mean": [0.0] * 3, "std": [1.0] * 3})
    src = save_model(tmp_path / "ship.pt", base, contract, precision="int8")
    train_on_folder(small_sichuan, cfg, _tcfg(init_from=str(src), max_steps_per_epoch=1),
                    tmp_path / "ft.pt")
    ft = load_model(tmp_path / "ft.pt")
    assert ft.meta["precision"] == "float32"
    key = "backbone.conv1.weight"
    shipped = base.teacher.state_dict()[key]
    # one small SGD step away from the shipped teacher (int8 error: <= scale/2), not a random init
    assert float((ft.model.student.state_dict()[key] - shipped).abs().max()) < 0.02
    assert float((build_model(cfg).student.state_dict()[key] - shipped).abs().max()) > 0.1


def test_resume_after_cancel_equals_uninterrupted_run(small_sichuan, tmp_path):
    cfg = ModelConfig(arch="mrife", backbone="resnet18")
    full = train_on_folder(small_sichuan, cfg, _tcfg(epochs=2), tmp_path / "a.pt")

    calls = {"n": 0}

    def stop_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    out = tmp_path / "b.pt"
    cut = train_on_folder(small_sichuan, cfg, _tcfg(epochs=2), out, should_stop=stop_after_three)
    assert cut.status == "cancelled" and resume_path_for(out).is_file()
    assert read_payload(resume_path_for(out))["resume"]["global_step"] == 3
    done = train_on_folder(small_sichuan, cfg, _tcfg(epochs=2), out, resume=True)
    assert done.status == "completed"
    assert done.history == full.history
    a, b = read_payload(tmp_path / "a.pt"), read_payload(out)
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_time_estimate_is_stated_first_and_leaves_the_run_unchanged(small_sichuan, tmp_path):
    """The "plan" event comes before any step, with a measured time per step; the probe runs on
    a copy, so the trained weights equal those of a run without the estimate."""
    cfg = ModelConfig(arch="mrife", backbone="resnet18")
    events = []
    train_on_folder(small_sichuan, cfg, _tcfg(epochs=2), tmp_path / "a.pt",
                    progress=events.append)
    plan = events[0]
    assert isinstance(plan, Plan) and not any(isinstance(e, Plan) for e in events[1:])
    assert plan.total_steps == 4 and plan.steps_per_epoch == 2
    assert plan.seconds_per_step > 0 and plan.eta_s >= 4 * plan.seconds_per_step
    train_on_folder(small_sichuan, cfg, _tcfg(epochs=2, estimate_time=False), tmp_path / "b.pt",
                    progress=lambda e: None)
    a, b = read_payload(tmp_path / "a.pt"), read_payload(tmp_path / "b.pt")
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_nonfinite_loss_stops_with_message(small_sichuan, tmp_path):
    with pytest.raises(TrainingError, match="lower the learning rate"):
        train_on_folder(small_sichuan, ModelConfig(arch="deeplabv3plus", backbone="resnet18",
                                                   se=False),
                        _tcfg(lr=1e12, max_steps_per_epoch=4), tmp_path / "nan.pt")


def test_fine_tune_frozen_encoder(small_sichuan, tmp_path):
    base = tmp_path / "base.pt"
    train_on_folder(small_sichuan, ModelConfig(arch="mrife", backbone="resnet18"), _tcfg(), base)
    tuned = tmp_path / "tuned.pt"
    train_on_folder(small_sichuan, ModelConfig(arch="mrife", backbone="resnet18"),
                    _tcfg(init_from=str(base), freeze_encoder=True), tuned)
    a, b = read_payload(base)["state_dict"], read_payload(tuned)["state_dict"]
    assert torch.equal(a["encoder.backbone.layer1.0.conv1.weight"],
                       b["encoder.backbone.layer1.0.conv1.weight"])
    assert not torch.equal(a["decoder.0.weight"], b["decoder.0.weight"])
    with pytest.raises(TrainingError, match="same architecture"):
        train_on_folder(small_sichuan, ModelConfig(arch="icssn", backbone="resnet18"),
                        _tcfg(init_from=str(base)), tmp_path / "x.pt")


def test_bad_model_files(tmp_path, small_sichuan):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00not a model")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(bad)
    out = tmp_path / "m.pt"
    train_on_folder(small_sichuan, ModelConfig(arch="deeplabv3plus", backbone="resnet18",
                                               se=False), _tcfg(), out)
    data = read_payload(out)
    data["format_version"] = 99
    torch.save(data, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="newer"):
        load_model(tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="needs 3 band.*has 1"):
        check_bands(load_model(out).contract, 1)


class _FailsMidWrite(torch.Tensor):
    """A tensor whose pickling raises after part of the file is written: a real failed write
    (a tensor, so it passes checkpoint.plain like every stored value)."""

    def __reduce_ex__(self, protocol):
        raise OSError(28, "No space left on device")


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "model.pt"
    atomic_save({"ok": torch.zeros(1000)}, target)
    before = target.read_bytes()
    with pytest.raises(OSError, match="No space"):
        atomic_save({"big": torch.zeros(100000),
                     "x": torch.zeros(3).as_subclass(_FailsMidWrite)}, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_evaluate_uses_sliding_window_over_whole_scenes(small_sichuan, tmp_path):
    out = tmp_path / "m.pt"
    train_on_folder(small_sichuan, ModelConfig(arch="deeplabv3plus", backbone="resnet18",
                                               se=False), _tcfg(), out)
    parts, _ = split_folder(small_sichuan)
    m = evaluate_scenes(load_model(out), parts["test"], overlap=16)
    total = sum(s.label.size for s in parts["test"])
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == total
    assert set(m) >= {"pa", "precision", "recall", "f1", "iou_landslide", "miou",
                      "object_accuracy"}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mrife", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_cli_train_and_evaluate(small_sichuan, tmp_path):
    out = tmp_path / "cli.pt"
    r = _cli("train", "--images", str(small_sichuan.images), "--masks", str(small_sichuan.masks),
             "--arch", "deeplabv3plus", "--backbone", "resnet18", "--tile-size", "64",
             "--source-resolution", "0.5", "--ground-resolution", "4", "--epochs", "1",
             "--max-steps-per-epoch", "1", "--device", "cpu", "--out", str(out))
    assert r.returncode == 0, r.stderr
    js = tmp_path / "metrics.json"
    r = _cli("evaluate", "--model", str(out), "--images", str(small_sichuan.images), "--masks",
             str(small_sichuan.masks), "--source-resolution", "0.5", "--device", "cpu",
             "--split", "test", "--json", str(js))
    assert r.returncode == 0, r.stderr
    import json

    m = json.loads(js.read_text())
    assert set(m) >= {"pa", "precision", "recall", "f1", "iou_landslide", "miou",
                      "object_accuracy"}
    assert m["scenes"] == 1
    # the model works at 4 m: without the images' own resolution they would be scored unresampled
    js.unlink()
    r = _cli("evaluate", "--model", str(out), "--images", str(small_sichuan.images), "--masks",
             str(small_sichuan.masks), "--device", "cpu", "--json", str(js))
    assert r.returncode != 0 and "--source-resolution" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not js.exists()


@pytest.mark.parametrize("args,message", [
    (["train", "--images", "/nonexistent", "--masks", "/nonexistent", "--out", "x.pt"],
     "images folder not found"),
    (["train", "--images", ".", "--masks", ".", "--tile-size", "100", "--out", "x.pt"],
     "must be a multiple of 16"),
    (["evaluate", "--model", "/nonexistent.pt", "--images", ".", "--masks", "."],
     "model file not found"),
])
def test_cli_bad_arguments_one_line_error(args, message):
    r = _cli(*args)
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_scene_data_is_real(small_sichuan):
    parts, split = split_folder(small_sichuan)
    s = parts["train"][0]
    assert s.image.shape == (3, 128, 128) and s.image.dtype == np.uint8
    assert 0.02 < s.label.mean() < 0.5


def test_init_from_takes_the_network_and_grid_from_the_file(tmp_path, capsys):
    """`train --init-from model.pt` with nothing else about the network: architecture,
    backbone, bands, tile size and ground resolution come from the file (read back from the
    new model here); a contradicting --backbone is a one-line error."""
    import shutil

    from mrife.checkpoint import read_payload
    from mrife.cli import main
    from mrife.config import ModelConfig

    bundled = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"
    sample = ROOT / "resources" / "sample"
    labels = tmp_path / "l.gpkg"
    shutil.copyfile(sample / "sichuan_sample_landslides.gpkg", labels)
    base = read_payload(bundled)
    out = tmp_path / "ft.pt"
    common = ["train", "--raster", str(sample / "sichuan_sample.tif"), "--labels", str(labels),
              "--init-from", str(bundled), "--epochs", "1", "--max-steps-per-epoch", "1",
              "--device", "cpu", "--quiet"]
    assert main([*common, "--out", str(out)]) == 0
    new = read_payload(out)
    for key in ("arch", "backbone", "in_channels"):
        assert new["model_config"][key] == base["model_config"][key]
    for key in ("tile_size", "ground_resolution", "bands"):
        assert new["data_contract"][key] == base["data_contract"][key]
    # every other network setting is the file's, but for the fine-tuning change
    # (config.FINETUNE_SETTINGS): training fuses the teacher's features, as inference does
    # (settings newer than the file take their defaults)
    stored = ModelConfig.from_dict(base["model_config"]).to_dict()
    assert stored["train_fusion_source"] == "student_masked"
    changed = {k for k, v in new["model_config"].items() if v != stored[k]}
    assert changed == {"train_fusion_source"}
    assert new["model_config"]["train_fusion_source"] == "teacher_original"
    # and --set takes the paper's training fusion back
    back = tmp_path / "paper.pt"
    assert main([*common, "--set", "train_fusion_source=student_masked", "--out", str(back)]) == 0
    assert read_payload(back)["model_config"] == stored
    capsys.readouterr()
    assert main([*common, "--backbone", "resnet101", "--out", str(tmp_path / "x.pt")]) == 1
    err = capsys.readouterr().err
    assert "--backbone resnet101 contradicts mrife-r18-sichuan.pt" in err and err.count("\n") == 1


@pytest.mark.parametrize("kw, message", [
    ({"tile_size": 100}, "multiple of 16"), ({"tile_size": 16}, "at least 32"),
    ({"ground_resolution": 0.0}, "above 0"), ({"pos_neg_ratio": -1}, "0 or more"),
    ({"preprocessing": "clahe"}, "preprocessing must be"),
    ({"split_ratios": (0.8, 0.0, 0.2)}, "validation shares above 0"),
])
def test_data_settings_refuse_bad_values(kw, message):
    from mrife.config import DataSettings

    with pytest.raises(ValueError, match=message):
        DataSettings(**kw)


def test_several_ranks_are_refused_not_run_twice(tmp_path):
    """Evaluation under torchrun --nproc-per-node 2 would start two independent copies: each
    rank is refused with one line instead (training and detection share the work between
    ranks: tests/mrife/test_distributed*.py)."""

    env = dict(os.environ, WORLD_SIZE="2", RANK="1", PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-m", "mrife", "evaluate", "--model", "m.pt",
                        "--images", ".", "--masks", ".", "--json", str(tmp_path / "x.json")],
                       cwd=Path(__file__).parents[2], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "rank 1 of 2" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.json").exists()


def test_a_rank_without_its_launcher_says_so_in_one_line(tmp_path):
    """WORLD_SIZE set but no torchrun rendezvous (MASTER_ADDR): one line, non-zero, no file."""
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_ADDR", "MASTER_PORT")}
    env.update(WORLD_SIZE="2", RANK="1", PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-m", "mrife", "detect", "--model", "m.pt", "--raster",
                        "r.tif", "--out", str(tmp_path / "x.gpkg")], cwd=Path(__file__).parents[2],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "MASTER_ADDR" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "x.gpkg").exists()
