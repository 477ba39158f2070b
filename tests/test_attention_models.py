"""Contracts of the two pose-driven attention models: separable STA and temporal granularity."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from core_models.data.sampling import segment_bounds
from core_models.models.output import ModelOutput, check_output, steer_key
from core_models.models.separable_sta import SeparableSTA, separable_sta, spatial_focus, temporal_spread
from core_models.models.temporal_granularity import (
    TemporalGranularity,
    granularity_collapse,
    segment_collapse,
    segment_confidence,
    segment_frame_index,
    split_segments,
    temporal_granularity,
)

K = 5
B = 2
FACTORIES = {"separable_sta": separable_sta, "temporal_granularity": temporal_granularity}
# The paper presets read 64-96 frames of 224^2; I3D is size-agnostic, so check them on 12 x 32^2
# (12 is divisible by 2, 3 and 4) with their own widths and depths.
SMALL = {"paper": (12, 32), "cpu": None}


def make_batch(
    model, preset: str = "cpu", *, batch: int = B, size: int | None = None, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random inputs for ``model``; ``size`` overrides the frame side (tests that are not about it)."""
    spec = model.input_spec
    frames, side = SMALL[preset] or (spec.num_frames, spec.frame_size)
    size = size or side
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(batch, 3, frames, size, size, generator=g) * 2 - 1
    return {
        "rgb": rgb,
        "crops": rgb[:, None],  # the person crop, when the model reads it
        "skeleton": torch.randn(
            batch, spec.skeleton_frames, spec.num_persons, model.config.num_joints, 3, generator=g
        ),
        "label": torch.randint(0, K, (batch,), generator=g),
    }


@pytest.mark.parametrize("preset", ["paper", "cpu"])
@pytest.mark.parametrize("name", list(FACTORIES))
def test_contract_shapes_attention_backward(name, preset):
    torch.manual_seed(0)
    model = FACTORIES[name](preset, num_classes=K).train()
    assert set(model.inputs) == {"crops", "skeleton"}  # the person-centred clip by default
    assert model.input_spec.crops.parts == ("full_body",)
    batch = make_batch(model, preset)
    out = model(batch)
    check_output(out, B, K)
    assert set(out.attention) == set(model.attention_kinds)
    if name == "separable_sta":  # one spatial map per feature step (joint masks)
        assert out.attention["spatial"].dim() == 4 and out.attention["temporal"].dim() == 2
    else:
        gs = model.config.granularities
        assert {g: tuple(v.shape) for g, v in out.attention["segments"].items()} == {g: (B, g) for g in gs}
        assert out.attention["granularity"].shape == (B, len(gs))
    total, terms = model.loss(out, batch)
    assert torch.isfinite(total) and "ce" in terms and all(math.isfinite(v) for v in terms.values())
    total.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}/{preset}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}/{preset}: non-finite gradient in {pname}"


