"""Model files that are safe to unpickle but not sane (issue 31): each is refused with one line
before anything is built or allocated from it, through the real CLI."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from mrife.checkpoint import CheckpointError, load_model, model_payload, plain, read_payload
from mrife.cli import main
from mrife.model_checks import SLACK_BYTES
from tests import crafted

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "resources" / "models" / "mrife-r18-sichuan.pt"
SAMPLE = ROOT / "resources" / "sample" / "sichuan_sample.tif"


def _edited(tmp_path: Path, edit) -> Path:
    return crafted.edited_model(tmp_path / "m.pt", BUNDLED, edit)


def _first_conv(data: dict) -> str:
    return next(k for k, v in data["state_dict"].items() if v.ndim == 4)


EDITS = {
    "tile size 65536": (lambda d: d["data_contract"].update(tile_size=65536), "tile size 65536"),
    "tile size 100": (lambda d: d["data_contract"].update(tile_size=100), "tile size 100"),
    "std 0": (lambda d: d["data_contract"]["preprocessing"].update(std=[0.0, 1.0, 1.0]),
              "standard deviation"),
    "NaN mean": (lambda d: d["data_contract"]["preprocessing"].update(
        mean=[float("nan"), 0.0, 0.0]), "preprocessing mean"),
    "NaN weights": (lambda d: d["state_dict"][_first_conv(d)].fill_(float("nan")),
                    "non-finite weights"),
    "NaN threshold": (lambda d: d.update(decision={"threshold": float("nan")}),
                      "decision threshold nan"),
    "threshold 1.5": (lambda d: d.update(decision={"threshold": 1.5}), "decision threshold 1.5"),
    "resolution 0": (lambda d: d["data_contract"].update(ground_resolution=0.0),
                     "ground resolution 0.0"),
    "resolution -2": (lambda d: d["data_contract"].update(ground_resolution=-2.0),
                      "ground resolution -2.0"),
    "format_version '1'": (lambda d: d.update(format_version="1"), "format version is '1'"),
    "no bands": (lambda d: d["data_contract"].update(bands=[]), "bands []"),
}


@pytest.mark.parametrize("case", list(EDITS))
def test_insane_values_are_refused_in_one_line(case, tmp_path, capsys):
    edit, words = EDITS[case]
    model = _edited(tmp_path, edit)
    rc = main(["detect", "--device", "cpu", "--model", str(model), "--raster", str(SAMPLE),
               "--out", str(tmp_path / "o.gpkg")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: m.pt is damaged") and err.count("\n") == 1, err
    assert words in err
    assert not (tmp_path / "o.gpkg").exists()


def test_int8_scales_that_are_not_finite_are_refused(tmp_path, capsys):
    loaded = load_model(BUNDLED)

    payload = model_payload(loaded.model, loaded.contract, precision="int8")
    key = next(iter(payload["quantized"]))
    payload["quantized"][key]["scale"][0] = float("nan")
    path = tmp_path / "m.pt"
    torch.save(plain(payload), path)
    with pytest.raises(CheckpointError, match=f"int8 weights of {key}"):
        read_payload(path)
    payload["quantized"][key]["scale"][0] = 0.01
    payload["quantized"][key]["q"] = payload["quantized"][key]["q"].float()
    torch.save(plain(payload), path)
    with pytest.raises(CheckpointError, match="int8 weights"):
        read_payload(path)


def test_the_bundled_model_passes_and_its_numbers_are_the_ones_checked():
    """The checks accept what the product writes (the bundled file, float16 and int8 copies)."""
    data = read_payload(BUNDLED)
    assert data["data_contract"]["tile_size"] == 128
    loaded = load_model(BUNDLED)
    for precision in ("float16", "int8"):
        payload = model_payload(loaded.model, loaded.contract, precision=precision,
                                decision=loaded.meta["decision"])
        from mrife.model_checks import check_payload
        check_payload(payload, f"{precision}.pt")


def test_zip_bomb_is_refused_before_it_is_inflated(tmp_path, capsys):
    """A tiny file whose archive declares 200 MiB (a compressed member of zeros) is refused from
    its ZIP directory alone: nothing is decompressed or allocated."""
    bomb = crafted.zip_bomb(tmp_path / "bomb.pt", BUNDLED, 200)
    declared = sum(i.file_size for i in zipfile.ZipFile(bomb).infolist())
    assert declared > bomb.stat().st_size + SLACK_BYTES        # the shape of a bomb
    rc = main(["detect", "--device", "cpu", "--model", str(bomb), "--raster", str(SAMPLE),
               "--out", str(tmp_path / "o.gpkg"), "--plan"])
    err = capsys.readouterr().err
    assert rc == 1 and "would inflate to" in err and err.count("\n") == 1, err


def test_the_size_cap_is_the_users_to_raise(tmp_path, monkeypatch):
    """Over MRIFE_MAX_MODEL_BYTES (here set below the bundled model's size) a file is refused;
    the default cap admits it."""
    read_payload(BUNDLED)
    monkeypatch.setenv("MRIFE_MAX_MODEL_BYTES", str(BUNDLED.stat().st_size // 2))
    with pytest.raises(CheckpointError, match="MRIFE_MAX_MODEL_BYTES"):
        read_payload(BUNDLED)
