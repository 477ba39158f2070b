"""Confusion matrices and failure tables for comparing models: arrays and tables in, tables or
``plotly.graph_objects.Figure`` out (no streamlit, no I/O).

Vocabulary: ``k`` classes; a confusion matrix is (K, K) with rows = truth and columns = prediction.
A predictions table is the per-clip evaluation table (``app_support.models.predictions``): one row
per clip with ``clip, label, label_name, pred, pred_name, correct, confidence, prob_true, subject,
view, ...``.

    counts (K, K) --normalise--> rates --class_order/subset--> shown --confusion_figure--> Figure
    two rates ----------------difference (b - a)-------------> diverging Figure
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

SEQUENTIAL = "Blues"  # rates and counts: 0 is white
DIVERGING = "RdBu"  # differences: red where the second model does less, blue where it does more
SELECTED = "orange"  # the clicked cell
ORDERS = ("index", "name", "accuracy", "cluster")
NORMALISATIONS = ("true", "pred", "none")
ANNOTATE_MAX_CLASSES = 30  # above this, numbers in the cells are unreadable: hover only
CELL_PX = 30  # the height a matrix gives each class, so three-character values fit in a cell
CLIP_COLUMNS = [
    "clip",
    "label",
    "label_name",
    "pred",
    "pred_name",
    "confidence",
    "prob_true",
    "subject",
    "view",
]


# ---------------------------------------------------------------------------------------------- matrices


def _square(matrix: Any, name: str = "confusion") -> np.ndarray:
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square (K, K) matrix, got shape {m.shape}")
    return m


def normalise(confusion: Any, mode: str = "true") -> np.ndarray:
    """Rates from counts.

    Args:
        confusion: (K, K) counts, rows = truth, columns = prediction.
        mode: ``"true"`` divides each row by its clips (recall per class, the diagonal is the
            per-class accuracy); ``"pred"`` divides each column by its predictions (precision);
            ``"none"`` returns the counts as floats.

    Returns:
        float (K, K); a row (or column) with no clips stays 0.
    """
    m = _square(confusion)
    if mode == "none":
        return m.copy()
    if mode not in NORMALISATIONS:
        raise ValueError(f"mode must be one of {NORMALISATIONS}, got {mode!r}")
    axis = 1 if mode == "true" else 0
    total = m.sum(axis=axis, keepdims=True)
    return np.divide(m, total, out=np.zeros_like(m), where=total > 0)


def _cluster_order(similarity: np.ndarray) -> list[int]:
    """Average-linkage agglomeration on a (K, K) similarity; leaves ordered so that each merge
    joins the two clusters by their most similar ends. Ties go to the lowest indices."""
    k = similarity.shape[0]
    clusters: list[list[int]] = [[i] for i in range(k)]
    while len(clusters) > 1:
        best, pair = -np.inf, (0, 1)
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                s = similarity[np.ix_(clusters[a], clusters[b])].mean()
                if s > best + 1e-12:
                    best, pair = s, (a, b)
        a, b = pair
        left, right = clusters[a], clusters[b]
        # Four ways to join two sequences; keep the one whose touching ends are most similar.
        candidates = [left + right, left + right[::-1], left[::-1] + right, left[::-1] + right[::-1]]
        joins = [similarity[c[len(left) - 1], c[len(left)]] for c in candidates]
        merged = candidates[int(np.argmax(joins))]
        clusters = [c for i, c in enumerate(clusters) if i not in pair]
        clusters.insert(a, merged)
    return clusters[0]


def class_order(confusion: Any, class_names: Sequence[str], how: str = "index") -> list[int]:
    """An order of the classes for display.

    Args:
        confusion: (K, K) counts.
        class_names: K names.
        how: ``"index"`` (as trained), ``"name"`` (alphabetical), ``"accuracy"`` (worst class
            first) or ``"cluster"`` (classes that are mistaken for each other sit together:
            average-linkage on the symmetrised row-normalised confusion, diagonal ignored).

    Returns:
        A permutation of ``range(K)``; deterministic.
    """
    m = _square(confusion)
    k = m.shape[0]
    if len(class_names) != k:
        raise ValueError(f"expected {k} class names for a ({k}, {k}) matrix, got {len(class_names)}")
    if how == "index":
        return list(range(k))
    if how == "name":
        return sorted(range(k), key=lambda i: (str(class_names[i]).lower(), i))
    rates = normalise(m, "true")
    if how == "accuracy":
        return sorted(range(k), key=lambda i: (np.diag(rates)[i], i))
    if how == "cluster":
        sim = (rates + rates.T) / 2
        np.fill_diagonal(sim, 0.0)
        return _cluster_order(sim)
    raise ValueError(f"how must be one of {ORDERS}, got {how!r}")


def subset(matrix: Any, order_or_indices: Sequence[int]) -> np.ndarray:
    """Rows and columns ``order_or_indices`` of a (K, K) matrix, in that order: (N, N)."""
    m = _square(matrix, "matrix")
    idx = np.asarray(list(order_or_indices), dtype=int)
    return m[np.ix_(idx, idx)]


def difference(a_norm: Any, b_norm: Any) -> np.ndarray:
    """``b - a`` of two matrices of the same shape (positive on the diagonal: b is more accurate)."""
    a, b = _square(a_norm, "a_norm"), _square(b_norm, "b_norm")
    if a.shape != b.shape:
        raise ValueError(f"matrices differ in shape: {a.shape} vs {b.shape}")
    return b - a


def largest_changes(diff: Any, class_names: Sequence[str], n: int = 10) -> pd.DataFrame:
    """The ``n`` off-diagonal cells of a difference matrix that changed most (by absolute value).

    Returns:
        Columns ``truth, prediction, change``, largest ``|change|`` first; zero changes are left out.
    """
    d = _square(diff, "diff")
    rows = [(abs(d[i, j]), i, j) for i in range(len(d)) for j in range(len(d)) if i != j and d[i, j] != 0]
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    return pd.DataFrame(
        [(class_names[i], class_names[j], float(d[i, j])) for _, i, j in rows[:n]],
        columns=["truth", "prediction", "change"],
    )


def cell_text(matrix: Any, integer: bool = False, diverging: bool = False) -> list[list[str]]:
    """What each cell prints: at most four characters, so numbers never run into each other.

    Counts as integers; rates (0-1) as whole percentages (``"12"`` for 0.12, ``"<1"`` under 1%);
    differences as signed percentage points (``"+12"``, ``"-3"``). Zero cells stay empty.
    """
    m = np.asarray(matrix, dtype=float)

    def one(v: float) -> str:
        if v == 0:
            return ""
        if integer:
            return f"{v:.0f}"
        p = 100 * v
        if abs(p) < 1:
            return "<1" if not diverging else ("+<1" if p > 0 else "-<1")
        return f"{p:+.0f}" if diverging else f"{p:.0f}"

    return [[one(v) for v in row] for row in m]


def label_width(class_names: Sequence[str]) -> int:
    """Pixels the longest class name takes on an axis at 11 px (about 6 px a character)."""
    return 6 * max((len(str(c)) for c in class_names), default=0) + 12


def confusion_figure(
    matrix: Any,
    class_names: Sequence[str],
    title: str,
    diverging: bool = False,
    *,
    class_ids: Sequence[int] | None = None,
    annotate: bool = True,
    scale: bool = True,
) -> go.Figure:
    """A confusion (or difference) matrix as a figure: truth on y (top to bottom), prediction on x.

    Trace 0 is the coloured heatmap with the values written in the cells (see :func:`cell_text`;
    up to ``ANNOTATE_MAX_CLASSES`` classes and when ``annotate``); trace 1 is one invisible
    marker per cell that carries the hover text and can be clicked (heatmaps emit no point
    selections), with ``customdata = (true class id, predicted class id, value)``. Class names
    are written in full on both axes; the figure grows with the classes and the longest name,
    so cells keep their size.

    Args:
        matrix: (N, N) values, rows/columns in the order of ``class_names``; rates in [0, 1],
            counts, or differences of rates in [-1, 1].
        class_names: N names (unique).
        title: the figure title.
        diverging: a red-white-blue scale centred on 0 (for differences).
        class_ids: the original class index of each row (default ``range(N)``), for ``customdata``.
        annotate: write the values in the cells.
        scale: draw the colour scale (a grid of matrices leaves it out: the cells carry numbers,
            and the width goes to the cells).
    """
    m = _square(matrix, "matrix")
    n = m.shape[0]
    names = [str(c) for c in class_names]
    if len(names) != n:
        raise ValueError(f"expected {n} class names for a ({n}, {n}) matrix, got {len(names)}")
    ids = list(class_ids) if class_ids is not None else list(range(n))
    integer = bool(np.all(m == np.round(m))) and not diverging and m.max(initial=0) > 1
    heat = dict(z=m, x=names, y=names, colorscale=DIVERGING if diverging else SEQUENTIAL, hoverinfo="skip",
                showscale=scale)  # fmt: skip
    if diverging:
        bound = float(np.abs(m).max(initial=0)) or 1.0
        heat.update(zmid=0, zmin=-bound, zmax=bound)
    else:
        heat.update(zmin=0)
    if annotate and n <= ANNOTATE_MAX_CLASSES:
        heat.update(text=cell_text(m, integer, diverging), texttemplate="%{text}", textfont={"size": 10})
    fig = go.Figure(go.Heatmap(**heat))
    ti, pi = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")  # (N, N) row and column of each cell
    value_fmt = ".0f" if integer else "+.3f" if diverging else ".3f"
    fig.add_trace(
        go.Scatter(
            x=[names[j] for j in pi.ravel()],
            y=[names[i] for i in ti.ravel()],
            mode="markers",
            marker={"symbol": "square", "size": max(6, 360 // max(n, 1)), "opacity": 0},
            selected={"marker": {"opacity": 0.45, "color": SELECTED}},  # the clicked cell lights up
            unselected={"marker": {"opacity": 0}},
            customdata=[[ids[i], ids[j], m[i, j]] for i, j in zip(ti.ravel(), pi.ravel())],
            hovertemplate=f"truth: %{{y}}<br>prediction: %{{x}}<br>value: %{{customdata[2]:{value_fmt}}}"
            "<extra></extra>",
            showlegend=False,
        )
    )  # fmt: skip
    labels = label_width(names)
    cells = CELL_PX * n
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=min(cells + labels + 80, 1600),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        clickmode="event+select",
        dragmode=False,
    )
    axis = dict(type="category", categoryorder="array", categoryarray=names, showgrid=False,
                automargin=True, tickfont={"size": 11})  # fmt: skip
    fig.update_xaxes(
        title="prediction", tickangle=-90, range=[-0.5, n - 0.5], **axis
    )  # -45 widens the margin
    fig.update_yaxes(title="truth", range=[n - 0.5, -0.5], **axis)
    fig.update_traces(colorbar={"thickness": 10, "len": 0.8}, selector={"type": "heatmap"})
    return fig


def confusion_grid(
    matrices: Mapping[str, Any],
    class_names: Sequence[str],
    *,
    class_ids: Sequence[int] | None = None,
    per_row: int = 2,
) -> go.Figure:
    """One confusion matrix per model in one figure, ``per_row`` to a row, sharing their axes: the
    class names once per row (truth) and once per column (prediction), in full.

    The same traces as :func:`confusion_figure` per matrix (a heatmap with its values written in
    the cells, then clickable invisible markers), with ``customdata = (true class id, predicted
    class id, value, model index)``; one colour scale for all, 0 to the largest value.

    Args:
        matrices: model name -> (N, N) rates or counts, in the order of ``class_names``.
        class_names: N names.
        class_ids: the original class index of each row (default ``range(N)``).
        per_row: matrices side by side.
    """
    from plotly.subplots import make_subplots

    names = [str(c) for c in class_names]
    mats = {k: _square(v, k) for k, v in matrices.items()}
    n = len(names)
    if any(m.shape != (n, n) for m in mats.values()):
        raise ValueError(f"every matrix must be ({n}, {n}) for {n} class names")
    ids = list(class_ids) if class_ids is not None else list(range(n))
    cols = max(1, min(per_row, len(mats)))
    rows = -(-len(mats) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(mats), shared_xaxes=True, shared_yaxes=True,
                        horizontal_spacing=0.03, vertical_spacing=min(0.3 / rows, 0.08))  # fmt: skip
    top = max((float(m.max(initial=0)) for m in mats.values()), default=1.0) or 1.0
    ti, pi = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")  # (N, N) row and column of each cell
    for k, (model, m) in enumerate(mats.items()):
        row, col = k // cols + 1, k % cols + 1
        integer = bool(np.all(m == np.round(m))) and m.max(initial=0) > 1
        text = cell_text(m, integer) if n <= ANNOTATE_MAX_CLASSES else None
        heat = go.Heatmap(z=m, x=names, y=names, colorscale=SEQUENTIAL, zmin=0, zmax=top, showscale=False,
                          hoverinfo="skip", text=text, texttemplate="%{text}" if text else None,
                          textfont={"size": 10})  # fmt: skip
        fig.add_trace(heat, row=row, col=col)
        fmt = ".0f" if integer else ".3f"
        fig.add_trace(go.Scatter(
            x=[names[j] for j in pi.ravel()], y=[names[i] for i in ti.ravel()], mode="markers",
            marker={"symbol": "square", "size": max(6, 300 // max(n, 1)), "opacity": 0},
            selected={"marker": {"opacity": 0.45, "color": SELECTED}}, unselected={"marker": {"opacity": 0}},
            customdata=[[ids[i], ids[j], m[i, j], k] for i, j in zip(ti.ravel(), pi.ravel())],
            hovertemplate=f"{model}<br>truth: %{{y}}<br>prediction: %{{x}}<br>value: %{{customdata[2]:{fmt}}}"
            "<extra></extra>", showlegend=False,
        ), row=row, col=col)  # fmt: skip
    axis = dict(type="category", categoryorder="array", categoryarray=names, showgrid=False,
                tickfont={"size": 11})  # fmt: skip
    fig.update_xaxes(tickangle=-90, range=[-0.5, n - 0.5], automargin=True, **axis)
    fig.update_yaxes(range=[n - 0.5, -0.5], automargin=True, **axis)
    for c in range(1, cols + 1):
        fig.update_xaxes(title_text="prediction", row=rows, col=c)
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="truth", row=r, col=1)
    fig.update_annotations(font={"size": 13})  # the subplot titles
    height = min(rows * (CELL_PX * n + 40) + label_width(names) + 60, 4000)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, clickmode="event+select",
                      dragmode=False)  # fmt: skip
    return fig


def grouped_bars(frame: pd.DataFrame, title: str, y_title: str = "accuracy") -> go.Figure:
    """One bar group per row of ``frame`` (its index on x), one bar per column (a model)."""
    fig = go.Figure(
        [go.Bar(name=str(col), x=[str(i) for i in frame.index], y=frame[col]) for col in frame.columns]
    )
    fig.update_layout(title=title, barmode="group", yaxis_title=y_title, margin={"t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.35})  # fmt: skip
    if y_title == "accuracy":
        fig.update_yaxes(range=[0, 1])
    return fig


# ---------------------------------------------------------------------------------------------- tables


def confusion_from_table(table: pd.DataFrame, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts from a predictions table (so a filtered table gives its own matrix)."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    if len(table):
        labels, preds = table["label"].to_numpy(int), table["pred"].to_numpy(int)
        if labels.max() >= num_classes or preds.max() >= num_classes or min(labels.min(), preds.min()) < 0:
            raise ValueError(f"labels and predictions must lie in [0, {num_classes})")
        np.add.at(counts, (labels, preds), 1)
    return counts


def _clip_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in CLIP_COLUMNS if c in table.columns]


def cell_clips(table: pd.DataFrame, true_label: int, pred_label: int) -> pd.DataFrame:
    """The clips of class ``true_label`` predicted as ``pred_label``, most confident first."""
    rows = table[(table["label"] == true_label) & (table["pred"] == pred_label)]
    return (
        rows[_clip_columns(table)]
        .sort_values(["confidence", "clip"], ascending=[False, True])
        .reset_index(drop=True)
    )


def summary_frame(metrics_by_model: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per model: its test split, clips, top-1, top-5, mean class accuracy, and its
    weakest and strongest class (columns ``model, split, clips, top-1, top-5, mean class,
    weakest class, strongest class``), in the order given."""
    rows = []
    for name, m in metrics_by_model.items():
        per_class = m.get("per_class") or {}
        ranked = sorted(per_class, key=lambda c: (per_class[c], c))
        rows.append({
            "model": name,
            "split": f"{m.get('data', '?')} {str(m.get('protocol', '?')).upper()}",
            "clips": int(m.get("clips", 0)),
            "top-1": float(m.get("top1", np.nan)),
            "top-5": float(m.get("top5", np.nan)),
            "mean class": float(m.get("mean_class_accuracy", np.nan)),
            "weakest class": f"{ranked[0]} ({per_class[ranked[0]]:.2f})" if ranked else "",
            "strongest class": f"{ranked[-1]} ({per_class[ranked[-1]]:.2f})" if ranked else "",
        })  # fmt: skip
    return pd.DataFrame(rows)


