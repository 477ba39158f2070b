"""Contracts of the video backbones: shapes, backward, paper sizes, inflation, weight loading, non-local."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch alias)

from core_models.backbones import (
    BACKBONES,
    I3D,
    I3DConfig,
    NonLocalBlock,
    ResNet3D,
    ResNet3DConfig,
    i3d_cpu,
    i3d_paper,
    inflate_conv_weight,
    inflate_googlenet_weights,
    inflate_resnet50_weights,
    load_i3d_port_weights,
    resnet3d50_paper,
    resnet3d_cpu,
)
from core_models.backbones.i3d import scale_channels

# Inception-v1 table from the I3D paper: (b0, b1a, b1b, b2a, b2b, b3b) per Mixed block
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
GOOGLENET_NAMES = dict(
    zip(
        ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c"]
        + ["inception4d", "inception4e", "inception5a", "inception5b"],
        MIXED,
    )
)


def _grads_ok(model: torch.nn.Module) -> None:
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"no gradient reached {name}"
            assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"


# ---------------------------------------------------------------------------------------------
# every preset: shape, backward, no NaN

CASES = [  # (id, factory, kwargs, input shape)
    ("i3d_cpu", "i3d_cpu", {}, (2, 3, 16, 64, 64)),
    ("i3d_cpu_nl", "i3d_cpu", {"nonlocal_stages": ("Mixed_4", "Mixed_5")}, (2, 3, 16, 64, 64)),
    ("i3d_paper", "i3d_paper", {}, (2, 3, 8, 64, 64)),  # reduced input: the paper size is too slow on CPU
    ("resnet3d_cpu", "resnet3d_cpu", {}, (2, 3, 8, 64, 64)),
    ("resnet3d_cpu_3d", "resnet3d_cpu", {"stem": "3d"}, (2, 3, 8, 64, 64)),
    ("resnet3d50_paper", "resnet3d50_paper", {}, (2, 3, 2, 64, 64)),  # reduced input
]


@pytest.mark.parametrize(("factory", "kwargs", "shape"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_preset_shape_and_backward(factory: str, kwargs: dict, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = BACKBONES[factory](5, **kwargs)
    x = torch.rand(shape) * 2 - 1
    feat = model.forward_features(x)
    assert feat.shape[:2] == (shape[0], model.num_features)
    logits = model.forward_head(feat)
    assert logits.shape == (shape[0], 5)
    assert torch.isfinite(logits).all()
    logits.square().sum().backward()
    _grads_ok(model)


# ---------------------------------------------------------------------------------------------
# I3D


def test_i3d_paper_sizes_on_meta() -> None:
    with torch.device("meta"):
        model = i3d_paper()
        x = torch.empty(1, 3, 64, 224, 224)
        assert model.forward_features(x).shape == (1, 1024, 8, 7, 7)
        assert model.forward_features(x, until="MaxPool3d_5a_2x2").shape == (1, 832, 8, 7, 7)
        assert model.forward_features(x, until="Mixed_4f").shape == (1, 832, 16, 14, 14)
        assert model.forward_features(x, until="Conv3d_1a_7x7").shape == (1, 64, 32, 112, 112)
        assert model(x).shape == (1, 400)
    assert model.num_features == 1024
    assert model.feature_channels("Mixed_5b") == 832


def test_i3d_parameter_count_matches_paper() -> None:
    with torch.device("meta"):
        model = i3d_paper(400)
    total = sum(p.numel() for p in model.parameters())
    head = sum(p.numel() for p in model.logits.parameters())
    assert total == 12_697_264
    assert head == 400 * 1024 + 400
    # the paper's table gives 12M for single-stream I3D; the trunk alone is 12.29M
    assert round((total - head) / 1e6) == 12


@pytest.mark.parametrize("shape", [(1, 3, 8, 32, 32), (1, 3, 20, 112, 96), (1, 3, 1, 17, 9)])
def test_i3d_any_input_size(shape: tuple[int, ...]) -> None:
    model = i3d_cpu(3).eval()
    with torch.no_grad():
        feat = model.forward_features(torch.zeros(shape))
        logits = model(torch.zeros(shape))
    _, _, t, h, w = shape
    # TF "same" padding: T / 8, H / 32, W / 32, rounded up
    assert feat.shape == (1, model.num_features, -(-t // 8), -(-h // 32), -(-w // 32))
    assert logits.shape == (1, 3)


def test_i3d_endpoints_and_channels() -> None:
    model = i3d_cpu(3).eval()
    x = torch.zeros(1, 3, 8, 32, 32)
    with torch.no_grad():
        for endpoint in I3D.ENDPOINTS:
            assert model.forward_features(x, until=endpoint).shape[1] == model.feature_channels(endpoint)
    assert model.feature_channels("Mixed_5c") == model.num_features
    with pytest.raises(ValueError, match="endpoint"):
        model.forward_features(x, until="Mixed_6a")
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.zeros(1, 8, 32, 32))
    with pytest.raises(ValueError, match="features"):
        model.forward_head(torch.zeros(1, 7, 1, 1, 1))


def test_width_rounding() -> None:
    assert scale_channels(64, 0.25) == 16
    assert scale_channels(16, 0.25) == 8  # never below 8
    assert scale_channels(100, 1.0) == 100
    assert all(c % 8 == 0 for c in (scale_channels(c, 0.3) for c in (16, 96, 208, 384)))


# ---------------------------------------------------------------------------------------------
# ResNet3D


@pytest.mark.parametrize("stem", ["2d", "3d"])
def test_resnet3d50_paper_sizes_on_meta(stem: str) -> None:
    with torch.device("meta"):
        model = resnet3d50_paper(60, stem=stem)
        x = torch.empty(1, 3, 8, 224, 224)
        assert model.forward_features(x, until="layer3").shape == (1, 1024, 8, 14, 14)
        assert model.forward_features(x).shape == (1, 2048, 8, 7, 7)
        assert model.forward_features(x, until="stem").shape == (1, 64, 8, 56, 56)
        assert model(x).shape == (1, 60)
    assert model.num_features == 2048
    assert model.feature_channels("layer3") == 1024


def test_resnet3d_cpu_keeps_layout() -> None:
    model = resnet3d_cpu(4)
    assert model.config.layers == (3, 4, 6, 3)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert model.num_features == 256
    with pytest.raises(ValueError, match="stem"):
        ResNet3D(ResNet3DConfig(stem="4d"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# inflation


@pytest.mark.parametrize("mode", ["repeat", "center"])
@pytest.mark.parametrize("time", [3, 7])
def test_inflated_conv_on_constant_clip_equals_2d(mode: str, time: int) -> None:
    torch.manual_seed(0)
    w2d = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    frame = torch.randn(2, 4, 10, 12, dtype=torch.float64)
    clip = frame.unsqueeze(2).expand(-1, -1, 9, -1, -1)  # (B, C, T, H, W), constant over T
    w3d = inflate_conv_weight(w2d, time, mode)  # type: ignore[arg-type]
    assert w3d.shape == (6, 4, time, 3, 3)
    out3d = F.conv3d(clip, w3d, padding=(time // 2, 1, 1))  # (B, O, T, H, W)
    out2d = F.conv2d(frame, w2d, padding=1)  # (B, O, H, W)
    half = time // 2
    for t in range(half, 9 - half):  # interior steps, away from the zero temporal padding
        torch.testing.assert_close(out3d[:, :, t], out2d)


def test_inflate_center_puts_kernel_in_middle() -> None:
    w2d = torch.randn(2, 3, 5, 5)
    w3d = inflate_conv_weight(w2d, 3, "center")
    assert torch.equal(w3d[:, :, 1], w2d)
    assert not w3d[:, :, [0, 2]].any()
    with pytest.raises(ValueError, match="mode"):
        inflate_conv_weight(w2d, 3, "mean")  # type: ignore[arg-type]


def _bn(prefix: str, c: int) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.weight": torch.rand(c) + 0.5,
        f"{prefix}.bias": torch.randn(c),
        f"{prefix}.running_mean": torch.randn(c),
        f"{prefix}.running_var": torch.rand(c) + 0.5,
        f"{prefix}.num_batches_tracked": torch.tensor(7),
    }


def _torchvision_resnet50_state(width: float, num_classes: int) -> dict[str, torch.Tensor]:
    """A 2D ResNet-50 state dict in torchvision's key layout, written from the naming rules."""
    s: dict[str, torch.Tensor] = {}
    stem = scale_channels(64, width)
    s["conv1.weight"] = torch.randn(stem, 3, 7, 7)
    s.update(_bn("bn1", stem))
    c_in = stem
    for i, (blocks, base) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        p = scale_channels(base, width)
        for j in range(blocks):
            pre = f"layer{i}.{j}"
            s[f"{pre}.conv1.weight"] = torch.randn(p, c_in, 1, 1)
            s[f"{pre}.conv2.weight"] = torch.randn(p, p, 3, 3)
            s[f"{pre}.conv3.weight"] = torch.randn(4 * p, p, 1, 1)
            for k, c in ((1, p), (2, p), (3, 4 * p)):
                s.update(_bn(f"{pre}.bn{k}", c))
            if j == 0:
                s[f"{pre}.downsample.0.weight"] = torch.randn(4 * p, c_in, 1, 1)
                s.update(_bn(f"{pre}.downsample.1", 4 * p))
            c_in = 4 * p
    s["fc.weight"] = torch.randn(num_classes, c_in)
    s["fc.bias"] = torch.randn(num_classes)
    return s


