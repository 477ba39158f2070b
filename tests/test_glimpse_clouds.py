"""Glimpse Clouds: glimpse and assignment shapes, the glimpse losses, stages, workers' own states."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from core_models.data.clip import Clip
from core_models.data.datasets import prepare_clip
from core_models.data.layouts import NTU25
from core_models.models import build_model, check_output
from core_models.models.glimpse_clouds import (
    PRESETS,
    GlimpseClouds,
    glimpse_attraction,
    glimpse_diversity,
    pose_regression,
    sample_glimpse,
)

K, B, T, S = 5, 2, 4, 32
N, C = 4, 2  # unequal, so a swapped axis shows


def tiny_model(**overrides) -> GlimpseClouds:
    """The cpu preset with one bottleneck per stage and N != C, for speed and shape checks."""
    torch.manual_seed(0)
    config = replace(
        PRESETS["cpu"], num_classes=K, layers=(1, 1, 1, 1), num_frames=T, frame_size=S,
        num_glimpses=N, num_workers=C, **overrides,
    )  # fmt: skip
    return GlimpseClouds(config)


def make_batch(joints: bool = True) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    batch = {
        "rgb": torch.rand(B, 3, T, S, S, generator=g) * 2 - 1,
        "label": torch.randint(0, K, (B,), generator=g),
    }
    if joints:
        j2d = torch.rand(B, T, 2, NTU25.num_joints, 2, generator=g) * 1.6 - 0.8
        j2d[:, :, 1] = float("nan")  # one person only
        j2d[0, 0] = float("nan")  # a frame without any joint
        batch["joints2d"] = j2d
    return batch


@pytest.fixture(scope="module")
def model() -> GlimpseClouds:
    return tiny_model()


def test_shapes_sums_and_ranges(model):
    model.set_stage("all")
    out = model.train()(make_batch())
    check_output(out, B, K)
    glimpses, assignment = out.attention["glimpses"], out.attention["assignment"]
    assert glimpses.shape == (B, T, N, 4)  # T' = T: the backbone keeps time
    assert assignment.shape == (B, T, C, N)
    torch.testing.assert_close(assignment.sum(-1), torch.ones(B, T, C))
    assert glimpses[..., :2].abs().max() <= 1 and (glimpses[..., 2:] > 0).all()
    assert (glimpses[..., 2:] <= 1).all()
    assert out.aux["pose"].shape == (B, T, 2, NTU25.num_joints, 2)
    assert out.aux["worker_logits"].shape == (B, T, C, K)


def test_default_presets_use_three_glimpses_and_workers():
    for preset in ("paper", "cpu"):
        config = PRESETS[preset]
        assert (config.num_glimpses, config.num_workers, config.num_frames) == (3, 3, 8)
    assert PRESETS["paper"].frame_size == 224 and PRESETS["paper"].width == 1.0


def test_attraction_falls_when_glimpses_move_onto_joints():
    joints = torch.full((1, 2, 2, 3, 2), float("nan"))  # (B, T, M, J, 2)
    joints[0, 0, 0] = torch.tensor([[-0.5, -0.5], [0.5, 0.5], [0.0, 0.2]])
    joints[0, 1, 1, :2] = torch.tensor([[0.3, -0.4], [-0.2, 0.6]])  # frame 1: only person 2, 2 joints
    far = torch.zeros(1, 2, 2, 4)
    far[..., :2] = torch.tensor([0.9, -0.9])
    far[..., 2:] = 0.5
    on = far.clone()
    on[0, 0, :, :2] = joints[0, 0, 0, :2]
    on[0, 1, :, :2] = joints[0, 1, 1, :2]
    half = (far + on) / 2
    l_far, l_half, l_on = (glimpse_attraction(g, joints) for g in (far, half, on))
    assert l_on.item() == pytest.approx(0.0, abs=1e-7)
    assert l_far > l_half > l_on
    # Hand value for one frame: glimpse at (0.9, -0.9), nearest joint (0.3, -0.4) -> 0.36 + 0.25.
    one = glimpse_attraction(far[:, 1:], joints[:, 1:])
    assert one.item() == pytest.approx(0.61, abs=1e-6)
    # Frames without joints are skipped, and no NaN leaks into the gradient.
    only_first = joints.clone()
    only_first[:, 1] = float("nan")
    torch.testing.assert_close(
        glimpse_attraction(far, only_first), glimpse_attraction(far[:, :1], joints[:, :1])
    )
    g = far.clone().requires_grad_()
    loss = glimpse_attraction(g, only_first)
    loss.backward()
    assert torch.isfinite(g.grad).all() and g.grad.abs().sum() > 0


def test_glimpse_reads_the_cell_under_its_centre_x_right_y_down():
    fmap = torch.zeros(1, 1, 4, 4)
    fmap[0, 0, 0, 3] = 1.0  # top row, right column: centre (0.75, -0.75) in [-1, 1] coordinates
    on = sample_glimpse(fmap, torch.tensor([[0.75, -0.75, 1e-3, 1e-3]]), 3)
    off = sample_glimpse(fmap, torch.tensor([[-0.75, 0.75, 1e-3, 1e-3]]), 3)
    assert on.shape == (1, 1, 3, 3)
    assert on.mean().item() == pytest.approx(1.0, abs=1e-2) and off.abs().max().item() == 0.0
    whole = sample_glimpse(fmap, torch.tensor([[0.0, 0.0, 1.0, 1.0]]), 4)
    torch.testing.assert_close(whole, fmap)  # scale 1 at the centre is the identity


def test_diversity_is_higher_for_coincident_glimpses():
    same = torch.zeros(2, 3, 3, 4)
    same[..., 2:] = 0.5
    spread = same.clone()
    spread[..., :2] = torch.tensor([[-0.6, -0.6], [0.6, -0.6], [0.0, 0.6]])
    assert glimpse_diversity(same).item() == pytest.approx(1.0)
    assert glimpse_diversity(spread) < 0.5
    assert glimpse_diversity(same[:, :, :1]).item() == 0.0


def test_pose_regression_masks_missing_joints_and_takes_the_better_person_order():
    target = torch.full((1, 1, 2, 2, 2), float("nan"))
    target[0, 0, 0] = torch.tensor([[0.5, 0.5], [-0.5, 0.0]])
    pred = torch.zeros(1, 1, 2, 2, 2)
    pred[0, 0, 1] = target[0, 0, 0]  # right pose, in the other person slot
    assert pose_regression(pred, target).item() == pytest.approx(0.0)
    assert pose_regression(torch.zeros_like(pred), target).item() == pytest.approx((0.25 * 3) / 4)


def _grads(model) -> dict[str, bool]:
    return {n: p.grad is not None for n, p in model.named_parameters()}


def test_stage_glimpses_freezes_the_backbone():
    model = tiny_model()
    model.set_stage("glimpses")
    out = model.train()(make_batch())
    assert model.training and model.locator.training and not model.backbone.training
    assert not model.backbone.bn1.training  # BatchNorm keeps its stage-1 statistics
    total, terms = model.loss(out, make_batch())
    assert set(terms) == {"ce", "attraction", "diversity"}
    total.backward()
    grads = _grads(model)
    assert not any(v for n, v in grads.items() if n.startswith(("backbone.", "pose_head.")))
    for name in ("locator.weight", "zoomer.weight_ih", "memory_key.weight", "first_assignment"):
        assert grads[name], name
    assert all(grads[n] for n in grads if n.startswith(("workers.", "worker_heads.", "where.")))
    assert model.locator.weight.grad.abs().sum() > 0


def test_stage_backbone_trains_backbone_and_pose_head():
    model = tiny_model()
    model.set_stage("backbone")
    batch = make_batch()
    out = model.train()(batch)
    torch.testing.assert_close(out.logits, out.aux["global_logits"])
    check_output(out, B, K)  # attention is still there to look at
    total, terms = model.loss(out, batch)
    assert set(terms) == {"ce", "pose"}
    total.backward()
    grads = _grads(model)
    backbone_side = [n for n in grads if n.startswith(("backbone.", "pose_head."))]
    assert backbone_side and all(grads[n] for n in backbone_side)
    assert model.pose_head.weight.grad.abs().sum() > 0
    assert not any(v for n, v in grads.items() if not n.startswith(("backbone.", "pose_head.")))
    model.set_stage("all")
    assert all(p.requires_grad for p in model.parameters())
    assert model.train().backbone.training
    with pytest.raises(ValueError, match="unknown stage"):
        model.set_stage("workers")


def test_loss_skips_pose_terms_without_joints(model):
    model.set_stage("all")
    model.zero_grad()
    out = model.train()(make_batch(joints=False))
    total, terms = model.loss(out, make_batch(joints=False))
    assert set(terms) == {"ce", "global_ce", "diversity"}
    total.backward()
    assert model.pose_head.weight.grad is not None  # tied in with weight 0 (DDP needs a gradient)
    assert model.pose_head.weight.grad.abs().sum() == 0
    _, with_joints = model.loss(out, make_batch())
    assert {"pose", "attraction"} <= set(with_joints)


def test_zero_weight_switches_a_term_off():
    model = tiny_model(lambda_diversity=0.0, lambda_attraction=0.0)
    out = model.train()(make_batch())
    _, terms = model.loss(out, make_batch())
    assert set(terms) == {"ce", "global_ce", "pose"}


def test_each_worker_keeps_its_own_state(model):
    model.set_stage("all")
    seen: dict[int, list[torch.Tensor]] = {c: [] for c in range(C)}
    hooks = [
        w.register_forward_hook(lambda mod, args, res, c=c: seen[c].append(args[1].detach()))
        for c, w in enumerate(model.workers)
    ]
    try:
        with torch.no_grad():
            out = model.eval()(make_batch())
    finally:
        for h in hooks:
            h.remove()
    states = out.aux["worker_states"]  # (B, T, C, H)
    for c in range(C):
        assert len(seen[c]) == T
        for t in range(1, T):
            torch.testing.assert_close(seen[c][t], states[:, t - 1, c])  # its own previous state
    assert not torch.allclose(states[:, :, 0], states[:, :, 1])


def test_input_spec_yields_joints2d_from_rgb_clips():
    model = build_model("glimpse_clouds", "cpu", num_classes=K)
    assert model.inputs == ("rgb",)
    spec = model.input_spec
    assert spec.skeleton_frames == 0 and spec.num_frames == 8 and spec.num_persons == 2
    frames = np.zeros((10, 120, 160, 3), np.uint8)
    joints = np.full((10, 1, NTU25.num_joints, 2), np.nan, np.float32)
    joints[:, 0] = [80.0, 60.0]  # the frame centre
    clip = Clip("c", NTU25, 0, "a", frames=frames, joints2d=joints)
    prep = prepare_clip(clip, spec)
    assert prep.joints2d is not None and prep.joints2d.shape[1:] == (1, NTU25.num_joints, 2)
    np.testing.assert_allclose(prep.joints2d, 0.0, atol=1e-6)  # already in [-1, 1]


STAGES_REBUILT = [("backbone", "backbone"), ("glimpses", "all"), (None, "all")]


@pytest.mark.parametrize(("trained", "rebuilt"), STAGES_REBUILT)
def test_a_stage_one_checkpoint_is_rebuilt_as_the_global_model_it_trained(trained, rebuilt):
    from core_models.checkpoint import FORMAT, build_from_checkpoint, config_dict

    model = tiny_model()
    ckpt = {
        "format": FORMAT, "model": "glimpse_clouds", "preset": "cpu", "config": config_dict(model.config),
        "num_classes": K, "layout": "ntu25", "class_names": [f"c{i}" for i in range(K)],
        "data": {"kind": "synth", "protocol": "cs", "root": "x", "version": 2},
        "settings": {"stage": trained}, "epoch": 0, "step": 0, "metrics": {},
        "state_dict": model.state_dict(),
    }  # fmt: skip
    back = build_from_checkpoint(ckpt)
    assert back.stage == rebuilt and not back.training
    with torch.no_grad():
        out = back(make_batch(joints=False))
    # stage 1 trains the global model: its test evaluation must score those logits, not the
    # workers' (untrained in stage 1), which the whole model would answer with
    assert torch.equal(out.logits, out.aux["global_logits"]) == (rebuilt == "backbone")
