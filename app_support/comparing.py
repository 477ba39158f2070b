"""The compare page's data: evaluations read once per process, the default models, the chosen
confusion cell.

An evaluation (metrics and the per-clip predictions table) is cached per model directory and
its ``COMPLETE`` marker's time, so a re-evaluated run is read again. Cached tables are shared:
read them, never change them in place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app_support.models import ModelEntry, faithfulness_frame, metrics, predictions
from core_models.results import eval_dir
from viz import confusion as cf

MAX_EVALUATIONS = 12  # tables kept (about 1 MiB each): the compared models and the failures' one
CELL = ("compare_cell_model", "compare_true", "compare_pred")  # the session keys of the chosen cell


# per-clip arrays the compare and failures pages never read: left out of the cached tables
UNUSED_COLUMNS = ("probs", "top5", "parts", "truth_parts", "truth_interval")


@st.cache_resource(show_spinner=False, max_entries=MAX_EVALUATIONS)
def _evaluation(path: str, stamp: float, _entry: ModelEntry) -> tuple[dict, pd.DataFrame] | None:
    m, t = metrics(_entry), predictions(_entry)
    if m is None or t is None:
        return None
    return m, t.drop(columns=[c for c in UNUSED_COLUMNS if c in t.columns])


def _stamp(entry: ModelEntry) -> float | None:
    try:
        return (eval_dir(entry.path) / "COMPLETE").stat().st_mtime
    except OSError:
        return None


def evaluated(entries: list[ModelEntry]) -> list[ModelEntry]:
    """The entries with a finished test evaluation (its ``COMPLETE`` marker; nothing is read)."""
    return [e for e in entries if _stamp(e) is not None]


def evaluation(entry: ModelEntry) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """``(metrics, predictions)`` of a model's test evaluation, or None when it has none."""
    stamp = _stamp(entry)
    return None if stamp is None else _evaluation(str(entry.path), stamp, entry)


@st.cache_resource(show_spinner=False, max_entries=4 * MAX_EVALUATIONS)
def _top1_of(path: str, stamp: float, _entry: ModelEntry) -> float:
    return float((metrics(_entry) or {}).get("top1", 0.0))


@st.cache_data(show_spinner=False, max_entries=16, ttl=60)
def faithfulness(runs: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """:func:`app_support.models.faithfulness_frame` of ``(name, run dir)`` pairs, re-read each minute."""
    return faithfulness_frame(dict(runs))


# Figures are built once per content and shared (read-only: st.plotly_chart and the HTML export
# only read them): building the grid of four matrices takes 0.1-0.35 s, drawing a built one 13 ms.
MAX_FIGURES = 8


@st.cache_resource(show_spinner=False, max_entries=MAX_FIGURES)
def grid_figure(matrices: tuple[tuple[str, np.ndarray], ...], names: tuple[str, ...],
                ids: tuple[int, ...], per_row: int) -> go.Figure:  # fmt: skip
    """:func:`viz.confusion.confusion_grid` of ``(model, matrix)`` pairs, built once per content."""
    return cf.confusion_grid(dict(matrices), list(names), class_ids=list(ids), per_row=per_row)


@st.cache_resource(show_spinner=False, max_entries=MAX_FIGURES)
def difference_figure(
    diff: np.ndarray, names: tuple[str, ...], ids: tuple[int, ...], title: str
) -> go.Figure:
    """:func:`viz.confusion.confusion_figure` of a difference matrix, built once per content."""
    return cf.confusion_figure(diff, list(names), title, diverging=True, class_ids=list(ids))


def _top1(entry: ModelEntry) -> float:
    stamp = _stamp(entry)
    return 0.0 if stamp is None else _top1_of(str(entry.path), stamp, entry)


def default_models(entries: list[ModelEntry], first: str | None) -> list[str]:
    """The sidebar's model (``first``, when evaluated) and the most accurate other evaluated model
    trained on the same data and split; else the first two of the same split; else the first two."""
    names = [e.name for e in entries]
    lead = next((e for e in entries if e.name == first), None)
    if lead is not None:
        same = [e for e in entries if e is not lead and (e.data, e.protocol) == (lead.data, lead.protocol)]
        rest = sorted(same, key=_top1, reverse=True) or [e for e in entries if e is not lead]
        return [lead.name, *[e.name for e in rest[:1]]]
    for e in entries:
        same = [f.name for f in entries if (f.data, f.protocol) == (e.data, e.protocol)]
        if len(same) >= 2:
            return same[:2]
    return names[:2]


def default_cell(models: list[str], counts: dict) -> None:
    """Choose a cell when none of these models' is chosen: the first model's commonest mistake."""
    if st.session_state.get(CELL[0]) not in models:
        st.session_state[CELL[0]] = models[0]
    k = len(next(iter(counts.values())))
    if {st.session_state.get(key) for key in CELL[1:]} - set(range(k)):
        st.session_state[CELL[1]], st.session_state[CELL[2]] = cf.commonest_mistake(counts[models[0]])


def clicked_cell(event, models: list[str]) -> None:
    """Make a new click on a cell of the matrix grid the chosen cell (the selectboxes below);
    the cell's ``customdata`` is (truth, prediction, value, model index)."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if not points or len(points[0].get("customdata") or ()) < 4:
        return
    truth, pred, _, k = points[0]["customdata"][:4]
    if not 0 <= int(k) < len(models):
        return
    click = (models[int(k)], int(truth), int(pred))
    if st.session_state.get("_compare_last_click") != click:  # a stale selection must not undo the boxes
        st.session_state["_compare_last_click"] = click
        for key, value in zip(CELL, click):
            st.session_state[key] = value
