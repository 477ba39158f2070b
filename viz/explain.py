"""Charts of the attribution page: shares side by side, attribution over the clip's frames, and
deletion / insertion curves. Arrays in, plotly figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.charts import SERIES_STYLES, add_frame_marker, legend_above

TRUTH_COLOUR = "rgba(46, 160, 67, 0.15)"
DIVERGING = "RdBu_r"  # signed attribution: blue against, white nothing, red for
OVERLAY_OPACITY = 0.6  # of the attribution over the model's input image
VIEW_TITLES = {"rgb": "input square", "full_body": "person crop"}


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
        margin={"t": 50, "b": 10},
    )  # fmt: skip
    return legend_above(fig)


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
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(values) != num_frames:
            raise ValueError(f"series {label!r} has {len(values)} values for {num_frames} frames")
        total = values.sum()
        style = SERIES_STYLES[i % len(SERIES_STYLES)]
        fig.add_trace(go.Scatter(
            x=x, y=values / total if total > 0 else values, name=label, mode="lines+markers",
            line={"dash": style["dash"], "width": style["width"], "color": _COLOURS[i % len(_COLOURS)]},
            marker={"symbol": style["symbol"], "size": 4 + style["width"]}, opacity=style["opacity"],
        ))  # fmt: skip
    if truth_interval is not None:
        start, end = truth_interval
        fig.add_vrect(x0=start - 0.5, x1=end - 0.5, fillcolor=TRUTH_COLOUR, line_width=0, layer="below",
                      annotation_text="ground truth", annotation_position="top left")  # fmt: skip
    fig.update_layout(
        title=title, xaxis_title="frame", yaxis_title="share per frame", margin={"t": 50, "b": 10}
    )
    return add_frame_marker(legend_above(fig), frame)


def curves_figure(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], title: str = ""
) -> go.Figure:
    """Deletion (solid) and insertion (dashed) curves, one pair per ordering.

    Orderings often coincide (the attribution and the attention rank the units alike): each
    ordering has its own colour, marker and line width (the first widest and translucent), so both
    stay visible when one lies on the other.

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
            style = SERIES_STYLES[i % len(SERIES_STYLES)]
            fig.add_trace(go.Scatter(
                x=fractions, y=values, mode="lines+markers", name=f"{kind}, {label} (AUC {auc:.2f})",
                line={"dash": dash, "color": _COLOURS[i % len(_COLOURS)], "width": style["width"]},
                marker={"symbol": style["symbol"], "size": 5 + style["width"]}, opacity=style["opacity"],
                legendgroup=label,
            ))  # fmt: skip
    fig.update_layout(
        title=title, xaxis_title="share of units removed (deletion) / restored (insertion)",
        yaxis_title="probability of the target class", yaxis_range=[0, 1.02], margin={"t": 50, "b": 10},
    )  # fmt: skip
    return legend_above(fig)


def input_attribution_figure(
    rows: Mapping[str, tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]], title: str = ""
) -> go.Figure:
    """Signed attributions laid over the images the model read: one row per explanation, one
    column per image (each part crop, the person crop or the input square).

    Red is evidence for the explained score, blue against it, white nothing, on one diverging
    scale centred on zero (:data:`DIVERGING`); each row is divided by its largest magnitude, so the
    scale runs from -1 to 1 in every row and the rows compare by where, not by how much.

    Args:
        rows: row title -> (views, maps): ``views`` image name -> uint8 (S, S, 3) the model's input
            at one time step, ``maps`` the same names -> (S, S) signed attribution. Every row has
            the same names.
        title: figure title.
    """
    if not rows:
        raise ValueError("need at least one row")
    names = list(next(iter(rows.values()))[1])
    for label, (views, maps) in rows.items():
        if list(maps) != names or any(n not in views for n in names):
            raise ValueError(f"row {label!r} has images {list(maps)}, expected {names} with their views")
        for n in names:
            if np.shape(maps[n]) != np.shape(views[n])[:2]:
                raise ValueError(
                    f"row {label!r}: map {n} is {np.shape(maps[n])}, its image {np.shape(views[n])}"
                )
    R, C = len(rows), len(names)
    titles = [_view_title(n) if r == 0 else "" for r in range(R) for n in names]
    fig = make_subplots(R, C, subplot_titles=titles, horizontal_spacing=0.03, vertical_spacing=0.06)
    for r, (views, maps) in enumerate(rows.values(), start=1):
        peak = max(float(np.abs(np.nan_to_num(maps[n])).max()) for n in names)
        for c, n in enumerate(names, start=1):
            z = np.nan_to_num(np.asarray(maps[n], dtype=np.float64)) / (peak if peak > 0 else 1.0)
            fig.add_trace(go.Image(z=np.asarray(views[n]), hoverinfo="skip"), r, c)
            fig.add_trace(go.Heatmap(
                z=z, coloraxis="coloraxis", opacity=OVERLAY_OPACITY, name=n,
                hovertemplate="x %{x}, y %{y}<br>attribution %{z:+.2f} of the row's largest<extra></extra>",
            ), r, c)  # fmt: skip
    for r, label in enumerate(rows, start=1):  # the row's explanation, left of its first image
        fig.update_yaxes(title={"text": label, "font": {"size": 13}}, row=r, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed",
                     scaleanchor="x", constrain="domain")  # fmt: skip
    fig.update_layout(
        title=title, margin={"t": 70, "b": 10, "l": 10, "r": 10}, height=60 + 230 * R,
        coloraxis={"colorscale": DIVERGING, "cmin": -1.0, "cmax": 1.0, "cmid": 0.0,
                   "colorbar": {"title": "for (+) / against (-)", "tickvals": [-1, 0, 1]}},
    )  # fmt: skip
    return fig


def _view_title(name: str) -> str:
    return VIEW_TITLES.get(name, name.replace("_", " ") + " crop")


def nearest_step(frame_index: np.ndarray | None, num_steps: int, frame: int, num_frames: int) -> int:
    """The model's sample (time step of its input) read nearest clip frame ``frame``."""
    if frame_index is None:
        frame_index = (np.arange(num_steps) + 0.5) * num_frames / num_steps
    return int(np.abs(np.asarray(frame_index, dtype=np.float64) - frame).argmin())


_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
