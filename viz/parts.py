"""Body-part attention drawn on frames and as charts (the ``parts`` attention of DESIGN section 4).

Part weights are coloured with viridis (perceptually uniform, dark purple = 0, yellow = ``vmax``) so
a weight reads the same on boxes, on the skeleton and on the bar chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core_models.data.layouts import SkeletonLayout
from viz.charts import TRUTH_COLOUR, UNIFORM_LINE, add_frame_marker, frame_steps, legend_above, rgb
from viz.skeleton import draw_skeleton, skeleton_mask

if TYPE_CHECKING:
    from core_models.data.clip import ClipTruth

# (256, 3) RGB viridis, from OpenCV's table (BGR) flipped.
COLOUR_TABLE = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_VIRIDIS)[:, 0, ::-1]
UNWEIGHTED_COLOUR = (128, 128, 128)
LABEL_OUTLINE = (0, 0, 0)
LABEL_COLOUR = (255, 255, 255)  # white on a black outline reads on any frame
FONT = cv2.FONT_HERSHEY_SIMPLEX
DRAW_HEIGHT = 360  # frames are drawn on at least this tall (see enlarge)
ENLARGE_MAX_BYTES = 64 * 1024**2  # ... unless that takes more memory (a 30 s upload would take 470 MB)


def weight_colour(w: float, vmax: float = 1.0) -> tuple[int, int, int]:
    """RGB viridis colour of weight ``w`` on the scale ``0..vmax`` (clipped; brighter = heavier)."""
    x = float(w) / vmax if vmax > 0 else 0.0
    i = int(round(np.clip(x if np.isfinite(x) else 0.0, 0.0, 1.0) * 255))
    r, g, b = COLOUR_TABLE[i]
    return int(r), int(g), int(b)


def _per_frame(weights: np.ndarray, num_frames: int, num_parts: int) -> np.ndarray:
    """(P,) or (T', P) weights -> (T, P), frame t showing step floor(t * T' / T)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 1 and len(weights) == num_parts:
        return np.broadcast_to(weights, (num_frames, num_parts))
    if weights.ndim == 2 and weights.shape[1] == num_parts:
        return weights[frame_steps(num_frames, len(weights))]
    raise ValueError(f"weights must be (P,) or (T', P) with P = {num_parts}, got {weights.shape}")


def _label_scale(rows: int) -> float:
    return max(0.35, rows / 600)


def _label(img: np.ndarray, label: Label) -> None:
    scale = _label_scale(img.shape[0])
    cv2.putText(img, label.text, label.org, FONT, scale, LABEL_OUTLINE, 3, cv2.LINE_AA)
    cv2.putText(img, label.text, label.org, FONT, scale, LABEL_COLOUR, 1, cv2.LINE_AA)


@dataclass(frozen=True)
class Label:
    """A placed label: its text and the pixels it covers, ``x0, y0, x1, y1`` (end exclusive)."""

    text: str
    rect: tuple[int, int, int, int]
    baseline: int  # pixels of the rect below the text's baseline

    @property
    def org(self) -> tuple[int, int]:
        """Where cv2.putText starts the text (bottom-left of the letters)."""
        return self.rect[0] + 1, self.rect[3] - 1 - self.baseline


