"""The attribution page's computations, cached per (checkpoint, clip, method, settings).

An explanation runs once per server process for a given checkpoint (and its mtime), clip and
settings; the page asks :func:`is_cached` to skip its Run button for one already computed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from app_support import state
from app_support.models import ModelEntry
from app_support.sources import source_key
from core_models import explain as ex
from core_models.data.clip import Clip
from core_models.data.sampling import segment_bounds
from core_models.inspect import Inspection

_DONE: set[tuple] = set()  # keys of the explanations this process has computed


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
    return _key(entry, clip, settings) in _DONE


@st.cache_data(show_spinner=False, max_entries=64)
def _explanation(key: tuple, _entry: ModelEntry, _clip: Clip, _settings: ex.ExplainSettings, _progress=None):
    return ex.explain(state.loaded_model(_entry), _clip, _settings, progress=_progress)


def explanation(entry: ModelEntry, clip: Clip, settings: ex.ExplainSettings, progress=None) -> ex.Explanation:
    key = _key(entry, clip, settings)
    out = _explanation(key, entry, clip, settings, progress)
    _DONE.add(key)
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
