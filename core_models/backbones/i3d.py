"""I3D: Inception-v1 inflated to 3D.

Paper: Carreira & Zisserman, "Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset",
CVPR 2017 (single-stream RGB I3D, about 12M parameters).

What is implemented: the published layout, endpoint names and channel counts,

    x (B, 3, 64, 224, 224) in [-1, 1]
      Conv3d_1a_7x7   7x7x7 /2        -> (B,   64, 32, 112, 112)
      MaxPool3d_2a    1x3x3 /1,2,2    -> (B,   64, 32,  56,  56)
      Conv3d_2b_1x1, Conv3d_2c_3x3    -> (B,  192, 32,  56,  56)
      MaxPool3d_3a    1x3x3 /1,2,2    -> (B,  192, 32,  28,  28)
      Mixed_3b, Mixed_3c              -> (B,  480, 32,  28,  28)
      MaxPool3d_4a    3x3x3 /2        -> (B,  480, 16,  14,  14)
      Mixed_4b .. Mixed_4f            -> (B,  832, 16,  14,  14)
      MaxPool3d_5a    2x2x2 /2        -> (B,  832,  8,   7,   7)
      Mixed_5b, Mixed_5c              -> (B, 1024,  8,   7,   7)
      head: mean over (T, H, W) -> dropout -> 1x1x1 conv -> (B, K)

Each unit is Conv3d (no bias) + BatchNorm3d(eps=1e-3) + ReLU with TensorFlow "same" padding
(asymmetric when needed), so feature sizes match the published network for any input size. Module
names follow the endpoint names so converted Kinetics weights map one to one (see ``inflate.py``).

Departures:
- The head averages over the whole (T', H', W') grid (adaptive pooling) instead of the fixed
  AvgPool3D((2, 7, 7), stride 1) + temporal mean of the release, so any clip size works; for the
  paper input both end in a mean over the same positions.
- ``width`` scales every channel count (rounded to a multiple of 8, at least 8) for the CPU preset.
- Optional embedded-Gaussian non-local blocks (Wang et al. 2018) after chosen Mixed blocks give the
  I3D+NL baseline; they start as the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch alias)
from torch import nn

from core_models.backbones import fold
from core_models.backbones.nonlocal_block import NonLocalBlock

Triple = tuple[int, int, int]


# ---------------------------------------------------------------------------------------------
# helpers


def _triple(v: int | Triple) -> Triple:
    return (v, v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


def same_padding(size: tuple[int, ...], kernel: Triple, stride: Triple) -> tuple[int, ...]:
    """TensorFlow "same" padding for a (T, H, W) input, in ``F.pad`` order (W, H, T; front, back).

    The output size is ceil(size / stride); when the total padding is odd the extra pixel goes to the
    back, as TensorFlow does.
    """
    pads: list[int] = []
    for n, k, s in zip(reversed(size), reversed(kernel), reversed(stride)):
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def scale_channels(channels: int, width: float) -> int:
    """Scale a channel count by ``width``, rounded to a multiple of 8 and at least 8."""
    if width == 1.0:
        return channels
    return max(8, int(round(channels * width / 8)) * 8)


# ---------------------------------------------------------------------------------------------
# blocks


class Unit3D(nn.Module):
    """Conv3d (no bias) + BatchNorm3d(eps=1e-3) + ReLU with TF "same" padding.

    Where no gradient is wanted (validation, ``evaluate``, the app) on the CPU and the padding is
    equal on both sides of every axis, the convolution pads inside itself instead of reading a
    zero-padded copy of its input. Training keeps the padded copy, whose gradients the implicit
    padding does not reproduce in their last bits (1e-7 apart), so no training run changes.
    There, too, the BatchNorm is folded into the convolution, which runs channels-last where
    oneDNN pays (``backbones.fold``: the same values to float rounding; the units and pools then
    pass channels-last maps to one another, and ``I3D.forward_features`` hands back the usual
    layout). A BatchNorm in training mode is never folded.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int | Triple = 1, stride: int | Triple = 1
    ) -> None:
        super().__init__()
        self.kernel = _triple(kernel)
        self.stride = _triple(stride)
        self.conv = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.1)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_padding(x.shape[2:], self.kernel, self.stride)
        if fold.applies(x, self.conv, self.bn):  # one channels-last convolution (backbones.fold)
            inner = (0, 0, 0)
            if pads[0::2] == pads[1::2]:
                inner = tuple(reversed(pads[0::2]))  # (T, H, W)
            elif any(pads):
                x = F.pad(x, pads)
            return fold.conv_bn(x, self.conv, self.bn, inner).relu_()
        if not any(pads):  # a 1x1x1 unit pads nothing, and F.pad would still copy its whole input
            return F.relu(self.bn(self.conv(x)))
        if x.device.type == "cpu" and not torch.is_grad_enabled() and pads[0::2] == pads[1::2]:
            inner = tuple(reversed(pads[0::2]))  # (T, H, W)
            return F.relu(self.bn(F.conv3d(x, self.conv.weight, None, self.conv.stride, inner)))
        return F.relu(self.bn(self.conv(F.pad(x, pads))))


