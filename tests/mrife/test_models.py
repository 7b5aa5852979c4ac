"""Every architecture x every backbone: shapes, bands, backward, input checks."""

from __future__ import annotations

import pytest
import torch

from mrife.config import PRESETS
from mrife.models import ARCHITECTURES, BACKBONES, ModelConfig, build_model, preset


def _target(n: int, h: int, w: int) -> torch.Tensor:
    y = torch.zeros(n, h, w, dtype=torch.long)
    y[:, h // 4: 3 * h // 4 + 3, w // 5: w // 2 + 5] = 1  # a blob with edge blocks
    return y


def _model(arch: str, backbone: str = "resnet18", **kw):
    torch.manual_seed(0)
    return build_model(ModelConfig.for_arch(arch, backbone=backbone, **kw))


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_forward_backward_every_arch_and_backbone(arch, backbone):
    model = _model(arch, backbone).train()
    x = torch.rand(2, 3, 64, 64)
    out = model.compute_losses(x, _target(2, 64, 64), torch.Generator().manual_seed(0))
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    grads = [p.grad for p in model.trainable_parameters()]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) > 0.9 * len(grads)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 2, 64, 64)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("bands,size", [(1, (64, 96)), (4, (48, 80)), (3, (96, 64))])
def test_bands_and_non_square(arch, bands, size):
    model = _model(arch, in_channels=bands).train()
    x = torch.rand(2, bands, *size)
    out = model.compute_losses(x, _target(2, *size), torch.Generator().manual_seed(1))
    out["loss"].backward()
    assert model.encoder.backbone.conv1.in_channels == bands
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 2, *size)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_size_not_divisible_by_8_names_valid_sizes(arch):
    model = _model(arch).eval()
    with pytest.raises(ValueError, match=r"250 x 64 is not divisible by 8: use a tile of "
                                         r"248 or 256 x 64"):
        model(torch.rand(1, 3, 250, 64))


def test_wrong_band_count_is_explained():
    model = _model("deeplabv3plus").eval()
    with pytest.raises(ValueError, match="expects 3 band"):
        model(torch.rand(1, 4, 64, 64))


def test_block16_training_needs_multiple_of_16():
    model = _model("mrife", block_size=16).train()
    with pytest.raises(ValueError, match="not divisible by 16"):
        model.compute_losses(torch.rand(1, 3, 72, 64), _target(1, 72, 64))


def test_every_paper_row_is_a_configuration_that_runs():
    x, y = torch.rand(2, 3, 64, 64), _target(2, 64, 64)
    for name in PRESETS:
        torch.manual_seed(0)
        model = build_model(preset(name, backbone="resnet18")).train()
        out = model.compute_losses(x, y, torch.Generator().manual_seed(0))
        assert torch.isfinite(out["loss"]), name
    assert preset("B+M").sfce is False and preset("B+M+C").sfce is True
    assert preset("B").arch == "deeplabv3plus"
    # aliases name the same configuration; no two presets are the same configuration
    assert preset("baseline") == preset("B") and preset("mrife") == preset("B+M+C")
    configs = [preset(n) for n in PRESETS]
    assert all(a != b for i, a in enumerate(configs) for b in configs[i + 1:])
    assert isinstance(build_model(preset("fusion-concat", backbone="resnet18")).fuse_conv,
                      torch.nn.Module)
    assert build_model(preset("without-self-distillation", backbone="resnet18")).teacher is None


def test_ablation_switches_change_the_loss_terms():
    x, y = torch.rand(2, 3, 64, 64), _target(2, 64, 64)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    m = build_model(preset("B+M", backbone="resnet18")).train()
    out = m.compute_losses(x, y, g)
    expected = m.cfg.gamma * out["ce"] + m.cfg.alpha * out["reconst"]
    torch.testing.assert_close(out["loss"].detach(), expected)
    torch.manual_seed(0)
    m = build_model(preset("seg-branch-only", backbone="resnet18")).train()
    assert m.student is None and m.teacher is None
    out = m.compute_losses(x, y, g)
    assert set(out) == {"loss", "ce", "logits"}


