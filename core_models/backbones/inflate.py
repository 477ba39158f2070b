"""Loading checkpoints into the video backbones: 2D -> 3D inflation and converted I3D weights.

Paper: Carreira & Zisserman 2017, section 2.4 ("Inflating 2D ConvNets into 3D" and "Bootstrapping
3D filters from 2D filters"): a 2D kernel k x k becomes t x k x k, either repeated over time and
divided by t ("repeat", so a temporally constant clip gives the 2D response) or placed in the
middle temporal slice with zeros elsewhere ("center", as Glimpse Clouds initialises its ResNet-50).

What is implemented, from local files only (nothing is downloaded):
- ``inflate_resnet50_weights``: torchvision ResNet-50 keys (``conv1.weight``, ``bn1.*``,
  ``layer1.0.conv1.weight``, ``layer1.0.downsample.0.weight``, ``fc.*``) -> ``ResNet3D``. With
  the "2d" stem, conv1 is copied unchanged.
- ``inflate_googlenet_weights``: torchvision GoogLeNet keys (``conv1.conv.weight``, ``conv1.bn.*``,
  ``inception3a.branch2.1.conv.weight``, ...) -> ``I3D``. torchvision's "5x5" branch is in fact
  3x3, which is what I3D uses. The auxiliary classifiers (``aux1``, ``aux2``) are reported as
  unexpected.
- ``load_i3d_port_weights``: the widely used PyTorch I3D port layout (``Conv3d_1a_7x7.conv3d.weight``,
  ``Mixed_3b.b1a.bn.running_mean``, ``logits.conv3d.bias``, ...) -> ``I3D``; already 3D, copied.

Every loader returns a ``LoadReport`` of loaded / missing / unexpected / skipped keys. A classifier
whose class count differs is skipped (and reported) unless ``strict_head=True``; any other shape that
does not fit raises ``ValueError`` naming the key and both shapes.

Files: ``.pth`` / ``.pt`` state dicts read with ``torch.load(weights_only=True)``; ``.safetensors``
when the optional ``safetensors`` package is installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

InflateMode = Literal["repeat", "center"]
StateSource = str | Path | Mapping[str, torch.Tensor]

# ---------------------------------------------------------------------------------------------
# helpers


def inflate_conv_weight(w2d: torch.Tensor, time: int, mode: InflateMode = "repeat") -> torch.Tensor:
    """Inflate a 2D conv kernel to 3D.

    Args:
        w2d: (O, I, kH, kW) kernel.
        time: temporal size t of the new kernel.
        mode: "repeat" copies the kernel to every time slice and divides by t; "center" puts it in
            slice t // 2 and zeros the others. Both give the 2D response on a temporally constant
            clip (away from the temporal border, with "same" temporal padding).

    Returns:
        (O, I, t, kH, kW) kernel.
    """
    if w2d.dim() != 4:
        raise ValueError(f"expected a 2D kernel (O, I, kH, kW), got shape {tuple(w2d.shape)}")
    if time < 1:
        raise ValueError(f"time must be >= 1, got {time}")
    if mode == "repeat":
        return w2d.unsqueeze(2).repeat(1, 1, time, 1, 1) / time  # (O, I, t, kH, kW)
    if mode == "center":
        w3d = w2d.new_zeros(w2d.shape[0], w2d.shape[1], time, *w2d.shape[2:])
        w3d[:, :, time // 2] = w2d
        return w3d
    raise ValueError(f"mode must be 'repeat' or 'center', got {mode!r}")


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.pth`` / ``.pt`` (or ``.safetensors`` if that package is installed).

    A checkpoint that wraps its weights in ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped,
    and a ``module.`` prefix (DataParallel) is removed.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as err:
            raise ValueError(
                f"{path}: reading .safetensors needs the optional 'safetensors' package"
            ) from err
        state = load_file(str(path), device="cpu")
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


@dataclass
class LoadReport:
    """What a loader did. Keys are target (our model's) names except ``unexpected`` (source names).

    Attributes:
        loaded: target keys that received a tensor.
        missing: target keys left at their initial value.
        unexpected: source keys with no place in the model.
        skipped: "source -> target: reason" for tensors deliberately not loaded (e.g. the classifier).
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line with the counts, for logs."""
        return (
            f"loaded {len(self.loaded)}, missing {len(self.missing)}, "
            f"unexpected {len(self.unexpected)}, skipped {len(self.skipped)}"
        )


def _transfer(
    model: nn.Module,
    source: StateSource,
    rename: Callable[[str], str | None],
    *,
    mode: InflateMode,
    head_keys: set[str],
    strict_head: bool,
) -> LoadReport:
    """Copy ``source`` tensors into ``model`` under ``rename``, inflating 2D kernels where needed."""
    state = load_state_dict_file(source) if isinstance(source, str | Path) else dict(source)
    target = model.state_dict()  # shares storage with the parameters and buffers
    report = LoadReport()
    for src_key, value in state.items():
        dst_key = rename(src_key)
        if dst_key is None or dst_key not in target:
            report.unexpected.append(src_key)
            continue
        dst = target[dst_key]
        if dst_key in head_keys and value.shape[0] != dst.shape[0]:
            if strict_head:
                raise ValueError(
                    f"{src_key} -> {dst_key}: classifier shape {tuple(value.shape)} does not fit "
                    f"{tuple(dst.shape)} (class count differs) and strict_head=True"
                )
            report.skipped.append(
                f"{src_key} -> {dst_key}: {value.shape[0]} classes, model has {dst.shape[0]}"
            )
            continue
        value = _fit(value, dst, mode)
        if value.shape != dst.shape:
            raise ValueError(
                f"{src_key} -> {dst_key}: checkpoint shape {tuple(state[src_key].shape)} does not fit "
                f"model shape {tuple(dst.shape)}"
            )
        with torch.no_grad():
            dst.copy_(value.to(dst.dtype))
        report.loaded.append(dst_key)
    report.missing = [k for k in target if k not in set(report.loaded)]
    return report


def _fit(value: torch.Tensor, dst: torch.Tensor, mode: InflateMode) -> torch.Tensor:
    """Inflate a 2D conv kernel, or turn a linear weight into a 1x1x1 conv, to match ``dst``."""
    if value.dim() == 4 and dst.dim() == 5 and value.shape[:2] == dst.shape[:2]:
        return inflate_conv_weight(value, dst.shape[2], mode)
    if value.dim() == 2 and dst.dim() == 5 and dst.shape[2:] == (1, 1, 1):
        return value[:, :, None, None, None]  # (K, C) -> (K, C, 1, 1, 1)
    return value


# ---------------------------------------------------------------------------------------------
# ResNet-50 -> ResNet3D


def inflate_resnet50_weights(
    model: nn.Module, source: StateSource, *, mode: InflateMode = "center", strict_head: bool = False
) -> LoadReport:
    """Inflate a torchvision-layout 2D ResNet-50 state dict into a ``ResNet3D``.

    Args:
        model: a ``ResNet3D`` (any stem; stage depths must not exceed the checkpoint's).
        source: path to a ``.pth`` / ``.safetensors`` file, or a state dict.
        mode: "center" (Glimpse Clouds) or "repeat".
        strict_head: raise instead of skipping ``fc`` when the class count differs.

    Returns:
        The ``LoadReport``; target names equal source names in this layout.
    """
    return _transfer(
        model, source, lambda k: k, mode=mode, head_keys={"fc.weight", "fc.bias"}, strict_head=strict_head
    )


# ---------------------------------------------------------------------------------------------
# GoogLeNet -> I3D

_GOOGLENET_BLOCKS = {
    "conv1": "Conv3d_1a_7x7",
    "conv2": "Conv3d_2b_1x1",
    "conv3": "Conv3d_2c_3x3",
    "inception3a": "Mixed_3b",
    "inception3b": "Mixed_3c",
    "inception4a": "Mixed_4b",
    "inception4b": "Mixed_4c",
    "inception4c": "Mixed_4d",
    "inception4d": "Mixed_4e",
    "inception4e": "Mixed_4f",
    "inception5a": "Mixed_5b",
    "inception5b": "Mixed_5c",
}
_GOOGLENET_BRANCHES = {
    "branch1": "b0",
    "branch2.0": "b1.0",
    "branch2.1": "b1.1",
    "branch3.0": "b2.0",
    "branch3.1": "b2.1",
    "branch4.1": "b3.1",
}
_GOOGLENET_KEY = re.compile(r"^(conv[123]|inception\d[a-e])\.(?:(branch1|branch\d\.\d)\.)?(conv|bn)\.(\w+)$")


def _googlenet_rename(key: str) -> str | None:
    if key in ("fc.weight", "fc.bias"):
        return "logits." + key.split(".")[1]
    match = _GOOGLENET_KEY.match(key)
    if match is None:
        return None
    block, branch, layer, tensor = match.groups()
    if block not in _GOOGLENET_BLOCKS or (block.startswith("conv") != (branch is None)):
        return None
    parts = [_GOOGLENET_BLOCKS[block]]
    if branch is not None:
        if branch not in _GOOGLENET_BRANCHES:
            return None
        parts.append(_GOOGLENET_BRANCHES[branch])
    return ".".join([*parts, layer, tensor])


def inflate_googlenet_weights(
    model: nn.Module, source: StateSource, *, mode: InflateMode = "repeat", strict_head: bool = False
) -> LoadReport:
    """Inflate a torchvision-layout GoogLeNet (Inception-v1) state dict into an ``I3D``.

    Each kernel gets the temporal size of the matching I3D conv (7 for Conv3d_1a, 3 for the 3x3
    convs, 1 for 1x1). Note torchvision's GoogLeNet expects ImageNet-normalised input, not [-1, 1].

    Args:
        model: an ``I3D`` of matching width.
        source: path to a ``.pth`` / ``.safetensors`` file, or a state dict.
        mode: "repeat" (the I3D paper) or "center".
        strict_head: raise instead of skipping ``fc`` when the class count differs.
    """
    return _transfer(
        model,
        source,
        _googlenet_rename,
        mode=mode,
        head_keys={"logits.weight", "logits.bias"},
        strict_head=strict_head,
    )


# ---------------------------------------------------------------------------------------------
# converted Kinetics I3D (PyTorch port layout) -> I3D

_PORT_BRANCHES = {"b0": "b0", "b1a": "b1.0", "b1b": "b1.1", "b2a": "b2.0", "b2b": "b2.1", "b3b": "b3.1"}
_PORT_KEY = re.compile(
    r"^(Conv3d_\w+?|Mixed_\d[b-f]|logits)\.(?:(b0|b1a|b1b|b2a|b2b|b3b)\.)?(conv3d|bn)\.(\w+)$"
)


def _port_rename(key: str) -> str | None:
    match = _PORT_KEY.match(key)
    if match is None:
        return None
    block, branch, layer, tensor = match.groups()
    if block == "logits":
        return f"logits.{tensor}" if layer == "conv3d" and branch is None else None
    if block.startswith("Mixed") == (branch is None):
        return None
    parts = [block] + ([_PORT_BRANCHES[branch]] if branch else [])
    return ".".join([*parts, "conv" if layer == "conv3d" else "bn", tensor])


def load_i3d_port_weights(model: nn.Module, source: StateSource, *, strict_head: bool = False) -> LoadReport:
    """Load converted Kinetics / ImageNet I3D weights saved in the PyTorch I3D port's layout.

    Args:
        model: an ``I3D`` of width 1.0 (the converted weights are the paper network).
        source: path to the file (e.g. ``rgb_imagenet.pt``) or a state dict.
        strict_head: raise instead of skipping ``logits`` when the class count differs.
    """
    return _transfer(
        model,
        source,
        _port_rename,
        mode="repeat",
        head_keys={"logits.weight", "logits.bias"},
        strict_head=strict_head,
    )
