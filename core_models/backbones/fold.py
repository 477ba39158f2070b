"""Inference of a convolution followed by a BatchNorm as one convolution, on the CPU.

In evaluation mode a BatchNorm is a fixed per-channel affine map, ``y = (x - mean) / sqrt(var +
eps) * gamma + beta``, so a convolution followed by it is one convolution whose filters are scaled
by ``gamma / sqrt(var + eps)`` and whose bias is ``beta - mean * gamma / sqrt(var + eps)``. Where
no gradient is wanted (validation, ``evaluate``, the app's inspection) and the BatchNorms use their
running statistics, the units of the 3D trunks (``i3d.Unit3D``, ``resnet3d.Bottleneck3D`` and
ResNet's 2D stem) run that one convolution. Where oneDNN pays (PyTorch's own rule for float32:
more than one clip, a large input or a filter wider than 3; see :func:`_onednn_pays`) and the
input has at least ``LAST_FROM`` channels, it runs channels-last, handed to oneDNN directly, so
that no convolution reorders its input into a blocked layout and back and the units pass
channels-last maps to one another. Elsewhere (a 3-channel clip, which is slow to lay out
channels-last; one small clip, where PyTorch's native kernel is faster) it runs channels-first.

The values are those of the two steps up to float rounding (the sums run in another order and the
scale is applied to the filters instead of the outputs): logits within a few 1e-7 of their size
on random batches of the ``cpu`` presets (``tests/test_backbones.py`` bounds them), and on the
shipped checkpoints' test and validation sets the same class for every clip with probabilities
at most 4.4e-5 apart (the README's "Folded inference" gives the comparison and the timings).
Training, and any forward that wants gradients (Grad-CAM, attributions), keeps the two steps, so
no gradient changes; a training run's validation passes are folded like any inference.

The folded filters are made once and kept on the convolution (not in its state dict), remade
when a parameter or running statistic changes (their version counters move on every in-place
update: an optimiser's step, ``load_state_dict``) or moves (``.to``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch alias)
from torch import nn

LAST_FROM = 8  # the fewest input channels a folded convolution runs channels-last with
_CACHE = "_folded_filters"  # the attribute of a convolution that keeps {layout: (key, weight, bias)}


def applies(x: torch.Tensor, conv: nn.Module, bn: nn.Module) -> bool:
    """Whether a unit runs folded: on the CPU, with no gradient wanted, a zero-padded convolution
    and a BatchNorm that normalises with its running statistics (evaluation mode)."""
    return (
        x.device.type == "cpu"
        and getattr(conv, "padding_mode", None) == "zeros"
        and not isinstance(conv.padding, str)  # "same" / "valid": leave them to PyTorch
        and not torch.is_grad_enabled()
        and isinstance(bn, nn.modules.batchnorm._BatchNorm)
        and not bn.training
        and bn.running_mean is not None
        and bn.running_var is not None
    )


def _memory_format(dim: int) -> torch.memory_format:
    return torch.channels_last_3d if dim == 5 else torch.channels_last


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` (4 or 5 dimensions) laid out channels-last (no copy when it already is)."""
    return x.contiguous(memory_format=_memory_format(x.dim()))


def channels_first(x: torch.Tensor) -> torch.Tensor:
    """``x`` with the strides of a plain contiguous tensor (a copy unless it has them already;
    ``contiguous()`` alone keeps a channels-last tensor whose other sizes are all 1 as it is)."""
    expected, step = [], 1
    for size in reversed(x.shape):
        expected.append(step)
        step *= max(size, 1)
    if x.stride() == tuple(reversed(expected)):
        return x
    return x.clone(memory_format=torch.contiguous_format)


def folded(
    conv: nn.Conv2d | nn.Conv3d, bn: nn.modules.batchnorm._BatchNorm, *, last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The filters (channels-last if ``last``) and bias of ``conv`` followed by ``bn`` in
    evaluation mode."""
    tensors = [t for t in (conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var)
               if t is not None]  # fmt: skip
    key = (bn.eps, *((t.data_ptr(), t._version) for t in tensors))
    cache = conv.__dict__.setdefault(_CACHE, {})  # a plain attribute: not a parameter, not saved
    hit = cache.get(last)
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        shift = -bn.running_mean * scale
        if conv.bias is not None:
            shift = shift + conv.bias * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
        weight = channels_last(weight) if last else weight.contiguous()
    cache[last] = (key, weight, shift)
    return weight, shift


def _onednn_pays(x: torch.Tensor, conv: nn.Conv2d | nn.Conv3d) -> bool:
    """PyTorch's rule for a float32 CPU convolution to go to oneDNN rather than its native
    kernel (``use_mkldnn`` in ATen's Convolution.cpp, torch 2.x): a 1x1 filter, unstrided and
    undilated, on fewer than 16 items goes native on one thread; and any filter goes to oneDNN
    only with grouped channels, a filter wider than 3 both ways, more than one item, or more than
    20480 values in the input's leading four sizes."""
    w = conv.weight
    one_by_one = w.shape[-1] == 1 and w.shape[-2] == 1
    plain = all(s == 1 for s in conv.stride) and all(d == 1 for d in conv.dilation)
    if one_by_one and plain and x.shape[0] < 16 and torch.get_num_threads() == 1:
        return False
    wide = w.shape[-1] > 3 and w.shape[-2] > 3
    return conv.groups > 1 or wide or x.shape[0] > 1 or math.prod(x.shape[:4]) > 20480


def conv_bn(
    x: torch.Tensor, conv: nn.Conv2d | nn.Conv3d, bn: nn.modules.batchnorm._BatchNorm, padding=None
) -> torch.Tensor:
    """``bn(conv(x))`` in evaluation mode as one convolution (see the module docstring; call where
    :func:`applies`). ``padding`` replaces the convolution's own. The output is channels-last
    when the convolution ran so, else channels-first."""
    pad = conv.padding if padding is None else padding
    onednn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    if (onednn and x.dtype == torch.float32 and conv.in_channels >= LAST_FROM
            and _onednn_pays(x, conv)):  # fmt: skip
        weight, bias = folded(conv, bn, last=True)
        return torch.ops.aten.mkldnn_convolution(
            channels_last(x), weight, bias, list(pad), list(conv.stride), list(conv.dilation), conv.groups
        )
    weight, bias = folded(conv, bn, last=False)
    op = F.conv3d if weight.dim() == 5 else F.conv2d
    return op(channels_first(x), weight, bias, conv.stride, pad, conv.dilation, conv.groups)