@pytest.mark.parametrize("stem", ["2d", "3d"])
def test_resnet50_inflation_round_trip(stem: str, tmp_path) -> None:
    state = _torchvision_resnet50_state(0.125, num_classes=1000)
    path = tmp_path / "resnet50.pth"
    torch.save(state, path)
    model = resnet3d_cpu(1000, stem=stem)  # type: ignore[arg-type]
    report = inflate_resnet50_weights(model, path, mode="center")
    assert report.missing == [] and report.unexpected == [] and report.skipped == []
    ours = model.state_dict()
    for key, w2d in state.items():
        got = ours[key]
        if w2d.dim() == 4 and got.dim() == 5:
            mid = got.shape[2] // 2
            torch.testing.assert_close(got[:, :, mid], w2d)
            assert not got[:, :, :mid].any() and not got[:, :, mid + 1 :].any()
        else:
            torch.testing.assert_close(got, w2d)


def test_resnet50_head_skipped_or_strict() -> None:
    state = _torchvision_resnet50_state(0.125, num_classes=1000)
    model = resnet3d_cpu(7)
    report = inflate_resnet50_weights(model, state)
    assert sorted(report.missing) == ["fc.bias", "fc.weight"]
    assert len(report.skipped) == 2 and "1000 classes" in report.skipped[0]
    with pytest.raises(ValueError, match="strict_head"):
        inflate_resnet50_weights(model, state, strict_head=True)


