"""MRIFE's mask module, losses and teacher, each checked against an independent calculation."""

from __future__ import annotations

import math

import pytest
import torch

from mrife.models import ModelConfig, build_model
from mrife.models.losses import edge_contrast_loss, reconstruction_loss
from mrife.models.mask import BACKGROUND, EDGE, INTERIOR, block_classes, make_masks
from mrife.models.mrife import make_pairs


def _fill_block(label: torch.Tensor, r: int, c: int, b: int, count: int) -> None:
    """Put ``count`` landslide pixels (row-major from the top-left) into block (r, c)."""
    block = torch.zeros(b * b, dtype=label.dtype)
    block[:count] = 1
    label[r * b:(r + 1) * b, c * b:(c + 1) * b] = block.view(b, b)


# 8x8 blocks of a 16 x 32 label, landslide pixel counts chosen at the thresholds; classes worked
# out by hand from the paper's rule (< 7 background, 7..57 edge, > 57 interior).
COUNTS_8 = [[0, 6, 7, 57],
            [58, 64, 30, 1]]
CLASSES_8 = [[BACKGROUND, BACKGROUND, EDGE, EDGE],
             [INTERIOR, INTERIOR, EDGE, BACKGROUND]]


def _label_8() -> torch.Tensor:
    label = torch.zeros(16, 32, dtype=torch.long)
    for r, row in enumerate(COUNTS_8):
        for c, n in enumerate(row):
            _fill_block(label, r, c, 8, n)
    return label


def test_block_classes_8_by_hand():
    classes = block_classes(_label_8()[None], 8)
    assert classes[0].tolist() == CLASSES_8


def test_block_classes_16_thresholds_scale_with_area():
    # 10 % of 256 = 25.6 and 90 % = 230.4: 25 -> background, 26 and 230 -> edge, 231 -> interior
    label = torch.zeros(16, 64, dtype=torch.long)
    for c, n in enumerate([25, 26, 230, 231]):
        _fill_block(label, 0, c, 16, n)
    assert block_classes(label[None], 16)[0].tolist() == [[BACKGROUND, EDGE, EDGE, INTERIOR]]


def test_ignored_pixels_do_not_count_as_landslide():
    label = torch.full((8, 8), 255, dtype=torch.long)
    assert block_classes(label[None], 8)[0].tolist() == [[BACKGROUND]]


def test_masking_edge_background_equal_counts_and_pixels():
    label = _label_8()
    image = torch.rand(1, 3, 16, 32) + 1.0  # strictly positive, so masked pixels are visible
    res = make_masks(image, label[None], block_size=8, fraction=1.0,
                     generator=torch.Generator().manual_seed(0))
    edges = {2, 3, 6}           # flat indices of the edge blocks (row-major, 4 per row)
    backgrounds = {0, 1, 7}
    m1, m0 = set(res.mask_list1[0].tolist()), set(res.mask_list0[0].tolist())
    assert m1 == edges and m0 == backgrounds      # fraction 1: all 3 edge, 3 of 3 background
    masked_blocks = (res.masked[0, 0] == 0).view(2, 8, 4, 8).all(3).all(1).flatten()
    assert set(torch.nonzero(masked_blocks).flatten().tolist()) == edges | backgrounds
    assert torch.equal(res.masked[0][:, :, 0:16][res.masked[0][:, :, 0:16] != 0],
                       image[0][:, :, 0:16][res.masked[0][:, :, 0:16] != 0])


def test_masking_half_fraction_is_random_but_balanced():
    label = _label_8()
    seen = set()
    for seed in range(20):
        res = make_masks(torch.rand(1, 3, 16, 32), label[None], fraction=0.5,
                         generator=torch.Generator().manual_seed(seed))
        assert res.count(0) == math.ceil(0.5 * 3) == len(res.mask_list0[0])
        assert set(res.mask_list1[0].tolist()) <= {2, 3, 6}
        assert set(res.mask_list0[0].tolist()) <= {0, 1, 7}
        seen.add(tuple(sorted(res.mask_list1[0].tolist())))
    assert len(seen) > 1  # the choice is random


