"""Inspecting one clip with one trained model: the prediction and every attention, ready to draw.

This is what the app (and ``python -m core_models bench inspect``) runs for a clip: the clip is
prepared exactly as the evaluation prepares it (the same ``prepare_clip`` and ``make_item``, bin
centres, no randomness), the model runs once, and the batch axis is dropped from every output.
Beside the attention it returns where the model's input lies in the clip's frames, so overlays
land on the right pixels:

* ``frame_index`` / ``skeleton_index``: the clip frame of each RGB sample / skeleton step read;
* ``view_boxes`` (T, 4): per clip frame, the pixel box ``x0, y0, x1, y1`` that the model's square
  RGB input covers: the person-centred crop for models that read it, the centred square
  otherwise (maps and glimpse coordinates are relative to this box);
* ``part_boxes`` (T, P, 4) and ``part_names``: the body-part crops of a part model.

It also says how familiar the clip looks to the model: ``ood``, the out-of-distribution verdict
of the model's features against the training statistics its checkpoint keeps
(:mod:`core_models.ood`; ``None`` for a checkpoint without them), and ``trained_on``, the data
and classes behind the prediction.

:func:`what_if` runs the clip again with the attention replaced (equal weights, and on a clip with
a ground truth the true attention at the model's resolution): the per-clip form of
``evaluate``'s interventions, which the app's pages show beside the attention.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core_models.checkpoint import build_from_checkpoint, load_checkpoint
from core_models.data.clip import Clip
from core_models.data.crops import CropSpec, part_boxes
from core_models.data.datasets import make_item, prepare_clip
from core_models.ood import OODStats, Verdict, judge


@dataclass
class LoadedModel:
    """A model rebuilt from its checkpoint, with what the checkpoint says about it."""

    name: str
    model: nn.Module
    class_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)  # model, preset, data, protocol, settings
    ood: OODStats | None = None  # training-set statistics of the features, when the checkpoint has them

    @property
    def attention_kinds(self) -> tuple[str, ...]:
        return tuple(getattr(self.model, "attention_kinds", ()))

    @property
    def trained_on(self) -> dict[str, Any]:
        """What the model learnt from: ``data`` (kind), ``protocol``, ``preset`` and ``classes``."""
        data = self.info.get("data") or {}
        return {
            "data": data.get("kind", "?"), "protocol": data.get("protocol", "?"),
            "preset": self.info.get("preset", "?"), "classes": list(self.class_names),
        }  # fmt: skip


def load_model(path: str | Path, name: str | None = None) -> LoadedModel:
    """Rebuild a model from a weights-only checkpoint (raises ``CheckpointError`` with the reason)."""
    ckpt = load_checkpoint(path)
    model = build_from_checkpoint(ckpt, path)
    info = {k: ckpt.get(k) for k in ("model", "preset", "layout", "data", "settings", "metrics")}
    names = list(ckpt.get("class_names") or [str(i) for i in range(int(ckpt["num_classes"]))])
    ood = OODStats.from_checkpoint(ckpt["ood"]) if isinstance(ckpt.get("ood"), dict) else None
    return LoadedModel(name or str(path), model, names, info, ood)


@dataclass
class Inspection:
    """One model's reading of one clip (numpy arrays, batch axis dropped)."""

    clip: str
    model: str
    class_names: list[str]
    label: int | None
    probs: np.ndarray  # (K,)
    attention: dict[str, Any]  # DESIGN §4 names; "segments" is {G: (G,)}
    streams: dict[str, np.ndarray]  # per-stream probabilities ("rgb", "pose") of fused models
    frame_index: np.ndarray | None  # (T_model,)
    skeleton_index: np.ndarray | None  # (Ts,)
    view_boxes: np.ndarray | None  # (T_clip, 4)
    part_boxes: np.ndarray | None  # (T_clip, P, 4)
    part_names: tuple[str, ...]
    seconds: float
    ood: Verdict | None = None  # how unlike the training data the clip looks (None: no statistics)
    trained_on: dict[str, Any] = field(default_factory=dict)  # see LoadedModel.trained_on
    logits: np.ndarray | None = None  # (K,) the fused scores
    stream_logits: dict[str, np.ndarray] = field(default_factory=dict)  # stream -> (K,)
    fusion: str | None = None  # how the streams make the logits: one of FUSION_RULES, or None
    segment_fields: dict[int, np.ndarray] = field(
        default_factory=dict
    )  # G -> what each segment's feature covers

    def fields(self, kind: str, n: int) -> np.ndarray | None:
        """The model's ``attention_fields`` for the segments it returned (``attention_scores``'
        ``fields`` argument); None (equal bins) for anything else."""
        return self.segment_fields.get(n) if kind == "segments" else None

    @property
    def outside(self) -> bool:
        """True when the clip looks like none of the classes the model knows."""
        return self.ood is not None and self.ood.outside

    @property
    def pred(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def confidence(self) -> float:
        return float(self.probs[self.pred])

    def top(self, k: int = 5) -> list[tuple[int, str, float]]:
        order = np.argsort(-self.probs)[:k]
        return [(int(i), self.class_names[i], float(self.probs[i])) for i in order]


# How a model may combine its streams' logits z_s (B, K) into its own; each gives fused logits
# whose softmax is the fused probability.
FUSION_RULES = {
    "sum of logits": lambda zs: sum(zs),  # a product of the streams' softmaxes, renormalised
    "mean of probabilities": lambda zs: torch.log(sum(torch.softmax(z, -1) for z in zs) / len(zs)),
    "mean of logits": lambda zs: sum(zs) / len(zs),
}


def stream_logits(out_logits: torch.Tensor, aux: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The per-stream class scores a model reports in ``aux``: every ``"<stream>_logits"`` entry
    shaped like the logits (B, K), by stream name (``rgb``, ``pose``, ``flow`` ...)."""
    return {
        key.removesuffix("_logits"): value
        for key, value in aux.items()
        if key.endswith("_logits") and torch.is_tensor(value) and value.shape == out_logits.shape
    }


def fusion_rule(logits: torch.Tensor, streams: dict[str, torch.Tensor], atol: float = 1e-4) -> str | None:
    """Which of :data:`FUSION_RULES` turns ``streams`` into ``logits`` (compared as probabilities),
    or None when there are fewer than two streams or none of the rules does."""
    if len(streams) < 2:
        return None
    probs = torch.softmax(logits.float(), -1)
    zs = [z.float() for z in streams.values()]
    for name, rule in FUSION_RULES.items():
        if torch.allclose(torch.softmax(rule(zs), -1), probs, atol=atol):
            return name
    return None


def check_fits(model: nn.Module, clip: Clip) -> None:
    """Raise ``ValueError`` saying what is missing when ``model`` cannot read ``clip``."""
    spec = model.input_spec
    name = type(model).__name__
    if spec.needs_video and clip.frames is None:
        raise ValueError(f"{name} reads RGB frames, but clip {clip.name} has no video")
    if spec.crops is not None and clip.joints2d is None:
        raise ValueError(f"{name} cuts body-part crops from 2D joints, but clip {clip.name} has none")
    if spec.skeleton_frames > 0:
        if clip.joints3d is None:
            raise ValueError(f"{name} reads 3D skeletons, but clip {clip.name} has no skeleton")
        want = getattr(model.config, "num_joints", clip.layout.num_joints)
        if want != clip.layout.num_joints:
            raise ValueError(
                f"{name} was trained on {want}-joint skeletons; clip {clip.name} has "
                f"{clip.layout.num_joints} joints ({clip.layout.name})"
            )


def view_boxes_of(model: nn.Module, clip: Clip) -> np.ndarray | None:
    """(T, 4) per clip frame, the pixel box of the square ``model`` reads (its RGB input's centre
    square, or the person crop of a model that reads the whole body's crop alone); None for a
    model without video or a clip without frames. A clip read without its video
    (``reader.load(ref, with_video=False)``) serves when its reader recorded the frame size
    (``meta["frame_size"]``) and it has 2D joints, one row per frame."""
    spec = model.input_spec
    if not spec.needs_video:
        return None
    if clip.frames is not None:
        T, H, W = clip.frames.shape[:3]
    elif clip.meta.get("frame_size") is not None and clip.joints2d is not None:
        (H, W), T = clip.meta["frame_size"], len(clip.joints2d)
    else:
        return None
    reads_rgb = "rgb" in getattr(model, "inputs", ()) or spec.flow_frames > 0
    if not reads_rgb and spec.crops is not None and spec.crops.parts == ("full_body",):
        if clip.joints2d is None:
            return None
        return part_boxes(clip.joints2d[:, 0], clip.layout, spec.crops, (H, W))[:, 0]
    side = min(H, W)
    x0, y0 = (W - side) / 2, (H - side) / 2
    return np.broadcast_to(np.array([x0, y0, x0 + side, y0 + side], np.float32), (T, 4)).copy()


def _part_boxes(model: nn.Module, clip: Clip) -> tuple[np.ndarray | None, tuple[str, ...]]:
    spec: CropSpec | None = model.input_spec.crops
    if spec is None or clip.joints2d is None or clip.frames is None:
        return None, ()
    H, W = clip.frames.shape[1:3]
    return part_boxes(clip.joints2d[:, 0], clip.layout, spec, (H, W)), tuple(spec.parts)


def _numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu().numpy()[0]
    if isinstance(value, dict):  # segments by granularity, non-local affinities by block
        return {
            (int(k) if isinstance(k, int) or str(k).isdigit() else k): _numpy(v) for k, v in value.items()
        }
    return value


@torch.no_grad()
def inspect_clip(loaded: LoadedModel, clip: Clip, *, prepared: Any = None) -> Inspection:
    """Run ``loaded`` on ``clip`` and return the prediction with every attention it produces.

    ``prepared``: ``prepare_clip(clip, model.input_spec)`` when the caller already made it.
    """
    model = loaded.model.eval()
    check_fits(model, clip)
    start = time.perf_counter()
    spec = model.input_spec
    item = make_item(prepared if prepared is not None else prepare_clip(clip, spec), spec, max(clip.label, 0))
    batch = {k: v.unsqueeze(0) for k, v in item.items()}
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    out = model(batch)
    probs = torch.softmax(out.logits.float(), dim=-1)[0].cpu().numpy()
    per_stream = stream_logits(out.logits, out.aux)
    fusion = fusion_rule(out.logits, per_stream)
    if len(per_stream) < 2:  # one extra head (e.g. Glimpse Clouds' global model) is not a fusion
        per_stream = {}
    streams = {s: torch.softmax(z.float(), dim=-1)[0].cpu().numpy() for s, z in per_stream.items()}
    attention = {k: _numpy(v) for k, v in out.attention.items()}
    verdict = None
    if loaded.ood is not None and out.features is not None:
        verdict = judge(
            loaded.ood, out.features[0].float().cpu().numpy(), out.logits[0].float().cpu().numpy()
        )
    seconds = time.perf_counter() - start
    boxes, parts = _part_boxes(model, clip)
    label = clip.label if 0 <= clip.label < len(loaded.class_names) else None
    return Inspection(
        clip=clip.name, model=loaded.name, class_names=loaded.class_names, label=label, probs=probs,
        attention=attention, streams=streams,
        frame_index=item["frame_index"].numpy() if "frame_index" in item else None,
        skeleton_index=item["skeleton_index"].numpy() if "skeleton_index" in item else None,
        view_boxes=view_boxes_of(model, clip), part_boxes=boxes, part_names=parts, seconds=seconds,
        ood=verdict, trained_on=loaded.trained_on,
        logits=out.logits.float()[0].cpu().numpy(), fusion=fusion,
        stream_logits={s: z.float()[0].cpu().numpy() for s, z in per_stream.items()},
        segment_fields=_segment_fields(model, attention),
    )  # fmt: skip


def _segment_fields(model: nn.Module, attention: dict[str, Any]) -> dict[int, np.ndarray]:
    fields = getattr(model, "attention_fields", None)
    if fields is None or "segments" not in attention:
        return {}
    out = {int(g): fields("segments", int(g)) for g in attention["segments"]}
    return {g: f for g, f in out.items() if f is not None}


# ---------------------------------------------------------------------------------------------
# what if the attention were elsewhere: one clip, the attention replaced


WHAT_IF_WORDS = {"parts": "part", "temporal": "time-step", "spatial": "map", "segments": "segment",
                 "granularity": "granularity", "glimpses": "glimpse", "grid": "warp",
                 "self": "self-attention", "nonlocal": "non-local"}  # fmt: skip


@torch.no_grad()
def what_if(loaded: LoadedModel, clip: Clip, *, prepared: Any = None) -> list[dict[str, Any]]:
    """The model's prediction on ``clip`` with its own attention and with it replaced, one row per
    replacement: every steerable attention uniform (``uniform_attention``: equal weights, an even
    grid of glimpses, the identity warp), and on clips with a ground truth the true attention at
    the model's resolution where a kind has one (``evaluate.truth_attention``, the model's own
    weights elsewhere); each kind alone as well when the model has several. This is the per-clip
    form of ``evaluate``'s interventions: a wrong clip that comes right with the true attention
    was lost by where the attention went; one that stays wrong, by what the features carry.

    Rows: ``attention`` (``"its own"``, ``"uniform"``, ``"ground truth"``), ``replaced`` (``"-"``,
    ``"all"``, ``"all with a ground truth"`` or a kind's weights), ``prediction``, ``confidence``,
    and, when the clip's class is one the model knows, ``true class`` (its probability) and
    ``right``. Empty for a model with no steerable attention.
    """
    from core_models.evaluate import _steerable, _truth_columns, spatial_truth_map, truth_attention
    from core_models.models.output import reuse_keys, steer_key, uniform_attention

    model = loaded.model.eval()
    names = tuple(getattr(model, "steerable", ()))
    if not names:
        return []
    check_fits(model, clip)
    spec = model.input_spec
    item = make_item(prepared if prepared is not None else prepare_clip(clip, spec), spec, max(clip.label, 0))
    device = next(model.parameters()).device
    batch = {k: v.unsqueeze(0).to(device) for k, v in item.items()}
    out = model(batch)
    captured = {n: _steerable(out, n).detach().float().cpu() for n in names}
    kinds: dict[str, list[str]] = {}
    for n in names:
        kinds.setdefault(n.split(":", 1)[0], []).append(n)

    def word(kind: str) -> str:
        return f"{WHAT_IF_WORDS.get(kind, kind)} weights"

    uniform = {n: uniform_attention(n, captured[n]) for n in names}
    plans: list[tuple[str, str, dict[str, torch.Tensor]]] = [
        ("its own", "-", {}),
        ("uniform", "all", uniform),
    ]
    if len(kinds) > 1:
        plans += [("uniform", word(k), {n: uniform[n] for n in ns}) for k, ns in kinds.items()]
    truth_cols = _truth_columns(batch, 1)
    if truth_cols is not None and clip.truth is not None:
        import pandas as pd

        maps = None
        if "spatial" in captured and "frame_index" in item:
            maps = spatial_truth_map(model, clip, item["frame_index"].numpy(), captured["spatial"].shape[1:])
        part_names = list(getattr(model.config, "parts", ()) or ())
        true = truth_attention(model, captured, pd.DataFrame(truth_cols), part_names,
                               None if maps is None else maps.reshape(1, -1))  # fmt: skip
        true_kinds = {k: [n for n in ns if n in true] for k, ns in kinds.items()}
        true_kinds = {k: ns for k, ns in true_kinds.items() if ns}
        if true:
            everything = "all" if set(true) == set(names) else "all with a ground truth"
            plans.append(("ground truth", everything, true))
            if len(true_kinds) > 1:
                plans += [("ground truth", word(k), {n: true[n] for n in ns}) for k, ns in true_kinds.items()]
    label = clip.label if 0 <= clip.label < len(loaded.class_names) else None
    rows = []
    trunk = reuse_keys(out)  # the other passes skip what no attention changes
    for attention, replaced, overrides in plans:
        steered = {steer_key(n): t.to(device) for n, t in overrides.items()}
        o = model({**batch, **trunk, **steered}) if steered else out
        probs = torch.softmax(o.logits.float(), dim=-1)[0].cpu().numpy()
        pred = int(np.argmax(probs))
        row = {"attention": attention, "replaced": replaced, "prediction": loaded.class_names[pred],
               "confidence": float(probs[pred])}  # fmt: skip
        if label is not None:
            row.update({"true class": float(probs[label]), "right": pred == label})
        rows.append(row)
    return rows