def test_inflation_shape_mismatch_names_key() -> None:
    state = _torchvision_resnet50_state(0.25, num_classes=10)  # twice as wide as the model
    with pytest.raises(ValueError, match=r"conv1\.weight.*\(16, 3, 7, 7\).*\(8, 3, 7, 7\)"):
        inflate_resnet50_weights(resnet3d_cpu(10), state)


def _torchvision_googlenet_state(width: float, num_classes: int) -> dict[str, torch.Tensor]:
    """A GoogLeNet state dict in torchvision's key layout (BasicConv2d = conv + bn)."""
    s: dict[str, torch.Tensor] = {}

    def basic(name: str, c_out: int, c_in: int, k: int) -> None:
        s[f"{name}.conv.weight"] = torch.randn(c_out, c_in, k, k)
        s.update(_bn(f"{name}.bn", c_out))

    w = [scale_channels(c, width) for c in (64, 64, 192)]
    basic("conv1", w[0], 3, 7)
    basic("conv2", w[1], w[0], 1)
    basic("conv3", w[2], w[1], 3)
    c_in = w[2]
    for tv_name, mixed in GOOGLENET_NAMES.items():
        c0, c1a, c1b, c2a, c2b, c3 = (scale_channels(c, width) for c in MIXED[mixed])
        basic(f"{tv_name}.branch1", c0, c_in, 1)
        basic(f"{tv_name}.branch2.0", c1a, c_in, 1)
        basic(f"{tv_name}.branch2.1", c1b, c1a, 3)
        basic(f"{tv_name}.branch3.0", c2a, c_in, 1)
        basic(f"{tv_name}.branch3.1", c2b, c2a, 3)
        basic(f"{tv_name}.branch4.1", c3, c_in, 1)
        c_in = c0 + c1b + c2b + c3
    s["aux1.conv.conv.weight"] = torch.randn(128, 512, 1, 1)
    s["fc.weight"] = torch.randn(num_classes, c_in)
    s["fc.bias"] = torch.randn(num_classes)
    return s


