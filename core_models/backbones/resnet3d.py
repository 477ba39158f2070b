"""Inflated 3D ResNet-50 (the Glimpse Clouds backbone).

Papers: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (ResNet-50 layout);
Carreira & Zisserman 2017 (inflation); Baradel et al., "Glimpse Clouds", CVPR 2018 (how the
backbone is used: 2D stem per frame, 3D bottlenecks, layer3 and layer4 maps with T kept).

What is implemented:

    x (B, 3, T, 224, 224)
      stem "2d": per frame conv 7x7/2 + BN + ReLU + max-pool 3x3/2   -> (B,   64, T, 56, 56)
      stem "3d": conv 3x7x7 /1,2,2 + BN + ReLU + max-pool 1x3x3 /1,2,2 -> (B,   64, T, 56, 56)
      layer1: 3 bottlenecks                                         -> (B,  256, T, 56, 56)
      layer2: 4 bottlenecks, spatial stride 2                       -> (B,  512, T, 28, 28)
      layer3: 6 bottlenecks, spatial stride 2                       -> (B, 1024, T, 14, 14)
      layer4: 3 bottlenecks, spatial stride 2                       -> (B, 2048, T,  7,  7)
      head: mean over (T, H, W) -> dropout -> linear                -> (B, K)

Bottleneck: 1x1x1 -> 3x3x3 (spatial stride on this conv, as torchvision's ResNet-50 v1.5) -> 1x1x1,
expansion 4, projection shortcut (1x1x1 conv + BN) when the shape changes. Temporal stride is 1
everywhere, so T is kept. Module names follow torchvision's ResNet so ImageNet weights inflate by
name (``inflate.py``).

Inference (no gradient wanted, BatchNorms in evaluation mode, on the CPU) runs each convolution
and its BatchNorm as one convolution, channels-last where oneDNN pays (``backbones.fold``); the
features come back channels-first, equal to the two steps' to float rounding.

Departures: ``width`` scales the channel counts (multiples of 8, at least 8) for the CPU preset;
the "3d" stem's temporal kernel (3) is our choice, Glimpse Clouds uses the "2d" stem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from core_models.backbones import fold
from core_models.backbones.cnn2d import MaxPool2d
from core_models.backbones.i3d import scale_channels

# ---------------------------------------------------------------------------------------------
# blocks


class Bottleneck3D(nn.Module):
    """1x1x1 -> 3x3x3 -> 1x1x1 bottleneck with expansion 4 and spatial stride only.

    Shape: (B, in_channels, T, H, W) -> (B, 4 * planes, T, H / stride, W / stride).
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv3d(in_channels, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(
            planes, planes, kernel_size=3, stride=(1, stride, stride), padding=1, bias=False
        )
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, out, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out, kernel_size=1, stride=(1, stride, stride), bias=False),
                nn.BatchNorm3d(out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fold.applies(x, self.conv1, self.bn1) and not self._any_norm_training():
            return self._folded(x)  # inference: folded, channels-last (backbones.fold)
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)

    def _any_norm_training(self) -> bool:
        norms = [self.bn2, self.bn3] + ([] if self.downsample is None else [self.downsample[1]])
        return any(bn.training for bn in norms)

    def _folded(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else fold.conv_bn(x, *self.downsample)
        y = fold.conv_bn(x, self.conv1, self.bn1).relu_()
        y = fold.conv_bn(y, self.conv2, self.bn2).relu_()
        return fold.conv_bn(y, self.conv3, self.bn3).add_(identity).relu_()


# ---------------------------------------------------------------------------------------------
# config and model


@dataclass(frozen=True)
class ResNet3DConfig:
    """ResNet3D hyper-parameters.

    Attributes:
        num_classes: K, size of the classifier output.
        in_channels: input channels (3 for RGB).
        layers: bottlenecks per stage; (3, 4, 6, 3) is ResNet-50.
        width: channel multiplier (1.0 is ResNet-50).
        stem: "2d" runs conv1 + max-pool per frame (Glimpse Clouds), "3d" inflates them.
        dropout: dropout before the classifier.
        input_frames: T the preset expects (documentation; any T >= 1 runs).
        input_size: H = W the preset expects (documentation).
    """

    num_classes: int = 400
    in_channels: int = 3
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    width: float = 1.0
    stem: Literal["2d", "3d"] = "2d"
    dropout: float = 0.0
    input_frames: int = 8
    input_size: int = 224


class ResNet3D(nn.Module):
    """Inflated ResNet with a timm-style ``forward_features`` / ``forward_head`` split.

    Input: (B, in_channels, T, H, W). Output of ``forward``: logits (B, K).
    """

    ENDPOINTS: tuple[str, ...] = ("stem", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, config: ResNet3DConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config if config is not None else ResNet3DConfig()
        if cfg.stem not in ("2d", "3d"):
            raise ValueError(f"stem must be '2d' or '3d', got {cfg.stem!r}")
        if len(cfg.layers) != 4 or min(cfg.layers) < 1:
            raise ValueError(f"layers must be four positive counts, got {cfg.layers}")
        stem_channels = scale_channels(64, cfg.width)
        if cfg.stem == "2d":
            self.conv1: nn.Module = nn.Conv2d(cfg.in_channels, stem_channels, 7, 2, 3, bias=False)
            self.bn1: nn.Module = nn.BatchNorm2d(stem_channels)
            self.maxpool: nn.Module = MaxPool2d(3, 2, 1)  # channels-last on the CPU, same values (cnn2d)
        else:
            self.conv1 = nn.Conv3d(
                cfg.in_channels, stem_channels, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False
            )
            self.bn1 = nn.BatchNorm3d(stem_channels)
            self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.relu = nn.ReLU(inplace=True)
        self._channels = {"stem": stem_channels}
        channels = stem_channels
        for i, (blocks, base) in enumerate(zip(cfg.layers, (64, 128, 256, 512)), start=1):
            planes = scale_channels(base, cfg.width)
            stride = 1 if i == 1 else 2
            stage = []
            for j in range(blocks):
                stage.append(Bottleneck3D(channels, planes, stride if j == 0 else 1))
                channels = planes * Bottleneck3D.expansion
            self.add_module(f"layer{i}", nn.Sequential(*stage))
            self._channels[f"layer{i}"] = channels
        self.num_features = channels
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(channels, cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def feature_channels(self, endpoint: str) -> int:
        """Channels of the feature map at ``endpoint`` (one of ``ResNet3D.ENDPOINTS``)."""
        if endpoint not in self._channels:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {self.ENDPOINTS}")
        return self._channels[endpoint]

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.stem == "3d":
            return self.maxpool(self.relu(self.bn1(self.conv1(x))))
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)  # (B*T, C, H, W)
        if fold.applies(frames, self.conv1, self.bn1):  # inference (backbones.fold)
            frames = self.maxpool(fold.conv_bn(frames, self.conv1, self.bn1).relu_())
        else:
            frames = self.maxpool(self.relu(self.bn1(self.conv1(frames))))  # (B*T, C', H', W')
        _, c2, h2, w2 = frames.shape
        return frames.reshape(b, t, c2, h2, w2).transpose(1, 2)  # (B, C', T, H', W')

    def forward_features(self, x: torch.Tensor, *, until: str = "layer4") -> torch.Tensor:
        """Run the trunk up to and including ``until``.

        Args:
            x: (B, in_channels, T, H, W) clip.
            until: one of ``ResNet3D.ENDPOINTS``.

        Returns:
            (B, C, T, H', W'); for 224 input layer3 is (B, 1024, T, 14, 14), layer4 (B, 2048, T, 7, 7).
        """
        if until not in self._channels:
            raise ValueError(f"unknown endpoint {until!r}; expected one of {self.ENDPOINTS}")
        if x.dim() != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"expected input (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}")
        x = self._stem(x)  # (B, C, T, H/4, W/4)
        for name in self.ENDPOINTS[1 : self.ENDPOINTS.index(until) + 1]:
            x = getattr(self, name)(x)
        return fold.channels_first(x)  # after folded inference (backbones.fold), channels-last

    def forward_head(self, feat: torch.Tensor) -> torch.Tensor:
        """Classify a layer4 map: (B, C, T, H', W') -> logits (B, K)."""
        if feat.dim() != 5 or feat.shape[1] != self.num_features:
            raise ValueError(f"expected features (B, {self.num_features}, T, H, W), got {tuple(feat.shape)}")
        pooled = feat.mean(dim=(2, 3, 4))  # (B, C)
        return self.fc(self.dropout(pooled))  # (B, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, T, H, W) -> logits (B, K)."""
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------
# factories


def resnet3d50_paper(num_classes: int = 400, *, stem: Literal["2d", "3d"] = "2d") -> ResNet3D:
    """Inflated ResNet-50 as in Glimpse Clouds: input 8x224x224."""
    return ResNet3D(ResNet3DConfig(num_classes=num_classes, stem=stem))


def resnet3d_cpu(num_classes: int = 400, *, stem: Literal["2d", "3d"] = "2d") -> ResNet3D:
    """The same [3, 4, 6, 3] layout at 1/8 width (2048 -> 256 features) for 8x64x64 clips."""
    return ResNet3D(
        ResNet3DConfig(num_classes=num_classes, width=0.125, stem=stem, input_frames=8, input_size=64)
    )