@pytest.mark.parametrize("strategy,class1", [("interior_background", {4, 5}),
                                             ("all", {2, 3, 4, 5, 6})])
def test_strategies(strategy, class1):
    res = make_masks(torch.rand(1, 3, 16, 32), _label_8()[None], strategy=strategy, fraction=1.0,
                     generator=torch.Generator().manual_seed(0))
    m1 = set(res.mask_list1[0].tolist())
    assert m1 <= class1
    assert len(m1) == min(len(class1), 3) == len(res.mask_list0[0])


def test_negative_tile_masks_nothing():
    x = torch.rand(1, 3, 16, 32)
    res = make_masks(x, torch.zeros(1, 16, 32, dtype=torch.long))
    assert res.count(0) == 0 and torch.equal(res.masked, x)


def test_block16_feature_points_are_the_2x2_groups():
    label = torch.zeros(32, 32, dtype=torch.long)
    _fill_block(label, 0, 1, 16, 100)   # edge block at block (0, 1)
    res = make_masks(torch.rand(1, 3, 32, 32), label[None], block_size=16, fraction=1.0)
    assert res.mask_list1[0].tolist() == [1]
    idx, lab = res.feature_points(0, feature_width=4)   # feature map 4 x 4 at stride 8
    ones = sorted(idx[lab == 1].tolist())
    assert ones == [2, 3, 6, 7]                          # rows 0-1, cols 2-3 of the 4 x 4 map
    zeros = sorted(idx[lab == 0].tolist())
    # the 2 x 2 group of one of the three background blocks (0,0), (1,0), (1,1)
    assert zeros in ([0, 1, 4, 5], [8, 9, 12, 13], [10, 11, 14, 15])


def naive_eq5(x: torch.Tensor, labels: torch.Tensor, tau: float) -> float:
    """Eqs. 4-5 written as loops over plain floats."""
    x = torch.nn.functional.normalize(x.double(), dim=1)
    cls1 = [x[i] for i in range(len(x)) if labels[i] == 1]
    cls0 = [x[k] for k in range(len(x)) if labels[k] == 0]
    n = len(cls1)
    total = 0.0
    for i in range(n):
        li = 0.0
        for j in range(n):
            if i == j:
                continue
            pos = math.exp(float(cls1[i] @ cls1[j]) / tau)
            neg = sum(math.exp(float(cls1[i] @ xk) / tau) for xk in cls0)
            li += math.log(pos / (pos + neg))
        total += -li / n
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contrast_loss_matches_naive_eq5(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(11, 16, generator=g)
    labels = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0])
    expected = naive_eq5(x, labels, 0.2)
    got_sum = edge_contrast_loss(x, labels, 0.2, reduction="sum")
    got_mean = edge_contrast_loss(x, labels, 0.2, reduction="mean")
    assert float(got_sum) == pytest.approx(expected, rel=1e-5)
    assert float(got_mean) == pytest.approx(expected / 5, rel=1e-5)
    sym = edge_contrast_loss(x, labels, 0.2, reduction="sum", symmetric=True)
    assert float(sym) == pytest.approx(expected + naive_eq5(x, 1 - labels, 0.2), rel=1e-5)


def test_contrast_loss_degenerate_cases_are_zero():
    x = torch.randn(3, 8)
    assert float(edge_contrast_loss(x, torch.tensor([1, 0, 0]), 0.1)) == 0.0
    assert float(edge_contrast_loss(x, torch.tensor([1, 1, 1]), 0.1)) == 0.0


def test_reconstruction_loss_is_mse_over_gathered_points():
    g = torch.Generator().manual_seed(0)
    f_mask, f_img = torch.randn(8, 4, 5, generator=g), torch.randn(8, 4, 5, generator=g)
    index = torch.tensor([0, 7, 13, 19])
    total = 0.0
    for flat in index.tolist():
        r, c = divmod(flat, 5)
        total += float(((f_mask[:, r, c] - f_img[:, r, c]) ** 2).sum())
    expected = total / (len(index) * 8)
    assert float(reconstruction_loss(f_mask, f_img, index)) == pytest.approx(expected, rel=1e-6)