def test_googlenet_inflation_round_trip(tmp_path) -> None:
    state = _torchvision_googlenet_state(0.25, num_classes=10)
    path = tmp_path / "googlenet.pth"
    torch.save(state, path)
    model = i3d_cpu(10)
    report = inflate_googlenet_weights(model, path, mode="repeat")
    assert report.missing == []
    assert report.unexpected == ["aux1.conv.conv.weight"]
    # every conv and bn of our model got its weights
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv3d | torch.nn.BatchNorm3d):
            assert f"{name}.weight" in report.loaded, name
    torch.testing.assert_close(
        model.Conv3d_1a_7x7.conv.weight, state["conv1.conv.weight"].unsqueeze(2).repeat(1, 1, 7, 1, 1) / 7
    )
    torch.testing.assert_close(
        model.Mixed_4e.b2[1].bn.running_var, state["inception4d.branch3.1.bn.running_var"]
    )
    torch.testing.assert_close(model.logits.weight.flatten(1), state["fc.weight"])


# ---------------------------------------------------------------------------------------------
# converted I3D (PyTorch port layout)


def _port_state(num_classes: int) -> dict[str, torch.Tensor]:
    """Paper-width I3D weights in the PyTorch I3D port layout (Unit3D = conv3d + bn)."""
    s: dict[str, torch.Tensor] = {}

    def unit(name: str, c_out: int, c_in: int, k: int) -> None:
        s[f"{name}.conv3d.weight"] = torch.randn(c_out, c_in, k, k, k) * 0.01
        s.update(_bn(f"{name}.bn", c_out))

    unit("Conv3d_1a_7x7", 64, 3, 7)
    unit("Conv3d_2b_1x1", 64, 64, 1)
    unit("Conv3d_2c_3x3", 192, 64, 3)
    c_in = 192
    for mixed, (c0, c1a, c1b, c2a, c2b, c3) in MIXED.items():
        unit(f"{mixed}.b0", c0, c_in, 1)
        unit(f"{mixed}.b1a", c1a, c_in, 1)
        unit(f"{mixed}.b1b", c1b, c1a, 3)
        unit(f"{mixed}.b2a", c2a, c_in, 1)
        unit(f"{mixed}.b2b", c2b, c2a, 3)
        unit(f"{mixed}.b3b", c3, c_in, 1)
        c_in = c0 + c1b + c2b + c3
    s["logits.conv3d.weight"] = torch.randn(num_classes, c_in, 1, 1, 1)
    s["logits.conv3d.bias"] = torch.randn(num_classes)
    return s


def test_load_i3d_port_weights(tmp_path) -> None:
    state = _port_state(400)
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(state, path)
    model = i3d_paper(400).eval()
    report = load_i3d_port_weights(model, path)
    assert report.missing == [] and report.unexpected == [] and report.skipped == []
    assert len(report.loaded) == len(state)
    assert torch.equal(model.Mixed_3b.b1[1].conv.weight, state["Mixed_3b.b1b.conv3d.weight"])
    assert torch.equal(model.logits.bias, state["logits.conv3d.bias"])
    # the forward uses them: the first unit equals a hand-written conv + BN(eval) + ReLU
    x = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    pre = "Conv3d_1a_7x7"
    xp = F.pad(x, (2, 3, 2, 3, 2, 3))  # TF "same" for k=7, s=2 on even sizes: 2 before, 3 after
    expected = F.relu(
        F.batch_norm(
            F.conv3d(xp, state[f"{pre}.conv3d.weight"], stride=2),
            state[f"{pre}.bn.running_mean"],
            state[f"{pre}.bn.running_var"],
            state[f"{pre}.bn.weight"],
            state[f"{pre}.bn.bias"],
            eps=1e-3,
        )
    )
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x, until=pre), expected)


def test_load_i3d_port_weights_other_class_count() -> None:
    state = _port_state(400)
    model = i3d_paper(51)
    report = load_i3d_port_weights(model, state)
    assert sorted(report.missing) == ["logits.bias", "logits.weight"]
    assert any("400 classes" in line for line in report.skipped)
    with pytest.raises(ValueError, match="strict_head"):
        load_i3d_port_weights(model, state, strict_head=True)


# ---------------------------------------------------------------------------------------------
# non-local block


