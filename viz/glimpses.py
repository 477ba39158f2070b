"""Glimpse Clouds: glimpses on frames, their paths, and their soft assignment to workers.

Glimpses come as (T', N, 4) = centre x, y and scales sx, sy in [-1, 1] coordinates (DESIGN
section 4) of the model's square input, which is only part of a clip frame (the centred square, or
a person crop). :func:`glimpses_in_frame` maps them through the inspection's view boxes into
[-1, 1] coordinates of the whole frame, which is what every other function here takes. Glimpse
``n`` keeps one colour of ``GLIMPSE_COLOURS`` on every view and is numbered from 1, as are workers.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from viz.charts import frame_steps, rgb

# Tableau 10, RGB: distinct hues for up to 10 glimpses (then they repeat).
GLIMPSE_COLOURS = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX
ASSIGNMENT_SCALE = "Blues"
VIEW_COLOUR = (255, 255, 255)
TABLE_COLUMNS = ("step", "frame", "glimpse", "x", "y", "width", "height")


def glimpse_colour(n: int) -> tuple[int, int, int]:
    """RGB colour of glimpse ``n`` (0-based index)."""
    return GLIMPSE_COLOURS[n % len(GLIMPSE_COLOURS)]


def _check(glimpses: np.ndarray) -> np.ndarray:
    glimpses = np.asarray(glimpses, dtype=np.float64)
    if glimpses.ndim != 3 or glimpses.shape[-1] != 4:
        raise ValueError(f"glimpses must be (T', N, 4) = cx, cy, sx, sy, got {glimpses.shape}")
    return glimpses


def person_share(
    glimpses: np.ndarray, joints2d: np.ndarray | None, view_boxes: np.ndarray, frame_index: np.ndarray
) -> dict[str, float] | None:
    """How much of one clip's glimpse area lies on the person's box, measured as ``evaluate``
    measures it (``attention_scores.glimpse_person_scores``, in the model's input square), with
    its baselines: ``uniform`` (the box's share of the square: glimpses placed at random) and
    ``best`` (the most glimpses of these sizes could have on it). None without 2D joints.

    Args:
        glimpses: (T', N, 4) centre x, y and scales relative to the input square.
        joints2d: (T, M, J, 2) pixel joints of the clip (NaN where missing), or None.
        view_boxes: (T, 4) per clip frame, the pixel box the input square covers.
        frame_index: (T',) the clip frame of each step.
    """
    from core_models.attention_scores import glimpse_person_scores

    if joints2d is None:
        return None
    frame_index = np.asarray(frame_index).reshape(-1)
    joints = np.asarray(joints2d, dtype=np.float64)[frame_index]  # (T', M, J, 2)
    x0, y0, x1, y1 = (
        np.asarray(view_boxes, dtype=np.float64)[frame_index][:, k, None, None] for k in range(4)
    )
    inside = np.stack(
        [2 * (joints[..., 0] - x0) / (x1 - x0) - 1, 2 * (joints[..., 1] - y0) / (y1 - y0) - 1], -1
    )
    return glimpse_person_scores(_check(glimpses), inside)


def glimpses_in_frame(
    glimpses: np.ndarray, view_boxes: np.ndarray, frame_index: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Glimpses in the model's input square -> the same glimpses in whole-frame coordinates.

    Step ``s`` was read from clip frame ``frame_index[s]``, whose input square is the pixel box
    ``view_boxes[frame_index[s]]`` (edges, ``x0, y0, x1, y1``). A centre ``c`` in [-1, 1] of that
    box lies at pixel ``x0 + (c + 1) / 2 * (x1 - x0)``; a scale ``s`` of the box's half-width is
    ``s * (x1 - x0) / W`` of the frame's (likewise in y).

    Args:
        glimpses: (T', N, 4) centre x, y and scales sx, sy relative to the input square.
        view_boxes: (T, 4) per clip frame, the pixel box the input square covers.
        frame_index: (T',) the clip frame of each step.
        size: (H, W) of the clip frames.

    Returns:
        float64 (T', N, 4) centre x, y and scales sx, sy in [-1, 1] coordinates of the frame.
    """
    glimpses = _check(glimpses)
    view_boxes = np.asarray(view_boxes, dtype=np.float64)
    frame_index = np.asarray(frame_index).reshape(-1)
    if view_boxes.ndim != 2 or view_boxes.shape[1] != 4:
        raise ValueError(f"view_boxes must be (T, 4) = x0, y0, x1, y1, got {view_boxes.shape}")
    if len(frame_index) != len(glimpses):
        raise ValueError(f"frame_index must be (T',) with T' = {len(glimpses)}, got {frame_index.shape}")
    H, W = size
    box = view_boxes[frame_index][:, None]  # (T', 1, 4)
    origin, extent = box[..., :2], box[..., 2:] - box[..., :2]  # (T', 1, 2) pixels
    centre = origin + (glimpses[..., :2] + 1) / 2 * extent  # (T', N, 2) pixels
    frame = np.array([W, H], dtype=np.float64)
    return np.concatenate([centre / frame * 2 - 1, glimpses[..., 2:] * extent / frame], axis=-1)


def glimpse_centres(glimpses: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float64 (T', N, 2) glimpse centres in pixels (x right, y down), not clipped."""
    glimpses = _check(glimpses)
    H, W = size
    return np.stack([(glimpses[..., 0] + 1) / 2 * W, (glimpses[..., 1] + 1) / 2 * H], axis=-1)


def glimpse_boxes(glimpses: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pixel boxes of the glimpses.

    Args:
        glimpses: (T', N, 4) centre x, y and scales sx, sy in [-1, 1] frame coordinates.
        size: (H, W) of the frames.

    Returns:
        float64 (T', N, 4) ``x0, y0, x1, y1`` pixels, clipped to the frame: the centre maps to
        ``(c + 1) / 2 * W`` and the half-width is ``sx * W / 2`` (likewise in y).
    """
    glimpses = _check(glimpses)
    H, W = size
    centre = glimpse_centres(glimpses, size)  # (T', N, 2)
    half = np.abs(glimpses[..., 2:4]) * np.array([W, H]) / 2  # (T', N, 2)
    lo = np.clip(centre - half, 0, [W, H])
    hi = np.clip(centre + half, 0, [W, H])
    return np.concatenate([lo, hi], axis=-1)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def draw_glimpses(
    frames: np.ndarray, glimpses: np.ndarray, trail: int = 8, view_boxes: np.ndarray | None = None
) -> np.ndarray:
    """Draw each glimpse's box, number and recent path on a copy of the frames.

    Frame ``t`` shows step ``s = floor(t * T' / T)``; the path joins the glimpse's centres over
    steps ``s - trail .. s``.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        glimpses: (T', N, 4) centre x, y and scales sx, sy in [-1, 1] frame coordinates.
        trail: how many earlier steps the path shows (0: none).
        view_boxes: optional (T, 4) pixel box of the model's input square in each frame, outlined
            thinly in ``VIEW_COLOUR`` under the glimpses.

    Returns:
        uint8 (T, H, W, 3), a new array.
    """
    frames = np.asarray(frames)
    glimpses = _check(glimpses)
    T, H, W = frames.shape[:3]
    boxes = glimpse_boxes(glimpses, (H, W))  # (T', N, 4)
    centres = glimpse_centres(glimpses, (H, W))  # (T', N, 2)
    steps = frame_steps(T, len(glimpses))
    width = max(1, round(min(H, W) / 120))
    scale = max(0.35, min(H, W) / 400)
    out = np.ascontiguousarray(frames).copy()
    for t in range(T):
        img, s = out[t], int(steps[t])
        if view_boxes is not None and np.isfinite(view_boxes[t]).all():
            x0, y0, x1, y1 = (int(round(float(v))) for v in view_boxes[t])
            cv2.rectangle(img, (x0, y0), (min(x1, W) - 1, min(y1, H) - 1), VIEW_COLOUR, 1, cv2.LINE_8)
        for n in range(glimpses.shape[1]):
            colour = glimpse_colour(n)
            path = centres[max(0, s - trail) : s + 1, n]
            path = path[np.isfinite(path).all(axis=1)]
            if len(path) > 1:
                pts = np.round(path).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(img, [pts], False, colour, width, cv2.LINE_AA)
        for n in range(glimpses.shape[1]):
            if not np.isfinite(boxes[s, n]).all():
                continue
            colour = glimpse_colour(n)
            x0, y0, x1, y1 = (int(round(float(v))) for v in boxes[s, n])
            cv2.rectangle(img, (x0, y0), (min(x1, W - 1), min(y1, H - 1)), colour, width, cv2.LINE_8)
            cv2.circle(img, _pt(centres[s, n]), width + 1, colour, -1, cv2.LINE_AA)
            org = (x0 + width + 2, y0 + width + 2 + cv2.getTextSize("0", FONT, scale, 1)[0][1])
            cv2.putText(img, str(n + 1), org, FONT, scale, (0, 0, 0), 3 + width // 2, cv2.LINE_AA)
            cv2.putText(img, str(n + 1), org, FONT, scale, colour, 1 + width // 2, cv2.LINE_AA)
    return out


def assignment_figure(assignment: np.ndarray, step: int | None = None) -> go.Figure:
    """Heatmap of the soft assignment of glimpses (columns) to workers (rows), values written.

    The heatmap shows the mean over time, or step ``step`` when given; a slider switches to the
    mean or to any single step.

    Args:
        assignment: (T', C, N), each worker's distribution over the glimpses of a step.
        step: the step shown first (``None``: the mean over time).
    """
    assignment = np.asarray(assignment, dtype=np.float64)
    if assignment.ndim != 3:
        raise ValueError(f"assignment must be (T', C, N), got {assignment.shape}")
    steps, C, N = assignment.shape
    x = [f"glimpse {n + 1}" for n in range(N)]
    y = [f"worker {c + 1}" for c in range(C)]
    mean = assignment.mean(axis=0)  # (C, N)
    if step is not None and not 0 <= step < steps:
        raise ValueError(f"step must be in [0, {steps}), got {step}")
    fig = go.Figure(
        go.Heatmap(
            z=mean if step is None else assignment[step],
            x=x,
            y=y,
            zmin=0,
            zmax=1,
            colorscale=ASSIGNMENT_SCALE,
            texttemplate="%{z:.2f}",
            hovertemplate="%{y}, %{x}: %{z:.3f}<extra></extra>",
        )
    )
    choices = [("mean", mean)] + [(f"step {s}", assignment[s]) for s in range(steps)]
    fig.update_layout(
        title="assignment of glimpses to workers ("
        + ("mean over time" if step is None else f"step {step}")
        + ")",
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        sliders=[
            {
                "active": 0 if step is None else step + 1,
                "currentvalue": {"prefix": "showing: "},
                "pad": {"t": 30},
                "steps": [
                    {"label": label, "method": "restyle", "args": [{"z": [z]}, [0]]} for label, z in choices
                ],
            }
        ]
        if steps > 1
        else [],
    )
    return fig


def trajectory_figure(glimpses: np.ndarray, size: tuple[int, int], step: int | None = None) -> go.Figure:
    """Paths of the glimpse centres in image pixels (y down), one colour per glimpse.

    Args:
        glimpses: (T', N, 4) centre x, y and scales sx, sy in [-1, 1] frame coordinates.
        size: (H, W) of the frames.
        step: when given, one more trace ``"step s"`` rings the centres of that step.
    """
    centres = glimpse_centres(glimpses, size)  # (T', N, 2)
    H, W = size
    fig = go.Figure()
    for n in range(centres.shape[1]):
        colour = rgb(glimpse_colour(n))
        fig.add_scatter(
            x=centres[:, n, 0],
            y=centres[:, n, 1],
            mode="lines+markers",
            name=f"glimpse {n + 1}",
            line={"color": colour},
            marker={"color": colour, "size": np.linspace(4, 10, len(centres))},  # grows with time
            customdata=np.arange(len(centres)),
            hovertemplate="step %{customdata}<br>x %{x:.0f}, y %{y:.0f}<extra></extra>",
        )
    if step is not None:
        fig.add_scatter(
            x=centres[step, :, 0],
            y=centres[step, :, 1],
            mode="markers",
            name=f"step {step}",
            marker={"size": 16, "symbol": "circle-open", "color": "black", "line": {"width": 2}},
            hoverinfo="skip",
        )
    fig.update_layout(
        xaxis={"range": [0, W], "title": "x (pixels)", "constrain": "domain"},
        yaxis={"range": [H, 0], "title": "y (pixels)", "scaleanchor": "x", "scaleratio": 1},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def glimpse_table(glimpses: np.ndarray, frame_index: np.ndarray, size: tuple[int, int]) -> pd.DataFrame:
    """One line per step and glimpse: its clip frame, centre and box size in pixels.

    Args:
        glimpses: (T', N, 4) centre x, y and scales sx, sy in [-1, 1] frame coordinates.
        frame_index: (T',) the clip frame of each step.
        size: (H, W) of the frames.

    Returns:
        ``TABLE_COLUMNS``: step (0-based), frame, glimpse (1-based), centre x, y and the box's
        unclipped width and height, in pixels rounded to 0.1.
    """
    glimpses = _check(glimpses)
    H, W = size
    centres = glimpse_centres(glimpses, size)  # (T', N, 2)
    extent = np.abs(glimpses[..., 2:4]) * np.array([W, H])  # (T', N, 2) full width, height
    steps, N = glimpses.shape[:2]
    s, n = np.meshgrid(np.arange(steps), np.arange(N), indexing="ij")  # (T', N)
    data = {
        "step": s.ravel(),
        "frame": np.asarray(frame_index).reshape(-1)[s.ravel()],
        "glimpse": n.ravel() + 1,
        "x": centres[..., 0].ravel().round(1),
        "y": centres[..., 1].ravel().round(1),
        "width": extent[..., 0].ravel().round(1),
        "height": extent[..., 1].ravel().round(1),
    }
    return pd.DataFrame(data, columns=list(TABLE_COLUMNS))