def test_pairs_are_of_two_different_samples():
    for seed in range(10):
        pairs = make_pairs([0, 1, 2, 3, 4], torch.Generator().manual_seed(seed))
        assert all(a != b for a, b in pairs)
        assert {i for p in pairs for i in p} == {0, 1, 2, 3, 4}
    assert make_pairs([3]) == [(3, 3)] and make_pairs([]) == []


def _mrife():
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="mrife", backbone="resnet18")).train()


def test_teacher_gets_no_gradient_and_is_not_optimized():
    model = _mrife()
    opt = torch.optim.SGD(model.trainable_parameters(), lr=0.1, momentum=0.9)
    y = torch.zeros(2, 64, 64, dtype=torch.long)
    y[:, 10:40, 12:50] = 1
    model.compute_losses(torch.rand(2, 3, 64, 64), y)["loss"].backward()
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    held = {id(p) for group in opt.param_groups for p in group["params"]}
    assert not held & {id(p) for p in model.teacher.parameters()}
    assert {id(p) for p in model.student.parameters()} <= held


def test_one_ema_step_is_eq1_exactly():
    model = _mrife()
    opt = torch.optim.SGD(model.trainable_parameters(), lr=0.5)
    y = torch.zeros(2, 64, 64, dtype=torch.long)
    y[:, 10:40, 12:50] = 1
    old = [p.detach().clone() for p in model.teacher.parameters()]
    model.compute_losses(torch.rand(2, 3, 64, 64), y)["loss"].backward()
    opt.step()
    student = [p.detach().clone() for p in model.student.parameters()]
    assert any(not torch.equal(s, o) for s, o in zip(student, old))   # the student moved
    model.update_teacher()
    for t, o, s in zip(model.teacher.parameters(), old, student):
        expected = (0.996 * o.double() + 0.004 * s.double()).float()
        torch.testing.assert_close(t, expected, rtol=3e-7, atol=1e-9)  # float32 rounding only


def test_ema_warmup_ramps_lambda():
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mrife", backbone="resnet18", ema_warmup=True))
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(1.0)
    old = [p.detach().clone() for p in model.teacher.parameters()]
    student = [p.detach().clone() for p in model.student.parameters()]
    model.update_teacher()  # t = 1: lambda_1 = min(0.996, 1 - 1/2) = 0.5
    for t, o, s in zip(model.teacher.parameters(), old, student):
        torch.testing.assert_close(t, (0.5 * o.double() + 0.5 * s.double()).float(),
                                   rtol=3e-7, atol=1e-9)
    assert int(model.ema_updates) == 1


def test_inference_uses_teacher_features_added_to_segmentation_features():
    model = _mrife().eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model.decoder(model.encoder(x)[0] + model.teacher(x)[0])
        torch.testing.assert_close(model(x), expected)


def test_icssn_tile_probability():
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="icssn", backbone="resnet18")).eval()
    p = model.classify(torch.rand(3, 3, 64, 64))
    assert p.shape == (3,) and bool(((p >= 0) & (p <= 1)).all())
    with pytest.raises(ValueError, match="phase"):
        model.compute_losses(torch.rand(1, 3, 64, 64), torch.zeros(1, 64, 64), phase="x")