def place_labels(
    labels: list[tuple[str, tuple[float, float, float, float]]],
    size: tuple[int, int],
    obstacles: np.ndarray | None = None,
) -> list[Label]:
    """Place each label near its box, inside the frame, clear of the labels placed before it and
    of the ``obstacles`` (e.g. the skeleton's pixels).

    Earlier labels choose first, so pass the most important first. A label goes where it costs
    least: a spot on an obstacle costs more than any distance, a spot on another label more than
    any obstacle; among free spots the one nearest its box's top-left corner (just above the box)
    wins. Spots are tried on a grid of 2 rows by 3 columns over the whole frame, and just above the box.

    Args:
        labels: ``(text, (x0, y0, x1, y1))``: each label's text and the box it names (pixels).
        size: (H, W) of the frame.
        obstacles: bool (H, W), pixels no label may cover, or None.

    Returns:
        The placed labels, in the order given.
    """
    H, W = size
    scale = _label_scale(H)
    blocked = np.zeros((H, W), bool) if obstacles is None else np.asarray(obstacles, bool)
    if blocked.shape != (H, W):
        raise ValueError(f"obstacles must be (H, W) = {(H, W)}, got {blocked.shape}")
    integral = np.pad(blocked.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # (H+1, W+1)
    placed: list[Label] = []
    for text, box in labels:
        (tw, th), base = cv2.getTextSize(text, FONT, scale, 3)
        w, h = min(tw + 2, W), min(th + base + 2, H)
        want_x = int(round(np.clip(box[0], 0, W - w)))
        want_y = int(round(np.clip(box[1] - h - 3, 0, H - h)))  # just above the box and its line
        ys = np.union1d(np.arange(0, H - h + 1, 2), [want_y])[:, None]  # candidate top-left corners (n_y, 1)
        xs = np.union1d(np.arange(0, W - w + 1, 3), [want_x])[None, :]  # (1, n_x)
        on_obstacle = (
            integral[ys + h, xs + w] - integral[ys, xs + w] - integral[ys + h, xs] + integral[ys, xs]
        )
        on_label = np.zeros(on_obstacle.shape)
        for other in placed:
            ox0, oy0, ox1, oy1 = other.rect
            dx = np.clip(np.minimum(xs + w, ox1) - np.maximum(xs, ox0), 0, None)
            dy = np.clip(np.minimum(ys + h, oy1) - np.maximum(ys, oy0), 0, None)
            on_label = on_label + dx * dy
        distance = (xs - want_x) ** 2 + (ys - want_y) ** 2
        cost = on_label * 1e12 + on_obstacle * 1e8 + distance
        iy, ix = np.unravel_index(int(np.argmin(cost)), cost.shape)
        x0, y0 = int(xs[0, ix]), int(ys[iy, 0])
        placed.append(Label(text, (x0, y0, x0 + w, y0 + h), base))
    return placed


def draw_part_boxes(
    frames: np.ndarray,
    boxes: np.ndarray,
    weights: np.ndarray,
    part_names: list[str] | tuple[str, ...],
    *,
    vmax: float = 1.0,
    labels: bool = True,
    obstacles: np.ndarray | None = None,
) -> np.ndarray:
    """Draw each part's box coloured by its weight, thicker for heavier parts, labelled ``"name 0.62"``.

    Heavier parts are drawn last, so they stay on top where boxes overlap; their labels are placed
    first (:func:`place_labels`), clear of each other and of ``obstacles``.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        boxes: (T, P, 4) ``x0, y0, x1, y1`` pixels (``crop_parts``' boxes; may leave the frame).
        weights: (P,) for the clip or (T', P) per feature step.
        part_names: P names.
        vmax: weight drawn with the brightest colour.
        labels: draw the labels.
        obstacles: bool (T, H, W), pixels the labels must keep clear of (a skeleton), or None.

    Returns:
        uint8 (T, H, W, 3), a new array.
    """
    frames = np.asarray(frames)
    T, H, W = frames.shape[:3]
    P = len(part_names)
    if boxes.shape != (T, P, 4):
        raise ValueError(f"boxes must be (T, P, 4) = ({T}, {P}, 4), got {boxes.shape}")
    per_frame = _per_frame(weights, T, P)  # (T, P)
    out = np.ascontiguousarray(frames).copy()
    max_width = max(2, round(min(H, W) / 60))
    for t in range(T):
        img, named = out[t], []
        for p in np.argsort(per_frame[t], kind="stable"):
            w = float(per_frame[t, p])
            if not np.isfinite(boxes[t, p]).all():
                continue
            colour = weight_colour(w, vmax)
            width = 1 + round(np.clip(w / vmax, 0, 1) * (max_width - 1))
            x0, y0, x1, y1 = (int(round(float(v))) for v in boxes[t, p])
            cv2.rectangle(img, (x0, y0), (x1, y1), colour, width, cv2.LINE_8)
            named.append((f"{part_names[p]} {w:.2f}", tuple(boxes[t, p])))
        if labels:  # after every box, so no box hides a label; the heaviest part chooses first
            blocked = obstacles[t] if obstacles is not None else None
            for label in place_labels(named[::-1], (H, W), blocked):
                _label(img, label)
    return out


def part_labels(
    boxes: np.ndarray, weights: np.ndarray, part_names: list[str] | tuple[str, ...], frame: int,
    size: tuple[int, int], obstacles: np.ndarray | None = None,
) -> list[Label]:  # fmt: skip
    """The labels :func:`draw_part_boxes` places on frame ``frame`` (heaviest part first).

    Args:
        boxes: (T, P, 4); weights: (P,) or (T', P); part_names: P names; size: (H, W);
        obstacles: bool (H, W) for this frame, or None.
    """
    per_frame = _per_frame(weights, len(boxes), len(part_names))[frame]  # (P,)
    order = [p for p in np.argsort(-per_frame, kind="stable") if np.isfinite(boxes[frame, p]).all()]
    named = [(f"{part_names[p]} {per_frame[p]:.2f}", tuple(boxes[frame, p])) for p in order]
    return place_labels(named, size, obstacles)


def draw_parts_overlay(
    frames: np.ndarray,
    boxes: np.ndarray | None,
    weights: np.ndarray,
    part_names: list[str] | tuple[str, ...],
    *,
    joints2d: np.ndarray | None = None,
    layout: SkeletonLayout | None = None,
    show: tuple[str, ...] = ("boxes", "bones", "joints"),
    vmax: float = 1.0,
) -> np.ndarray:
    """The body-part view: part boxes, the skeleton coloured by part weight, then the labels.

    The labels come last and keep clear of each other and of the skeleton's pixels, so neither a
    box, a bone nor another label covers one.

    Args:
        frames: uint8 (T, H, W, 3) RGB (enlarged with :func:`enlarge` for small clips).
        boxes: (T, P, 4) part boxes in the frames' pixels, or None.
        weights: (P,) or (T', P) part weights.
        part_names: P names.
        joints2d: (T, M, J, 2) joints in the frames' pixels (the first person takes the colours).
        layout: the skeleton layout naming ``part_names``.
        show: any of ``"boxes"``, ``"bones"``, ``"joints"``.
        vmax: weight drawn with the brightest colour.

    Returns:
        uint8 (T, H, W, 3), a new array.
    """
    out = np.asarray(frames)
    skeleton = joints2d is not None and layout is not None and ("bones" in show or "joints" in show)
    if boxes is not None and "boxes" in show:
        out = draw_part_boxes(out, boxes, weights, part_names, vmax=vmax, labels=False)
    obstacles = None
    if skeleton:
        out = draw_skeleton_weights(out, joints2d, layout, part_names, weights, vmax=vmax,
                                    bones="bones" in show, joints="joints" in show)  # fmt: skip
        obstacles = skeleton_mask(joints2d, layout, out.shape[1:3])
    if boxes is not None and "boxes" in show:
        out = out.copy() if out is frames else out
        for t in range(len(out)):
            for label in part_labels(boxes, weights, part_names, t, out.shape[1:3],
                                     obstacles[t] if obstacles is not None else None):  # fmt: skip
                _label(out[t], label)
    return np.ascontiguousarray(out)


def joint_part_colours(
    layout: SkeletonLayout, part_weights: dict[str, float], *, vmax: float = 1.0
) -> np.ndarray:
    """uint8 (J, 3): each joint coloured by the weight of the smallest weighted part holding it.

    The smallest part is the most specific one (a hand joint takes the hand's weight, not the full
    body's); joints in no weighted part are grey.
    """
    colours = np.tile(np.array(UNWEIGHTED_COLOUR, np.uint8), (layout.num_joints, 1))
    size = np.full(layout.num_joints, np.inf)
    for name, w in sorted(part_weights.items(), key=lambda kv: -kv[1]):
        joints = list(layout.part(name).joints)
        smaller = size[joints] > len(joints)
        chosen = np.asarray(joints)[smaller]
        colours[chosen] = weight_colour(w, vmax)
        size[chosen] = len(joints)
    return colours


def draw_skeleton_parts(
    frames: np.ndarray,
    joints2d: np.ndarray,
    layout: SkeletonLayout,
    part_weights: dict[str, float],
    *,
    vmax: float = 1.0,
    bones: bool = True,
    joints: bool = True,
) -> np.ndarray:
    """The skeleton with each part's joints and bones coloured by that part's weight.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        joints2d: (T, M, J, 2) pixel coordinates; NaN joints are skipped.
        layout: the skeleton layout (gives parts and bones).
        part_weights: weight per part name (parts left out are not coloured).
        vmax: weight drawn with the brightest colour.

    Returns:
        uint8 (T, H, W, 3), a new array.
    """
    joints2d = np.asarray(joints2d)
    if joints2d.ndim != 4 or joints2d.shape[2:] != (layout.num_joints, 2):
        raise ValueError(f"joints2d must be (T, M, {layout.num_joints}, 2), got {joints2d.shape}")
    colours = joint_part_colours(layout, part_weights, vmax=vmax)  # (J, 3)
    return draw_skeleton(frames, joints2d, layout, joint_colours=colours, bones=bones, joints=joints)


def part_weights_figure(
    part_names: list[str] | tuple[str, ...],
    weights: np.ndarray,
    truth_parts: list[str] | None = None,
) -> go.Figure:
    """Bars of the part weights; ground-truth parts hatched in their own trace, uniform 1/P dashed.

    Args:
        part_names: P names, in the model's order (kept on the x axis).
        weights: (P,) weights.
        truth_parts: names of the parts the action happens with (from the clip's sidecar), or ``None``.
    """
    weights = np.asarray(weights, dtype=np.float64)
    names = list(part_names)
    if weights.shape != (len(names),):
        raise ValueError(f"weights must be (P,) with P = {len(names)}, got {weights.shape}")
    truth = set(truth_parts or ())
    vmax = max(float(weights.max()), 1e-9) if len(weights) else 1.0
    fig = go.Figure()
    for name, is_truth in (("part weight", False), ("ground-truth part", True)):
        idx = [i for i, n in enumerate(names) if (n in truth) == is_truth]
        if not idx:
            continue
        fig.add_bar(
            x=[names[i] for i in idx],
            y=weights[idx],
            name=name,
            marker={
                "color": [rgb(weight_colour(weights[i], vmax)) for i in idx],
                "line": {"color": TRUTH_COLOUR if is_truth else "rgba(0,0,0,0)", "width": 3},
                "pattern": {"shape": "/" if is_truth else ""},
            },
            text=[f"{weights[i]:.2f}" for i in idx],
            textposition="outside",
        )
    fig.add_hline(y=1 / len(names), line=UNIFORM_LINE, annotation_text="uniform 1/P")
    fig.update_layout(
        barmode="overlay",
        xaxis={"categoryorder": "array", "categoryarray": names},
        yaxis={"title": "weight", "range": [0, max(1 / len(names), float(weights.max())) * 1.2]},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return legend_above(fig)


def part_weights_over_time_figure(
    part_names: list[str] | tuple[str, ...],
    weights: np.ndarray,
    num_frames: int,
    frame: int | None = None,
) -> go.Figure:
    """Stacked areas of the per-step part weights over the clip's frames, a marker at ``frame``.

    Args:
        part_names: P names.
        weights: (T', P) weights per feature step.
        num_frames: T, frames of the clip (the x axis).
        frame: the frame slider's frame, or ``None``.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != len(part_names):
        raise ValueError(f"weights must be (T', P) with P = {len(part_names)}, got {weights.shape}")
    per_frame = weights[frame_steps(num_frames, len(weights))]  # (T, P)
    x = np.arange(num_frames + 1)  # frame t covers [t, t + 1); the last point closes the last step
    fig = go.Figure()
    for p, name in enumerate(part_names):
        y = np.append(per_frame[:, p], per_frame[-1, p])
        fig.add_scatter(
            x=x, y=y, name=name, mode="lines", stackgroup="parts", line={"shape": "hv", "width": 1}
        )
    add_frame_marker(fig, frame)
    fig.update_layout(
        xaxis={"title": "frame", "range": [0, num_frames]},
        yaxis={"title": "part weight (stacked)"},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def draw_skeleton_weights(
    frames: np.ndarray,
    joints2d: np.ndarray,
    layout: SkeletonLayout,
    part_names: list[str] | tuple[str, ...],
    weights: np.ndarray,
    *,
    vmax: float = 1.0,
    bones: bool = True,
    joints: bool = True,
) -> np.ndarray:
    """:func:`draw_skeleton_parts` for clip-level (P,) or per-step (T', P) part weights.

    With per-step weights each frame's skeleton takes the weights of the step it shows
    (``floor(t * T' / T)``).

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        joints2d: (T, M, J, 2) pixel coordinates; NaN joints are skipped.
        layout: the skeleton layout naming ``part_names``.
        part_names: P names, in the order of the weights' last axis.
        weights: (P,) or (T', P).
        vmax: weight drawn with the brightest colour.

    Returns:
        uint8 (T, H, W, 3), a new array.
    """
    frames = np.asarray(frames)
    T, P = len(frames), len(part_names)
    weights = np.asarray(weights, dtype=np.float64)
    _per_frame(weights, T, P)  # checks the shape
    if weights.ndim == 1:
        named = dict(zip(part_names, weights, strict=True))
        return draw_skeleton_parts(frames, joints2d, layout, named, vmax=vmax, bones=bones, joints=joints)
    steps = frame_steps(T, len(weights))  # (T,)
    out = np.empty_like(frames)
    for s in np.unique(steps):
        shown = steps == s
        named = dict(zip(part_names, weights[s], strict=True))
        out[shown] = draw_skeleton_parts(
            frames[shown], joints2d[shown], layout, named, vmax=vmax, bones=bones, joints=joints
        )
    return out


def part_weights_table(
    part_names: list[str] | tuple[str, ...], weights: np.ndarray, truth: ClipTruth | None = None
) -> pd.DataFrame:
    """One row per part: its weight (the mean over steps for per-step weights) beside the ground truth.

    Args:
        part_names: P names.
        weights: (P,) or (T', P).
        truth: a synthetic clip's ground truth, or ``None`` (then only ``part`` and ``weight``).

    Returns:
        Columns ``part``, ``weight`` and, with ``truth``, ``ground truth`` (the part carries the
        action somewhere in the discriminative interval) and ``share of interval`` (the fraction of
        the interval's frames in which it does; NaN for a part the truth does not name).
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim not in (1, 2) or weights.shape[-1] != len(part_names):
        raise ValueError(f"weights must be (P,) or (T', P) with P = {len(part_names)}, got {weights.shape}")
    mean = weights if weights.ndim == 1 else weights.mean(axis=0)  # (P,)
    table = pd.DataFrame({"part": list(part_names), "weight": mean})
    if truth is not None:
        start, end = truth.interval
        share = truth.parts[start:end].mean(axis=0) if end > start else np.zeros(len(truth.part_names))
        by_name = dict(zip(truth.part_names, share, strict=True))
        active = set(truth.active_parts())
        table["ground truth"] = [n in active for n in part_names]
        table["share of interval"] = [float(by_name.get(n, np.nan)) for n in part_names]
    return table


def enlarge(
    frames: np.ndarray, height: int = DRAW_HEIGHT, max_bytes: int = ENLARGE_MAX_BYTES
) -> tuple[np.ndarray, float]:
    """Frames shorter than ``height`` rows resized (bilinear) to ``height``, so drawn labels stay legible.

    Args:
        frames: uint8 (T, H, W, 3).
        height: the smallest height to draw on.
        max_bytes: the most the enlarged frames may take: a clip too long for ``height`` is
            enlarged to the tallest height that fits (a 207-frame 160x120 clip to 284 rows, not
            left at 120, where the labels smudge), one that cannot grow at all stays as it is.

    Returns:
        uint8 (T, H', W', 3) and the factor ``H' / H`` (1.0 when the frames are tall enough);
        multiply pixel coordinates (boxes, joints) by it.
    """
    frames = np.asarray(frames)
    rows, cols = frames.shape[1:3]
    fits = int(math.sqrt(max_bytes * rows / (max(len(frames), 1) * 3 * cols)))  # T * h * (h cols/rows) * 3
    height = min(height, fits)
    while height > rows and len(frames) * height * int(round(cols * height / rows)) * 3 > max_bytes:
        height -= 1  # the width's rounding
    if rows >= height:
        return frames, 1.0
    scale = height / rows
    size = (int(round(cols * scale)), height)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in frames]), scale


def truth_weight(table: pd.DataFrame) -> tuple[float, float] | None:
    """From :func:`part_weights_table` with a ground truth: the weight on the parts that carry the
    action and what equal weights would put there, or None when none of the model's parts does."""
    truth = table["ground truth"]
    if not truth.any():
        return None
    return float(table.loc[truth, "weight"].sum()), float(truth.mean())


def parts_split_sentence(scores: dict | None) -> str | None:
    """Where a part-attention model's weights go over its test split, from its evaluation's
    ``attention_scores`` (``core_models.attention_scores.summarise``), each share beside equal
    weights and the best its parts allow; then on the clips where the weights can miss (the
    truth holds some of the model's parts, not all) and how often the acting hand wins. None
    when the evaluation has no part scores."""
    parts = (scores or {}).get("parts")
    if not parts:
        return None
    text = (
        f"**Where the part weights go.** Over its test split ({parts['clips']} clips), "
        f"**{parts['share']:.2f}** of the part weight lies on the ground-truth parts; equal weights "
        f"would put {parts['uniform']:.2f} there, the best its parts allow "
        f"{parts.get('best', float('nan')):.2f}."
    )
    informative = scores.get("parts_informative")
    if informative and informative["clips"] < parts["clips"]:
        text += (
            f" On the {informative['clips']} clips whose truth holds some of its parts but not all, "
            f"the only ones where weights can miss: **{informative['share']:.2f}**, equal weights "
            f"{informative['uniform']:.2f}, the best {informative.get('best', float('nan')):.2f}."
        )
    hands = scores.get("parts_by_dominant_hand") or {}
    wins = {h: e["acting_wins"] for h, e in hands.items() if "acting_wins" in e}
    if wins:
        text += (
            " The acting hand outweighs the other on "
            + " and ".join(
                f"{w:.2f} of the {h}-handed subjects' one-hand clips" for h, w in sorted(wins.items())
            )
            + "."
        )
    return text