def _grad_norm(module: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def test_sta_attention_branches_learn():
    torch.manual_seed(0)
    model = separable_sta("cpu", num_classes=K).train()
    batch = make_batch(model)
    out = model(batch)
    total, _ = model.loss(out, batch)
    total.backward()
    for branch in (model.spatial_attention, model.temporal_attention, model.pose):
        assert _grad_norm(branch) > 0
    t, h, w = 16 // 2, 64 // 8, 64 // 8  # I3D at Mixed_3c: time / 2, space / 8
    assert out.attention["spatial"].shape == (B, t, h, w) and out.attention["temporal"].shape == (B, t)
    assert min(t, h, w) >= 8  # room to localise in the cpu preset
    # one map per step, each from its own step's cells (not the time average)
    assert not torch.allclose(out.attention["spatial"][:, 0], out.attention["spatial"][:, 1])


def test_sta_pools_with_the_product_of_its_two_masks():
    """Steered to one cell and one step, the pooled feature is that cell of that step of the map."""
    torch.manual_seed(0)
    model = separable_sta("cpu", num_classes=K).eval()
    batch = make_batch(model)
    with torch.no_grad():
        feat = model.backbone.forward_features(batch["crops"][:, 0], until=model.config.feature_endpoint)
        b, c, t, h, w = feat.shape
        spatial = torch.zeros(b, t, h, w)
        spatial[:, :, 2, 1] = 1.0
        temporal = torch.zeros(b, t)
        temporal[:, 3] = 1.0
        out = model({**batch, "attention:spatial": spatial, "attention:temporal": temporal})
    torch.testing.assert_close(out.features, feat[:, :, 3, 2, 1])
    torch.testing.assert_close(out.attention["spatial"], spatial)


def test_sta_uniform_steps_pools_training_clips_with_equal_weights_and_nothing_else():
    """``uniform_steps=1``: in training every clip's steps are pooled with equal weights while the
    returned mask stays the model's own; in evaluation the mask pools as before."""
    torch.manual_seed(0)
    model = SeparableSTA(replace(separable_sta("cpu", num_classes=K).config, uniform_steps=1.0))
    batch = make_batch(model)
    spatial = torch.zeros(B, 8, 8, 8)
    spatial[:, :, 2, 1] = 1.0
    temporal = torch.zeros(B, 8)
    temporal[:, 3] = 1.0
    steered = {**batch, "attention:spatial": spatial, "attention:temporal": temporal}
    with torch.no_grad():
        for training in (True, False):
            model.train(training)
            feat = model.backbone.forward_features(batch["crops"][:, 0], until=model.config.feature_endpoint)
            out = model(steered)
            cell = feat[:, :, :, 2, 1]  # (B, C, T')
            torch.testing.assert_close(out.features, cell.mean(2) if training else cell[:, :, 3])
            torch.testing.assert_close(out.attention["temporal"], temporal)


def test_sta_centred_keys_score_how_a_cell_or_step_differs_from_the_rest():
    """``key_centre``: a feature shared by every cell of every step (what the clip looks like as a
    whole) moves neither mask, and the pooled feature still carries it; without centring it moves
    them."""
    torch.manual_seed(0)
    base = separable_sta("cpu", num_classes=K).config
    for centre in (True, False):
        model = SeparableSTA(replace(base, key_centre=centre)).eval()
        channels = model.spatial_attention.key.in_features
        feat = torch.randn(B, channels, 8, 8, 8)
        code = torch.randn(B, base.pose_hidden)
        shift = 3.0 * torch.randn(B, channels, 1, 1, 1)
        with torch.no_grad():
            s0, t0, f0 = model._joint(feat, code, {})
            s1, t1, f1 = model._joint(feat + shift, code, {})
        unmoved = torch.allclose(s0, s1, atol=1e-5) and torch.allclose(t0, t1, atol=1e-5)
        assert unmoved == centre
        if centre:
            torch.testing.assert_close(f1, f0 + shift.flatten(1))


def test_sta_motion_query_reads_when_the_joints_move():
    """``temporal_query="motion"`` / ``"motion_only"``: each step's query is how fast the joints
    move in it relative to the clip's mean, so a clip whose joints move only in one stretch reads
    that stretch, and the class code of the whole pose never reaches the temporal mask."""
    from core_models.models.separable_sta import step_motion

    skeleton = torch.zeros(B, 20, 2, 25, 3)
    skeleton[:, 9:, 0, 11, 0] = torch.arange(11).float()  # one hand moves from frame 9 on
    motion = step_motion(skeleton, 4)  # each move counts in the stretch of its later frame: 0-4, 5-9, ...
    assert motion.shape == (B, 4, 50)
    torch.testing.assert_close(motion[0, :, 11], torch.tensor([0.0, 0.0, 2.0, 2.0]))
    assert motion[:, :, 12:].abs().sum() == 0
    base = separable_sta("cpu", num_classes=K).config
    with pytest.raises(ValueError, match="temporal_query"):
        replace(base, temporal_query="class")
    for query in ("motion", "motion_only"):
        model = SeparableSTA(replace(base, temporal_query=query)).eval()
        channels = model.spatial_attention.key.in_features
        feat = torch.randn(B, channels, 4, 8, 8)
        with torch.no_grad():
            a = model._joint(feat, torch.randn(B, base.pose_hidden), {"skeleton": skeleton})[1]
            b = model._joint(feat, torch.randn(B, base.pose_hidden), {"skeleton": skeleton})[1]
            if query == "motion_only":  # the pose code does not steer time
                torch.testing.assert_close(a, b)
            else:  # it reaches time only through the maps that pool each step's key
                assert model.temporal_attention.query.in_features == 2 * 25
            moved = skeleton.clone()
            moved[:, :, 0, 11, 0] = torch.arange(20).clamp(max=9).float()  # now it moves in the first half
            c = model._joint(feat, torch.randn(B, base.pose_hidden), {"skeleton": moved})[1]
        assert not torch.allclose(a, c)


def test_sta_spatial_maps_asked_by_each_steps_motion():
    """``spatial_query="motion"``: each step's map is scored with that step's joint movement as
    the query, not the pose code of the whole clip: the code leaves the maps alone, a step's
    movement changes its own map."""
    from core_models.models.separable_sta import step_motion

    base = separable_sta("cpu", num_classes=K).config
    with pytest.raises(ValueError, match="spatial_query"):
        replace(base, spatial_query="class")
    with pytest.raises(ValueError, match="joint=True"):
        replace(base, spatial_query="motion", joint=False)
    torch.manual_seed(0)
    model = SeparableSTA(replace(base, spatial_query="motion")).eval()
    assert model.spatial_attention.query.in_features == 2 * 25
    channels = model.spatial_attention.key.in_features
    feat = torch.randn(B, channels, 4, 8, 8)
    skeleton = torch.zeros(B, 20, 2, 25, 3)
    skeleton[:, 9:, 0, 11, 0] = torch.arange(11).float()  # one hand moves in the second half
    with torch.no_grad():
        a = model._joint(feat, torch.randn(B, base.pose_hidden), {"skeleton": skeleton})[0]
        b = model._joint(feat, torch.randn(B, base.pose_hidden), {"skeleton": skeleton})[0]
        torch.testing.assert_close(a, b)  # the clip's pose code does not steer the maps
        moved = skeleton.clone()
        moved[:, :, 0, 11, 0] = torch.arange(20).clamp(max=9).float()  # now it moves in the first half
        c = model._joint(feat, torch.randn(B, base.pose_hidden), {"skeleton": moved})[0]
    assert step_motion(moved, 4)[0, 0, 11] > 0 and not torch.allclose(a[:, 0], c[:, 0])


def test_sta_class_code_adversary_reads_the_maps_and_the_mask():
    """``class_code_weight``: readers sized to the feature map (8 steps of 8 x 8 cells in the cpu
    preset) name the class from the maps, the mask and both; sizing them leaves the trunk's
    batch-norm statistics alone, and the loss adds their term only when the weight is above 0."""
    base = separable_sta("cpu", num_classes=K).config
    torch.manual_seed(0)
    plain = SeparableSTA(base)
    torch.manual_seed(0)
    model = SeparableSTA(replace(base, class_code_weight=1.0)).train()
    sizes = {name: read.in_features for name, read in model.class_code.read.items()}
    assert sizes == {"spatial": 8 * 8 * 8, "temporal": 8, "all": 8 * 8 * 8 + 8}
    for name, buf in plain.backbone.named_buffers():
        torch.testing.assert_close(dict(model.backbone.named_buffers())[name], buf)
    batch = make_batch(model)
    out = model(batch)
    total, terms = model.loss(out, batch)
    assert "class_code" in terms and terms["class_code"] > 0
    total.backward()
    assert all(p.grad is not None for p in model.class_code.parameters())
    assert not hasattr(plain, "class_code") and "class_code" not in plain.loss(plain(batch), batch)[1]


def test_old_sta_and_tg_checkpoints_rebuild_their_own_variant():
    """A config saved before ``joint``/``feature_endpoint``/``mixing`` existed rebuilds the old model."""
    from dataclasses import asdict

    from core_models.checkpoint import build_model_with

    for name, new in (
        ("separable_sta", ("feature_endpoint", "joint")),
        ("temporal_granularity", ("mixing", "segment_scoring", "feature_endpoint")),
    ):
        saved = {
            k: v for k, v in asdict(FACTORIES[name]("cpu", num_classes=K).config).items() if k not in new
        }
        old = build_model_with(name, "cpu", num_classes=K, layout_name="ntu25", config=saved, legacy=True)
        fresh = build_model_with(name, "cpu", num_classes=K, layout_name="ntu25", config=saved)
        assert old.config != fresh.config  # overrides keep today's preset for the fields they omit
        batch = make_batch(old)
        check_output(old.eval()(batch), B, K)
        if name == "separable_sta":
            assert old.config.feature_endpoint == "Mixed_5c" and not old.config.joint
            assert old(batch).attention["spatial"].shape == (B, 2, 2)  # 64^2 at Mixed_5c: space / 32
        else:
            assert old.config.mixing == "gru" and hasattr(old, "rgb_rnn")
            assert old.config.segment_scoring == "summary" and old.config.feature_endpoint == "Mixed_5c"


@pytest.mark.parametrize("scoring", ["summary", "additive", "rgb", "rgb_pose"])
def test_tg_attention_branches_learn(scoring):
    torch.manual_seed(0)
    config = replace(temporal_granularity("cpu", num_classes=K).config, segment_scoring=scoring)
    model = TemporalGranularity(config).train()
    batch = make_batch(model, size=32)
    total, _ = model.loss(model(batch), batch)
    total.backward()
    branches = [model.segment_score, model.granularity_score, model.segment_pose, model.granularity_pose]
    if scoring != "summary":
        branches += [model.segment_key, model.segment_query]
    for branch in branches:
        assert _grad_norm(branch) > 0


@pytest.mark.parametrize("scoring", ["summary", "additive", "rgb", "rgb_pose"])
def test_tg_segment_scores_read_each_segment_own_key(scoring):
    """``additive`` / ``rgb`` / ``rgb_pose``: segment k's score reads segment k's own key (its
    pose code / its pooled I3D feature / both) with the granularity's code as the query, so
    changing segment 1's key moves its score and, with the query switched off, only its score;
    ``summary`` (the released code) scores from the granularity's code alone."""
    torch.manual_seed(0)
    config = replace(temporal_granularity("cpu", num_classes=K).config, segment_scoring=scoring)
    model = TemporalGranularity(config).eval()
    hp = config.pose_hidden
    c = model.backbone.feature_channels(config.feature_endpoint)
    d = {"rgb": c, "rgb_pose": c + hp}.get(scoring, hp)
    s, m = torch.randn(B, 4, d), torch.randn(B, hp)
    moved = s.clone()
    moved[:, 1] += torch.randn(B, d)
    with torch.no_grad():
        if scoring != "summary":
            model.segment_query["4"].weight.zero_()
        a, b = model._segment_logits("4", s, m), model._segment_logits("4", moved, m)
    assert a.shape == (B, 4)
    changed = (a - b).abs().amax(dim=0) > 1e-6
    assert changed.tolist() == ([False] * 4 if scoring == "summary" else [False, True, False, False])
    with pytest.raises(ValueError, match="segment_scoring"):
        replace(config, segment_scoring="dot")


def test_sta_regularisers_on_hand_made_attention():
    uniform_s = torch.full((3, 4, 5), 1 / 20)
    one_hot_s = torch.zeros(3, 4, 5)
    one_hot_s[:, 1, 2] = 1
    assert spatial_focus(uniform_s).item() == pytest.approx(1.0, abs=1e-5)
    assert spatial_focus(one_hot_s).item() == pytest.approx(0.0, abs=1e-5)
    uniform_t = torch.full((3, 8), 1 / 8)
    one_hot_t = torch.eye(8)[:3]
    assert temporal_spread(uniform_t).item() == pytest.approx(0.0, abs=1e-5)
    assert temporal_spread(one_hot_t).item() == pytest.approx(1.0, abs=1e-5)
    half = torch.tensor([[0.5, 0.5, 0.0, 0.0]])  # in between
    assert 0 < temporal_spread(half).item() < 1


def test_sta_loss_weights_are_the_config_lambdas():
    torch.manual_seed(0)
    base = separable_sta("cpu", num_classes=K)
    model = SeparableSTA(
        replace(base.config, lambda_spatial=0.3, lambda_temporal=0.7, pose_scores=True)
    ).eval()
    batch = make_batch(model, size=32)
    with torch.no_grad():
        total, terms = model.loss(model(batch), batch)
    expected = terms["ce"] + 0.3 * terms["spatial_focus"] + 0.7 * terms["temporal_spread"]
    expected += model.config.stream_weight * (terms["rgb_ce"] + terms["pose_ce"])
    assert total.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["part_attention", *FACTORIES])
