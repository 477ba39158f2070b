"""Attributions: what a model used for a clip's score, summed into the units the attention views use.

For one clip and one model, :func:`explain` attributes the model's score for a target class (its
prediction, or the clip's label) to the inputs it reads and sums it into body parts, frames,
temporal segments and a pixel map (an :class:`Explanation`); :func:`estimate_cost` says what a
method will cost before it runs. Agreement with the attention, faithfulness curves and the
ground truth are in :mod:`core_models.explain.faithfulness`.

Methods (captum where it has one):

===================  =================================================================================
integrated_gradients captum ``IntegratedGradients`` from a zero baseline (``steps``, ``internal_batch_size``)
saliency             captum ``Saliency``: absolute input gradient
occlusion            captum ``Occlusion``: windows of ``window_frames`` x ``window_pixels``^2 over RGB,
                     crops (one crop at a time) and flow; ``window_frames`` steps x one joint (all
                     persons, xyz) over the skeleton; strides chosen so the windows tile every axis
grad_cam             Grad-CAM on the model's last feature map (see :func:`gradcam_layers`), one CAM per
                     body-part stream for models that keep one stream per crop; a temporal Grad-CAM on
                     the last recurrent layer for models without convolutions (skeleton LSTM)
segment_ablation     captum ``FeatureAblation``: each of ``segments`` temporal segments of the clip is
                     blanked in every input at once (RGB frames, crops, skeleton steps, flow fields)
===================  =================================================================================

Grad-CAM runs the model once: the layer search happens during that forward pass (hooks on every
module) and is remembered per model and input shapes, the prediction is read off the same pass, and
on later calls only the chosen layers are hooked, with the graph starting at them.

"Why X and not Y": with ``ExplainSettings.versus`` every method explains the difference of the
target's score and class Y's (the forward returns the logits minus Y's logit), so positive
attribution is evidence for X over Y and negative for Y over X. :func:`contrast_runs` gives the
contrast together with each class alone.

Every float input the model reads (``rgb``, ``crops``, ``skeleton``, ``flow``) is attributed jointly
through a forward function that takes them positionally and rebuilds the batch; the other batch
entries (frame indices, 2D joints) stay fixed. The model runs in eval mode, in float32, on its own
device, on the clip prepared exactly as evaluation and :func:`core_models.inspect.inspect_clip`
prepare it.

Baseline: zeros for every input. RGB and crops are normalised to [-1, 1], so zero is mid-grey; the
skeleton is normalised around the body centre with 0 for missing joints, so zero is "no joint";
flow zero is "no motion". Removing a unit in the deletion curves also sets it to zero.

Summaries (all shares are non-negative and sum to 1; an all-zero attribution gives equal shares):

* ``frames`` (T,): attribution magnitude per RGB sample (RGB and crops summed);
* ``pixels`` (T, S, S): magnitude per pixel of the square RGB input, or of the ``full_body`` crop
  for crop models (channels summed);
* ``joints`` (J,): magnitude per joint (time, persons and xyz summed);
* ``parts``: the crop parts of a model with several crops (``parts_source="crops"``), else the
  skeleton's joints summed into the layout's body parts (``"skeleton"``). Layout parts overlap
  (``full_body`` holds every joint), so each joint counts for the smallest part that holds it:
  hands, head and legs keep their joints, ``upper_body`` the arms and torso, ``full_body`` the rest;
* ``maps``: the *signed* attribution on each image the model read (channels summed), beside
  ``views``, those images as uint8: ``"rgb"`` (T, S, S) for the input square, each crop part
  (T, C, C) by name; Grad-CAM's maps are its weighted sums before the ReLU, upsampled;
* ``segments`` (G,): magnitude per temporal segment of the clip, every input placed at the clip
  frame it samples (segment ``k`` covers the fraction ``[k/G, (k+1)/G)``); for segment ablation,
  the drop of the target's score when that segment is blanked (negative drops count as 0).
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch alias)
from torch import nn

from core_models.data.clip import Clip
from core_models.data.layouts import SkeletonLayout
from core_models.inspect import LoadedModel, check_fits

METHODS = ("integrated_gradients", "saliency", "occlusion", "grad_cam", "segment_ablation")
METHOD_LABELS = {
    "integrated_gradients": "Integrated Gradients",
    "saliency": "Saliency",
    "occlusion": "Occlusion",
    "grad_cam": "Grad-CAM",
    "segment_ablation": "Segment ablation",
}
ATTRIBUTED = ("rgb", "crops", "skeleton", "flow")  # float inputs, in the order captum sees them
PERSON_PART = "full_body"  # the crop whose map stands for the model's RGB view
TARGETS = ("pred", "label", "rival")  # whose score is explained (see ExplainSettings)
VERSUS = (None, "label", "rival")  # what a contrastive explanation subtracts (see ExplainSettings)
RGB_VIEW = "rgb"  # the key of the square RGB input among an explanation's views

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------
# settings and results


@dataclass(frozen=True)
class ExplainSettings:
    """How to explain.

    Attributes:
        method: one of :data:`METHODS`.
        target: ``"pred"`` (the model's top class), ``"label"`` (the clip's true class) or
            ``"rival"`` (the runner-up: the best class other than the prediction).
        versus: ``None`` to explain the target's score alone; ``"label"`` or ``"rival"`` (the
            highest-scoring class other than the target) to explain the *difference* of the
            target's score and that class's score: "why the target and not that class".
        steps: Integrated Gradients steps.
        internal_batch_size: inputs per forward pass (IG steps, occlusion windows, ablations):
            bounds memory.
        window_frames: occlusion window along time (frames, or skeleton steps).
        window_pixels: occlusion window side in pixels.
        segments: temporal segments of the clip for segment ablation and the summaries.
    """

    method: str
    target: str = "pred"
    versus: str | None = None
    steps: int = 32
    internal_batch_size: int = 8
    window_frames: int = 4
    window_pixels: int = 8
    segments: int = 8

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.versus not in VERSUS:
            raise ValueError(f"versus must be one of {VERSUS}, got {self.versus!r}")
        if self.versus == "label" and self.target == "label":
            raise ValueError("target and versus are both the label: nothing to contrast")
        if self.target == "rival" and self.versus is not None:
            raise ValueError("the rival is explained alone (versus=None); contrast it as target='pred'")
        for key in ("steps", "internal_batch_size", "window_frames", "window_pixels", "segments"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")


def contrast_runs(pred: int, label: int | None, base: ExplainSettings) -> list[ExplainSettings]:
    """ "Why the prediction and not Y" with each class alone: the settings of the prediction alone,
    Y alone and the difference of their scores (last). Y is the ground truth when the prediction is
    wrong, else the runner-up."""
    wrong = label is not None and label != pred
    other = "label" if wrong else "rival"
    return [
        replace(base, target="pred", versus=None),
        replace(base, target=other, versus=None),
        replace(base, target="pred", versus=other),
    ]


@dataclass
class Cost:
    """What a method will cost on one clip, estimated before running it."""

    passes: int  # model evaluations (inputs through the model)
    seconds: float
    text: str


@dataclass
class Explanation:
    """One attribution of one clip, summed into the units of the attention views (see module doc)."""

    method: str
    settings: ExplainSettings
    target: int
    target_name: str
    frames: np.ndarray | None  # (T,) share per RGB sample
    pixels: np.ndarray | None  # (T, S, S) magnitude per pixel of the RGB view
    joints: np.ndarray | None  # (J,) share per joint
    parts: dict[str, float]  # share per body part
    parts_source: str  # "skeleton" | "crops" | ""
    segments: np.ndarray  # (G,) share per temporal segment of the clip
    frame_index: np.ndarray | None  # (T,) clip frame of each RGB sample
    skeleton_index: np.ndarray | None  # (Ts,) clip frame of each skeleton step
    seconds: float
    inputs: dict[str, float] = field(default_factory=dict)  # share per model input (rgb, skeleton ...)
    versus: int | None = None  # the class whose score was subtracted (contrastive), or None
    versus_name: str | None = None
    # Signed attribution on each image the model read, and that image: view -> (T, S, S) float32
    # and (T, S, S, 3) uint8; views are "rgb" (the input square) and the crop parts by name.
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    views: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def question(self) -> str:
        """What was explained: ``"typing"`` or ``"typing and not reading"``."""
        return self.target_name + (f" and not {self.versus_name}" if self.versus_name else "")


@dataclass
class Curves:
    """Deletion and insertion curves: the target's probability after each step."""

    fractions: np.ndarray  # (n + 1,) share of units removed / added
    deletion: np.ndarray  # (n + 1,)
    insertion: np.ndarray  # (n + 1,)
    auc_deletion: float  # lower is more faithful
    auc_insertion: float  # higher is more faithful
    units: list[str] = field(default_factory=list)  # names of the units, in the order given


