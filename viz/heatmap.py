"""Spatial attention maps on frames and the temporal attention curve (``spatial`` / ``temporal``).

Maps are shown relative to their own maximum: attention on a feature grid is a distribution, so its
absolute value shrinks with the grid size, and what a viewer compares is where the mass sits.
"""

from __future__ import annotations

import cv2
import numpy as np
import plotly.graph_objects as go

from viz.charts import PRED_COLOUR, TRUTH_COLOUR, UNIFORM_LINE, add_frame_marker, frame_steps, legend_above

HEATMAP_COLORMAP = cv2.COLORMAP_JET


def upsample_maps(maps: np.ndarray, size: tuple[int, int], num_frames: int) -> np.ndarray:
    """Bilinearly upsample attention maps to the frame size, one map per clip frame.

    Args:
        maps: (h, w) one map for the whole clip, or (T', h, w) one per feature step; frame ``t``
            shows step ``floor(t * T' / num_frames)``.
        size: (H, W) of the frames.
        num_frames: T.

    Returns:
        float32 (T, H, W), each map divided by its maximum (an all-zero map stays zero).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"maps must be (h, w) or (T', h, w), got {maps.shape}")
    H, W = size
    up = np.empty((len(maps), H, W), np.float32)
    for s, m in enumerate(maps):
        u = np.clip(cv2.resize(np.nan_to_num(m), (W, H), interpolation=cv2.INTER_LINEAR), 0, None)
        peak = float(u.max())
        up[s] = u / peak if peak > 0 else u
    return up[frame_steps(num_frames, len(up))]


def overlay_heatmap(frames: np.ndarray, maps: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a colormapped attention map onto each frame.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        maps: (T, H, W) in [0, 1] (from :func:`upsample_maps`).
        alpha: weight of the heatmap in the blend.

    Returns:
        uint8 (T, H, W, 3), a new array.
    """
    frames = np.asarray(frames)
    if maps.shape != frames.shape[:3]:
        raise ValueError(f"maps must be (T, H, W) = {frames.shape[:3]}, got {maps.shape}")
    levels = (np.clip(maps, 0, 1) * 255).round().astype(np.uint8)  # (T, H, W)
    out = np.empty_like(frames)
    for t in range(len(frames)):
        colour = cv2.applyColorMap(levels[t], HEATMAP_COLORMAP)[..., ::-1]  # BGR -> RGB
        out[t] = cv2.addWeighted(frames[t], 1 - alpha, np.ascontiguousarray(colour), alpha, 0)
    return out


