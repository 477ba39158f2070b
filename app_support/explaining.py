"""The attribution page's computations, cached per (checkpoint, clip, method, settings).

An explanation runs once per server process for a given checkpoint (and its mtime), clip and
settings (the latest 32 are kept); the page asks :func:`is_cached` to skip its Run button for one
already computed.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict

import numpy as np
import streamlit as st

from app_support import state
from app_support.models import ModelEntry
from app_support.sources import source_key
from core_models import explain as ex
from core_models.data.clip import Clip
from core_models.data.sampling import segment_bounds
from core_models.inspect import Inspection

# The methods in the page's order: the fast ones (one pass, or a few) run as soon as they are
# chosen; the slow ones wait for a button, their cost shown first.
PAGE_METHODS = ("grad_cam", "saliency", "segment_ablation", "integrated_gradients", "occlusion")
FAST = ("grad_cam", "saliency", "segment_ablation")
LABELS = {
    "grad_cam": "Grad-CAM (last conv layer)",
    "saliency": "Saliency (input gradients)",
    "segment_ablation": "Temporal segment ablation",
    "integrated_gradients": "Integrated Gradients (slow, on demand)",
    "occlusion": "Occlusion (slow, on demand)",
}


def questions(insp: Inspection) -> dict[str, str]:
    """What the page can explain for this inspection: key -> label.

    ``pred`` and ``label`` alone, and ``contrast``: why the prediction and not the ground truth
    (a wrong prediction) or not the runner-up (a right one, or no ground truth).
    """
    names = insp.class_names
    pred = names[insp.pred]
    out = {"pred": f"the prediction ({pred})"}
    if insp.label is not None:
        out["label"] = f"the ground truth ({names[insp.label]})"
    out["contrast"] = f"why {pred} and not {names[contrast_class(insp)]}"
    return out


def contrast_class(insp: Inspection) -> int:
    """The class a contrastive explanation sets against the prediction: the truth when the model is
    wrong, else the runner-up."""
    if insp.label is not None and insp.label != insp.pred:
        return int(insp.label)
    return int(np.argsort(-insp.probs, kind="stable")[1])


def runs(insp: Inspection, question: str, base: ex.ExplainSettings) -> list[ex.ExplainSettings]:
    """The explanations a question needs: one alone; for ``contrast`` the prediction alone, the
    other class alone, and the difference of their scores (last; :func:`ex.contrast_runs`)."""
    if question != "contrast":
        return [dataclasses.replace(base, target=question, versus=None)]
    return ex.contrast_runs(insp.pred, insp.label, base)


def explain_all(entry: ModelEntry, clip: Clip, runs: list[ex.ExplainSettings], bar) -> list[ex.Explanation]:
    """Every explanation of ``runs`` (cached), ``bar`` (an ``st.progress``) following them all."""
    out = []
    for k, settings in enumerate(runs):

        def progress(i: int, n: int, k: int = k) -> None:
            bar.progress((k + i / max(n, 1)) / len(runs))

        out.append(explanation(entry, clip, settings, progress=progress))
    return out


TRUTH_LABELS = {
    "parts_truth_share": "attribution on the true parts",
    "attention_parts_truth_share": "attention on the true parts",
    "interval_truth_share": "attribution in the true interval",
    "attention_interval_truth_share": "attention in the true interval",
    "interval_fraction": "uniform share in the interval",
}


def metrics(insp: Inspection, expl: ex.Explanation, clip: Clip) -> list[tuple[str, str]]:
    """``(label, value)`` of the rank agreements with the attention and the shares on the truth."""
    out = [(f"rank agreement, {kind}", f"{v:+.2f}") for kind, v in agreement(insp, expl).items()]
    for kind, v in truth_scores(clip, expl, insp).items():
        out.append((TRUTH_LABELS.get(kind, kind.replace("_", " ")), f"{v:.2f}"))
    return out


def input_rows(expls: list[ex.Explanation], frame: int, num_frames: int) -> dict[str, tuple[dict, dict]]:
    """For :func:`viz.explain.input_attribution_figure`: per explanation with maps, the model's
    input images and signed maps at the sample read nearest clip frame ``frame``."""
    from viz.explain import nearest_step

    rows = {}
    for e in expls:
        if not e.maps:
            continue
        first = next(iter(e.maps.values()))
        step = nearest_step(e.frame_index, len(first), frame, num_frames)
        rows[e.question] = ({k: v[step] for k, v in e.views.items()}, {k: m[step] for k, m in e.maps.items()})
    return rows


def _key(entry: ModelEntry, clip: Clip, settings: ex.ExplainSettings) -> tuple:
    return (str(entry.checkpoint), state._stamp(entry), source_key(state.clip_source()) + clip.name,
            dataclasses.astuple(settings))  # fmt: skip


@st.cache_data(show_spinner="Estimating the cost…", max_entries=256)
def _cost(key: tuple, _entry: ModelEntry, _clip: Clip, _settings: ex.ExplainSettings) -> ex.Cost:
    return ex.estimate_cost(state.loaded_model(_entry), _clip, _settings)


def cost(entry: ModelEntry, clip: Clip, settings: ex.ExplainSettings) -> ex.Cost:
    """What running ``settings`` costs (raises ``ValueError`` when the method does not apply)."""
    return _cost(_key(entry, clip, settings), entry, clip, settings)


def is_cached(entry: ModelEntry, clip: Clip, settings: ex.ExplainSettings) -> bool:
    return _key(entry, clip, settings) in _EXPLANATIONS


# Explanations by key, most recent last. Not st.cache_data: the progress bar is updated from
# inside the computation, and st.cache_data would record those updates and fail to replay them on
# a later page run (the bar is a new element then).
_EXPLANATIONS: OrderedDict[tuple, ex.Explanation] = OrderedDict()
_MAX_EXPLANATIONS = 32
_LOCK = threading.Lock()


def explanation(entry: ModelEntry, clip: Clip, settings: ex.ExplainSettings, progress=None) -> ex.Explanation:
    """The explanation of ``settings`` on ``clip``, computed once per process and key."""
    key = _key(entry, clip, settings)
    with _LOCK:
        if key in _EXPLANATIONS:
            _EXPLANATIONS.move_to_end(key)
            return _EXPLANATIONS[key]
    out = ex.explain(state.loaded_model(entry), clip, settings, progress=progress)
    with _LOCK:
        _EXPLANATIONS[key] = out
        while len(_EXPLANATIONS) > _MAX_EXPLANATIONS:
            _EXPLANATIONS.popitem(last=False)
    return out


def pixel_boxes(insp: Inspection, expl: ex.Explanation) -> np.ndarray | None:
    """The frame boxes the explanation's pixel map lies in: the full-body crop of a part model,
    the model's input square otherwise."""
    if expl.parts_source == "crops" and insp.part_boxes is not None and "full_body" in insp.part_names:
        return insp.part_boxes[:, list(insp.part_names).index("full_body")]
    return insp.view_boxes