def test_sfce_contrasts_masked_points_of_one_sample_with_original_points_of_another():
    """Eq. 6 over a pair (a, b): L(a masked + b original) + L(b masked + a original), averaged
    over pairs, with pairs drawn as make_pairs draws them. Contrasting a sample with itself
    (or masked with masked) gives another number, so this fails for such a pairing."""
    model = _mrife()
    g = torch.Generator().manual_seed(3)
    y = torch.zeros(4, 64, 64, dtype=torch.long)
    for i in range(4):
        y[i, 8 + 4 * i:40, 10:44 - 3 * i] = 1
    masks = make_masks(torch.rand(4, 3, 64, 64, generator=g), y, fraction=0.5,
                       generator=torch.Generator().manual_seed(5))
    f_mask = torch.randn(4, 8, 8, 8, generator=g)
    f_img = torch.randn(4, 8, 8, 8, generator=g)
    reconst, cons = model.enhancement_losses(f_mask, f_img, masks,
                                             torch.Generator().manual_seed(7))
    pairs = make_pairs([i for i in range(4) if masks.count(i)], torch.Generator().manual_seed(7))
    assert pairs and all(a != b for a, b in pairs)
    tau = model.cfg.temperature
    exp_cons, exp_rec = [], []
    for a, b in pairs:
        (ia, la), (ib, lb) = masks.feature_points(a, 8), masks.feature_points(b, 8)
        both = 0.0
        for m, im, lm, o, io, lo in ((a, ia, la, b, ib, lb), (b, ib, lb, a, ia, la)):
            feats = torch.cat([f_mask[m].flatten(1)[:, im].t(), f_img[o].flatten(1)[:, io].t()])
            labels = torch.cat([lm, lo])
            n1 = int((labels == 1).sum())
            both += naive_eq5(feats, labels, tau) / (n1 if model.cfg.contrast_reduction == "mean"
                                                     else 1)
        exp_cons.append(both)
        exp_rec.append(float(((f_mask[a].flatten(1)[:, ia] - f_img[a].flatten(1)[:, ia]) ** 2)
                             .mean() + ((f_mask[b].flatten(1)[:, ib] - f_img[b].flatten(1)[:, ib])
                                        ** 2).mean()))
    assert float(cons) == pytest.approx(sum(exp_cons) / len(exp_cons), rel=1e-4)
    assert float(reconst) == pytest.approx(sum(exp_rec) / len(exp_rec), rel=1e-5)


def test_b_m_c_loss_is_the_weighted_sum_of_its_parts():
    """loss = gamma * CE + alpha * L_Reconst + beta * L_Cons (Sec. III-E), with CE recomputed
    from the returned logits; each part is non-zero on a tile with edges."""
    model = _mrife()
    y = torch.zeros(2, 64, 64, dtype=torch.long)
    y[:, 10:40, 12:50] = 1
    out = model.compute_losses(torch.rand(2, 3, 64, 64), y, torch.Generator().manual_seed(0))
    ce = torch.nn.functional.cross_entropy(out["logits"], y, ignore_index=255)
    torch.testing.assert_close(out["ce"], ce.detach())
    cfg = model.cfg
    expected = cfg.gamma * ce + cfg.alpha * out["reconst"] + cfg.beta * out["cons"]
    torch.testing.assert_close(out["loss"].detach(), expected.detach())
    assert float(out["reconst"]) > 0 and float(out["cons"]) > 0 and out["masked_blocks"] > 0


def test_aux_ramp_scales_alpha_and_beta_from_zero_over_its_share_of_the_run():
    """aux_ramp=0.5 over 10 planned steps: the step's weight on alpha and beta is step / 5
    (0 at the start, 1 from step 5 on), CE keeps its weight; without aux_ramp it is always 1."""
    model = build_model(ModelConfig(arch="mrife", backbone="resnet18", aux_ramp=0.5))
    model.plan_steps(10)
    assert [model.loss_arguments(s)["aux_weight"] for s in (0, 1, 4, 5, 9)] == [
        0.0, 0.2, 0.8, 1.0, 1.0]
    assert _mrife().loss_arguments(0)["aux_weight"] == 1.0
    y = torch.zeros(2, 64, 64, dtype=torch.long)
    y[:, 10:40, 12:50] = 1
    x = torch.rand(2, 3, 64, 64)
    for step, weight in ((0, 0.0), (2, 0.4)):
        out = model.compute_losses(x, y, torch.Generator().manual_seed(0),
                                   **model.loss_arguments(step))
        ce = torch.nn.functional.cross_entropy(out["logits"], y, ignore_index=255)
        cfg = model.cfg
        expected = cfg.gamma * ce + weight * (cfg.alpha * out["reconst"] + cfg.beta * out["cons"])
        torch.testing.assert_close(out["loss"].detach(), expected.detach())
        assert float(out["reconst"]) > 0


