"""Skeletons drawn onto frames: arrays in, uint8 frames out (no streamlit, no torch, no I/O)."""

from __future__ import annotations

import cv2
import numpy as np

from core_models.data.layouts import SkeletonLayout

# One colour per person (RGB), bright enough on the synthetic room and on real video.
PERSON_COLOURS = ((255, 214, 0), (0, 200, 255), (255, 80, 160), (120, 255, 120))
JOINT_COLOUR = (255, 255, 255)
# Bones and joints are drawn one pixel wide (a dot of radius 1 per joint) per LINE_SCALE rows of
# frame, without anti-aliasing: a skeleton drawn over a small person must not hide what the person
# holds (a cup, a phone). Draw on frames enlarged to at least LINE_SCALE rows (viz.parts.enlarge).
LINE_SCALE = 360


def draw_skeleton(
    frames: np.ndarray,
    joints2d: np.ndarray | None,
    layout: SkeletonLayout,
    *,
    joint_colours: np.ndarray | None = None,
    thickness: int | None = None,
    bones: bool = True,
    joints: bool = True,
) -> np.ndarray:
    """Draw bones and joints of every person on a copy of the frames.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        joints2d: (T, M, J, 2) pixel coordinates in ``frames``; NaN joints are not drawn.
            ``None`` returns the frames unchanged.
        layout: gives the bones.
        joint_colours: optional uint8 (J, 3) colour per joint (e.g. by body part); bones take
            the colour of their child joint. Default: one colour per person.
        thickness: bone width and joint radius in pixels (default: 1 per :data:`LINE_SCALE` rows).
        bones: draw the bones.
        joints: draw the joints (small dots).

    Returns:
        uint8 (T, H, W, 3).
    """
    out = _writable_copy(frames, joints2d, layout)
    if joints2d is None:
        return out
    H = frames.shape[1]
    width = thickness or max(1, round(H / LINE_SCALE))
    line = cv2.LINE_8 if width == 1 else cv2.LINE_AA  # no anti-aliased halo around thin lines
    for t in range(len(out)):
        img = out[t]
        for m in range(joints2d.shape[1]):
            pts = joints2d[t, m]
            if not np.isfinite(pts).any():
                continue
            base = PERSON_COLOURS[m % len(PERSON_COLOURS)]
            for child, parent in layout.bones if bones else ():
                a, b = pts[child], pts[parent]
                if np.isfinite(a).all() and np.isfinite(b).all():
                    colour = base if joint_colours is None else tuple(int(c) for c in joint_colours[child])
                    cv2.line(img, _pt(a), _pt(b), colour, width, line)
            for j, p in enumerate(pts if joints else ()):
                if np.isfinite(p).all():
                    colour = (
                        JOINT_COLOUR if joint_colours is None else tuple(int(c) for c in joint_colours[j])
                    )
                    cv2.circle(img, _pt(p), width, colour, -1, line)
    return out


def skeleton_mask(
    joints2d: np.ndarray, layout: SkeletonLayout, size: tuple[int, int], *, margin: int = 2
) -> np.ndarray:
    """bool (T, H, W): the pixels a skeleton drawn by :func:`draw_skeleton` covers, grown by
    ``margin`` pixels (where a label must not go)."""
    T = len(joints2d)
    canvas = np.zeros((T, *size, 3), np.uint8)
    colours = np.full((layout.num_joints, 3), 255, np.uint8)
    drawn = draw_skeleton(canvas, joints2d, layout, joint_colours=colours).any(-1)  # (T, H, W)
    if margin <= 0:
        return drawn
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    return np.stack([cv2.dilate(d.astype(np.uint8), kernel) > 0 for d in drawn])


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


# Estimated joints (BlazePose) have their own look: thin dashed bones and rings whose colour is
# the joint's confidence, from red at the threshold to green at 1.
ESTIMATED_BONE = (235, 235, 235)
LOW_CONFIDENCE = (230, 40, 40)
HIGH_CONFIDENCE = (40, 220, 80)


def confidence_colour(confidence: float, min_confidence: float = 0.5) -> tuple[int, int, int]:
    """RGB from red (``min_confidence`` or less) through yellow to green (1.0)."""
    x = float(np.clip((confidence - min_confidence) / max(1e-6, 1 - min_confidence), 0, 1))
    if x < 0.5:  # red -> yellow
        return LOW_CONFIDENCE[0], int(LOW_CONFIDENCE[1] + (220 - LOW_CONFIDENCE[1]) * 2 * x), 40
    return (
        int(230 - (230 - HIGH_CONFIDENCE[0]) * (2 * x - 1)),
        220,
        int(40 + (HIGH_CONFIDENCE[2] - 40) * (2 * x - 1)),
    )


def _dashed(img, a: np.ndarray, b: np.ndarray, colour, width: int, dash: float) -> None:
    length = float(np.hypot(*(b - a)))
    steps = max(1, int(length // dash))
    for i in range(0, steps, 2):
        p = a + (b - a) * (i / steps)
        q = a + (b - a) * (min(i + 1, steps) / steps)
        cv2.line(img, _pt(p), _pt(q), colour, width, cv2.LINE_AA)


def draw_estimated(
    frames: np.ndarray,
    joints2d: np.ndarray | None,
    confidence: np.ndarray | None,
    layout: SkeletonLayout,
    *,
    min_confidence: float = 0.5,
) -> np.ndarray:
    """Draw an *estimated* skeleton: dashed bones, joints as rings coloured by their confidence.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        joints2d: (T, M, J, 2) pixels; NaN joints (below the confidence threshold) are not drawn.
        confidence: (T, M, J) in [0, 1] (``None``: drawn as fully confident).
        layout: gives the bones.
        min_confidence: the threshold the estimate used (the red end of the colours).

    Returns:
        uint8 (T, H, W, 3).
    """
    out = _writable_copy(frames, joints2d, layout)
    if joints2d is None:
        return out
    if confidence is None:
        confidence = np.ones(joints2d.shape[:3], np.float32)
    H, W = frames.shape[1:3]
    width = max(1, round(min(H, W) / 160))
    radius = max(2, round(min(H, W) / 70))
    for t in range(len(out)):
        img = out[t]
        for m in range(joints2d.shape[1]):
            pts = joints2d[t, m]
            for child, parent in layout.bones:
                a, b = pts[child], pts[parent]
                if np.isfinite(a).all() and np.isfinite(b).all():
                    _dashed(img, a, b, ESTIMATED_BONE, width, dash=max(2.0, radius * 0.8))
            for j, p in enumerate(pts):
                if np.isfinite(p).all():
                    colour = confidence_colour(float(confidence[t, m, j]), min_confidence)
                    cv2.circle(img, _pt(p), radius, colour, max(1, width), cv2.LINE_AA)
    return out


def _writable_copy(frames: np.ndarray, joints2d: np.ndarray | None, layout) -> np.ndarray:
    """A copy of ``frames`` to draw on, after checking ``joints2d`` fits them and ``layout``."""
    fits = joints2d is None or (len(joints2d) == len(frames) and joints2d.shape[2] == layout.num_joints)
    if not fits:
        raise ValueError(
            f"joints2d {joints2d.shape} does not fit {frames.shape[0]} frames of layout {layout.name}"
        )
    return np.ascontiguousarray(frames).copy()
