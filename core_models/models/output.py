"""The model contract (DESIGN §4): every model returns logits plus named attention.

A model's ``forward(batch)`` takes the dict a :class:`~core_models.data.datasets.ClipDataset`
collates (``rgb`` (B, 3, T, S, S), ``crops`` (B, P, 3, T, C, C), ``skeleton`` (B, Ts, M, J, 3),
``joints2d`` (B, T, M, J, 2), ``label`` (B,)) and returns a :class:`ModelOutput`. Pages ask for a
kind of attention, never for a model class, so a new model shows up in every view that fits it.

Attention vocabulary (the only keys allowed in ``ModelOutput.attention``):

==============  ===========================================  =================================
name            shape                                        normalised
==============  ===========================================  =================================
parts           (B, P) or (B, T', P)                         sums to 1 over P
spatial         (B, H', W') or (B, T', H', W')               sums to 1 over H' x W'
temporal        (B, T')                                      sums to 1 over T'
segments        {G: (B, G)}                                  each sums to 1 over G
granularity     (B, n_G)                                     sums to 1 over n_G
glimpses        (B, T', N, 4)                                centre x, y and scale in [-1, 1]
assignment      (B, T', C, N)                                sums to 1 over N
self            (B, heads, T', T')                           rows sum to 1
grid            (B, H', W', 2)                               sampling grid in [-1, 1]
nonlocal        {block: (B, N, M)}                           rows sum to 1 over M
==============  ===========================================  =================================

Besides logits and attention, a model returns ``features`` (B, D): the vector its classifier
reads (the penultimate features; for fused models the streams' vectors side by side). The
out-of-distribution score (:mod:`core_models.ood`) measures how far they lie from the training
set's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

ATTENTION_KINDS = (
    "parts", "spatial", "temporal", "segments", "granularity", "glimpses", "assignment", "self", "grid",
    "nonlocal",
)  # fmt: skip

# kind -> (allowed ranks, axes that sum to one or None)
_RULES: dict[str, tuple[tuple[int, ...], tuple[int, ...] | None]] = {
    "parts": ((2, 3), (-1,)),
    "spatial": ((3, 4), (-2, -1)),
    "temporal": ((2,), (-1,)),
    "granularity": ((2,), (-1,)),
    "glimpses": ((4,), None),
    "assignment": ((4,), (-1,)),
    "self": ((4,), (-1,)),
    "grid": ((4,), None),
}


@dataclass
class ModelOutput:
    """What every model returns.

    Attributes:
        logits: (B, K) class scores (before softmax).
        attention: named attention maps from :data:`ATTENTION_KINDS` (``segments`` is a dict
            ``{G: (B, G)}``).
        aux: auxiliary outputs the losses need (per-part logits, pose predictions, ...).
        features: (B, D) what the classifier reads (see the module docstring), or None.
        reusable: at evaluation, the tensors of this batch that no attention override changes
            (the trunk's feature maps), by name; a second pass over the same batch with other
            attention may hand them back (:func:`reuse_keys`) and skip the trunk (:func:`reused`).
    """

    logits: torch.Tensor
    attention: dict[str, Any] = field(default_factory=dict)
    aux: dict[str, torch.Tensor] = field(default_factory=dict)
    features: torch.Tensor | None = None
    reusable: dict[str, torch.Tensor] = field(default_factory=dict)


def check_output(out: ModelOutput, batch_size: int, num_classes: int, *, atol: float = 1e-4) -> None:
    """Raise ``ValueError`` if an output breaks the contract (shapes, vocabulary, sums, NaN)."""
    if not isinstance(out, ModelOutput):
        raise ValueError(f"a model must return ModelOutput, got {type(out).__name__}")
    if tuple(out.logits.shape) != (batch_size, num_classes):
        raise ValueError(f"logits must be ({batch_size}, {num_classes}), got {tuple(out.logits.shape)}")
    if not torch.isfinite(out.logits).all():
        raise ValueError("logits hold NaN or inf")
    if out.features is not None:
        f = out.features
        if not isinstance(f, torch.Tensor) or f.dim() != 2 or f.shape[0] != batch_size:
            raise ValueError(f"features must be ({batch_size}, D), got {getattr(f, 'shape', type(f))}")
        if not torch.isfinite(f).all():
            raise ValueError("features hold NaN or inf")
    for kind, value in out.attention.items():
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention kind {kind!r}; the vocabulary is {ATTENTION_KINDS}")
        if kind == "segments":
            if not isinstance(value, dict) or not value:
                raise ValueError("segments must be a non-empty dict {G: (B, G)}")
            for g, seg in value.items():
                _check_tensor(f"segments[{g}]", seg, (2,), (-1,), batch_size, atol)
                if seg.shape[-1] != int(g):
                    raise ValueError(f"segments[{g}] must have {g} columns, got {tuple(seg.shape)}")
            continue
        if kind == "nonlocal":
            if not isinstance(value, dict) or not value:
                raise ValueError("nonlocal must be a non-empty dict {block: (B, N, M)}")
            for block, aff in value.items():
                _check_tensor(f"nonlocal[{block}]", aff, (3,), (-1,), batch_size, atol)
            continue
        ranks, sum_axes = _RULES[kind]
        _check_tensor(kind, value, ranks, sum_axes, batch_size, atol)
        if kind in ("glimpses", "grid") and (value.abs() > 1 + atol).any():
            raise ValueError(f"{kind} must lie in [-1, 1]")


def _check_tensor(name, value, ranks, sum_axes, batch_size, atol) -> None:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"attention {name} must be a tensor, got {type(value).__name__}")
    if value.dim() not in ranks or value.shape[0] != batch_size:
        raise ValueError(
            f"attention {name} must have rank {ranks} and batch {batch_size}, got {tuple(value.shape)}"
        )
    if not torch.isfinite(value).all():
        raise ValueError(f"attention {name} holds NaN or inf")
    if sum_axes is not None:
        sums = value.float().sum(dim=sum_axes)
        if not torch.allclose(sums, torch.ones_like(sums), atol=atol):
            raise ValueError(
                f"attention {name} must sum to 1 over axes {sum_axes}; sums range "
                f"{sums.min().item():.4f}..{sums.max().item():.4f}"
            )


# ---------------------------------------------------------------------------------------------
# steering attention from outside (the interventions of ``evaluate``)

STEER_PREFIX = "attention:"


def steer(batch: dict[str, Any], name: str, weights: torch.Tensor) -> torch.Tensor:
    """The attention a model goes on with: its own ``weights``, or the override in the batch.

    An evaluation that asks "does the prediction need this attention?" puts
    ``batch["attention:<name>"]`` (the same shape as the model's own weights) into the batch; the
    model then pools its features with those weights instead of its own, and reports them as its
    attention. Names are the attention kinds, with ``segments:G`` for one granularity and
    ``nonlocal:<block>`` for one non-local block. A model
    lists the names it honours in ``steerable``.
    """
    override = batch.get(STEER_PREFIX + name)
    if override is None:
        return weights
    if tuple(override.shape) != tuple(weights.shape):
        raise ValueError(
            f"the {name} attention override must have the model's shape {tuple(weights.shape)}, "
            f"got {tuple(override.shape)}"
        )
    return override.to(device=weights.device, dtype=weights.dtype)


def steer_key(name: str) -> str:
    return STEER_PREFIX + name


# Several passes over one batch that differ only in the attention (``evaluate``'s interventions,
# the what-if table, ``hands``) need the trunk once: a steerable model reports what the attention
# cannot change in ``ModelOutput.reusable``, and takes it back from ``batch["reuse:<name>"]``.
REUSE_PREFIX = "reuse:"


def reused(batch: dict[str, Any], name: str, compute):
    """``batch["reuse:<name>"]`` when a pass before this one left it there, else ``compute()``."""
    hit = batch.get(REUSE_PREFIX + name)
    return compute() if hit is None else hit


def reuse_keys(out: ModelOutput, device=None) -> dict[str, torch.Tensor]:
    """The batch entries that hand ``out``'s reusable tensors to another pass over its batch
    (detached; moved to ``device`` when given)."""
    return {REUSE_PREFIX + k: v.detach() if device is None else v.detach().to(device)
            for k, v in out.reusable.items()}  # fmt: skip


def true_attention(
    batch: dict[str, Any], name: str, like: torch.Tensor, part_names: Sequence[str] = ()
) -> torch.Tensor | None:
    """The ground-truth attention ``name`` shaped like ``like`` from the batch's own truth
    (``truth_interval``, ``truth_parts``: synthetic clips), or None when the batch has none.

    ``temporal`` and ``segments:G`` over equal consecutive bins of the clip: each bin by the
    share of it inside the truth interval, normalised (equal weights when none is); ``parts``
    over ``part_names``: equal weights on those that carry the action (on all when none does),
    the same at every step of per-step weights. ``evaluate.truth_attention`` scores a model against
    the same weights.
    """
    kind = name.split(":", 1)[0]
    if kind in ("temporal", "segments") and "truth_interval" in batch:
        n = like.shape[-1]
        iv = batch["truth_interval"].to(device=like.device, dtype=torch.float32)  # (B, 2)
        edges = torch.arange(n + 1, device=like.device, dtype=torch.float32) / n
        cover = (torch.minimum(edges[1:], iv[:, 1:2]) - torch.maximum(edges[:-1], iv[:, 0:1])).clamp_min(0)
    elif kind == "parts" and "truth_parts" in batch and part_names:
        from core_models.data.layouts import NTU25  # the layout of the truth (synthetic clips)

        index = torch.tensor([NTU25.part_names.index(p) for p in part_names], device=like.device)
        cover = batch["truth_parts"].to(like.device).index_select(1, index).float()  # (B, P)
    else:
        return None
    total = cover.sum(1, keepdim=True)
    w = torch.where(total > 0, cover / total.clamp_min(1e-12), torch.full_like(cover, 1.0 / cover.shape[1]))
    if w.dim() < like.dim():  # per-step part weights: the same parts at every step
        w = w[:, None].expand(-1, like.shape[1], -1)
    return w.to(like.dtype)


def attend_truth(
    batch: dict[str, Any],
    name: str,
    weights: torch.Tensor,
    kinds: Sequence[str],
    part_names: Sequence[str] = (),
) -> torch.Tensor:
    """``weights``, or the ground-truth attention (:func:`true_attention`) when ``name``'s kind is
    among ``kinds`` and the batch carries the truth: what a model configured with
    ``true_attention`` pools with, in training and evaluation alike. Its own weights for that kind
    then get no gradient; on a clip without a ground truth (real data, an upload) it uses them."""
    if name.split(":", 1)[0] not in kinds:
        return weights
    true = true_attention(batch, name, weights, part_names)
    return weights if true is None else true


def check_true_kinds(kinds: Sequence[str], allowed: Sequence[str], model: str) -> tuple[str, ...]:
    """``kinds`` as a tuple, or ValueError naming the kinds ``model`` can take the truth for."""
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    wrong = [k for k in kinds if k not in allowed]
    if wrong:
        raise ValueError(f"true_attention for {model} takes {list(allowed)}, got {wrong}")
    return kinds


def uniform_attention(name: str, like: torch.Tensor) -> torch.Tensor:
    """Uniform weights shaped like ``like`` for a steerable attention ``name``.

    Weights that sum to one over their last axis (or the last two for ``spatial``) become equal;
    glimpses (locations, not weights) become an even grid over the frame at their mean scale,
    the same for every clip and step; a spatial transformer's sampling grid (``grid``, (B, H, W, 2))
    becomes the identity, which reads the whole input as it is.
    """
    if name == "grid":
        b, h, w = like.shape[:3]
        eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=like.device).expand(b, 2, 3)
        return F.affine_grid(eye, [b, 1, h, w], align_corners=False).to(like.dtype)
    if name == "glimpses":  # (B, T', N, 4)
        n = like.shape[2]
        side = int(np.ceil(np.sqrt(n)))
        coords = (torch.arange(side, dtype=like.dtype) + 0.5) / side * 2 - 1  # cell centres in [-1, 1]
        gy, gx = torch.meshgrid(coords, coords, indexing="ij")
        centres = torch.stack([gx.flatten(), gy.flatten()], -1)[:n]  # (N, 2)
        out = like.clone()
        out[..., :2] = centres.to(like.device)
        out[..., 2:] = like[..., 2:].mean(dim=(0, 1, 2), keepdim=True)
        return out
    axes = (-2, -1) if name == "spatial" else (-1,)
    count = int(np.prod([like.shape[a] for a in axes]))
    return torch.full_like(like, 1.0 / count)