def test_pose_scores_late_fusion(name):
    """With ``pose_scores`` a pose classifier's logits add to the RGB logits; no preset has it (pose
    only steers the attention, as in the papers), and a model with it is labelled as such."""
    from core_models.models import MODELS, describe

    torch.manual_seed(0)
    off = MODELS[name]("cpu", num_classes=K).eval()
    assert not off.config.pose_scores and not MODELS[name]("paper", num_classes=K).config.pose_scores
    assert describe(name, "cpu", num_classes=K)["label"] == name
    on = type(off)(replace(off.config, pose_scores=True)).eval()
    if name == "part_attention":
        from tests.test_part_attention import make_batch as part_batch

        batch = part_batch(on)
    else:
        batch = make_batch(on, size=32)
    with torch.no_grad():
        out = on(batch)
        total, terms = on.loss(out, batch)
        plain = off(batch)
    assert torch.allclose(out.logits, out.aux["rgb_logits"] + out.aux["pose_logits"])
    assert "pose_logits" not in plain.aux and "rgb_ce" not in off.loss(plain, batch)[1]
    streams_out = ("rgb_logits", "pose_logits")
    fused_only = replace(out, aux={k: v for k, v in out.aux.items() if k not in streams_out})
    with torch.no_grad():
        without_streams = on.loss(fused_only, batch)[0].item()
    streams = on.config.stream_weight * (terms["rgb_ce"] + terms["pose_ce"])
    assert total.item() == pytest.approx(without_streams + streams, rel=1e-5)
    # the pose stream changes the answer only through its own head: with it zeroed, logits are RGB's
    with torch.no_grad():
        on.pose_scores.head.weight.zero_()
        on.pose_scores.head.bias.zero_()
        assert torch.allclose(on(batch).logits, on(batch).aux["rgb_logits"])