def test_teacher_batch_norm_statistics_are_averaged_not_copied():
    """update_teacher averages BN running statistics like the weights (eq. 1 applied to the
    buffers) and copies the batch counters; a copy of the student's statistics fails here."""
    model = _mrife()
    bns = [(t, s) for t, s in zip(model.teacher.modules(), model.student.modules())
           if isinstance(t, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for _, s in bns:
            s.running_mean.add_(1.0)
            s.running_var.mul_(3.0)
            s.num_batches_tracked.fill_(17)
    old = [(t.running_mean.clone(), t.running_var.clone()) for t, _ in bns]
    model.update_teacher()
    m = model.cfg.ema_momentum
    for (t, s), (om, ov) in zip(bns, old):
        torch.testing.assert_close(t.running_mean, m * om + (1 - m) * s.running_mean)
        torch.testing.assert_close(t.running_var, m * ov + (1 - m) * s.running_var)
        assert int(t.num_batches_tracked) == 17


def test_teacher_batch_norm_statistics_copied_with_teacher_bn_copy():
    """teacher_bn="copy": after an update the teacher's BN statistics equal the student's,
    while its weights are still the EMA (not copied)."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mrife", backbone="resnet18", teacher_bn="copy"))
    bns = [(t, s) for t, s in zip(model.teacher.modules(), model.student.modules())
           if isinstance(t, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for _, s in bns:
            s.running_mean.add_(1.0)
            s.running_var.mul_(3.0)
            s.weight.add_(1.0)
    old_w = [t.weight.clone() for t, _ in bns]
    model.update_teacher()
    m = model.cfg.ema_momentum
    for (t, s), ow in zip(bns, old_w):
        assert torch.equal(t.running_mean, s.running_mean)
        assert torch.equal(t.running_var, s.running_var)
        torch.testing.assert_close(t.weight, m * ow + (1 - m) * s.weight)


@pytest.mark.parametrize("planned, horizon, warmup, t, expected", [
    (350, 0.1, False, 1, 1 - 1 / 35),       # short run: window of 35 steps
    (10**6, 0.1, False, 1, 0.996),          # long run: the paper's lambda
    (350, 0.0, False, 1, 0.996),            # horizon off
    (350, 0.1, True, 3, 1 - 1 / 4),         # warm-up below the horizon's lambda
])
def test_ema_lambda_from_the_planned_steps(planned, horizon, warmup, t, expected):
    model = build_model(ModelConfig(arch="mrife", backbone="resnet18", ema_horizon=horizon,
                                    ema_warmup=warmup))
    model.plan_steps(planned)
    model.ema_updates.fill_(t)
    assert model.ema_lambda() == pytest.approx(expected)


def test_skip_decoder_takes_the_stride_4_features_of_the_segmentation_encoder():
    """mrife_decoder="skip": DeepLabv3+'s decoder fed with the segmentation encoder's own
    low-level (stride-4) features, in inference and in the training loss alike."""
    from mrife.config import ModelConfig
    from mrife.models import build_model
    from mrife.models.decoders import DeepLabV3PlusDecoder

    model = build_model(ModelConfig(arch="mrife", backbone="resnet18", mrife_decoder="skip"))
    assert isinstance(model.decoder, DeepLabV3PlusDecoder)
    seen = {}
    model.encoder.register_forward_hook(lambda _m, _i, out: seen.__setitem__("low", out[1]))
    model.decoder.register_forward_hook(lambda _m, inp, _o: seen.__setitem__("got", inp[1]))
    x = torch.rand(2, 3, 64, 64)
    model.eval()
    assert model(x).shape == (2, 2, 64, 64)
    assert seen["got"] is seen["low"] and seen["low"].shape[-1] == 16
    seen.clear()
    model.train()
    y = (torch.rand(2, 64, 64) > 0.7).long()
    losses = model.compute_losses(x, y, torch.Generator().manual_seed(0))
    assert seen["got"] is seen["low"] and torch.isfinite(losses["loss"])