def test_config_round_trip_and_validation():
    cfg = ModelConfig(backbone="resnet34", block_size=16, fusion="concat")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="block_size"):
        ModelConfig(block_size=12)
    with pytest.raises(ValueError, match="unknown model configuration"):
        ModelConfig.from_dict({"arch": "mrife", "bogus": 1})


def test_local_weights_file(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(3)
    ref = resnet18(weights=None)
    path = tmp_path / "r18.pt"
    torch.save(ref.state_dict(), path)
    model = build_model(ModelConfig.for_arch("deeplabv3plus", backbone="resnet18",
                                             weights=str(path)))
    torch.testing.assert_close(model.encoder.backbone.layer1[0].conv1.weight,
                               ref.layer1[0].conv1.weight)
    # 4 bands from RGB weights: each band gets the mean RGB filter * 3/4
    model4 = build_model(ModelConfig.for_arch("deeplabv3plus", backbone="resnet18",
                                              weights=str(path), in_channels=4))
    expected = ref.conv1.weight.mean(1, keepdim=True).repeat(1, 4, 1, 1) * 0.75
    torch.testing.assert_close(model4.encoder.backbone.conv1.weight, expected)


def test_output_stride_is_8_for_every_backbone():
    for backbone in BACKBONES:
        model = _model("deeplabv3plus", backbone).eval()
        with torch.no_grad():
            f, low = model.encoder(torch.rand(1, 3, 64, 96))
        assert f.shape[-2:] == (8, 12) and low.shape[-2:] == (16, 24), backbone


def test_transposed_decoder_starts_as_bilinear_upsampling():
    from torch.nn import functional as F

    from mrife.models.decoders import bilinear_init_

    torch.manual_seed(0)
    for k, s, p in ((4, 2, 1), (8, 4, 2)):
        conv = torch.nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, bias=False)
        bilinear_init_(conv)
        x = torch.rand(1, 1, 12, 12)
        with torch.no_grad():
            got = conv(x)
        ref = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
        inner = (slice(None), slice(None), slice(s, -s), slice(s, -s))
        torch.testing.assert_close(got[inner], ref[inner], atol=0.02, rtol=0)


def test_dice_term_against_a_direct_calculation():
    """segmentation_loss with dice_weight w = CE + w * (1 - Dice), Dice computed here by hand
    over the valid pixels (255 ignored)."""
    from mrife.models.base import segmentation_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 2, 8, 8)
    target = (torch.rand(2, 8, 8) > 0.6).long()
    target[0, :2] = 255
    ce = torch.nn.functional.cross_entropy(logits, target, ignore_index=255)
    p = torch.softmax(logits, 1)[:, 1].flatten()
    t = target.flatten()
    keep = t != 255
    p, t = p[keep], (t[keep] == 1).float()
    dice = (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    torch.testing.assert_close(segmentation_loss(logits, target, 0.5), ce + 0.5 * (1 - dice))
    torch.testing.assert_close(segmentation_loss(logits, target), ce)


def test_flip_tta_is_the_mean_over_flipped_inputs():
    """predict_batch(tta=True) = mean of the model's probabilities on the four flips of the
    input, each flipped back (computed here with numpy flips)."""
    import numpy as np

    from mrife.inference import predict_batch

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="deeplabv3plus", backbone="resnet18", se=False)).eval()
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    expected = np.zeros((2, 32, 32), np.float32)
    for axes in ((), (3,), (2,), (2, 3)):
        xi = np.flip(x, axes) if axes else x
        p = predict_batch(model, np.ascontiguousarray(xi), torch.device("cpu"))
        expected += np.flip(p, tuple(a - 1 for a in axes)) if axes else p
    got = predict_batch(model, x, torch.device("cpu"), tta=True)
    np.testing.assert_allclose(got, expected / 4, atol=1e-5)
    assert not np.allclose(got, predict_batch(model, x, torch.device("cpu")), atol=1e-4)