def _is_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x`` (5D) is laid out channels-last and not also plainly contiguous (as a tensor
    whose other sizes are all 1 is both)."""
    return x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous()


class _MaxPool3dChannelsLast(torch.autograd.Function):
    """``F.max_pool3d`` whose forward runs on a channels-last copy and whose backward is the plain
    channels-first one, fed the forward's indices (the overlapping windows' gradients are summed
    in the order ``F.max_pool3d`` sums them)."""

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, kernel: Triple, stride: Triple, padding: Triple = (0, 0, 0)
    ) -> torch.Tensor:
        y, idx = F.max_pool3d(
            x.contiguous(memory_format=torch.channels_last_3d), kernel, stride, padding, return_indices=True
        )
        idx = fold.channels_first(idx)
        ctx.save_for_backward(x, idx)
        ctx.kernel, ctx.stride, ctx.padding = kernel, stride, padding
        return fold.channels_first(y)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, idx = ctx.saved_tensors
        grad_x = torch.ops.aten.max_pool3d_with_indices_backward(
            fold.channels_first(grad), x, list(ctx.kernel), list(ctx.stride), list(ctx.padding), [1, 1, 1],
            False, idx,
        )  # fmt: skip
        return grad_x, None, None, None


class MaxPool3dSame(nn.Module):
    """Max-pool with TF "same" padding; the padding never wins the max (pads with -inf).

    On the CPU the forward runs on a channels-last copy (``_MaxPool3dChannelsLast``): PyTorch's
    channels-first CPU kernel was a quarter of a ``cpu``-preset I3D training step (torch 2.13,
    2 threads) and the channels-last one is several times faster. Both pick the same maxima and
    the backward is the channels-first one on the same indices: values and gradients equal those
    of ``F.max_pool3d`` bit for bit on every batch tested (``tests/test_backbones.py``; 12 million
    positive maxima of the shipped separable STA on 128 training clips, the same argmax each).
    A whole run still parts from the channels-first one in the last bits after some hundred steps
    (separable STA CS: equal losses for 7 epochs, then 1.1645620 against 1.1645636), so a run made
    before this change is remade with another trajectory, not the same weights.

    Where the same padding is equal on both sides of every axis (the stride-1 3x3x3 pool of every
    Inception block), the pool pads inside ``F.max_pool3d`` (which never lets padding win either)
    instead of copying its input into a padded one first: the same windows, so the same values
    and gradients bit for bit (a test checks).
    """

    def __init__(self, kernel: int | Triple, stride: int | Triple) -> None:
        super().__init__()
        self.kernel = _triple(kernel)
        self.stride = _triple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_padding(x.shape[2:], self.kernel, self.stride)
        keep = _is_channels_last(x)  # inference of folded units (backbones.fold): stay channels-last
        inner = (0, 0, 0)
        if pads[0::2] == pads[1::2] and all(2 * p <= k for p, k in zip(pads[0::2], reversed(self.kernel))):
            inner = tuple(reversed(pads[0::2]))  # (T, H, W)
        elif any(pads):
            x = F.pad(x, pads, value=float("-inf"))
        if x.device.type != "cpu":
            return F.max_pool3d(x, self.kernel, self.stride, inner)
        if torch.is_grad_enabled() and x.requires_grad:
            return _MaxPool3dChannelsLast.apply(fold.channels_first(x), self.kernel, self.stride, inner)
        y = F.max_pool3d(x.contiguous(memory_format=torch.channels_last_3d), self.kernel, self.stride, inner)
        return y if keep else fold.channels_first(y)


class InceptionBlock(nn.Module):
    """Inflated Inception module: four branches concatenated on channels.

    b0: 1x1x1;  b1: 1x1x1 -> 3x3x3;  b2: 1x1x1 -> 3x3x3;  b3: 3x3x3 max-pool (stride 1) -> 1x1x1.

    Args:
        in_channels: input channels.
        widths: (b0, b1a, b1b, b2a, b2b, b3b) output channels as in the paper's table.
    """

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = widths
        self.b0 = Unit3D(in_channels, c0)
        self.b1 = nn.Sequential(Unit3D(in_channels, c1a), Unit3D(c1a, c1b, 3))
        self.b2 = nn.Sequential(Unit3D(in_channels, c2a), Unit3D(c2a, c2b, 3))
        self.b3 = nn.Sequential(MaxPool3dSame(3, 1), Unit3D(in_channels, c3))
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], dim=1)


# (name, kind, args): "conv" (channels, kernel, stride), "pool" (kernel, stride), "mixed" (6 widths)
_LAYOUT: tuple[tuple[str, str, tuple], ...] = (
    ("Conv3d_1a_7x7", "conv", (64, 7, 2)),
    ("MaxPool3d_2a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Conv3d_2b_1x1", "conv", (64, 1, 1)),
    ("Conv3d_2c_3x3", "conv", (192, 3, 1)),
    ("MaxPool3d_3a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", "mixed", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", "mixed", (128, 128, 192, 32, 96, 64)),
    ("MaxPool3d_4a_3x3", "pool", ((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", "mixed", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", "mixed", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", "mixed", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", "mixed", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", "mixed", (256, 160, 320, 32, 128, 128)),
    ("MaxPool3d_5a_2x2", "pool", ((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", "mixed", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", "mixed", (384, 192, 384, 48, 128, 128)),
)


# ---------------------------------------------------------------------------------------------
# config and model


@dataclass(frozen=True)
class I3DConfig:
    """I3D hyper-parameters.

    Attributes:
        num_classes: K, size of the classifier output.
        in_channels: input channels (3 for RGB).
        width: channel multiplier (1.0 is the paper).
        dropout: dropout before the classifier.
        nonlocal_stages: where to insert non-local blocks: stage prefixes ("Mixed_3", "Mixed_4",
            "Mixed_5": one block after every Mixed block of that stage) or explicit Mixed endpoint
            names ("Mixed_4f").
        input_frames: T the preset expects (documentation; any T >= 1 runs).
        input_size: H = W the preset expects (documentation; any size runs).
    """

    num_classes: int = 400
    in_channels: int = 3
    width: float = 1.0
    dropout: float = 0.5
    nonlocal_stages: tuple[str, ...] = ()
    input_frames: int = 64
    input_size: int = 224


class I3D(nn.Module):
    """Inflated Inception-v1 with a timm-style ``forward_features`` / ``forward_head`` split.

    Input: (B, in_channels, T, H, W), RGB in [-1, 1]. Output of ``forward``: logits (B, K).
    """

    ENDPOINTS: tuple[str, ...] = tuple(name for name, _, _ in _LAYOUT)

    def __init__(self, config: I3DConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config if config is not None else I3DConfig()
        nl_names = _resolve_nonlocal(cfg.nonlocal_stages)
        self._channels: dict[str, int] = {}
        channels = cfg.in_channels
        self.nonlocal_blocks = nn.ModuleDict()
        for name, kind, args in _LAYOUT:
            if kind == "conv":
                out, kernel, stride = args
                block: nn.Module = Unit3D(channels, scale_channels(out, cfg.width), kernel, stride)
                channels = block.out_channels
            elif kind == "pool":
                block = MaxPool3dSame(*args)
            else:
                widths = tuple(scale_channels(c, cfg.width) for c in args)
                block = InceptionBlock(channels, widths)  # type: ignore[arg-type]
                channels = block.out_channels
            self.add_module(name, block)
            if name in nl_names:
                self.nonlocal_blocks[name] = NonLocalBlock(channels)
            self._channels[name] = channels
        self.num_features = channels
        self.dropout = nn.Dropout(cfg.dropout)
        self.logits = nn.Conv3d(channels, cfg.num_classes, kernel_size=1, bias=True)

    def feature_channels(self, endpoint: str) -> int:
        """Channels of the feature map at ``endpoint`` (one of ``I3D.ENDPOINTS``)."""
        if endpoint not in self._channels:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {self.ENDPOINTS}")
        return self._channels[endpoint]

    def feature_shape(self, frames: int, size: int, endpoint: str) -> tuple[int, int, int]:
        """``(T', H', W')`` of the map at ``endpoint`` for a clip of ``frames`` x ``size``^2, from
        one empty clip run in eval mode (batch-norm statistics untouched; the mode is restored)."""
        was = self.training
        try:
            with torch.no_grad():
                empty = torch.zeros(1, self.config.in_channels, frames, size, size)
                return tuple(self.eval().forward_features(empty, until=endpoint).shape[2:])
        finally:
            self.train(was)

    def forward_features(
        self,
        x: torch.Tensor,
        *,
        until: str = "Mixed_5c",
        affinities: dict[str, torch.Tensor] | None = None,
        overrides: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Run the trunk up to and including ``until``.

        Args:
            x: (B, in_channels, T, H, W) clip in [-1, 1].
            until: endpoint name in ``I3D.ENDPOINTS``.
            affinities: when given, filled with each non-local block's affinity (B, N, M) under
                the name of the block it follows.
            overrides: affinities by block name that replace the blocks' own (an intervention).

        Returns:
            (B, C, T', H', W') feature map; for 64x224x224 input Mixed_5c is (B, 1024, 8, 7, 7).
        """
        if until not in self._channels:
            raise ValueError(f"unknown endpoint {until!r}; expected one of {self.ENDPOINTS}")
        if x.dim() != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"expected input (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}")
        for name in self.ENDPOINTS:
            x = getattr(self, name)(x)
            if name in self.nonlocal_blocks:
                x = fold.channels_first(x)  # folded units' inference runs channels-last (backbones.fold)
                x, attn = self.nonlocal_blocks[name].attend_and_mix(x, (overrides or {}).get(name))
                if affinities is not None:
                    affinities[name] = attn
            if name == until:
                break
        return fold.channels_first(x)

    def forward_head(self, feat: torch.Tensor) -> torch.Tensor:
        """Classify a Mixed_5c map: (B, C, T', H', W') -> logits (B, K)."""
        if feat.dim() != 5 or feat.shape[1] != self.num_features:
            raise ValueError(f"expected features (B, {self.num_features}, T, H, W), got {tuple(feat.shape)}")
        pooled = F.adaptive_avg_pool3d(feat, 1)  # (B, C, 1, 1, 1)
        return self.logits(self.dropout(pooled)).flatten(1)  # (B, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, T, H, W) -> logits (B, K)."""
        return self.forward_head(self.forward_features(x))