def test_tg_regularisers_on_hand_made_attention():
    uniform = {g: torch.full((3, g), 1 / g) for g in (2, 3, 4)}
    one_hot = {g: torch.eye(g)[[0, 0, g - 1]] for g in (2, 3, 4)}
    assert segment_collapse(uniform).item() == pytest.approx(0.0, abs=1e-5)
    assert segment_collapse(one_hot).item() == pytest.approx(1.0, abs=1e-5)
    assert segment_collapse({1: torch.ones(3, 1)}).item() == 0.0
    assert granularity_collapse(torch.full((3, 3), 1 / 3)).item() == pytest.approx(0.0, abs=1e-5)
    assert granularity_collapse(torch.eye(3)).item() == pytest.approx(1.0, abs=1e-5)
    # the released model trains with cross-entropy alone: the default weights are 0
    config = temporal_granularity("cpu", num_classes=K).config
    assert config.lambda_segments == 0.0 and config.lambda_granularity == 0.0


def test_segment_index_follows_segment_bounds():
    for num_frames, g in [(24, 2), (24, 3), (24, 4), (36, 3), (12, 4)]:
        index = segment_frame_index(num_frames, g, num_frames // g)
        expected = [list(range(s, e)) for s, e in segment_bounds(num_frames, g)]
        assert index.tolist() == expected
    # fewer frames per segment than the segment holds: evenly spaced, inside the segment
    for (s, e), row in zip(segment_bounds(24, 2), segment_frame_index(24, 2, 5).tolist()):
        assert all(s <= i < e for i in row) and row == sorted(set(row))
    x = torch.arange(2 * 24 * 3).view(2, 24, 3)  # (B, T, D)
    parts = split_segments(x, 3, 8, dim=1)  # (B, G, L, D)
    for k, (s, e) in enumerate(segment_bounds(24, 3)):
        torch.testing.assert_close(parts[:, k], x[:, s:e])


def test_tg_segment_inputs_match_segment_bounds():
    torch.manual_seed(0)
    model = temporal_granularity("cpu", num_classes=K).eval()
    c = model.config
    batch = make_batch(model, size=32)
    seen: dict[str, list[torch.Tensor]] = {"rgb": [], "pose": []}
    hooks = [model.backbone.Conv3d_1a_7x7.register_forward_pre_hook(lambda m, a: seen["rgb"].append(a[0]))]
    for g in c.granularities:
        for rnn in model.segment_pose[str(g)]:
            hooks.append(rnn.register_forward_pre_hook(lambda m, a: seen["pose"].append(a[0])))
    with torch.no_grad():
        model(batch)
    for h in hooks:
        h.remove()
    rgb, pose = batch["rgb"], batch["skeleton"].flatten(2)
    # RGB: all segments of all granularities in one trunk call, in order G = 2, 3, 4, segment k
    clips = seen["rgb"][0].view(B, sum(c.granularities), 3, c.segment_frames, *rgb.shape[-2:])
    row = 0
    for g in c.granularities:
        for k, (s, e) in enumerate(segment_bounds(rgb.shape[2], g)):
            index = segment_frame_index(rgb.shape[2], g, c.segment_frames)[k]
            assert all(s <= i < e for i in index.tolist())
            torch.testing.assert_close(clips[:, row], rgb[:, :, index])
            if e - s == c.segment_frames:  # G = 4 on 24 frames: the whole segment
                torch.testing.assert_close(clips[:, row], rgb[:, :, s:e])
            row += 1
    # pose: each segment GRU reads exactly its segment_bounds steps
    got = iter(seen["pose"])
    for g in c.granularities:
        for s, e in segment_bounds(pose.shape[1], g):
            torch.testing.assert_close(next(got), pose[:, s:e])


@pytest.mark.parametrize("mixing", ["none", "gru"])
def test_tg_segment_weight_k_reads_segment_k_only(mixing):
    """All the weight on the last segment: the output ignores the first segment's frames when the
    weights act on per-segment features, and does not when they act on a forward GRU's states."""
    torch.manual_seed(0)
    base = temporal_granularity("cpu", num_classes=K).config
    model = TemporalGranularity(replace(base, granularities=(3,), mixing=mixing)).eval()
    batch = make_batch(model, size=32)
    batch["attention:segments:3"] = torch.tensor([[0.0, 0.0, 1.0]]).expand(B, 3)
    other = dict(batch)
    other["crops"] = batch["crops"].clone()
    other["crops"][:, :, :, :8] = -other["crops"][:, :, :, :8]  # segment 1 of 3 of the 24 frames
    with torch.no_grad():
        a, b = model(batch).logits, model(other).logits
    assert torch.equal(a, b) == (mixing == "none")
    assert (model.attention_fields("segments", 3) is None) == (mixing == "none")


def test_tg_segment_features_from_an_earlier_endpoint():
    """``feature_endpoint``: the trunk stops there and a segment's feature has that map's channels."""
    torch.manual_seed(0)
    base = temporal_granularity("cpu", num_classes=K).config
    model = TemporalGranularity(replace(base, feature_endpoint="Mixed_3c", segment_scoring="rgb")).eval()
    batch = make_batch(model, size=32)
    vectors = model.segment_features(batch["crops"][:, 0])  # the person crop (B, 3, T, S, S)
    channels = model.backbone.feature_channels("Mixed_3c")
    assert channels < model.backbone.feature_channels("Mixed_5c")
    assert {g: tuple(v.shape) for g, v in vectors.items()} == {
        g: (B, g, channels) for g in base.granularities
    }
    check_output(model(batch), B, K)
    with pytest.raises(ValueError, match="unknown endpoint"):
        TemporalGranularity(replace(base, feature_endpoint="Mixed_9z"))


def segment_keys_read(model, batch) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``batch`` and return the keys each granularity's segment score read."""
    seen, score = {}, model._segment_logits

    def recording(key, keys, query):
        seen[key] = keys
        return score(key, keys, query)

    model._segment_logits = recording
    with torch.no_grad():
        check_output(model(batch), B, K)
    return seen


def test_tg_segment_keys_from_the_maps_peak():
    """``segment_key_pool="max"``: a segment's score reads the maximum of its map over steps and
    cells, while the feature the weights pool stays the map's mean."""
    torch.manual_seed(0)
    base = temporal_granularity("cpu", num_classes=K).config
    model = TemporalGranularity(replace(base, segment_key_pool="max", segment_key_centre=False)).eval()
    batch = make_batch(model, size=32)
    crops = batch["crops"][:, 0]
    maps = model.segment_maps(crops)
    mean, peak = (
        model.by_granularity(maps.mean(dim=(3, 4, 5))),
        model.by_granularity(maps.amax(dim=(3, 4, 5))),
    )
    for g, v in model.segment_features(crops).items():
        torch.testing.assert_close(mean[g], v)
        assert bool((peak[g] >= v - 1e-6).all()) and not torch.allclose(peak[g], v)
    seen = segment_keys_read(model, batch)
    for g in (2, 3, 4):
        torch.testing.assert_close(seen[str(g)], peak[g])
    with pytest.raises(ValueError, match="segment_key_pool"):
        replace(base, segment_key_pool="median")


def test_tg_negative_segment_weight_rewards_a_choice():
    """A negative ``lambda_segments`` lowers the loss of one-hot segment weights below uniform
    ones by exactly its size (the collapse term runs from 0 to 1); a positive one raises it."""
    base = temporal_granularity("cpu", num_classes=K).config
    labels = torch.tensor([0, 1])
    logits = torch.zeros(B, K)
    uniform = {g: torch.full((B, g), 1 / g) for g in (2, 3, 4)}
    one_hot = {g: torch.eye(g)[[0, g - 1]] for g in (2, 3, 4)}
    gamma = torch.full((B, 3), 1 / 3)
    for weight in (-0.2, 0.3):
        model = TemporalGranularity(replace(base, lambda_segments=weight))
        losses = [
            model.loss(ModelOutput(logits=logits, attention={"segments": a, "granularity": gamma}),
                       {"label": labels})[0].item()
            for a in (uniform, one_hot)
        ]  # fmt: skip
        assert losses[1] - losses[0] == pytest.approx(weight, abs=1e-5)


def test_tg_with_whole_clip_granularity():
    torch.manual_seed(0)
    base = temporal_granularity("cpu", num_classes=K).config
    model = TemporalGranularity(replace(base, granularities=(1, 2, 4))).train()
    batch = make_batch(model, size=32)
    out = model(batch)
    check_output(out, B, K)
    torch.testing.assert_close(out.attention["segments"][1], torch.ones(B, 1))
    assert out.attention["granularity"].shape == (B, 3)
    model.loss(out, batch)[0].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_tg_rejects_indivisible_clip_lengths():
    base = temporal_granularity("cpu", num_classes=K).config
    with pytest.raises(ValueError):
        replace(base, skeleton_frames=20)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_eval_is_batch_independent(name):
    model = FACTORIES[name]("cpu", num_classes=K).eval()
    batch = make_batch(model, batch=3, size=32)
    with torch.no_grad():
        full = model(batch).logits
        one = model({k: v[:1] for k, v in batch.items()}).logits
    torch.testing.assert_close(full[:1], one, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_whole_frames_instead_of_the_person_crop(name):
    model = FACTORIES[name]("cpu", num_classes=K)
    model = type(model)(replace(model.config, person_crop=False)).eval()
    assert set(model.inputs) == {"rgb", "skeleton"} and model.input_spec.crops is None
    batch = make_batch(model)
    del batch["crops"]
    check_output(model(batch), B, K)


def test_results_with_a_pose_classifier_are_labelled():
    """The app's model list and the README table say "+ pose classifier" for fused models."""
    from app_support.models import _pose_classifier
    from core_models.reproduce import _label

    assert _pose_classifier({"model": "separable_sta", "preset": "cpu", "config": {"pose_scores": True}})
    assert not _pose_classifier({"model": "separable_sta", "preset": "cpu", "config": {"pose_scores": False}})
    # runs from before settings recorded the config: the cpu preset then fused a pose classifier
    assert _pose_classifier({"model": "part_attention", "preset": "cpu"})
    off = {"model": "part_attention", "preset": "cpu", "overrides": {"pose_scores": False}}
    assert not _pose_classifier(off)
    assert not _pose_classifier({"model": "i3d", "preset": "cpu"})
    fused = {"metrics": {"streams": {"rgb": 0.5, "pose": 0.9}}}
    assert _label("separable_sta", fused) == "separable_sta + pose classifier"
    assert _label("separable_sta", {"metrics": {}}) == "separable_sta"


def test_the_app_lists_temporal_attention_for_part_attention_runs_with_attend_time(tmp_path):
    import json

    from app_support.models import list_models

    for name, config in (
        ("plain", {"attend_time": False}),
        ("joint", {"attend_time": True, "per_step": True}),
    ):
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        (run / "model.pt").write_bytes(b"")  # the list reads settings only
        settings = {
            "model": "part_attention",
            "preset": "cpu",
            "data": "synth",
            "protocol": "cs",
            "config": config,
        }
        (run / "settings.json").write_text(json.dumps(settings))
    kinds = {e.path.name: e.attention_kinds for e in list_models(tmp_path / "none", tmp_path / "runs")}
    assert kinds == {"plain": ("parts",), "joint": ("parts", "temporal")}


def test_the_app_labels_runs_that_pool_with_the_true_attention(tmp_path):
    import json

    from app_support.models import list_models

    runs = {"true": {"config": {"true_attention": ["temporal"]}}, "own": {},
            "overridden": {"overrides": {"true_attention": "temporal"}}}  # fmt: skip
    for name, recorded in runs.items():
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        (run / "model.pt").write_bytes(b"")  # the list reads settings only
        settings = {"model": "separable_sta", "preset": "cpu", "data": "synth", "protocol": "cs", **recorded}
        (run / "settings.json").write_text(json.dumps(settings))
    entries = {e.path.name: e for e in list_models(tmp_path / "none", tmp_path / "runs")}
    assert {n: e.true_attention for n, e in entries.items()} == {
        "true": ("temporal",), "overridden": ("temporal",), "own": ()
    }  # fmt: skip
    assert "(true temporal attention) · CS" in entries["true"].label()
    assert "true" not in entries["own"].label().split("·")[0]


def test_tg_centred_segment_keys():
    """``segment_key_centre``: every granularity's score reads its segments' keys minus their mean
    over the segments (so they sum to zero), while the features the weights pool are unchanged."""
    torch.manual_seed(0)
    base = temporal_granularity("cpu", num_classes=K).config
    model = TemporalGranularity(replace(base, segment_key_centre=True)).eval()
    batch = make_batch(model, size=32)
    vectors = model.segment_features(batch["crops"][:, 0])
    seen = segment_keys_read(model, batch)
    for g in (2, 3, 4):
        torch.testing.assert_close(seen[str(g)], vectors[g] - vectors[g].mean(dim=1, keepdim=True))
        zero = torch.zeros(B, vectors[g].shape[-1])
        torch.testing.assert_close(seen[str(g)].sum(dim=1), zero, atol=1e-5, rtol=0)


def test_tg_evidence_target_follows_the_segment_reads():
    """``segment_target="evidence"``: the segment weights' target is the share of the label's
    probability each segment's own read holds (temperature 0: all on the best read); the match
    term's gradient reaches the weights and not the reads, and every parameter trains."""
    from core_models.models.temporal_granularity import segment_evidence

    labels = torch.tensor([0, 1])
    reads = torch.zeros(B, 3, K)
    reads[0, 2, 0] = 3.0  # clip 0: segment 2 reads its label best
    reads[1, 0, 1] = 1.0  # clip 1: segment 0, less sharply
    reads.requires_grad_(True)
    beta = torch.full((B, 3), 1 / 3, requires_grad=True)
    read_ce, match = segment_evidence({"segment_reads_3": reads}, {1: torch.ones(B, 1), 3: beta}, labels)
    p = torch.softmax(reads.detach(), -1)[torch.arange(B), :, labels]  # (B, 3) p_k(y)
    target = p / p.sum(1, keepdim=True)
    assert match.item() == pytest.approx(float(-(target * math.log(1 / 3)).sum(1).mean()), abs=1e-5)
    grad_beta, grad_reads = torch.autograd.grad(match, [beta, reads], allow_unused=True)
    assert grad_reads is None or float(grad_reads.abs().sum()) == 0.0
    torch.testing.assert_close(grad_beta, -target / beta.detach() / B)
    _, hard = segment_evidence({"segment_reads_3": reads}, {3: beta}, labels, temperature=0.0)
    assert hard.item() == pytest.approx(math.log(3), abs=1e-5)  # one-hot target, uniform weights
    assert read_ce.item() > 0

    torch.manual_seed(0)
    base = temporal_granularity("cpu", num_classes=K).config
    model = TemporalGranularity(replace(base, segment_target="evidence")).train()
    batch = make_batch(model, size=32)
    out = model(batch)
    assert {f"segment_reads_{g}" for g in (2, 3, 4)} <= set(out.aux)
    total, terms = model.loss(out, batch)
    assert {"segment_reads", "segment_match"} <= set(terms)
    total.backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="segment_target"):
        replace(base, segment_target="truth")
    with pytest.raises(ValueError, match="evidence_temperature"):
        replace(base, evidence_temperature=-1.0)


def test_attention_adversary_reverses_its_gradient():
    """The class readers learn by plain gradient descent on their cross-entropy; the attention gets
    that gradient reversed and scaled by the weight (0: no gradient at all)."""
    from core_models.models.class_code import AttentionAdversary

    torch.manual_seed(0)
    labels = torch.tensor([0, 1, 2, 1])
    weights = {"a": torch.softmax(torch.randn(4, 3), -1), "b": torch.softmax(torch.randn(4, 2), -1)}
    grads = {}
    for scale in (0.0, 1.0, 2.5):
        torch.manual_seed(1)
        adversary = AttentionAdversary({"a": 3, "b": 2}, K, scale).train()
        inputs = {n: w.clone().requires_grad_(True) for n, w in weights.items()}
        loss = adversary(inputs, labels)
        loss.backward()
        assert all(p.grad is not None for p in adversary.parameters())
        grads[scale] = inputs["a"].grad.clone()
        # the same readers, no reversal: the plain gradient of the loss on the weights
        torch.manual_seed(1)
        plain = AttentionAdversary({"a": 3, "b": 2}, K, 1.0).train()
        x = {n: w.clone().requires_grad_(True) for n, w in weights.items()}
        flat = {n: x[n] for n in plain.names}
        flat["all"] = torch.cat([x["a"], x["b"]], 1)
        ce = torch.nn.functional.cross_entropy
        terms = [ce(plain.read[n](plain.norm[n](v)), labels) for n, v in flat.items()]
        torch.stack(terms).mean().backward()
        torch.testing.assert_close(grads[scale], -scale * x["a"].grad)
    assert float(grads[0.0].abs().sum()) == 0.0 and float(grads[1.0].abs().sum()) > 0


def test_tg_granularity_weights_from_the_segment_weights_confidence():
    """``granularity_scoring="confidence"``: each granularity's logit is the learned scale times
    how sure its segment weights are, plus its bias; no pose map of the granularity is built.
    Equal segment weights (steered) leave the biases alone; one-hot ones add the scale."""
    torch.manual_seed(0)
    base = temporal_granularity("cpu", num_classes=K).config
    model = TemporalGranularity(replace(base, granularity_scoring="confidence")).eval()
    assert not hasattr(model, "granularity_score")
    with torch.no_grad():
        model.granularity_scale.fill_(2.0)
        model.granularity_bias.copy_(torch.tensor([0.0, 0.5, -0.5]))
    batch = make_batch(model)
    n = batch["label"].shape[0]
    equal = {steer_key(f"segments:{g}"): torch.full((n, g), 1 / g) for g in (2, 3, 4)}
    with torch.no_grad():
        gamma = model({**batch, **equal}).attention["granularity"]
    torch.testing.assert_close(gamma, torch.softmax(torch.tensor([0.0, 0.5, -0.5]), 0).expand(n, 3))
    one_hot = {**equal, steer_key("segments:3"): torch.eye(3)[[0] * n]}  # G = 3 sure, the others not
    with torch.no_grad():
        gamma = model({**batch, **one_hot}).attention["granularity"]
    torch.testing.assert_close(gamma, torch.softmax(torch.tensor([0.0, 2.5, -0.5]), 0).expand(n, 3))
    sure = segment_confidence(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
    assert sure.tolist() == pytest.approx([0.0, 1.0], abs=1e-6)
    with pytest.raises(ValueError, match="granularity_scoring"):
        replace(base, granularity_scoring="class")


def test_true_attention_in_torch_is_the_truth_evaluate_scores():
    """``output.true_attention`` (made from a batch, in torch) gives the weights of
    ``evaluate.truth_attention`` (made from the evaluation table, in numpy)."""
    import numpy as np
    import pandas as pd

    from core_models.data.layouts import NTU25
    from core_models.evaluate import truth_attention as table_truth
    from core_models.models.output import true_attention

    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 0.8, 6)
    intervals = np.stack([starts, starts + rng.uniform(0.05, 0.4, 6)], 1).clip(0, 1).astype(np.float32)
    parts = rng.random((6, len(NTU25.part_names))) < 0.3
    parts[0] = False  # no part acts: equal weights
    batch = {"truth_interval": torch.from_numpy(intervals), "truth_parts": torch.from_numpy(parts)}
    names = ["left_hand", "right_hand", "head"]
    table = pd.DataFrame({
        "truth_interval": list(intervals.astype(np.float64)),
        "truth_parts": [[n for n, on in zip(NTU25.part_names, row, strict=True) if on] for row in parts],
    })  # fmt: skip
    like = {"temporal": torch.rand(6, 8), "segments:3": torch.rand(6, 3), "parts": torch.rand(6, 4, 3)}
    want = table_truth(object(), like, table, names)
    for name, t in like.items():
        got = true_attention(batch, name, t, names)
        torch.testing.assert_close(got, want[name], atol=1e-6, rtol=1e-5)
    assert true_attention({}, "temporal", like["temporal"]) is None  # no truth in the batch
    assert true_attention(batch, "spatial", torch.rand(6, 8, 8)) is None  # no truth for maps here


@pytest.mark.parametrize("name", ["separable_sta", "temporal_granularity", "part_attention"])
def test_a_model_with_true_attention_pools_with_the_truth_and_refuses_other_kinds(name):
    from core_models.models import build_model
    from core_models.models.output import true_attention

    kinds = {"separable_sta": ("temporal", "temporal"), "part_attention": ("parts", "parts"),
             "temporal_granularity": ("segments", "segments:2")}  # fmt: skip
    kind, key = kinds[name]
    base = build_model(name, "cpu", num_classes=K)
    model = type(base)(replace(base.config, true_attention=[kind])).eval()  # a JSON list, as --set gives
    assert model.config.true_attention == (kind,)
    spec = model.input_spec
    g = torch.Generator().manual_seed(0)
    joints = (B, spec.skeleton_frames, spec.num_persons, model.config.num_joints, 3)
    batch = {"skeleton": torch.randn(joints, generator=g), "label": torch.zeros(B, dtype=torch.long)}
    if name == "part_attention":
        P, C = len(spec.crops.parts), spec.crops.size
        batch["crops"] = torch.rand(B, P, 3, spec.num_frames, C, C, generator=g) * 2 - 1
    else:
        batch["rgb"] = (
            torch.rand(B, 3, spec.num_frames, spec.frame_size, spec.frame_size, generator=g) * 2 - 1
        )
        batch["crops"] = batch["rgb"][:, None]
    truth = {
        "truth_interval": torch.tensor([[0.1, 0.4], [0.5, 0.9]]),
        "truth_parts": torch.zeros(B, 7, dtype=torch.bool),
    }
    truth["truth_parts"][0, 1] = True  # clip 0: the right hand acts; clip 1: none of the model's parts

    def weights(out):
        return out.attention["segments"][2] if kind == "segments" else out.attention[kind]

    with torch.no_grad():
        own = weights(model(batch))  # no ground truth in the batch: its own weights
        true = weights(model({**batch, **truth}))
        want = true_attention(truth, key, own, getattr(model.config, "parts", ()))
        torch.testing.assert_close(true, want)
        assert not torch.allclose(own, true)
        flat = torch.full_like(own, 1.0 / own.shape[-1])  # an intervention still has the last word
        torch.testing.assert_close(weights(model({**batch, **truth, steer_key(key): flat})), flat)
    with pytest.raises(ValueError, match="true_attention for"):
        type(base)(replace(base.config, true_attention=["granularity"]))
