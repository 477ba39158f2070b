"""Charts of the attribution page: shares side by side, attribution over the clip's frames, and
deletion / insertion curves. Arrays in, plotly figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from viz.charts import add_frame_marker

TRUTH_COLOUR = "rgba(46, 160, 67, 0.15)"


def per_frame(values: np.ndarray, frame_index: np.ndarray | None, num_frames: int) -> np.ndarray:
    """Spread per-sample values over the clip's frames: frame ``t`` takes the sample read nearest it.

    Args:
        values: (N,) one value per model sample (an RGB frame sample or a skeleton step).
        frame_index: (N,) the clip frame each sample was read from, ascending; ``None`` spreads the
            samples evenly over the clip.
        num_frames: T.

    Returns:
        float64 (T,).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) == 0 or num_frames <= 0:
        raise ValueError(f"need values and num_frames > 0, got {values.shape} and {num_frames}")
    if frame_index is None:
        frame_index = (np.arange(len(values)) + 0.5) * num_frames / len(values)
    centres = np.asarray(frame_index, dtype=np.float64).reshape(-1)
    if len(centres) != len(values):
        raise ValueError(f"frame_index has {len(centres)} entries for {len(values)} values")
    nearest = np.abs(np.arange(num_frames)[:, None] - centres[None, :]).argmin(axis=1)
    return values[nearest]


def shares_figure(
    names: Sequence[str],
    series: Mapping[str, np.ndarray],
    truth: Sequence[str] | None = None,
    title: str = "",
) -> go.Figure:
    """Grouped bars: one group per name (a body part or a segment), one bar per series.

    Args:
        names: the groups, in order.
        series: label -> (len(names),) values, e.g. ``{"attribution": ..., "attention": ...}``.
        truth: names that carry the action (shaded), or None.
        title: figure title.
    """
    fig = go.Figure()
    for label, values in series.items():
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(values) != len(names):
            raise ValueError(f"series {label!r} has {len(values)} values for {len(names)} names")
        fig.add_trace(
            go.Bar(name=label, x=list(names), y=values, texttemplate="%{y:.2f}", textposition="outside")
        )
    for name in truth or ():
        if name in names:
            i = list(names).index(name)
            fig.add_vrect(x0=i - 0.5, x1=i + 0.5, fillcolor=TRUTH_COLOUR, line_width=0, layer="below")
    fig.update_layout(
        title=title + (" (shaded: ground truth)" if truth else ""), barmode="group", yaxis_title="share",
        margin={"t": 50, "b": 10}, legend={"orientation": "h", "y": 1.02, "x": 0},
    )  # fmt: skip
    return fig


def frames_figure(
    series: Mapping[str, np.ndarray], num_frames: int, frame: int | None = None,
    truth_interval: tuple[int, int] | None = None, title: str = "",
) -> go.Figure:  # fmt: skip
    """Per-frame curves over the clip (each normalised to sum to 1), a marker on ``frame``.

    Args:
        series: label -> (T,) values per clip frame (see :func:`per_frame`).
        num_frames: T.
        frame: the frame slider's frame, or None.
        truth_interval: the ground-truth discriminative frames ``(start, end)``, shaded.
        title: figure title.
    """
    fig = go.Figure()
    x = np.arange(num_frames)
    for label, values in series.items():
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(values) != num_frames:
            raise ValueError(f"series {label!r} has {len(values)} values for {num_frames} frames")
        total = values.sum()
        fig.add_trace(go.Scatter(x=x, y=values / total if total > 0 else values, name=label, mode="lines"))
    if truth_interval is not None:
        start, end = truth_interval
        fig.add_vrect(x0=start - 0.5, x1=end - 0.5, fillcolor=TRUTH_COLOUR, line_width=0, layer="below",
                      annotation_text="ground truth", annotation_position="top left")  # fmt: skip
    fig.update_layout(
        title=title, xaxis_title="frame", yaxis_title="share per frame", margin={"t": 50, "b": 10},
        legend={"orientation": "h", "y": 1.02, "x": 0},
    )  # fmt: skip
    return add_frame_marker(fig, frame)


def curves_figure(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], title: str = ""
) -> go.Figure:
    """Deletion (solid) and insertion (dashed) curves, one pair per ordering.

    Args:
        curves: ordering label (e.g. "by attribution") -> (fractions, deletion, insertion), each
            (n+1,): the share of units removed / added and the target's probability after it.
        title: figure title.
    """
    fig = go.Figure()
    for i, (label, (fractions, deletion, insertion)) in enumerate(curves.items()):
        fractions = np.asarray(fractions, dtype=np.float64)
        for kind, values, dash in (("deletion", deletion, "solid"), ("insertion", insertion, "dash")):
            values = np.asarray(values, dtype=np.float64)
            if values.shape != fractions.shape:
                raise ValueError(f"{label} {kind}: {values.shape} values for {fractions.shape} fractions")
            auc = float(np.trapezoid(values, fractions))
            fig.add_trace(go.Scatter(
                x=fractions, y=values, mode="lines+markers", name=f"{kind}, {label} (AUC {auc:.2f})",
                line={"dash": dash, "color": _COLOURS[i % len(_COLOURS)]}, legendgroup=label,
            ))  # fmt: skip
    fig.update_layout(
        title=title, xaxis_title="share of units removed (deletion) / restored (insertion)",
        yaxis_title="probability of the target class", yaxis_range=[0, 1.02], margin={"t": 50, "b": 10},
    )  # fmt: skip
    return fig


_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