def _resolve_nonlocal(stages: tuple[str, ...]) -> set[str]:
    mixed = [name for name, kind, _ in _LAYOUT if kind == "mixed"]
    names: set[str] = set()
    for stage in stages:
        hits = [m for m in mixed if m == stage or m[:-1] == stage]
        if not hits:
            raise ValueError(
                f"unknown non-local stage {stage!r}; expected 'Mixed_3', 'Mixed_4', 'Mixed_5' "
                f"or one of {mixed}"
            )
        names.update(hits)
    return names


# ---------------------------------------------------------------------------------------------
# factories


def i3d_paper(num_classes: int = 400, *, nonlocal_stages: tuple[str, ...] = ()) -> I3D:
    """The published RGB I3D: width 1.0, input 64x224x224."""
    return I3D(I3DConfig(num_classes=num_classes, nonlocal_stages=nonlocal_stages))


def i3d_cpu(num_classes: int = 400, *, nonlocal_stages: tuple[str, ...] = ()) -> I3D:
    """Same layout at a quarter of the width, for 16x64x64 clips on CPU."""
    return I3D(
        I3DConfig(
            num_classes=num_classes,
            width=0.25,
            nonlocal_stages=nonlocal_stages,
            input_frames=16,
            input_size=64,
        )
    )


def i3d_trunk(config: I3DConfig, until: str = "Mixed_5c") -> I3D:
    """An I3D used only for its features up to ``until`` (the attention models' backbone).

    The blocks after ``until``, the dropout and the classifier become ``nn.Identity``: they hold no
    parameters, so every parameter left receives a gradient from the model that uses the trunk,
    and module names stay those of :class:`I3D` so converted weights still load.
    """
    trunk = I3D(config)
    trunk.feature_channels(until)  # raises on an unknown endpoint
    for name in I3D.ENDPOINTS[I3D.ENDPOINTS.index(until) + 1 :]:
        setattr(trunk, name, nn.Identity())
    trunk.dropout = nn.Identity()
    trunk.logits = nn.Identity()
    return trunk