def per_class_frame(metrics_by_model: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Per-class accuracy: one row per class (in the first model's class order, then any others),
    one column per model; NaN where a model has no such class."""
    classes: list[str] = []
    for m in metrics_by_model.values():
        classes += [c for c in m.get("class_names", list(m["per_class"])) if c not in classes]
    frame = pd.DataFrame(
        {name: [m["per_class"].get(c, np.nan) for c in classes] for name, m in metrics_by_model.items()},
        index=pd.Index(classes, name="class"),
    )
    return frame


def _group_key(value: Any) -> tuple:
    s = str(value)
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


def per_group_frame(tables_by_model: Mapping[str, pd.DataFrame], column: str = "view") -> pd.DataFrame:
    """Accuracy per value of ``column`` (``"view"`` or ``"subject"``): one row per value (numeric
    order), one column per model; NaN where a model's test set has no such clips."""
    series = {name: t.groupby(t[column].astype(str))["correct"].mean() for name, t in tables_by_model.items()}
    frame = pd.DataFrame(series)
    frame = frame.loc[sorted(frame.index, key=_group_key)]
    frame.index.name = column
    return frame


def flipped_clips(
    table_a: pd.DataFrame, table_b: pd.DataFrame, names: Sequence[str] = ("a", "b")
) -> pd.DataFrame:
    """Clips in both tables that one model gets right and the other wrong.

    Returns:
        Columns ``clip, label, label_name, subject, view, pred_a, pred_name_a, confidence_a,
        pred_b, pred_name_b, confidence_b, right`` (``right`` is ``names[0]`` or ``names[1]``), the
        clips where the second model went wrong first, then by confidence of the wrong prediction.
    """
    keep = ["clip", "label", "pred", "pred_name", "confidence", "correct"]
    both = table_a[keep + [c for c in ("label_name", "subject", "view") if c in table_a]].merge(
        table_b[keep], on=["clip", "label"], suffixes=("_a", "_b")
    )
    flips = both[both["correct_a"] != both["correct_b"]].copy()
    flips["right"] = np.where(flips["correct_a"], names[0], names[1])
    flips["wrong_confidence"] = np.where(flips["correct_a"], flips["confidence_b"], flips["confidence_a"])
    flips = flips.sort_values(["correct_b", "wrong_confidence", "clip"], ascending=[True, False, True])
    cols = ["clip", "label", "label_name", "subject", "view", "pred_a", "pred_name_a", "confidence_a",
            "pred_b", "pred_name_b", "confidence_b", "right"]  # fmt: skip
    return flips[[c for c in cols if c in flips]].reset_index(drop=True)


def flips_table(table_a: pd.DataFrame, table_b: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """:func:`flipped_clips` for display: the predictions and confidences named after the models
    (``"<a> prediction"``...), the right model in ``right model``, no class indices."""
    flips = flipped_clips(table_a, table_b, names=(a, b))
    names = {f"{k}_{side}": f"{model} {what}" for side, model in (("a", a), ("b", b))
             for k, what in (("pred_name", "prediction"), ("confidence", "confidence"))}  # fmt: skip
    names["right"] = "right model"
    return flips.drop(columns=["label", "pred_a", "pred_b"]).rename(columns=names)


def _matches(series: pd.Series, value: Any) -> pd.Series:
    """``series == value`` where value may be one value or several, compared as text (views and
    subjects are stored as text, widgets may hand ints)."""
    values = (
        [value] if isinstance(value, (str, int, np.integer)) or not isinstance(value, Iterable) else value
    )
    return series.astype(str).isin([str(v) for v in values])


def failures(
    table: pd.DataFrame,
    label: int | Iterable[int] | None = None,
    view: str | int | Iterable | None = None,
    subject: str | int | Iterable | None = None,
    order: str = "confidence",
) -> pd.DataFrame:
    """The misclassified clips, filtered and sorted.

    Args:
        table: a predictions table.
        label, view, subject: keep only these true classes / views / subjects (one value or
            several; None keeps all).
        order: ``"confidence"`` (most confident mistakes first) or ``"prob_true"`` (the truth
            given the least probability first).
    """
    if order not in ("confidence", "prob_true"):
        raise ValueError(f"order must be 'confidence' or 'prob_true', got {order!r}")
    keep = ~table["correct"].astype(bool)
    for column, value in (("label", label), ("view", view), ("subject", subject)):
        if value is not None:
            keep &= _matches(table[column], value)
    rows = table.loc[keep, _clip_columns(table)]
    ascending = order == "prob_true"
    return rows.sort_values([order, "clip"], ascending=[ascending, True]).reset_index(drop=True)


def top_confusions(table: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The most frequent (truth, prediction) mistakes: columns ``truth, prediction, clips``."""
    wrong = table[~table["correct"].astype(bool)]
    counts = wrong.groupby(["label_name", "pred_name"]).size().reset_index(name="clips")
    counts = counts.rename(columns={"label_name": "truth", "pred_name": "prediction"})
    return (
        counts.sort_values(["clips", "truth", "prediction"], ascending=[False, True, True])
        .head(n)
        .reset_index(drop=True)
    )


def commonest_mistake(confusion: Any) -> tuple[int, int]:
    """(truth, prediction) of the largest off-diagonal cell (the first one on ties; (0, 0) when
    there are no mistakes)."""
    m = _square(confusion).copy()
    np.fill_diagonal(m, -1)
    if m.max() <= 0:
        return 0, 0
    i, j = np.unravel_index(int(np.argmax(m)), m.shape)
    return int(i), int(j)
