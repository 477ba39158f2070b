"""A gallery of clips (a confusion cell's, a run's failures): their tables and thumbnails.

Pure functions: tables and arrays in, tables and uint8 images out (no streamlit, no I/O). A
clips table is a predictions table (see :mod:`viz.confusion`), optionally with the run's notes
(``tag``, ``note``) merged in by :func:`with_notes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import pandas as pd

ORDERS = {
    "confidence": "Most confident first",
    "prob_true": "Truth least likely first",
    "clip": "By clip name",
}
TAGS = ("label noise", "occluded", "similar motion", "wrong object", "too short", "pose failure")
THUMB_WIDTH = 160
UNTAGGED = "(untagged)"
ANY_TAG = "(any tag)"


def with_notes(clips: pd.DataFrame, notes: pd.DataFrame) -> pd.DataFrame:
    """``clips`` with the columns ``tag`` and ``note`` ("" where a clip has none)."""
    keep = notes[["clip", "tag", "note"]] if len(notes) else pd.DataFrame(columns=["clip", "tag", "note"])
    out = clips.drop(columns=[c for c in ("tag", "note") if c in clips]).merge(keep, on="clip", how="left")
    out[["tag", "note"]] = out[["tag", "note"]].astype(object).fillna("").astype(str)
    return out


def _is(series: pd.Series, value: Any) -> pd.Series:
    return series.astype(str) == str(value)


# Why a mistake happened, from evaluate's pass with the ground-truth attention (``truth_pred``).
LOST_BY = {
    "attention": "where the attention went (right with the true attention)",
    "features": "what the features carry (wrong even with the true attention)",
}


def lost_by_sentence(wrong: pd.DataFrame) -> str | None:
    """How many of the mistakes ``wrong`` come right with the ground-truth attention and how many
    stay wrong, or None without ``truth_pred`` (a model without a ground truth to try, or an
    evaluation from before the pass)."""
    if "truth_pred" not in wrong or wrong["truth_pred"].isna().all() or not len(wrong):
        return None
    right = int(wrong["truth_pred"].eq(wrong["label"]).sum())
    return (
        f"With the ground-truth attention in place of its own, {right} of these {len(wrong)} mistakes "
        f"come right (lost by where the attention went) and {len(wrong) - right} stay wrong (lost by "
        "what the features carry)."
    )


def select_clips(
    clips: pd.DataFrame,
    *,
    truth: int | None = None,
    pred: int | None = None,
    view: Any = None,
    subject: Any = None,
    tag: str | None = None,
    order: str = "confidence",
    lost_by: str | None = None,
) -> pd.DataFrame:
    """The rows of ``clips`` that match every filter given (None: no filter), sorted.

    Args:
        truth, pred: class indices (``label`` / ``pred`` columns).
        view, subject: compared as text.
        tag: a tag, :data:`ANY_TAG` (any tagged clip) or :data:`UNTAGGED` (needs the ``tag``
            column, see :func:`with_notes`).
        order: a key of :data:`ORDERS`.
        lost_by: a key of :data:`LOST_BY`: ``"attention"`` keeps the clips the model gets right
            with the ground-truth attention (``truth_pred``, written by ``evaluate``), ``"features"``
            those it gets wrong even so; needs the ``truth_pred`` column.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {tuple(ORDERS)}, got {order!r}")
    keep = pd.Series(True, index=clips.index)
    for column, value in (("label", truth), ("pred", pred), ("view", view), ("subject", subject)):
        if value is not None:
            keep &= _is(clips[column], value)
    if tag is not None:
        tags = clips["tag"] if "tag" in clips else pd.Series("", index=clips.index)
        keep &= tags.ne("") if tag == ANY_TAG else tags.eq("") if tag == UNTAGGED else tags.eq(tag)
    if lost_by is not None:
        if lost_by not in LOST_BY or "truth_pred" not in clips:
            raise ValueError(f"lost_by must be one of {tuple(LOST_BY)} and needs a truth_pred column")
        right = clips["truth_pred"].eq(clips["label"])
        keep &= right if lost_by == "attention" else ~right & clips["truth_pred"].ge(0)
    rows = clips[keep]
    ascending = order != "confidence"
    return rows.sort_values(
        [order, "clip"] if order != "clip" else ["clip"], ascending=ascending
    ).reset_index(drop=True)


def page_of(rows: pd.DataFrame, page: int, per_page: int) -> pd.DataFrame:
    """Rows of page ``page`` (1-based; clamped to the pages there are)."""
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(int(page), 1), pages)
    return rows.iloc[(page - 1) * per_page : page * per_page]


def card_text(row: Any, class_names: Sequence[str] | None = None) -> tuple[str, str]:
    """The two lines under a thumbnail: ``truth → prediction`` and the numbers.

    ``row`` is one row of a clips table (a mapping with ``label_name``, ``pred_name``,
    ``confidence`` and, when present, ``prob_true``, ``subject``, ``view``).
    """
    truth, pred = str(row["label_name"]), str(row["pred_name"])
    head = truth if truth == pred else f"{truth} → {pred}"
    bits = [f"confidence {float(row['confidence']):.2f}"]
    if "prob_true" in row and truth != pred:
        bits.append(f"truth {float(row['prob_true']):.2f}")
    for column, prefix in (("subject", "P"), ("view", "C")):
        if column in row and str(row[column]).isdigit():
            bits.append(f"{prefix}{int(row[column]):03d}")
    return head, " · ".join(bits)


def thumbnail(frame: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """A frame shrunk (or enlarged) to ``width`` pixels wide, aspect kept: uint8 (h, width, 3)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"frame must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    h, w = frame.shape[:2]
    height = max(1, round(h * width / w))
    how = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(frame, (width, height), interpolation=how)


def blank(width: int = THUMB_WIDTH, height: int | None = None) -> np.ndarray:
    """A grey placeholder for a clip whose frames cannot be read here: uint8 (h, w, 3)."""
    return np.full((height or width * 3 // 4, width, 3), 200, np.uint8)
