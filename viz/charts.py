"""Prediction charts and the shared time axis of every attention view (arrays in, figures out).

Attention that changes over time comes per feature step (T' steps), while pages scroll through clip
frames (T frames). One rule maps them everywhere in ``viz``: frame ``t`` shows step
``floor(t * T' / T)`` (:func:`frame_steps`). On a figure's x axis frame ``t`` covers ``[t, t + 1)``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

PRED_COLOUR = "rgb(99, 110, 250)"
TRUTH_COLOUR = "rgb(0, 170, 90)"
MARKER_COLOUR = "rgb(220, 40, 40)"
UNIFORM_LINE = {"dash": "dash", "color": "grey", "width": 1}
MATRIX_SCALE = "Blues"  # attention matrices (query rows, key columns)
# Legends sit above the plot area, left-aligned, never on the axes or their titles.
LEGEND_ABOVE = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0}
# Series that may coincide (attribution and attention curves) each get their own dash, marker and
# width, widest first, so a later curve lying exactly on an earlier one leaves it visible around it.
SERIES_STYLES = (
    {"dash": "solid", "symbol": "circle", "width": 5, "opacity": 0.55},
    {"dash": "dash", "symbol": "x", "width": 2, "opacity": 1.0},
    {"dash": "dot", "symbol": "diamond", "width": 2, "opacity": 1.0},
    {"dash": "dashdot", "symbol": "triangle-up", "width": 1, "opacity": 1.0},
)


def frame_steps(num_frames: int, num_steps: int) -> np.ndarray:
    """int64 (num_frames,): the feature step each clip frame shows, ``floor(t * T' / T)``."""
    if num_frames <= 0 or num_steps <= 0:
        raise ValueError(f"need num_frames > 0 and num_steps > 0, got {num_frames}, {num_steps}")
    return np.arange(num_frames, dtype=np.int64) * num_steps // num_frames


def rgb(colour: tuple[int, int, int]) -> str:
    """A plotly colour string from an RGB triple."""
    return f"rgb({int(colour[0])}, {int(colour[1])}, {int(colour[2])})"


def add_frame_marker(fig: go.Figure, frame: int | None) -> go.Figure:
    """A vertical line at clip frame ``frame`` (the frame slider's position); no-op for ``None``."""
    if frame is not None:
        fig.add_vline(x=int(frame), line={"color": MARKER_COLOUR, "width": 2}, name="frame")
    return fig


def legend_above(fig: go.Figure) -> go.Figure:
    """Put the legend above the plot (:data:`LEGEND_ABOVE`), with top margin for it and the title."""
    top = 40 + (35 if fig.layout.title.text else 0)
    margin = fig.layout.margin
    fig.update_layout(
        legend=LEGEND_ABOVE, margin={"t": max(top, margin.t or 0)}, title={"y": 0.98, "yanchor": "top"}
    )
    return fig


def prediction_caption(truth: str | None, pred: str, confidence: float) -> str:
    """``"Groundtruth: <truth> - Prediction: <pred> (0.825)"``; an unknown truth reads ``unknown``."""
    return f"Groundtruth: {truth if truth is not None else 'unknown'} - Prediction: {pred} ({confidence:.3f})"


DATA_NAMES = {
    "synth": "the built-in synthetic dataset (rendered people in one room, NTU RGB+D format)",
    "ntu": "NTU RGB+D", "nucla": "Northwestern-UCLA", "smarthome": "Toyota Smarthome", "ucf101": "UCF-101",
}  # fmt: skip
PROTOCOL_NAMES = {"cs": "cross-subject", "cv": "cross-view", "cset": "cross-setup"}
OOD_SCORE_NAMES = {
    "mahalanobis": "Mahalanobis distance of its features to the training classes'",
    "knn": "distance of its features to the 5th nearest training clip's",
    "energy": "energy of its scores",
    "msp": "1 - its top probability",
}


def training_caption(trained_on: dict) -> str:
    """``"Trained on the built-in synthetic dataset (...), cross-subject: 14 classes (a, b, ...)."``"""
    data = DATA_NAMES.get(trained_on.get("data"), str(trained_on.get("data", "unknown data")))
    protocol = PROTOCOL_NAMES.get(trained_on.get("protocol"), trained_on.get("protocol") or "")
    classes = list(trained_on.get("classes", []))
    where = f"{data}, {protocol}" if protocol else data
    return f"Trained on {where}: {len(classes)} classes ({', '.join(classes)})."


def ood_sentence(score: str, value: float, threshold: float, outside: bool) -> str:
    """The out-of-distribution reading in words, with its number and threshold."""
    what = OOD_SCORE_NAMES.get(score, score)
    verdict = "above" if outside else "within"
    return (
        f"Out-of-distribution score {value:.3g} ({what}): {verdict} the threshold {threshold:.3g} that 95% "
        "of held-out clips of its training data stay under."
    )


def topk_figure(probs: np.ndarray, class_names: list[str], truth: int | None, k: int = 5) -> go.Figure:
    """Horizontal bars of the ``k`` most probable classes, the most probable at the top.

    The ground-truth class is its own trace, named ``"ground truth (rank r)"`` (rank 1-based), in a
    distinct colour; when it is outside the top ``k`` it is added as one more bar at the bottom.

    Args:
        probs: (K,) class probabilities.
        class_names: K names.
        truth: index of the true class, or ``None``.
        k: how many classes to show.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1 or len(probs) != len(class_names):
        raise ValueError(f"probs must be (K,) with K = {len(class_names)} names, got {probs.shape}")
    order = np.argsort(-probs, kind="stable")
    shown = [int(i) for i in order[: max(1, k)]]
    if truth is not None and truth not in shown:
        shown.append(int(truth))
    rank = int(np.flatnonzero(order == truth)[0]) + 1 if truth is not None else None

    fig = go.Figure()
    others = [i for i in shown if i != truth]
    fig.add_bar(
        x=probs[others],
        y=[class_names[i] for i in others],
        orientation="h",
        name="prediction",
        marker_color=PRED_COLOUR,
        text=[f"{probs[i]:.3f}" for i in others],
        textposition="auto",
    )
    if truth is not None:
        fig.add_bar(
            x=[probs[truth]],
            y=[class_names[truth]],
            orientation="h",
            name=f"ground truth (rank {rank})",
            marker_color=TRUTH_COLOUR,
            text=[f"{probs[truth]:.3f}"],
            textposition="auto",
        )
    fig.update_layout(
        barmode="overlay",
        xaxis={"range": [0, 1], "title": "probability"},
        yaxis={
            "categoryorder": "array",
            "categoryarray": [class_names[i] for i in shown],
            "autorange": "reversed",  # first category (most probable) at the top
        },
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        height=90 + 32 * len(shown),
    )
    return legend_above(fig)


def topk_rows(probs: np.ndarray, class_names: list[str], truth: int | None, k: int = 5) -> list[dict]:
    """The rows :func:`topk_figure` draws, as data: the ``k`` most probable classes, most probable
    first, then the true class when it is outside them.

    Returns:
        one dict per row: ``class`` (index), ``name``, ``prob``, ``rank`` (1-based), ``truth`` (bool).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1 or len(probs) != len(class_names):
        raise ValueError(f"probs must be (K,) with K = {len(class_names)} names, got {probs.shape}")
    order = [int(i) for i in np.argsort(-probs, kind="stable")]
    shown = order[: max(1, k)]
    if truth is not None and truth not in shown:
        shown.append(int(truth))
    return [{"class": i, "name": str(class_names[i]), "prob": float(probs[i]), "rank": order.index(i) + 1,
             "truth": i == truth} for i in shown]  # fmt: skip


def attention_matrix_figure(
    weights: np.ndarray, query: int | None = None, *, unit: str = "frame", frames: np.ndarray | None = None
) -> go.Figure:
    """A (T, S) attention matrix as a heatmap, query rows down the side, key columns across.

    Args:
        weights: (T, S), each row a query's weights over the keys.
        query: a row to outline, or None.
        unit: what a row and a column are ("frame", "step").
        frames: (S,) the clip frame of each key, shown on hover, or None.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f"weights must be (T, S), got {weights.shape}")
    hover = f"query {unit} %{{y}}<br>key {unit} %{{x}}"
    extra = {}
    if frames is not None:
        hover += " (frame %{customdata})"
        extra["customdata"] = np.broadcast_to(np.asarray(frames)[None, :], weights.shape)
    fig = go.Figure(
        go.Heatmap(z=weights, colorscale=MATRIX_SCALE, zmin=0.0,
                   hovertemplate=hover + "<br>weight %{z:.4f}<extra></extra>", **extra)
    )  # fmt: skip
    if query is not None:
        fig.add_shape(
            type="rect", x0=-0.5, x1=weights.shape[1] - 0.5, y0=query - 0.5, y1=query + 0.5,
            line={"color": "red", "width": 2},
        )  # fmt: skip
    fig.update_layout(
        xaxis={"title": f"key {unit}"},
        yaxis={"title": f"query {unit}", "autorange": "reversed", "scaleanchor": "x"},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=420,
    )
    return fig