@pytest.mark.parametrize("subsample", [True, False])
def test_nonlocal_identity_shape_and_attention(subsample: bool) -> None:
    torch.manual_seed(0)
    block = NonLocalBlock(16, subsample=subsample)
    captured: list[torch.Tensor] = []
    block.attend.register_forward_hook(lambda _m, _i, out: captured.append(out))
    x = torch.randn(2, 16, 3, 5, 7)
    y = block(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x)  # zero-initialised BN gamma: the block starts as identity
    attn = captured[-1]
    keys = 3 * 3 * 4 if subsample else 3 * 5 * 7
    assert attn.shape == (2, 3 * 5 * 7, keys)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 3 * 5 * 7))
    # once W's BN is non-zero the block is no longer the identity
    torch.nn.init.ones_(block.bn.weight)
    assert not torch.allclose(block(x), x)


def test_i3d_nonlocal_starts_as_plain_i3d() -> None:
    torch.manual_seed(0)
    plain = i3d_cpu(4).eval()
    with_nl = I3D(I3DConfig(num_classes=4, width=0.25, nonlocal_stages=("Mixed_4", "Mixed_5c"))).eval()
    assert sorted(with_nl.nonlocal_blocks) == [
        "Mixed_4b",
        "Mixed_4c",
        "Mixed_4d",
        "Mixed_4e",
        "Mixed_4f",
        "Mixed_5c",
    ]
    missing, unexpected = with_nl.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith("nonlocal_blocks.") for k in missing)
    x = torch.rand(1, 3, 8, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(with_nl(x), plain(x))
    with pytest.raises(ValueError, match="non-local"):
        I3D(I3DConfig(nonlocal_stages=("Mixed_6",)))


def test_i3d_trunk_keeps_only_what_the_features_use():
    from core_models.backbones.i3d import i3d_trunk

    config = I3DConfig(num_classes=7, width=0.125)
    full, trunk = I3D(config), i3d_trunk(config, until="Mixed_4f")
    x = torch.randn(1, 3, 8, 32, 32)
    assert sum(p.numel() for p in trunk.parameters()) < sum(p.numel() for p in full.parameters())
    feat = trunk.forward_features(x, until="Mixed_4f")
    assert feat.shape[1] == full.feature_channels("Mixed_4f")
    feat.mean().backward()
    assert all(p.grad is not None for p in trunk.parameters())  # nothing left unused
    with pytest.raises(ValueError):
        i3d_trunk(config, until="Mixed_9z")


@pytest.mark.parametrize("kernel, stride", [((1, 3, 3), (1, 2, 2)), (3, 2), (2, 2), (3, 1)])
def test_i3d_pool_matches_the_channels_first_pool_bit_for_bit(kernel, stride) -> None:
    """The CPU pool runs channels-last for speed; values and gradients must stay those of the
    plain channels-first ``F.max_pool3d`` bit for bit (on post-ReLU input, as in the network,
    where many windows tie at zero)."""
    from core_models.backbones.i3d import MaxPool3dSame, same_padding

    torch.manual_seed(0)
    pool = MaxPool3dSame(kernel, stride)
    pre = torch.randn(2, 24, 7, 11, 13)
    grad_out = None
    grads, outs = [], []
    for fast in (True, False):
        x = pre.clone().requires_grad_(True)
        h = F.relu(x)
        if fast:
            y = pool(h)
            assert y.is_contiguous()
        else:
            padded = F.pad(h, same_padding(h.shape[2:], pool.kernel, pool.stride), value=float("-inf"))
            y = F.max_pool3d(padded, pool.kernel, pool.stride)
        grad_out = torch.randn_like(y) if grad_out is None else grad_out
        y.backward(grad_out)
        outs.append(y.detach())
        grads.append(x.grad)
    assert torch.equal(outs[0], outs[1])
    assert torch.equal(grads[0], grads[1])
    with torch.no_grad():  # evaluation takes the forward-only path
        fast = pool(F.relu(pre))
    assert fast.is_contiguous() and torch.equal(fast, outs[1])


def test_i3d_training_step_is_unchanged_by_the_channels_last_pool(monkeypatch) -> None:
    """A whole cpu-width I3D: the same loss and the same gradient for every parameter, bit for bit,
    as with the channels-first pool (including the pools whose output is 1x1x1, where a
    channels-last tensor would pass for contiguous and send the next convolution down its
    channels-last path)."""
    from core_models.backbones import i3d as module

    torch.manual_seed(0)
    net = i3d_cpu(5)
    x = torch.rand(2, 3, 8, 32, 32) * 2 - 1
    target = torch.tensor([1, 3])

    def grads() -> dict[str, torch.Tensor]:
        torch.manual_seed(1)  # the head's dropout
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), target).backward()
        return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}

    fast = grads()

    def channels_first(self, h):
        h = F.pad(h, module.same_padding(h.shape[2:], self.kernel, self.stride), value=float("-inf"))
        return F.max_pool3d(h, self.kernel, self.stride)

    monkeypatch.setattr(module.MaxPool3dSame, "forward", channels_first)
    plain = grads()
    assert fast.keys() == plain.keys() and all(torch.equal(fast[k], plain[k]) for k in fast)


