"""Per-frame 2D ConvNets: CNN-M (two-stream) and an Xception-style separable net.

The frame-level models (two-stream, late fusion's 2D stream, the soft-attention LSTM and the
temporal self-attention model) read a clip one frame at a time. One small class covers them; a
variant is a layout (a tuple of layer specs), not a subclass, as torchvision's video ResNets do.

Layer specs::

    ("conv", out, kernel, stride)   Conv2d (no bias) + BatchNorm2d + ReLU, "same"-style padding k // 2
    ("sep",  out, kernel, stride)   Xception unit: ReLU -> depthwise k x k -> pointwise 1 x 1 -> BN,
                                    twice, plus a shortcut (identity, or 1x1 conv + BN with stride)
    ("pool", 0,   kernel, stride)   max-pool with padding k // 2

Layouts:

* :data:`CNN_M` -- Chatfield et al. 2014's CNN-M-2048 conv trunk as used by both streams of
  Simonyan & Zisserman 2014: conv1 96 7x7/2 + pool, conv2 256 5x5/2 + pool, conv3-5 512 3x3,
  pool. BatchNorm replaces local response normalisation (LRN is obsolete and BN trains from
  scratch, which is all this project can do); padding k // 2 instead of none, so tiny inputs run.
* :data:`XCEPTION` -- Chollet 2017's entry / middle (8 residual units of 728) / exit flow with
  separable convolutions. Departures: a middle-flow unit has two separable convs, not three, and
  every unit has two (the entry flow's are the same); the exit flow ends at 2048 channels. About
  20.7M parameters against Xception's 22.9M; close enough to stand in for it in the late fusion.
* :data:`XCEPTION_1024` -- the same without the last unit: a 1024-channel map at stride 32 (7 x 7
  at 224^2), the shape of the GoogLeNet cube the soft-attention LSTM was run on.

Shapes: ``forward`` (N, C, H, W) -> (N, C', H / s, W / s); ``forward_clip`` (B, C, T, H, W) ->
(B, C', T, H', W') by folding time into the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

Layer = tuple[str, int, int, int]

CNN_M: tuple[Layer, ...] = (
    ("conv", 96, 7, 2), ("pool", 0, 3, 2),
    ("conv", 256, 5, 2), ("pool", 0, 3, 2),
    ("conv", 512, 3, 1), ("conv", 512, 3, 1), ("conv", 512, 3, 1), ("pool", 0, 3, 2),
)  # fmt: skip

XCEPTION_1024: tuple[Layer, ...] = (
    ("conv", 32, 3, 2), ("conv", 64, 3, 1),
    ("sep", 128, 3, 2), ("sep", 256, 3, 2), ("sep", 728, 3, 2),
    *(("sep", 728, 3, 1),) * 8,
    ("sep", 1024, 3, 2),
)  # fmt: skip
XCEPTION: tuple[Layer, ...] = (*XCEPTION_1024, ("sep", 2048, 3, 1))

# Small layouts for the cpu presets (same layer kinds, fewer and narrower).
SMALL_PLAIN: tuple[Layer, ...] = (
    ("conv", 16, 5, 2),
    ("pool", 0, 3, 2),
    ("conv", 32, 3, 2),
    ("conv", 64, 3, 1),
)
SMALL_SEPARABLE: tuple[Layer, ...] = (
    ("conv", 16, 3, 2),
    ("sep", 32, 3, 2),
    ("sep", 64, 3, 2),
    ("sep", 64, 3, 1),
)


# ---------------------------------------------------------------------------------------------
# blocks


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) + BatchNorm2d + ReLU, padding ``kernel // 2``."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class SeparableUnit(nn.Module):
    """Xception's residual unit: two (ReLU, depthwise k x k, pointwise 1 x 1, BN) + shortcut.

    The stride sits on the second depthwise conv (Xception strides with a max-pool there; a strided
    depthwise conv does the same job with fewer ops).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (cin, s) in enumerate(((in_channels, 1), (out_channels, stride))):
            layers += [
                nn.ReLU(inplace=i > 0),  # the first ReLU must not overwrite the shortcut's input
                nn.Conv2d(cin, cin, kernel, s, kernel // 2, groups=cin, bias=False),
                nn.Conv2d(cin, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            ]
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class _MaxPool2dChannelsLast(torch.autograd.Function):
    """``F.max_pool2d`` whose forward runs on a channels-last copy and whose backward is the plain
    channels-first one, fed the forward's indices (as ``i3d._MaxPool3dChannelsLast``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, kernel, stride, padding) -> torch.Tensor:
        y, idx = F.max_pool2d(
            x.contiguous(memory_format=torch.channels_last), kernel, stride, padding, return_indices=True
        )
        ctx.save_for_backward(x, idx.contiguous())
        ctx.kernel, ctx.stride, ctx.padding = kernel, stride, padding
        return y.contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, idx = ctx.saved_tensors
        pair = torch.nn.modules.utils._pair
        grad_x = torch.ops.aten.max_pool2d_with_indices_backward(
            grad.contiguous(), x, list(pair(ctx.kernel)), list(pair(ctx.stride)), list(pair(ctx.padding)),
            [1, 1], False, idx,
        )  # fmt: skip
        return grad_x, None, None, None


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` that runs on a channels-last copy on the CPU (these trunks' pools, and the
    2D stem of ``resnet3d``, which Glimpse Clouds' ``cpu`` preset uses).

    PyTorch's channels-first CPU max-pool is slow: on the 2-core machine a batch of 16
    self-attention clips' pool (256 frames of 16 x 32 x 32) took 16.2 ms channels-first and 4.6 ms
    channels-last, copies included, about a third of that model's forward. A maximum is one of its
    inputs whatever the layout, so the output is the same bit for bit, and when training the
    backward is PyTorch's channels-first one on the forward's indices (``_MaxPool2dChannelsLast``),
    so the gradients are too (tests check both).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or self.dilation not in (1, (1, 1)) or self.ceil_mode:
            return super().forward(x)
        if torch.is_grad_enabled() and x.requires_grad:
            return _MaxPool2dChannelsLast.apply(x.contiguous(), self.kernel_size, self.stride, self.padding)
        y = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), self.kernel_size, self.stride,
                         self.padding)  # fmt: skip
        return y.contiguous()


# ---------------------------------------------------------------------------------------------
# config and model


@dataclass(frozen=True)
class FrameCNNConfig:
    """A per-frame 2D ConvNet.

    Attributes:
        layers: the layout (see the module docstring).
        in_channels: input channels (3 for RGB, 2L for a stack of L flow fields).
    """

    layers: tuple[Layer, ...] = CNN_M
    in_channels: int = 3


class FrameCNN(nn.Module):
    """A 2D ConvNet trunk built from a layout; ``num_features`` is its last width.

    A separable net ends with a ReLU (its units end in BN), so every layout yields rectified
    features.
    """

    def __init__(self, config: FrameCNNConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.in_channels
        blocks: list[nn.Module] = []
        for kind, out, kernel, stride in config.layers:
            if kind == "conv":
                blocks.append(ConvBNReLU(channels, out, kernel, stride))
                channels = out
            elif kind == "sep":
                blocks.append(SeparableUnit(channels, out, kernel, stride))
                channels = out
            elif kind == "pool":
                blocks.append(MaxPool2d(kernel, stride, kernel // 2))
            else:
                raise ValueError(f"unknown layer kind {kind!r}; expected 'conv', 'sep' or 'pool'")
        if config.layers and config.layers[-1][0] == "sep":
            blocks.append(nn.ReLU())
        self.blocks = nn.Sequential(*blocks)
        self.num_features = channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C', H', W')."""
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"expected (N, {self.config.in_channels}, H, W), got {tuple(x.shape)}")
        return self.blocks(x)

    def forward_clip(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, C', T, H', W'), every frame on its own."""
        if x.dim() != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"expected (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}")
        b, c, t, h, w = x.shape
        feat = self(x.transpose(1, 2).reshape(b * t, c, h, w))  # (B*T, C', H', W')
        return feat.view(b, t, *feat.shape[1:]).transpose(1, 2)  # (B, C', T, H', W')