def temporal_attention(insp: Inspection, num_frames: int) -> np.ndarray | None:
    """The model's own attention over the clip's frames (T,), or None without temporal attention.

    ``temporal`` (T',) is spread over the frames each step covers; ``segments`` and
    ``granularity`` combine as sum over G of TG-att(G) times the TS-att of the frame's segment,
    shared among the segment's frames.
    """
    att = insp.attention
    if "temporal" in att:
        w = np.asarray(att["temporal"], dtype=np.float64).reshape(-1)
        steps = np.arange(num_frames) * len(w) // num_frames
        counts = np.bincount(steps, minlength=len(w)).clip(min=1)
        return w[steps] / counts[steps]
    if "segments" in att and "granularity" in att:
        out = np.zeros(num_frames)
        for g_weight, (G, beta) in zip(np.asarray(att["granularity"]).reshape(-1), att["segments"].items()):
            for (start, end), b in zip(segment_bounds(num_frames, int(G)), np.asarray(beta).reshape(-1)):
                out[start:end] += g_weight * b / max(end - start, 1)
        return out
    return None


def agreement(insp: Inspection, expl: ex.Explanation) -> dict[str, float]:
    return ex.agreement(insp, expl)


def truth_scores(clip: Clip, expl: ex.Explanation, insp: Inspection) -> dict[str, float]:
    return ex.truth_scores(clip, expl, insp)


def _attention_order(insp: Inspection, expl: ex.Explanation, clip: Clip, over: str) -> np.ndarray | None:
    if over == "parts" and "parts" in insp.attention and list(insp.part_names) == list(expl.parts):
        w = np.asarray(insp.attention["parts"])
        return np.argsort(-(w.mean(axis=0) if w.ndim == 2 else w), kind="stable")
    if over == "segments":
        per_frame = temporal_attention(insp, clip.num_frames)
        if per_frame is not None:
            bounds = segment_bounds(clip.num_frames, len(expl.segments))
            return np.argsort(-np.array([per_frame[s:e].sum() for s, e in bounds]), kind="stable")
    return None


@st.cache_data(show_spinner="Deleting and inserting…", max_entries=128)
def _curves(key: tuple, over: str, _entry, _clip, _expl, _insp) -> dict[str, tuple]:
    loaded = state.loaded_model(_entry)
    if over == "parts" and not _expl.parts:
        raise ValueError("This model reads no body parts (no skeleton, no part crops) to remove.")
    orders = {"by attribution": ex.importance_order(_expl, over)}
    by_att = _attention_order(_insp, _expl, _clip, over)
    if by_att is not None:
        orders["by attention"] = by_att
    out = {}
    for label, order in orders.items():
        c = ex.deletion_insertion(loaded, _clip, order, over, _expl.target)
        out[label] = (c.fractions, c.deletion, c.insertion)
    return out


def curves(entry, clip, settings, expl, insp, over: str) -> dict[str, tuple]:
    """Deletion / insertion curves over ``over`` ("parts" or "segments"), ordered by the
    attribution and, where the model has it, by its own attention."""
    return _curves(_key(entry, clip, settings), over, entry, clip, expl, insp)
