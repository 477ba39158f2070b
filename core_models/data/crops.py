"""Body-part crops cut from 2D joints (the P-CNN recipe the part-attention model builds on).

Per frame and per part:

* a **centred** part (a hand) is a square box centred on its joint, of side
  ``2 * hand_ratio * person_height``;
* a **spanning** part (upper body, full body, a leg) is the box around its joints, grown by
  ``margin_ratio * person_height`` on every side and then made square around its centre, so
  the crop keeps its aspect ratio when resized.

``person_height`` is the clip's own scale: the 90th percentile over frames of the height of the
box around all joints (about the standing height in pixels), so boxes follow subjects who are
near or far from the camera. Box centres are smoothed over 3 frames so crops do not jitter, and
frames where a part's joints are missing take the box of the nearest frame that has them.
Pixels outside the image are grey (128), and every crop is resized to a fixed square size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from core_models.data.layouts import SkeletonLayout

GREY = 128


@dataclass(frozen=True)
class CropSpec:
    """How part crops are cut.

    Attributes:
        parts: part names of the layout, in output order.
        size: side of every output crop in pixels.
        hand_ratio: half-side of a centred (hand) box as a share of the person's height.
        margin_ratio: margin around a spanning box as a share of the person's height.
    """

    parts: tuple[str, ...] = ("left_hand", "right_hand", "full_body")
    size: int = 32
    hand_ratio: float = 0.12
    margin_ratio: float = 0.06


def person_height(joints2d: np.ndarray) -> float:
    """The clip's scale in pixels: 90th percentile over frames of the joint box height.

    Args:
        joints2d: (T, J, 2) of one person; NaN where missing.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without the person
        heights = np.nanmax(joints2d[..., 1], axis=1) - np.nanmin(joints2d[..., 1], axis=1)
    heights = heights[np.isfinite(heights)]
    return float(np.percentile(heights, 90)) if heights.size else float("nan")


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Fill NaN rows of (T, k) with the nearest valid row in time."""
    valid = np.isfinite(values).all(axis=1)
    if valid.all() or not valid.any():
        return values
    idx = np.flatnonzero(valid)
    nearest = idx[np.abs(np.arange(len(values))[:, None] - idx[None, :]).argmin(axis=1)]
    return values[nearest]


def part_boxes(
    joints2d: np.ndarray,
    layout: SkeletonLayout,
    spec: CropSpec,
    frame_hw: tuple[int, int],
) -> np.ndarray:
    """Square boxes for each part in each frame.

    Args:
        joints2d: (T, J, 2) pixel coordinates of one person; NaN where missing.
        layout: skeleton layout (gives each part's joints and whether it is centred).
        spec: crop settings.
        frame_hw: (H, W) of the frames, used when a clip has no usable joint at all.

    Returns:
        float32 (T, P, 4) boxes ``x0, y0, x1, y1`` in pixels (may extend past the frame).
    """
    if joints2d.ndim != 3 or joints2d.shape[1:] != (layout.num_joints, 2):
        raise ValueError(f"joints2d must be (T, {layout.num_joints}, 2), got {joints2d.shape}")
    T = len(joints2d)
    H, W = frame_hw
    height = person_height(joints2d)
    if not np.isfinite(height) or height < 4:
        # No usable skeleton: every part falls back to the whole frame, centred.
        side = max(H, W)
        box = np.array([(W - side) / 2, (H - side) / 2, (W + side) / 2, (H + side) / 2], np.float32)
        return np.broadcast_to(box, (T, len(spec.parts), 4)).copy()
    out = np.zeros((T, len(spec.parts), 4), np.float32)
    for p, name in enumerate(spec.parts):
        part = layout.part(name)
        if part.center is not None:
            centre = joints2d[:, part.center]  # (T, 2)
            half = np.full(T, spec.hand_ratio * height)
        else:
            pts = joints2d[:, list(part.joints)]  # (T, k, 2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames give NaN
                lo, hi = np.nanmin(pts, axis=1), np.nanmax(pts, axis=1)  # (T, 2)
            centre = (lo + hi) / 2
            half = (hi - lo).max(axis=1) / 2 + spec.margin_ratio * height
        stacked = _fill_gaps(np.column_stack([centre, half]))
        if not np.isfinite(stacked).all():  # this part is never visible
            stacked = np.tile([W / 2, H / 2, max(H, W) / 2], (T, 1))
        centre, half = stacked[:, :2], stacked[:, 2]
        if T >= 3:  # 3-frame moving average of the centre, edges kept
            smooth = centre.copy()
            smooth[1:-1] = (centre[:-2] + centre[1:-1] + centre[2:]) / 3
            centre = smooth
        out[:, p, 0:2] = centre - half[:, None]
        out[:, p, 2:4] = centre + half[:, None]
    return out


def crop_boxes(frames: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Cut square boxes out of frames and resize them, grey outside the image.

    Args:
        frames: uint8 (T, H, W, 3).
        boxes: (T, P, 4) ``x0, y0, x1, y1`` from :func:`part_boxes`.
        size: output side.

    Returns:
        uint8 (P, T, size, size, 3).
    """
    T, P = boxes.shape[:2]
    if len(frames) != T:
        raise ValueError(f"{len(frames)} frames but boxes for {T}")
    out = np.empty((P, T, size, size, 3), np.uint8)
    for t in range(T):
        for p in range(P):
            x0, y0, x1, y1 = (float(v) for v in boxes[t, p])
            sx, sy = size / max(x1 - x0, 1e-3), size / max(y1 - y0, 1e-3)
            # Affine map from the box to the output square; warpAffine fills the outside grey.
            m = np.array([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]], np.float32)
            out[p, t] = cv2.warpAffine(
                frames[t],
                m,
                (size, size),
                flags=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(GREY, GREY, GREY),
            )
    return out


def crop_parts(
    frames: np.ndarray, joints2d: np.ndarray, layout: SkeletonLayout, spec: CropSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Part crops of one person for every frame.

    Args:
        frames: uint8 (T, H, W, 3).
        joints2d: (T, J, 2) pixel coordinates of the person in ``frames``.

    Returns:
        ``(crops, boxes)``: uint8 (P, T, size, size, 3) and float32 (T, P, 4).
    """
    boxes = part_boxes(joints2d, layout, spec, frames.shape[1:3])
    return crop_boxes(frames, boxes, spec.size), boxes