def test_i3d_units_that_pad_nothing_skip_the_copy_bit_for_bit(monkeypatch) -> None:
    """A 1x1x1 unit (and any unit or pool whose "same" padding is zero) no longer calls ``F.pad``,
    which copied its whole input, a pool whose padding is the same on both sides pads inside the
    pool, and so does a unit's convolution without gradients: the loss, every parameter's
    gradient and the evaluation output of a cpu-width I3D equal those of the padding-always
    version (with PyTorch's own channels-first pool) bit for bit (the evaluation with its
    BatchNorms unfolded: ``backbones.fold`` changes the last bits, the test above bounds it)."""
    from core_models.backbones import fold
    from core_models.backbones import i3d as module

    monkeypatch.setattr(fold, "applies", lambda *args: False)

    torch.manual_seed(0)
    net = i3d_cpu(5)
    x = torch.rand(2, 3, 8, 32, 32) * 2 - 1
    target = torch.tensor([1, 3])
    pads = []
    real_pad = F.pad

    def counting_pad(*args, **kw):
        pads.append(args[1])
        return real_pad(*args, **kw)

    start = {k: v.clone() for k, v in net.state_dict().items()}

    def step() -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        net.load_state_dict(start)  # the batch norms' running statistics as they were
        torch.manual_seed(1)  # the head's dropout
        net.train()
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), target).backward()
        net.eval()
        with torch.no_grad():
            out = net(x)
        return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}, out

    monkeypatch.setattr(module.F, "pad", counting_pad)
    fast, fast_out = step()
    assert pads and all(any(p) for p in pads)  # only the units that pad call F.pad

    def unit_always_pads(self, h):
        h = real_pad(h, module.same_padding(h.shape[2:], self.kernel, self.stride))
        return F.relu(self.bn(self.conv(h)))

    def pool_always_pads(self, h):  # the padded copy and PyTorch's own channels-first pool
        h = real_pad(h, module.same_padding(h.shape[2:], self.kernel, self.stride), value=float("-inf"))
        return F.max_pool3d(h, self.kernel, self.stride)

    monkeypatch.setattr(module.Unit3D, "forward", unit_always_pads)
    monkeypatch.setattr(module.MaxPool3dSame, "forward", pool_always_pads)
    plain, plain_out = step()
    assert fast.keys() == plain.keys() and all(torch.equal(fast[k], plain[k]) for k in fast)
    assert torch.equal(fast_out, plain_out)


def test_frame_cnn_pool_is_the_channels_first_pool_bit_for_bit() -> None:
    """The 2D trunks' max-pool runs channels-last: the same outputs bit for bit (ties, -0.0 and a
    ReLU's zeros included), and in training the channels-first backward on its indices gives the
    gradients PyTorch's own pool gives, bit for bit."""
    from core_models.backbones.cnn2d import SMALL_PLAIN, FrameCNN, FrameCNNConfig, MaxPool2d

    torch.manual_seed(0)
    pool = MaxPool2d(3, 2, 1)
    x = torch.randn(7, 5, 17, 16).relu()  # many equal zeros
    x[0, 0, :4, :4] = 0.5  # a block of equal positive values
    x[1, 1] = -0.0
    with torch.no_grad():
        got = pool(x)
    want = F.max_pool2d(x, 3, 2, 1)
    assert got.is_contiguous() and torch.equal(got, want)
    assert torch.equal(torch.signbit(got), torch.signbit(want))
    ours, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    g = torch.randn(got.shape)
    (pool(ours) * g).sum().backward()
    (F.max_pool2d(theirs, 3, 2, 1) * g).sum().backward()
    assert torch.equal(ours.grad, theirs.grad)  # ties go where PyTorch's own pool sends them

    net = FrameCNN(FrameCNNConfig(layers=SMALL_PLAIN)).eval()
    ref = copy.deepcopy(net)
    for i, m in enumerate(ref.blocks):
        if isinstance(m, MaxPool2d):
            ref.blocks[i] = torch.nn.MaxPool2d(m.kernel_size, m.stride, m.padding)
    assert sum(isinstance(m, MaxPool2d) for m in net.modules()) == 1
    assert isinstance(ResNet3D(ResNet3DConfig(stem="2d")).maxpool, MaxPool2d)  # Glimpse Clouds' trunk
    frames = torch.randn(6, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(frames), ref(frames))
    net.train(), ref.train()
    a, b = frames.clone().requires_grad_(True), frames.clone().requires_grad_(True)
    net(a).square().sum().backward()
    ref(b).square().sum().backward()
    assert torch.equal(a.grad, b.grad)  # training: the same gradients
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(net.parameters(), ref.parameters(), strict=True))