def temporal_curve_figure(
    weights: np.ndarray,
    num_frames: int,
    frame: int | None = None,
    truth_interval: tuple[int, int] | None = None,
    name: str = "temporal attention",
) -> go.Figure:
    """Temporal attention as a step curve over the clip's frames.

    Each step is flat over the frames that show it (frame ``t`` covers ``[t, t + 1)`` on the x axis).
    The uniform weight ``1/T'`` is dashed, the ground-truth interval (frames ``start..end-1``) is a
    shaded band and ``frame`` a vertical marker.

    Args:
        weights: (T',) temporal attention.
        num_frames: T, frames of the clip.
        frame: the frame slider's frame, or ``None``.
        truth_interval: half-open ``(start, end)`` frames where the action happens, or ``None``.
        name: the curve's legend entry.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or len(weights) == 0:
        raise ValueError(f"weights must be (T',), got {weights.shape}")
    steps = frame_steps(num_frames, len(weights))  # (T,)
    y = weights[steps]
    fig = go.Figure()
    if truth_interval is not None:
        start, end = truth_interval
        fig.add_vrect(
            x0=start, x1=end, fillcolor=TRUTH_COLOUR, opacity=0.2, line_width=0, name="ground truth"
        )
        # A legend entry for the band (shapes have none).
        fig.add_scatter(
            x=[None], y=[None], mode="markers", name="ground-truth interval",
            marker={"color": TRUTH_COLOUR, "symbol": "square", "size": 12, "opacity": 0.4},
        )  # fmt: skip
    fig.add_scatter(
        x=np.arange(num_frames + 1),
        y=np.append(y, y[-1]),
        mode="lines",
        name=name,
        line={"shape": "hv", "color": PRED_COLOUR, "width": 2},
        customdata=np.append(steps, steps[-1]),
        hovertemplate="frame %{x}<br>step %{customdata}<br>weight %{y:.3f}<extra></extra>",
    )
    fig.add_hline(y=1 / len(weights), line=UNIFORM_LINE, annotation_text="uniform 1/T'")
    add_frame_marker(fig, frame)
    fig.update_layout(
        xaxis={"title": "frame", "range": [0, num_frames]},
        yaxis={"title": "weight", "rangemode": "tozero"},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return legend_above(fig)


def boxed_maps(maps: np.ndarray, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Attention maps stretched over the box each frame's model input covers (NaN outside it).

    A model's spatial map is laid over the square it read (a centred square, or a person-centred
    crop that moves with the person), not over the whole frame.

    Args:
        maps: (h, w) one map for the whole clip, or (T', h, w) one per feature step; frame ``t``
            shows step ``floor(t * T' / T)``.
        boxes: (T, 4) ``x0, y0, x1, y1`` pixels per clip frame (``Inspection.view_boxes``; a box
            may leave the frame, then only its visible part is kept).
        size: (H, W) of the frames.

    Returns:
        float32 (T, H, W): inside the box, the bilinearly upsampled map divided by its maximum over
        the box; NaN outside the box (and on frames whose box is not finite).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"maps must be (h, w) or (T', h, w), got {maps.shape}")
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (T, 4), got {boxes.shape}")
    T, (H, W) = len(boxes), size
    out = np.full((T, H, W), np.nan, np.float32)
    resized: dict[tuple[int, int, int], np.ndarray] = {}  # a fixed box repeats the same resize
    for t, (box, s) in enumerate(zip(boxes, frame_steps(T, len(maps)), strict=True)):
        if not np.isfinite(box).all():
            continue
        bx, by = int(round(box[0])), int(round(box[1]))
        bw, bh = max(1, int(round(box[2])) - bx), max(1, int(round(box[3])) - by)
        key = (int(s), bw, bh)
        if key not in resized:
            up = cv2.resize(np.nan_to_num(maps[s]), (bw, bh), interpolation=cv2.INTER_LINEAR)
            up = np.clip(up, 0, None)
            peak = float(up.max())
            resized[key] = up / peak if peak > 0 else up
        x0, y0, x1, y1 = max(bx, 0), max(by, 0), min(bx + bw, W), min(by + bh, H)
        if x1 > x0 and y1 > y0:
            out[t, y0:y1, x0:x1] = resized[key][y0 - by : y1 - by, x0 - bx : x1 - bx]
    return out


def overlay_boxed_heatmap(
    frames: np.ndarray, maps: np.ndarray, boxes: np.ndarray, *, alpha: float = 0.5, dim: float = 0.5
) -> np.ndarray:
    """Blend attention maps onto the box the model read in each frame; darken what it did not read.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        maps: (h, w) or (T', h, w) attention maps (see :func:`boxed_maps`).
        boxes: (T, 4) ``x0, y0, x1, y1`` pixel box of the model's input per frame.
        alpha: weight of the heatmap in the blend inside the box.
        dim: how much darker the pixels outside the box are (0 = unchanged, 1 = black).

    Returns:
        uint8 (T, H, W, 3), a new array.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(boxes) != len(frames):
        raise ValueError(f"need frames (T, H, W, 3) and boxes (T, 4), got {frames.shape}, {np.shape(boxes)}")
    placed = boxed_maps(maps, boxes, frames.shape[1:3])  # (T, H, W), NaN outside
    inside = np.isfinite(placed)[..., None]  # (T, H, W, 1)
    heat = overlay_heatmap(frames, np.nan_to_num(placed), alpha)
    dark = (frames.astype(np.float32) * (1.0 - dim)).round().astype(np.uint8)
    return np.where(inside, heat, dark)


def spatial_map_figure(attention_map: np.ndarray, title: str = "") -> go.Figure:
    """The raw attention map on its feature grid, each cell labelled with its weight.

    Row 0 is drawn at the top, as in the frame. Unlike the overlay, the values are not rescaled, so
    they sum to one over the grid.

    Args:
        attention_map: (h, w) one map (one feature step).
        title: figure title.
    """
    m = np.asarray(attention_map, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"attention_map must be (h, w), got {m.shape}")
    fig = go.Figure(
        go.Heatmap(
            z=m,
            zmin=0.0,
            colorscale="Jet",  # the colormap of the overlay (HEATMAP_COLORMAP)
            text=[[f"{v:.2f}" for v in row] for row in m],
            texttemplate="%{text}",
            hovertemplate="row %{y}, column %{x}<br>weight %{z:.3f}<extra></extra>",
            colorbar={"title": "weight"},
        )
    )
    h, w = m.shape
    fig.update_layout(
        title=title,
        xaxis={"title": "column", "dtick": 1, "range": [-0.5, w - 0.5], "constrain": "domain"},
        yaxis={
            "title": "row",
            "dtick": 1,
            "range": [h - 0.5, -0.5],  # reversed: row 0 on top
            "scaleanchor": "x",
            "constrain": "domain",
        },
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def interval_mass(weights: np.ndarray, num_frames: int, interval: tuple[int, int]) -> float:
    """Share of the temporal attention that falls on frames ``start..end-1``.

    Each step's weight is spread evenly over the frames that show it (:func:`frame_steps`), so a
    uniform attention gives ``(end - start) / num_frames``.

    Args:
        weights: (T',) temporal attention (sums to one).
        num_frames: T, frames of the clip.
        interval: half-open ``(start, end)`` frames.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or len(weights) == 0:
        raise ValueError(f"weights must be (T',), got {weights.shape}")
    steps = frame_steps(num_frames, len(weights))  # (T,)
    per_frame = weights[steps] / np.bincount(steps, minlength=len(weights))[steps]  # (T,)
    start, end = max(int(interval[0]), 0), min(int(interval[1]), num_frames)
    return float(per_frame[start:end].sum())
