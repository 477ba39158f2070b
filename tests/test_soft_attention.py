"""The attention baselines and the two-stream inputs: soft-attention LSTM, STN, temporal
self-attention, optical flow and its cache, and the late fusions' score averaging."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from ntu_files import one_person, write_sample

from core_models import losses
from core_models.data.datasets import ClipDataset, InputSpec, _spec_key
from core_models.data.flow import FLOW_BOUND, clip_flow, flow_stack, frame_flow, stack_fields
from core_models.data.ntu import NTUReader
from core_models.models import build_model
from core_models.models.self_attention import MultiHeadSelfAttention
from core_models.models.stn import SpatialTransformer

K = 5


def _rgb(b: int, t: int, s: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, t, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---------------------------------------------------------------------------------------------
# temporal self-attention


def test_hand_written_attention_equals_sdpa():
    torch.manual_seed(0)
    mhsa = MultiHeadSelfAttention(dim=32, heads=4)
    x = torch.randn(3, 7, 32)
    q, k, v = mhsa.project(x)
    assert q.shape == (3, 4, 7, 8)
    out, weights = mhsa.attend(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 7))


def test_self_attention_reads_the_person_and_old_checkpoints_the_frame():
    """The cpu preset reads the person crop with normalised frame embeddings; a checkpoint saved
    before those fields existed rebuilds the whole-frame model it was trained as."""
    from dataclasses import asdict

    from core_models.checkpoint import build_model_with

    model = build_model("self_attention", "cpu", num_classes=K)
    assert model.inputs == ("crops",) and model.config.embed_norm
    saved = {k: v for k, v in asdict(model.config).items() if k not in ("embed_norm", "position_scale",
                                                                           "person_crop")}  # fmt: skip
    old = build_model_with(
        "self_attention", "cpu", num_classes=K, layout_name="ntu25", config=saved, legacy=True
    )
    assert old.inputs == ("rgb",) and not old.config.embed_norm
    assert old.eval()({"rgb": _rgb(2, 6, 32)}).logits.shape == (2, K)


def test_soft_attention_reads_the_person_and_old_checkpoints_the_frame():
    """The cpu preset reads 16 frames of the person crop; a checkpoint saved before the field
    existed rebuilds the whole-frame model of 8 frames it was trained as."""
    from dataclasses import asdict

    from core_models.checkpoint import build_model_with

    model = build_model("soft_attention_lstm", "cpu", num_classes=K)
    assert model.inputs == ("crops",) and model.input_spec.crops.parts == ("full_body",)
    assert model.input_spec.num_frames == 16 and model.input_spec.frame_size == 64
    saved = {k: v for k, v in asdict(model.config).items() if k != "person_crop"} | {"num_frames": 8}
    old = build_model_with(
        "soft_attention_lstm", "cpu", num_classes=K, layout_name="ntu25", config=saved, legacy=True
    )
    assert old.inputs == ("rgb",) and old.input_spec.crops is None and old.input_spec.num_frames == 8
    assert old.eval()({"rgb": _rgb(2, 8, 64)}).attention["spatial"].shape == (2, 8, 8, 8)
    assert build_model("soft_attention_lstm", "paper", num_classes=K).inputs == ("rgb",)


def test_soft_attention_cpu_preset_has_no_doubly_stochastic_penalty():
    """Weight 1 held the maps uniform and the loss at chance; the released scripts use 0."""
    assert build_model("soft_attention_lstm", "cpu", num_classes=K).config.lambda_ds == 0.0
    assert build_model("soft_attention_lstm", "paper", num_classes=K).config.lambda_ds == 1.0


def test_self_attention_model_returns_the_last_blocks_matrix():
    model = build_model("self_attention", "cpu", num_classes=K).eval()
    captured = []
    model.blocks[-1].attention.softmax.register_forward_hook(lambda m, i, o: captured.append(o))
    out = model({"crops": _rgb(2, 6, 32)[:, None]})  # the person crop (B, 1, 3, T, S, S)
    assert out.attention["self"].shape == (2, 4, 6, 6)
    torch.testing.assert_close(out.attention["self"], captured[-1])


# ---------------------------------------------------------------------------------------------
# spatial transformer


def test_stn_is_the_identity_at_initialisation():
    torch.manual_seed(0)
    clip = _rgb(2, 3, 16)[..., :12]  # (2, 3, 3, 16, 12): non-square
    for per_frame in (False, True):
        st = SpatialTransformer(3, per_frame=per_frame)
        warped, grid = st(clip)
        torch.testing.assert_close(warped, clip, atol=1e-5, rtol=0)
        assert grid.shape == ((2, 3, 16, 12, 2) if per_frame else (2, 16, 12, 2))
    image = clip[:, :, 0]
    warped, grid = SpatialTransformer(3)(image)
    torch.testing.assert_close(warped, image, atol=1e-5, rtol=0)


def test_stn_known_theta_moves_the_image():
    st = SpatialTransformer(1)
    x = torch.zeros(1, 1, 2, 16, 16)
    x[..., 4:8, 8:12] = 1.0  # a bright square, rows 4-7, columns 8-11, in both frames
    # output (x, y) reads input (x + 0.5, y): half the half-width = 4 pixels to the right
    shift = torch.tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]])
    warped, grid = st.transform(x, shift)
    expected = torch.zeros_like(x)
    expected[..., 4:8, 4:8] = 1.0  # so the square appears 4 pixels to the left
    torch.testing.assert_close(warped, expected, atol=1e-5, rtol=0)
    # a zoom by 2 about the centre reads the central half of the frame
    zoom = torch.tensor([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]])
    _, zgrid = st.transform(x, zoom)
    _, igrid = st.transform(x, torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]))
    torch.testing.assert_close(zgrid, 0.5 * igrid)
    # a grid that leaves the frame is clamped to it: what is returned is what was read
    _, far = st.transform(x, torch.tensor([[[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]]))
    assert far.abs().max() <= 1.0 and (far.abs() == 1.0).any()


def test_stn_model_reports_its_grid():
    """With ``source_size`` the model reads 112^2 frames and its 3D ConvNet sees 48^2 samples of
    them (the whole frame at initialisation); a checkpoint from before the field reads and
    samples at 48."""
    from dataclasses import asdict, replace

    from core_models.checkpoint import build_model_with
    from core_models.models.stn import PRESETS, STNClassifier

    model = STNClassifier(replace(PRESETS["cpu"], num_classes=K, source_size=112, person_crop=False)).eval()
    assert model.input_spec.frame_size == 112
    clip = _rgb(2, 4, 112)
    out = model({"rgb": clip})
    assert out.attention["grid"].shape == (2, 48, 48, 2)
    seen = []
    model.backbone.Conv3d_1a_7x7.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    model({"rgb": clip})
    resized = F.interpolate(clip.flatten(1, 2), size=(48, 48), mode="bilinear", antialias=False)
    assert seen[0].shape == (2, 3, 4, 48, 48)
    # the identity grid samples the frame at the output pixels' centres
    torch.testing.assert_close(seen[0].flatten(1, 2), resized, atol=1e-4, rtol=0)
    saved = {k: v for k, v in asdict(model.config).items() if k not in ("source_size", "person_crop")}
    old = build_model_with("stn", "cpu", num_classes=K, layout_name="ntu25", config=saved, legacy=True)
    assert old.input_spec.frame_size == 48 and old.input_spec.crops is None and old.inputs == ("rgb",)
    assert old.eval()({"rgb": _rgb(2, 4, 48)}).attention["grid"].shape == (2, 48, 48, 2)


def test_stn_cpu_preset_warps_the_person_crop():
    """The ``cpu`` STN reads the person-centred crop (as the rest of its teaching line) and warps
    it for its 3D ConvNet; whole frames are refused with an error that names the crop."""
    model = build_model("stn", "cpu", num_classes=K).eval()
    c, spec = model.config, model.input_spec
    assert model.inputs == ("crops",) and spec.crops is not None and spec.crops.parts == ("full_body",)
    assert spec.frame_size == spec.crops.size == c.frame_size == 48
    crop = _rgb(2, c.num_frames, c.frame_size)
    seen = []
    model.backbone.Conv3d_1a_7x7.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        out = model({"crops": crop[:, None]})
    assert out.attention["grid"].shape == (2, c.frame_size, c.frame_size, 2)
    # at initialisation the transform is the identity: the trunk sees the whole crop
    torch.testing.assert_close(seen[0], crop, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="full_body crop"):
        model({"rgb": crop})


def test_stn_grid_is_steerable_to_the_identity_and_to_another_clips():
    """An intervention replaces the warp's grid: the identity (``uniform_attention("grid")``) reads
    the crop as it is; another clip's grid reads this clip where that one looked; the model
    reports the grid it read through."""
    from core_models.models.output import steer_key, uniform_attention

    model = build_model("stn", "cpu", num_classes=K).eval()
    c = model.config
    with torch.no_grad():  # a transform that zooms on the top-left quarter, whatever the clip
        model.transformer.regress[-1].bias.copy_(torch.tensor([0.5, 0.0, -0.5, 0.0, 0.5, -0.5]))
    crop = _rgb(2, c.num_frames, c.frame_size)
    seen = []
    model.backbone.Conv3d_1a_7x7.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        own = model({"crops": crop[:, None]})
        identity = uniform_attention("grid", own.attention["grid"])
        steered = model({"crops": crop[:, None], steer_key("grid"): identity})
        swapped = model({"crops": crop[:, None], steer_key("grid"): own.attention["grid"].flip(0)})
    assert model.steerable == ("grid",)
    assert not torch.allclose(seen[0], crop, atol=1e-2)  # its own grid zooms
    torch.testing.assert_close(seen[1], crop, atol=1e-4, rtol=0)  # the identity reads the crop as it is
    torch.testing.assert_close(steered.attention["grid"], identity)
    torch.testing.assert_close(seen[2], seen[0])  # one transform for both clips: a swap changes nothing
    torch.testing.assert_close(swapped.logits, own.logits)
    with pytest.raises(ValueError, match="override must have the model's shape"):
        model({"crops": crop[:, None], steer_key("grid"): identity[:, :4]})


def test_nonlocal_affinities_are_returned_and_steerable_block_by_block():
    """I3D with non-local blocks returns each block's affinity and honours an override per block
    (``nonlocal:<block>``): its own affinity changes nothing, equal rows change the output; plain
    I3D returns no attention and steers nothing."""
    from core_models.models.output import check_output, steer_key, uniform_attention

    torch.manual_seed(0)
    # batch statistics: a fresh I3D's running statistics make its eval-mode map the same everywhere
    model = build_model("i3d_nl", "cpu", num_classes=K).train()
    for block in model.backbone.nonlocal_blocks.values():  # zero-initialised blocks add nothing
        torch.nn.init.ones_(block.bn.weight)
    c = model.config
    rgb = _rgb(2, c.num_frames, c.frame_size)
    with torch.no_grad():
        own = model({"rgb": rgb})
        check_output(own, 2, K)
        maps = own.attention["nonlocal"]
        assert tuple(maps) == model.blocks == ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
                                               "Mixed_5b", "Mixed_5c")  # fmt: skip
        assert model.steerable == tuple(f"nonlocal:{b}" for b in model.blocks)
        assert maps["Mixed_4b"].shape == (2, 64, 16) and maps["Mixed_5c"].shape == (2, 8, 2)
        same = model({"rgb": rgb, steer_key("nonlocal:Mixed_4b"): maps["Mixed_4b"]})
        equal = uniform_attention("nonlocal:Mixed_4b", maps["Mixed_4b"])
        flat = model({"rgb": rgb, steer_key("nonlocal:Mixed_4b"): equal})
        first = torch.zeros_like(equal)
        first[..., 0] = 1.0  # every position reads the first one alone
        one = model({"rgb": rgb, steer_key("nonlocal:Mixed_4b"): first})
    torch.testing.assert_close(same.features, own.features)
    torch.testing.assert_close(flat.attention["nonlocal"]["Mixed_4b"], torch.full((2, 64, 16), 1 / 16))
    torch.testing.assert_close(one.attention["nonlocal"]["Mixed_4b"], first)
    assert not torch.allclose(one.features, flat.features, atol=1e-2)  # the map the head pools
    with pytest.raises(ValueError, match="non-local affinity override must be"):
        model({"rgb": rgb, steer_key("nonlocal:Mixed_5b"): equal})
    plain = build_model("i3d", "cpu", num_classes=K).eval()
    with torch.no_grad():
        assert plain({"rgb": rgb}).attention == {} and plain.steerable == () == plain.attention_kinds


# ---------------------------------------------------------------------------------------------
# soft-attention LSTM


def _sinkhorn(n: int, seed: int) -> torch.Tensor:
    a = torch.rand(n, n, generator=torch.Generator().manual_seed(seed)) + 0.1
    for _ in range(200):
        a = a / a.sum(1, keepdim=True)
        a = a / a.sum(0, keepdim=True)
    return a / a.sum(1, keepdim=True)


def test_soft_attention_sums_to_one_per_step_and_loss_terms():
    model = build_model("soft_attention_lstm", "cpu", num_classes=K).train()
    batch = {"crops": _rgb(2, 5, 32)[:, None], "label": torch.tensor([0, 3])}  # the person crop
    out = model(batch)
    att = out.attention["spatial"]  # (B, T, H', W')
    assert att.shape == (2, 5, 4, 4) and out.aux["step_logits"].shape == (2, 5, K)
    torch.testing.assert_close(att.sum(dim=(2, 3)), torch.ones(2, 5))
    torch.testing.assert_close(out.logits, out.aux["step_logits"].mean(1))
    total, terms = model.loss(out, batch)
    assert terms["doubly_stochastic"] >= 0 and torch.isfinite(total)


def test_doubly_stochastic_is_zero_when_every_location_gets_weight_one():
    # T = N steps and locations: every row (step) and every column (location) sums to 1
    one_hot = torch.eye(6)[torch.randperm(6, generator=torch.Generator().manual_seed(0))]
    mixed = _sinkhorn(6, seed=1)
    att = torch.stack([one_hot, mixed])  # (B, T, N)
    assert losses.doubly_stochastic(att).item() == pytest.approx(0.0, abs=1e-6)
    stuck = torch.zeros(1, 6, 6)
    stuck[..., 0] = 1.0
    assert losses.doubly_stochastic(stuck).item() == pytest.approx(25.0 + 5.0)


# ---------------------------------------------------------------------------------------------
# optical flow


def _texture(size: int, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).random((size, size)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return np.repeat((smooth * 255).astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize("dx, dy", [(2, -1), (-3, 0)])
def test_flow_recovers_a_translation(dx, dy):
    a = _texture(96)
    b = np.roll(a, shift=(dy, dx), axis=(0, 1))  # content moves by (dx, dy)
    flow = frame_flow(a, b)[16:-16, 16:-16]  # away from the wrapped border
    est = np.median(flow.reshape(-1, 2), axis=0)
    assert est == pytest.approx([dx, dy], abs=0.4)
    # through quantisation and stacking: channels [dx0, dy0, dx1, dy1, ...] in units of the bound
    fields = clip_flow(np.stack([a, b, np.roll(b, shift=(dy, dx), axis=(0, 1))]))
    assert fields.shape == (2, 96, 96, 2) and fields.dtype == np.uint8
    stack = flow_stack(fields, 2).numpy()[:, 16:-16, 16:-16]  # (4, S', S')
    bound = FLOW_BOUND * 96
    assert np.median(stack[0]) * bound == pytest.approx(dx, abs=0.4)
    assert np.median(stack[1]) * bound == pytest.approx(dy, abs=0.4)
    assert np.median(stack[2]) * bound == pytest.approx(dx, abs=0.4)


def test_flow_stack_values_are_the_dequantised_fields_channels_first():
    """``dequantize`` gives, bit for bit, numpy's float32 ``(q - 128) / 127`` for every uint8
    value (whatever the array's length, so the vectorised loops and their remainders alike), and
    a stack lays its fields out as ``[dx_0, dy_0, dx_1, ...]``: the checkpoints trained before
    the conversion moved to torch read exactly these numbers."""
    from core_models.data.flow import dequantize, quantize

    q = np.arange(256, dtype=np.uint8)
    want = (q.astype(np.float32) - np.float32(128.0)) / np.float32(127.0)
    for n in (256, 255, 7, 1):
        np.testing.assert_array_equal(dequantize(q[-n:]).numpy(), want[-n:])
    assert dequantize(q).dtype == torch.float32 and float(dequantize(np.array(128, np.uint8))) == 0.0
    np.testing.assert_array_equal(quantize(dequantize(q[1:]).numpy() * 5.0, 5.0), q[1:])  # round trip
    rng = np.random.default_rng(0)
    fields = rng.integers(1, 256, size=(31, 7, 5, 2), dtype=np.uint8)
    got = flow_stack(fields, 4, None, count=3).numpy()
    idx = stack_fields(31, 4, 3)
    old = ((fields[idx].astype(np.float32) - 128.0) / 127.0).transpose(0, 3, 1, 2).reshape(24, 7, 5)
    np.testing.assert_array_equal(got, old)
    assert got.flags["C_CONTIGUOUS"]


def test_flow_stack_is_centred_or_random_and_pads_short_clips():
    fields = np.arange(5, dtype=np.uint8)[:, None, None, None].repeat(2, 3).repeat(4, 1).repeat(4, 2) + 128
    centred = flow_stack(fields, 3)
    assert centred.shape == (6, 4, 4)
    assert torch.allclose(centred[::2, 0, 0] * 127, torch.tensor([1.0, 2.0, 3.0]))
    short = flow_stack(fields[:2], 4)
    assert torch.allclose(short[::2, 0, 0] * 127, torch.tensor([0.0, 1.0, 1.0, 1.0]))
    starts = {
        int(round(flow_stack(fields, 3, np.random.default_rng(s))[0, 0, 0].item() * 127)) for s in range(20)
    }
    assert starts == {0, 1, 2}


def test_several_flow_stacks_spread_over_the_clip():
    from core_models.data.flow import stack_start, stack_starts

    n, L = 140, 10  # 131 possible starts, three bins of about 44
    assert stack_starts(n, L, 1).tolist() == [stack_start(n, L)]
    centred = stack_starts(n, L, 3)
    assert centred.tolist() == sorted(centred.tolist()) and centred[0] < 44 <= centred[1] < 88 <= centred[2]
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b, c = stack_starts(n, L, 3, rng)
        assert 0 <= a <= 43 < b <= 87 < c <= n - L
    assert stack_starts(5, L, 3).tolist() == [0, 0, 0]  # shorter than one stack: all at the start
    fields = np.arange(40, dtype=np.uint8)[:, None, None, None].repeat(2, 3).repeat(4, 1).repeat(4, 2) + 128
    stacks = flow_stack(fields, 3, None, count=2)
    assert stacks.shape == (12, 4, 4)
    first = [int(round(v)) for v in (stacks[0:6:2, 0, 0] * 127).tolist()]
    second = [int(round(v)) for v in (stacks[6:12:2, 0, 0] * 127).tolist()]
    assert first == [first[0], first[0] + 1, first[0] + 2] and second[0] >= first[0] + 10


def test_two_stream_averages_its_temporal_stream_over_the_stacks():
    torch.manual_seed(0)
    model = build_model("two_stream", "cpu", num_classes=5).eval()
    c = model.config
    assert c.flow_stacks == 3 and model.input_spec.flow_stacks == 3
    rgb = torch.rand(2, 3, c.num_frames, 32, 32) * 2 - 1
    stacks = [torch.rand(2, 2 * c.flow_frames, 32, 32) * 2 - 1 for _ in range(3)]
    with torch.no_grad():
        out = model({"rgb": rgb, "flow": torch.cat(stacks, dim=1)})
        alone = [model.flow_stream.head(model.flow_stream.features(s)) for s in stacks]
    torch.testing.assert_close(out.aux["flow_logits"], torch.stack(alone).mean(0), atol=1e-5, rtol=1e-5)
    # evaluation reads more stacks (the paper: 25 at test) with the same weights
    assert c.test_flow_stacks == 9 and model.input_spec.stacks(training=False) == 9
    assert build_model("two_stream", "paper", num_classes=5).input_spec.stacks(training=False) == 25
    assert model.input_spec.stacks(training=True) == 3
    with torch.no_grad():
        one = model({"rgb": rgb, "flow": stacks[0]})
    torch.testing.assert_close(one.aux["flow_logits"], alone[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="stacks of 20 channels"):
        model({"rgb": rgb, "flow": stacks[0][:, :15]})
    from dataclasses import asdict

    from core_models.checkpoint import build_model_with

    # a file from before both fields
    saved = {k: v for k, v in asdict(c).items() if k not in ("flow_stacks", "test_flow_stacks")}
    old = build_model_with("two_stream", "cpu", num_classes=5, layout_name="ntu25", config=saved, legacy=True)
    assert old.config.flow_stacks == 1 and old.input_spec.flow_stacks == 1
    assert old.input_spec.stacks(training=False) == 1  # evaluated as it was trained and shipped
    saved = {k: v for k, v in asdict(c).items() if k != "test_flow_stacks"}  # 3 stacks, before the test count
    old = build_model_with("two_stream", "cpu", num_classes=5, layout_name="ntu25", config=saved, legacy=True)
    assert old.input_spec.stacks(training=False) == 3


def test_evaluation_items_read_the_test_stacks(tmp_path):
    """A training item draws ``flow_stacks`` stacks, an evaluation item ``test_flow_stacks``
    centred in their bins; the prepared file is the same for both counts."""
    root = tmp_path / "ntu"
    write_sample(root, "S001C001P001R001A001", one_person(40))
    reader = NTUReader(root)
    base = {"num_frames": 2, "frame_size": 16, "skeleton_frames": 0, "flow_frames": 3}
    spec = InputSpec(**base, flow_stacks=2, test_flow_stacks=5)
    cache = tmp_path / "cache"
    train = ClipDataset(reader, reader.list_clips(), spec, cache_dir=cache, train=True)
    test = ClipDataset(reader, reader.list_clips(), spec, cache_dir=cache, train=False)
    assert train[0]["flow"].shape == (2 * 2 * 3, 16, 16)
    item = test[0]["flow"]
    assert item.shape == (5 * 2 * 3, 16, 16)
    assert len(list(cache.glob("*.prep"))) == 1  # the count is sampling, not preparation
    fields = test.prepared(0).flow.unpack()
    want = flow_stack(fields, 3, None, count=5)
    torch.testing.assert_close(item, want, rtol=0, atol=0)
    assert _spec_key(spec) == _spec_key(InputSpec(**base))


def test_flow_items_and_cache_round_trip(tmp_path):
    root = tmp_path / "ntu"
    write_sample(root, "S001C001P001R001A001", one_person(12))
    reader = NTUReader(root)
    spec = InputSpec(num_frames=2, frame_size=16, skeleton_frames=0, flow_frames=3)
    cache = tmp_path / "cache"
    ds = ClipDataset(reader, reader.list_clips(), spec, cache_dir=cache)
    item = ds[0]
    assert item["flow"].shape == (6, 16, 16) and item["flow"].dtype == torch.float32
    assert item["flow"].abs().max() <= 1.0
    files = list(cache.glob("*.prep"))
    assert len(files) == 1
    fresh = ClipDataset(reader, reader.list_clips(), spec, cache_dir=None).prepared(0)
    cached = ClipDataset(reader, reader.list_clips(), spec, cache_dir=cache).prepared(0)  # from the file
    assert cached.flow.shape == (11, 16, 16, 2) and cached.flow[0].dtype == np.uint8
    np.testing.assert_array_equal(cached.flow.unpack(), fresh.flow)
    torch.testing.assert_close(ds[0]["flow"], item["flow"])
    # flow-free specs keep their old cache keys
    assert "flow" not in _spec_key(InputSpec()) and "flow_frames" not in _spec_key(InputSpec())


# ---------------------------------------------------------------------------------------------
# late fusions


@pytest.mark.parametrize(
    "name, streams", [("late_fusion", ("i3d", "cnn2d")), ("two_stream", ("rgb", "flow"))]
)
def test_fused_probabilities_are_the_mean_of_the_streams(name, streams):
    torch.manual_seed(0)
    model = build_model(name, "cpu", num_classes=K).eval()
    batch = {"rgb": _rgb(2, 4, 32), "label": torch.tensor([1, 4])}
    if "crops" in model.inputs:  # the person crop (late fusion's cpu preset), one part
        batch = {"crops": batch["rgb"][:, None], "label": batch["label"]}
    if "flow" in model.inputs:
        batch["flow"] = torch.rand(2, 2 * model.config.flow_frames * model.config.flow_stacks, 32, 32) * 2 - 1
    with torch.no_grad():
        out = model(batch)
    mean = sum(out.aux[f"{s}_logits"].softmax(-1) for s in streams) / len(streams)
    torch.testing.assert_close(out.logits.softmax(-1), mean)
    torch.testing.assert_close(out.logits.exp(), mean)  # the logits are log-probabilities
    _, terms = model.loss(out, batch)
    assert {"ce", *(f"ce_{s}" for s in streams)} <= set(terms)


def test_late_fusion_reads_the_person_crop_in_the_cpu_preset():
    """``person_crop`` gives both streams the full-body crop (``cpu``); ``paper`` and checkpoints
    saved before the field read whole frames."""
    from dataclasses import asdict

    from core_models.checkpoint import restore_config
    from core_models.models.late_fusion import PRESETS, LateFusion

    assert build_model("late_fusion", "paper", num_classes=K).inputs == ("rgb",)
    model = build_model("late_fusion", "cpu", num_classes=K).eval()
    assert model.inputs == ("crops",) and model.input_spec.crops.parts == ("full_body",)
    saved = {k: v for k, v in asdict(model.config).items() if k != "person_crop"}
    old = LateFusion(restore_config(PRESETS["cpu"], saved, legacy=True))
    assert old.inputs == ("rgb",) and old.input_spec.crops is None
    crop = _rgb(2, 8, 48)
    with torch.no_grad():
        out = model({"crops": crop[:, None]})
        other = model({"crops": _rgb(2, 8, 48, seed=1)[:, None]})
    assert out.logits.shape == (2, K) and not torch.allclose(out.logits, other.logits)
    with pytest.raises(ValueError, match="full_body crop"):
        model({"rgb": crop})