# ---------------------------------------------------------------------------------------------
# the model's input for a clip


@dataclass
class _Inputs:
    """A clip prepared for a model: the batch (B = 1) and where each input lies in the clip."""

    model: nn.Module
    batch: dict[str, torch.Tensor]  # every item key, (1, ...), on the model's device
    keys: tuple[str, ...]  # the attributed inputs
    times: dict[str, np.ndarray]  # key -> clip frame of each step along its time axis
    num_frames: int  # frames of the clip
    crop_parts: tuple[str, ...]
    layout: SkeletonLayout

    @property
    def tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(self.batch[k] for k in self.keys)

    def forward(
        self, counter: _Counter | None = None, versus: int | None = None
    ) -> Callable[..., torch.Tensor]:
        """``f(*inputs) -> logits (N, K)``: the model on the attributed inputs, the rest fixed.

        With ``versus``, every logit minus class ``versus``'s logit, so that output ``k`` is the
        score difference "k and not versus" (the same ``target`` then explains a contrast).
        """
        fixed = {k: v for k, v in self.batch.items() if k not in self.keys}
        keys, model = self.keys, self.model

        def f(*xs: torch.Tensor) -> torch.Tensor:
            n = xs[0].shape[0]
            batch = {k: v.expand(n, *v.shape[1:]) for k, v in fixed.items()}
            batch.update(zip(keys, xs))
            if counter is not None:
                counter.add(n)
            logits = model(batch).logits.float()  # (N, K)
            return logits if versus is None else logits - logits[:, versus : versus + 1]

        return f

    def views(self) -> dict[str, np.ndarray]:
        """The images the model read, uint8: ``"rgb"`` (T, S, S, 3) and each crop part (T, C, C, 3)."""
        out = {}
        if "rgb" in self.batch:  # (1, 3, T, S, S) in [-1, 1]
            out[RGB_VIEW] = _to_uint8(self.batch["rgb"][0].permute(1, 2, 3, 0))
        if "crops" in self.batch:  # (1, P, 3, T, C, C)
            for p, part in enumerate(self.crop_parts):
                out[part] = _to_uint8(self.batch["crops"][0, p].permute(1, 2, 3, 0))
        return out


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """Model input in [-1, 1] (datasets._to_unit) back to uint8."""
    return ((x.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()


# Axis of time in each input without the batch axis (flow: channel pairs, see _steps_of).
_TIME_AXIS = {"rgb": 1, "crops": 2, "skeleton": 0, "flow": 0}


def _prepare(loaded: LoadedModel, clip: Clip, prepared: Any = None) -> _Inputs:
    """The clip as the model reads it. ``prepared``: ``prepare_clip(clip, model.input_spec)``
    already made by the caller (frames resized, crops cut, optical flow computed: the costly part,
    which a caller running several passes on one clip does once)."""
    from core_models.data.datasets import make_item, prepare_clip
    from core_models.data.flow import stack_fields

    model = loaded.model.eval()
    check_fits(model, clip)
    spec = model.input_spec
    item = make_item(prepared if prepared is not None else prepare_clip(clip, spec), spec, max(clip.label, 0))
    device = _device(model)
    batch = {k: v.unsqueeze(0).to(device) for k, v in item.items()}
    reads = tuple(getattr(model, "inputs", ())) or tuple(batch)
    keys = tuple(k for k in ATTRIBUTED if k in batch and k in reads)
    if not keys:
        raise ValueError(f"{type(model).__name__} reads none of {ATTRIBUTED}: nothing to attribute")
    for k in keys:
        batch[k] = batch[k].float()
    times: dict[str, np.ndarray] = {}
    if "frame_index" in item:
        for k in ("rgb", "crops"):
            times[k] = item["frame_index"].numpy()
    if "skeleton_index" in item:
        times["skeleton"] = item["skeleton_index"].numpy()
    if "flow" in keys:  # field i of a stack starting at s is the flow from clip frame s + i
        fields = max(clip.num_frames - 1, 1)
        times["flow"] = stack_fields(fields, spec.flow_frames, spec.stacks(training=False))
    parts = tuple(spec.crops.parts) if spec.crops is not None else ()
    return _Inputs(model, batch, keys, times, clip.num_frames, parts, clip.layout)


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


class _Counter:
    """Counts inputs through the model and reports progress."""

    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self.progress = max(total, 1), 0, progress

    def add(self, n: int) -> None:
        self.done = min(self.done + n, self.total)
        if self.progress is not None:
            self.progress(self.done, self.total)


def _segment_ids(frames: np.ndarray, num_frames: int, segments: int) -> np.ndarray:
    """Temporal segment of the clip that each clip frame's centre falls in."""
    ids = ((frames + 0.5) * segments / max(num_frames, 1)).astype(np.int64)
    return np.clip(ids, 0, segments - 1)


def _steps_of(inputs: _Inputs, key: str) -> np.ndarray:
    """Clip frame of each slice along ``key``'s time axis (flow: per channel, two per field)."""
    t = inputs.times[key]
    return np.repeat(t, 2) if key == "flow" else t


def _along_time(inputs: _Inputs, key: str, values: np.ndarray) -> torch.Tensor:
    """``values`` per time slice of ``key``, shaped to broadcast against the batched input."""
    x = inputs.batch[key]
    shape = [1] * x.dim()
    shape[1 + _TIME_AXIS[key]] = len(values)
    return torch.as_tensor(values, device=x.device).view(shape)


# ---------------------------------------------------------------------------------------------
# body-part units


def joint_parts(layout: SkeletonLayout) -> dict[str, list[int]]:
    """Each layout part with the joints for which it is the smallest part holding them.

    Layout parts overlap (``full_body`` holds every joint, ``upper_body`` the hands), so this is
    the partition the skeleton's attribution is summed into; parts left without a joint are dropped.
    """
    by_size = sorted(layout.parts, key=lambda p: len(p.joints))
    owner = {}
    for part in by_size:
        for j in part.joints:
            owner.setdefault(j, part.name)
    return {
        p.name: sorted(j for j, o in owner.items() if o == p.name)
        for p in layout.parts
        if p.name in owner.values()
    }


def _part_units(inputs: _Inputs) -> tuple[str, list[str], list[dict[str, torch.Tensor]]]:
    """``(source, names, masks)``: the body-part units of a model's input, each a bool mask per key."""
    if "crops" in inputs.keys and len(inputs.crop_parts) > 1:
        x = inputs.batch["crops"]
        masks = []
        for p in range(len(inputs.crop_parts)):
            m = torch.zeros(1, x.shape[1], 1, 1, 1, 1, dtype=torch.bool, device=x.device)
            m[0, p] = True
            masks.append({"crops": m})
        return "crops", list(inputs.crop_parts), masks
    if "skeleton" in inputs.keys:
        x = inputs.batch["skeleton"]
        parts = joint_parts(inputs.layout)
        masks = []
        for joints in parts.values():
            m = torch.zeros(1, 1, 1, x.shape[3], 1, dtype=torch.bool, device=x.device)
            m[0, 0, 0, joints] = True
            masks.append({"skeleton": m})
        return "skeleton", list(parts), masks
    return "", [], []


def _segment_units(inputs: _Inputs, segments: int) -> list[dict[str, torch.Tensor]]:
    masks = []
    for g in range(segments):
        unit = {}
        for k in inputs.keys:
            ids = _segment_ids(_steps_of(inputs, k), inputs.num_frames, segments)
            unit[k] = _along_time(inputs, k, ids == g)
        masks.append(unit)
    return masks


# ---------------------------------------------------------------------------------------------
# Grad-CAM layers


@dataclass
class _CamLayer:
    name: str
    module: nn.Module
    kind: str  # "3d" (B, C, T', H', W'), "2d" (N, C, H', W'), "rnn" (B, Ts, H)
    stream: str  # the input it looks at: a crop part, "rgb", or "skeleton"


# Grad-CAM layers found per (model, input shapes): the layer search runs once per model.
_LAYERS: weakref.WeakKeyDictionary[nn.Module, dict[tuple, list[_CamLayer]]] = weakref.WeakKeyDictionary()


def _shapes(inputs: _Inputs) -> tuple:
    return tuple((k, tuple(v.shape[1:])) for k, v in sorted(inputs.batch.items()))


def _remembered(inputs: _Inputs) -> list[_CamLayer] | None:
    found = _LAYERS.get(inputs.model, {}).get(_shapes(inputs))
    return list(found) if found is not None else None


def _remember(inputs: _Inputs, layers: list[_CamLayer]) -> None:
    # The layers hold submodules of the model, never the model itself: the key stays collectable.
    _LAYERS.setdefault(inputs.model, {})[_shapes(inputs)] = list(layers)


_PARAMETERS: weakref.WeakKeyDictionary[nn.Module, list[nn.Parameter]] = weakref.WeakKeyDictionary()


def _parameters(model: nn.Module) -> list[nn.Parameter]:
    """The model's parameters, listed once per model (walking ~700 modules each pass costs ms)."""
    if model not in _PARAMETERS:
        _PARAMETERS[model] = list(model.parameters())
    return _PARAMETERS[model]


def _record_all(model: nn.Module, calls: list) -> list:
    """Forward hooks on every named module, appending ``(name, module, output)`` to ``calls``."""
    return [
        m.register_forward_hook(lambda mod, args, out, name=name: calls.append((name, mod, out)))
        for name, m in model.named_modules()
        if name
    ]


def gradcam_layers(model: nn.Module, inputs: _Inputs) -> list[_CamLayer]:
    """The layers Grad-CAM reads, found by running the model once with hooks (remembered per
    model and input shapes, so the search runs once per model).

    In order of preference: the last module (in execution order) that returns a 5-D feature map
    with more than one spatial cell (for I3D the whole ``Mixed_5c`` block, not one branch of it; one per
    stream for models with a ``parts`` dict of per-crop streams); else the last module returning
    per-frame 2-D maps (``N = T`` frames of the clip); else the last recurrent layer (a temporal
    Grad-CAM over its steps). Raises ``ValueError`` for a model with none of these.
    """
    known = _remembered(inputs)
    if known is not None:
        return known
    calls: list[tuple[str, nn.Module, Any]] = []
    hooks = _record_all(model, calls)
    try:
        with torch.no_grad():
            inputs.forward()(*inputs.tensors)
    finally:
        for h in hooks:
            h.remove()
    layers = _choose_layers(model, inputs, calls)
    _remember(inputs, layers)
    return layers


def _choose_layers(
    model: nn.Module, inputs: _Inputs, calls: list[tuple[str, nn.Module, Any]]
) -> list[_CamLayer]:
    """Grad-CAM's layers among the module calls of one forward pass (see :func:`gradcam_layers`)."""
    video = next((k for k in ("rgb", "crops") if k in inputs.keys), None)
    frames = inputs.batch[video].shape[1 + _TIME_AXIS[video]] if video else None

    def is_map(m: nn.Module, o: Any, rank: int) -> bool:  # a feature map, not a pooled summary of one
        pooled = type(m).__module__ == "torch.nn.modules.pooling"
        return torch.is_tensor(o) and o.dim() == rank and math.prod(o.shape[-2:]) > 1 and not pooled

    maps3d = [(n, m) for n, m, o in calls if is_map(m, o, 5)]
    streams = getattr(model, "parts", None)
    if maps3d and isinstance(streams, nn.ModuleDict) and set(streams) == set(inputs.crop_parts):
        layers = []
        for part in inputs.crop_parts:
            mine = [(n, m) for n, m in maps3d if n == f"parts.{part}" or n.startswith(f"parts.{part}.")]
            if mine:
                layers.append(_CamLayer(*mine[-1], "3d", part))
        if layers:
            return layers
    if maps3d:
        return [_CamLayer(*maps3d[-1], "3d", video or "rgb")]
    maps2d = [(n, m) for n, m, o in calls if is_map(m, o, 4) and frames and o.shape[0] == frames]
    if maps2d:
        return [_CamLayer(*maps2d[-1], "2d", video or "rgb")]
    rnns = [(n, m) for n, m, _ in calls if isinstance(m, nn.RNNBase)]
    if rnns and "skeleton" in inputs.keys:
        return [_CamLayer(*rnns[-1], "rnn", "skeleton")]
    raise ValueError(
        f"Grad-CAM needs a convolutional feature map or a recurrent layer, and "
        f"{type(model).__name__} has neither; use " + ", ".join(m for m in METHODS if m != "grad_cam")
    )


@dataclass
class _Cams:
    """Grad-CAM's output: per stream the CAM (ReLU) and the signed weighted sum before the ReLU."""

    cams: dict[str, np.ndarray]  # stream -> (T', H', W') or (Ts,)
    signed: dict[str, np.ndarray]  # the same before the ReLU
    layers: list[_CamLayer]
    target: int
    versus: int | None


def _grad_cam(
    inputs: _Inputs, target: int | str | None, counter: _Counter, versus: int | str | None = None
) -> _Cams:
    """Grad-CAM maps per layer from one forward and one backward pass.

    ``target`` None takes the model's top class from the same forward pass (``"rival"`` the
    runner-up); ``versus`` (a class,
    or ``"rival"``: the best class other than the target) explains the difference of the two
    scores. The first call on a model records every module's output during that pass and picks the
    layers from it (:func:`gradcam_layers`); later calls hook only the chosen layers. The backward
    pass stops at the layers (``torch.autograd.grad`` of the score with respect to them).

    Computed here from hooks rather than with captum's ``LayerGradCam`` so that all per-part
    streams come out of one backward pass and a recurrent layer works too; for one convolutional
    layer it equals ``LayerGradCam(..., relu_attributions=True)`` (see the tests).
    """
    layers = _remembered(inputs)
    calls: list[tuple[str, nn.Module, Any]] = []
    frozen: list[nn.Parameter] = []
    if layers is None:
        hooks = _record_all(inputs.model, calls)
    else:
        # Known layers: nothing below them needs a graph. Parameters stop requiring gradients for
        # this pass and each layer's output becomes a leaf that does, so autograd records only
        # what lies above the layers (cheaper forward, smaller graph; the values are unchanged).
        frozen = [p for p in _parameters(inputs.model) if p.requires_grad]

        def leaf(mod, args, out, name):
            first = out[0] if isinstance(out, tuple) else out
            first = first.detach().requires_grad_()
            calls.append((name, mod, first))
            return (first, *out[1:]) if isinstance(out, tuple) else first

        hooks = [
            layer.module.register_forward_hook(
                lambda mod, args, out, name=layer.name: leaf(mod, args, out, name)
            )
            for layer in layers
        ]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with _grad_context(inputs):
            logits = inputs.forward(counter)(*inputs.tensors)[0]  # (K,)
            if layers is None:
                layers = _choose_layers(inputs.model, inputs, calls)
                _remember(inputs, layers)
            last = {name: out for name, _, out in calls}  # a module called twice: its last output
            feats = []
            for layer in layers:
                out = last[layer.name]
                feats.append(out[0] if isinstance(out, tuple) else out)  # recurrent: (output, state)
            calls.clear()
            top = int(logits.detach().argmax())
            t = top if target is None else _rival(logits.detach(), top) if target == "rival" else int(target)
            v = _rival(logits.detach(), t) if versus == "rival" else versus
            score = logits[t] - (logits[v] if v is not None else 0.0)
            if torch.is_tensor(score) and score.requires_grad:
                grads = torch.autograd.grad(score, feats, allow_unused=True)
            else:  # the score does not depend on the layers (possible only with frozen parameters)
                grads = (None,) * len(feats)
    finally:
        for h in hooks:
            h.remove()
        for p in frozen:
            p.requires_grad_(True)
    cams, signed = {}, {}
    for layer, a, g in zip(layers, feats, grads, strict=True):
        g = torch.zeros_like(a) if g is None else g
        a = a.detach()
        if layer.kind == "rnn":
            if not getattr(layer.module, "batch_first", False):
                a, g = a.transpose(0, 1), g.transpose(0, 1)  # (B, Ts, H)
            w = g.mean(dim=1, keepdim=True)  # (B, 1, H)
            s = (w * a).sum(-1)[0]  # (Ts,)
        else:
            w = g.mean(dim=tuple(range(2, g.dim())), keepdim=True)  # (N, C, 1, ...)
            s = (w * a).sum(1)  # 3d: (1, T', H', W'); 2d: (T, H', W')
            s = s[0] if layer.kind == "3d" else s
        signed[layer.stream] = s.float().cpu().numpy()
        cams[layer.stream] = np.maximum(signed[layer.stream], 0.0)
    return _Cams(cams, signed, layers, t, v)


def _rival(logits: torch.Tensor, target: int) -> int:
    """The highest-scoring class other than ``target`` (logits (K,))."""
    others = logits.clone()
    others[target] = -float("inf")
    return int(others.argmax())


class _grad_context:  # noqa: N801 (used like a function)
    """Enable gradients; on CUDA turn cuDNN off, whose recurrent layers only backpropagate in training."""

    def __init__(self, inputs: _Inputs):
        self.cuda = inputs.batch[inputs.keys[0]].is_cuda
        self.stack: list = []

    def __enter__(self):
        self.stack = [torch.enable_grad()]
        if self.cuda:
            self.stack.append(torch.backends.cudnn.flags(enabled=False))
        for c in self.stack:
            c.__enter__()

    def __exit__(self, *exc):
        for c in reversed(self.stack):
            c.__exit__(*exc)


# ---------------------------------------------------------------------------------------------
# running a method


def _windows(inputs: _Inputs, settings: ExplainSettings) -> tuple[tuple[tuple[int, ...], ...], tuple]:
    """Occlusion window shapes and strides per attributed input (without the batch axis)."""
    wf, wp = settings.window_frames, settings.window_pixels
    shapes, strides = [], []
    for k in inputs.keys:
        dims = tuple(inputs.batch[k].shape[1:])
        if k == "rgb":  # (3, T, S, S)
            want = (dims[0], wf, wp, wp)
        elif k == "crops":  # (P, 3, T, C, C): one crop at a time
            want = (1, dims[1], wf, wp, wp)
        elif k == "skeleton":  # (Ts, M, J, 3): steps x one joint, every person and coordinate
            want = (wf, dims[1], 1, dims[3])
        else:  # flow (2L, S, S): the whole stack at a patch
            want = (dims[0], wp, wp)
        shape = tuple(min(w, d) for w, d in zip(want, dims, strict=True))
        shapes.append(shape)
        strides.append(tuple(_tiling_stride(d, w) for d, w in zip(dims, shape, strict=True)))
    return tuple(shapes), tuple(strides)


def _tiling_stride(size: int, window: int) -> int:
    """The largest stride <= window whose windows start at 0 and end exactly at ``size``."""
    span = size - window
    if span == 0:
        return max(window, 1)
    return next(s for s in range(window, 0, -1) if span % s == 0)


def _num_windows(inputs: _Inputs, settings: ExplainSettings) -> int:
    shapes, strides = _windows(inputs, settings)
    total = 0
    for k, shape, stride in zip(inputs.keys, shapes, strides, strict=True):
        dims = inputs.batch[k].shape[1:]
        total += math.prod((d - w) // s + 1 for d, w, s in zip(dims, shape, stride, strict=True))
    return total


def _passes(inputs: _Inputs, settings: ExplainSettings) -> tuple[int, bool]:
    """``(inputs through the model, with a backward pass)`` for a method on this clip."""
    m = settings.method
    if m == "integrated_gradients":
        return settings.steps, True
    if m in ("saliency", "grad_cam"):
        return 1, True
    if m == "occlusion":
        return _num_windows(inputs, settings) + 1, False
    return settings.segments + 1, False


def _attribute(
    inputs: _Inputs, settings: ExplainSettings, target: int, counter: _Counter, versus: int | None = None
) -> dict[str, np.ndarray]:
    """Per-input attributions (batch axis dropped) of captum's method for ``settings.method``
    (of the score difference ``target - versus`` when ``versus`` is a class)."""
    from captum.attr import FeatureAblation, IntegratedGradients, Occlusion, Saliency

    f = inputs.forward(counter, versus)
    xs = inputs.tensors
    zeros = tuple(torch.zeros_like(x) for x in xs)
    m, batch = settings.method, settings.internal_batch_size
    with _grad_context(inputs):
        if m == "integrated_gradients":
            out = IntegratedGradients(f).attribute(
                xs, baselines=zeros, target=target, n_steps=settings.steps, internal_batch_size=batch
            )
        elif m == "saliency":
            out = Saliency(f).attribute(tuple(x.detach().requires_grad_() for x in xs), target=target)
        elif m == "occlusion":
            shapes, strides = _windows(inputs, settings)
            out = Occlusion(f).attribute(
                xs, sliding_window_shapes=shapes, strides=strides, baselines=zeros, target=target,
                perturbations_per_eval=batch,
            )  # fmt: skip
        else:  # segment_ablation: every input's slice of segment g carries feature id g
            masks = tuple(
                _along_time(
                    inputs, k, _segment_ids(_steps_of(inputs, k), inputs.num_frames, settings.segments)
                )
                for k in inputs.keys
            )
            out = FeatureAblation(f).attribute(
                xs, baselines=zeros, target=target, feature_mask=masks, perturbations_per_eval=batch
            )
    return {k: a.detach()[0].float().cpu().numpy() for k, a in zip(inputs.keys, out, strict=True)}


def _label(loaded: LoadedModel, clip: Clip) -> int:
    num_classes = len(loaded.class_names)
    if not 0 <= clip.label < num_classes:
        raise ValueError(f"clip {clip.name} has no label among the model's {num_classes} classes")
    return int(clip.label)


def _targets(
    loaded: LoadedModel, inputs: _Inputs, clip: Clip, settings: ExplainSettings, *, lazy: bool = False
) -> tuple[int | None, int | str | None]:
    """``(target, versus)`` as class indices; a forward pass only when the prediction is needed.

    With ``lazy`` (Grad-CAM, which reads the prediction off its own forward pass) the prediction
    is left as ``None`` and a rival as ``"rival"``.
    """
    target: int | str | None = {"label": None, "pred": None, "rival": "rival"}[settings.target]
    if settings.target == "label":
        target = _label(loaded, clip)
    versus: int | str | None = _label(loaded, clip) if settings.versus == "label" else settings.versus
    if lazy or (isinstance(target, int) and versus != "rival"):
        return target, versus
    with torch.no_grad():
        logits = inputs.forward()(*inputs.tensors)[0]  # (K,)
    top = int(logits.argmax())
    target = top if target is None else _rival(logits, top) if target == "rival" else target
    if versus == "rival":
        versus = _rival(logits, target)
    if versus == target:
        raise ValueError(
            f"the prediction is the label ({loaded.class_names[target]}): nothing to contrast; "
            "use versus='rival' (the runner-up)"
        )
    return target, versus


def estimate_cost(loaded: LoadedModel, clip: Clip, settings: ExplainSettings) -> Cost:
    """Time one batch of the passes ``settings.method`` needs on ``clip`` and scale it up.

    Runs one batch of ``min(internal_batch_size, passes)`` inputs through the model (with a
    backward pass for the gradient methods), so it costs about one batch of the real thing.
    """
    inputs = _prepare(loaded, clip)
    passes, backward = _passes(inputs, settings)
    n = min(settings.internal_batch_size, passes)
    f = inputs.forward()
    xs = tuple(x.expand(n, *x.shape[1:]).clone() for x in inputs.tensors)
    start = time.perf_counter()
    if backward:
        with _grad_context(inputs):
            xs = tuple(x.requires_grad_() for x in xs)
            torch.autograd.grad(f(*xs)[:, 0].sum(), xs)
    else:
        with torch.no_grad():
            f(*xs)
    per_batch = time.perf_counter() - start
    batches = math.ceil(passes / n)
    seconds = per_batch * batches
    kind = "forward+backward" if backward else "forward"
    text = (
        f"{METHOD_LABELS[settings.method]}: {passes} {kind} pass{'es' if passes > 1 else ''}"
        f" in {batches} batch{'es' if batches > 1 else ''} of up to {n}, about {seconds:.1f} s here"
    )
    return Cost(passes=passes, seconds=seconds, text=text)


def explain(
    loaded: LoadedModel, clip: Clip, settings: ExplainSettings, progress: Progress | None = None,
    *, prepared: Any = None,
) -> Explanation:  # fmt: skip
    """Attribute ``loaded``'s score for the target class on ``clip`` with ``settings.method``.

    Args:
        loaded: a model from :func:`core_models.inspect.load_model`.
        clip: a clip the model can read.
        settings: method and its knobs.
        progress: called as ``progress(done, total)`` with inputs through the model so far.
        prepared: the clip's ``prepare_clip`` arrays for this model, when the caller has them.

    Raises:
        ValueError: the model cannot read the clip, the target is not available, or Grad-CAM on a
            model without a feature map or recurrent layer.
    """
    start = time.perf_counter()
    inputs = _prepare(loaded, clip, prepared)
    grad_cam = settings.method == "grad_cam"
    target, versus = _targets(loaded, inputs, clip, settings, lazy=grad_cam)
    counter = _Counter(_passes(inputs, settings)[0], progress)
    if grad_cam:
        cams = _grad_cam(inputs, target, counter, versus)
        if cams.versus == cams.target:
            raise ValueError(
                f"the prediction is the label ({loaded.class_names[cams.target]}): nothing to contrast; "
                "use versus='rival' (the runner-up)"
            )
        target, versus = cams.target, cams.versus
        summary = _summarise_cams(inputs, cams, settings)
    else:
        attributions = _attribute(inputs, settings, target, counter, versus)
        if settings.method == "segment_ablation":
            summary = _summarise_ablation(inputs, attributions, settings)
        else:
            summary = _summarise(inputs, attributions, settings)
    batch = inputs.batch
    names = loaded.class_names
    if summary.get("maps"):
        views = inputs.views()
        summary["views"] = {k: views[k] for k in summary["maps"]}
    return Explanation(
        method=settings.method, settings=settings, target=target, target_name=names[target],
        frame_index=batch["frame_index"][0].cpu().numpy() if "frame_index" in batch else None,
        skeleton_index=batch["skeleton_index"][0].cpu().numpy() if "skeleton_index" in batch else None,
        seconds=time.perf_counter() - start, versus=versus,
        versus_name=names[versus] if versus is not None else None, **summary,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# summaries


def _shares(x: np.ndarray) -> np.ndarray:
    """Non-negative shares summing to 1 (equal shares when everything is zero)."""
    x = np.clip(np.nan_to_num(np.asarray(x, dtype=np.float64)), 0, None)
    total = x.sum()
    return x / total if total > 0 else np.full(x.shape, 1.0 / max(x.size, 1))


def _summarise(inputs: _Inputs, attr: dict[str, np.ndarray], settings: ExplainSettings) -> dict[str, Any]:
    G = settings.segments
    mag = {k: np.abs(a) for k, a in attr.items()}
    segments = np.zeros(G)
    frames = pixels = joints = None
    per_time: dict[str, np.ndarray] = {}  # key -> magnitude per time slice
    maps: dict[str, np.ndarray] = {}  # signed, channels summed
    if "rgb" in mag:  # (3, T, S, S)
        pixels = mag["rgb"].sum(0)  # (T, S, S)
        per_time["rgb"] = pixels.sum((1, 2))
        maps[RGB_VIEW] = attr["rgb"].sum(0).astype(np.float32)
    if "crops" in mag:  # (P, 3, T, C, C)
        crops = mag["crops"].sum(1)  # (P, T, C, C)
        for p, part in enumerate(inputs.crop_parts):
            maps[part] = attr["crops"][p].sum(0).astype(np.float32)  # (T, C, C)
        per_time["crops"] = crops.sum((0, 2, 3))
        if pixels is None and PERSON_PART in inputs.crop_parts:
            pixels = crops[inputs.crop_parts.index(PERSON_PART)]
    if "skeleton" in mag:  # (Ts, M, J, 3)
        skel = mag["skeleton"].sum(-1)  # (Ts, M, J)
        joints = _shares(skel.sum((0, 1)))
        per_time["skeleton"] = skel.sum((1, 2))
    if "flow" in mag:  # (2L, S, S)
        per_time["flow"] = mag["flow"].sum((1, 2))
    for k, v in per_time.items():
        segments += np.bincount(_segment_ids(_steps_of(inputs, k), inputs.num_frames, G), v, minlength=G)
    video = [per_time[k] for k in ("rgb", "crops") if k in per_time]
    if video:
        frames = _shares(sum(video))
    source, names, _ = _part_units(inputs)
    parts: dict[str, float] = {}
    if source == "crops":
        parts = dict(zip(names, _shares(mag["crops"].sum((1, 2, 3, 4))).tolist(), strict=True))
    elif source == "skeleton":
        per_joint = mag["skeleton"].sum((0, 1, 3))
        units = joint_parts(inputs.layout)
        parts = dict(zip(names, _shares([per_joint[units[n]].sum() for n in names]).tolist(), strict=True))
    return dict(
        frames=frames, pixels=pixels, joints=joints, parts=parts, parts_source=source,
        segments=_shares(segments), inputs=_input_shares(mag), maps=maps,
    )  # fmt: skip


def _input_shares(mag: dict[str, np.ndarray]) -> dict[str, float]:
    return dict(zip(mag, _shares([m.sum() for m in mag.values()]).tolist(), strict=True))


def _summarise_ablation(
    inputs: _Inputs, attr: dict[str, np.ndarray], settings: ExplainSettings
) -> dict[str, Any]:
    """Segment scores from FeatureAblation's per-element output (each element holds its segment's drop)."""
    G = settings.segments
    drop = np.zeros(G)
    seen = np.zeros(G, dtype=bool)
    for k, a in attr.items():
        ids = _segment_ids(_steps_of(inputs, k), inputs.num_frames, G)
        slices = np.moveaxis(a, _TIME_AXIS[k], 0)
        for i, g in enumerate(ids):
            if not seen[g]:
                drop[g], seen[g] = float(slices[i].reshape(-1)[0]), True
    segments = _shares(drop)
    frames = None
    video = next((k for k in ("rgb", "crops") if k in inputs.keys), None)
    if video is not None:
        ids = _segment_ids(inputs.times[video], inputs.num_frames, G)
        count = np.bincount(ids, minlength=G)
        frames = _shares(segments[ids] / count[ids])
    return dict(frames=frames, pixels=None, joints=None, parts={}, parts_source="", segments=segments)


def _summarise_cams(inputs: _Inputs, cams: _Cams, settings: ExplainSettings) -> dict[str, Any]:
    G = settings.segments
    if cams.layers[0].kind == "rnn":  # (Ts,) over skeleton steps, resampled if the layer pooled time
        cam = cams.cams["skeleton"]
        steps = len(inputs.times["skeleton"])
        cam = np.interp(np.linspace(0, len(cam) - 1, steps), np.arange(len(cam)), cam)
        ids = _segment_ids(inputs.times["skeleton"], inputs.num_frames, G)
        segments = _shares(np.bincount(ids, cam, minlength=G))
        return dict(frames=None, pixels=None, joints=None, parts={}, parts_source="", segments=segments)
    video = "rgb" if "rgb" in inputs.keys else "crops"
    x = inputs.batch[video]
    T, S = x.shape[-3], x.shape[-1]

    def up(cam: np.ndarray) -> np.ndarray:  # (T', H', W') or (T, H', W') -> (T, S, S)
        m = torch.as_tensor(cam)[None, None]  # (1, 1, T', H', W')
        return F.interpolate(m, size=(T, S, S), mode="trilinear", align_corners=False)[0, 0].numpy()

    maps = {stream: up(cam) for stream, cam in cams.cams.items()}  # the CAM on each stream's input
    per_time = sum(m.sum((1, 2)) for m in maps.values())
    ids = _segment_ids(inputs.times[video], inputs.num_frames, G)
    parts: dict[str, float] = {}
    source = ""
    if len(maps) > 1:
        names = list(maps)
        parts = dict(zip(names, _shares([maps[n].sum() for n in names]).tolist(), strict=True))
        source = "crops"
    # the RGB view: the one map, or the person crop's among the part streams
    pixels = next(iter(maps.values())) if video == "rgb" or len(maps) == 1 else maps.get(PERSON_PART)
    signed = {}  # view -> (T, S, S) before the ReLU, on the image the stream read
    for stream, cam in cams.signed.items():
        if stream == "crops" and len(inputs.crop_parts) == 1:
            stream = inputs.crop_parts[0]
        if stream == RGB_VIEW or stream in inputs.crop_parts:
            signed[stream] = up(cam).astype(np.float32)
    return dict(
        frames=_shares(per_time), pixels=pixels, joints=None, parts=parts, parts_source=source,
        segments=_shares(np.bincount(ids, per_time, minlength=G)), maps=signed,
    )  # fmt: skip


def importance_order(expl: Explanation, over: str) -> np.ndarray:
    """Unit indices, most important first, for :func:`deletion_insertion` (``over``: parts, segments)."""
    if over == "parts":
        return np.argsort(-np.asarray(list(expl.parts.values())), kind="stable")
    if over == "segments":
        return np.argsort(-np.asarray(expl.segments), kind="stable")
    raise ValueError(f"over must be 'parts' or 'segments', got {over!r}")