def _with_running_statistics(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``net`` with BatchNorms whose statistics and affine parameters are not the identity's."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    return net.eval()


@pytest.mark.parametrize("factory", ["i3d", "resnet3d"])
@pytest.mark.parametrize(("batch", "threads"), [(1, 0), (3, 0), (3, 1)])
def test_folded_inference_is_the_two_steps_up_to_rounding(factory: str, batch: int, threads: int) -> None:
    """Without gradients the 3D trunks' units run the convolution and its BatchNorm as one
    convolution (channels-last where oneDNN pays: several clips; channels-first for one small
    clip, and on one thread for the 1x1 units, so the layouts mix): the features equal those of
    the two steps (the path that wants gradients) to float rounding, the same classes come out,
    and the features are handed on channels-first."""
    from core_models.backbones import fold

    if threads:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            test_folded_inference_is_the_two_steps_up_to_rounding(factory, batch, 0)
        finally:
            torch.set_num_threads(before)
        return

    torch.manual_seed(0)
    net = i3d_cpu(7) if factory == "i3d" else resnet3d_cpu(7)
    net = _with_running_statistics(net)
    x = torch.rand(batch, 3, 8, 64, 64) * 2 - 1
    calls = []
    real = fold.conv_bn
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fold, "conv_bn", lambda *a, **k: calls.append(1) or real(*a, **k))
        with torch.no_grad():
            folded_feat = net.forward_features(x)
            folded_logits = net(x)
    assert calls  # the folded path ran
    two_steps_feat = net.forward_features(x).detach()  # gradients wanted: conv, then BatchNorm
    two_steps_logits = net(x).detach()
    assert folded_feat.is_contiguous() and folded_feat.shape == two_steps_feat.shape
    scale = two_steps_feat.abs().max()
    assert (folded_feat - two_steps_feat).abs().max() <= 1e-5 * scale
    torch.testing.assert_close(
        folded_logits, two_steps_logits, rtol=1e-4, atol=1e-5 * two_steps_logits.abs().max()
    )
    assert torch.equal(folded_logits.argmax(1), two_steps_logits.argmax(1))


def test_folded_filters_follow_the_weights_and_stay_out_of_the_state_dict() -> None:
    """The folded filters are remade after an in-place update (an optimiser's step,
    ``load_state_dict``), add nothing to the state dict, and a training-mode BatchNorm or a
    forward that wants gradients is never folded."""
    from core_models.backbones import fold

    torch.manual_seed(0)
    net = _with_running_statistics(resnet3d_cpu(5))
    keys = set(net.state_dict())
    x = torch.rand(2, 3, 4, 64, 64) * 2 - 1
    with torch.no_grad():
        before = net(x)
    other = _with_running_statistics(resnet3d_cpu(5), seed=1)
    torch.manual_seed(1)
    other.apply(
        lambda m: torch.nn.init.normal_(m.weight, std=0.05) if isinstance(m, torch.nn.Conv3d) else None
    )
    net.load_state_dict(other.state_dict())
    with torch.no_grad():
        after = net(x)
    expected = other(x).detach()  # the two steps, from the other weights
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, expected, rtol=1e-4, atol=1e-5 * expected.abs().max())
    assert set(net.state_dict()) == keys
    conv, bn = net.layer1[0].conv1, net.layer1[0].bn1
    with torch.no_grad():
        assert fold.applies(x, conv, bn)
        bn.train()
        assert not fold.applies(x, conv, bn)
        bn.eval()
    assert not fold.applies(x, conv, bn)  # gradients wanted
