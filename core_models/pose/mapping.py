"""BlazePose's 33 landmarks as NTU RGB+D's 25 Kinect v2 joints, with confidence, smoothing and one person.

BlazePose (MediaPipe Pose, ``pose_landmark_full``) gives, per frame, 33 landmarks in two frames of
reference: *image* coordinates (x, y in [0, 1] of the frame, y down) and *world* coordinates
(metres, origin between the hips, x to the image's right, y down, z away from the camera), each
with a ``visibility`` in [0, 1]. This module turns them into what every reader of this project
produces for the ``ntu25`` layout (docs/skeleton-files.md):

* **Joints.** Each NTU joint is a fixed affine combination of landmarks (:data:`NTU_FROM_BLAZEPOSE`,
  rows sum to 1): 16 are landmarks as they are (shoulders, elbows, wrists, hips, knees, ankles,
  feet, thumbs) and 9 are interpolated (spine base, spine middle, spine shoulder, neck, head,
  hands, hand tips; the weights follow the body proportions of the synthetic subjects the models
  were trained on). Left and right are the person's own in both skeletons.
* **Confidence.** A landmark's confidence is its visibility; an interpolated joint's is the mean
  of its sources'. Joints below ``min_confidence`` become NaN (missing), as a reader marks a joint
  the sensor lost.
* **Camera space.** NTU joints are camera-space metres with y up. World landmarks are turned y-up
  and placed where the image shows the person: the metres per pixel at the person follow from the
  torso's length in both frames (median over the clip), which places every frame's hips relative
  to the image centre, so moving across the room, sitting down or standing up stay in the
  skeleton (world landmarks alone are re-centred on the hips in every frame). The depth assumes a
  camera with Kinect v2's 84 degree horizontal field of view (the models normalise the position
  away, so only the relative placement matters).
* **Smoothing.** A Gaussian over time (sigma one frame at 30 fps, scaled with the frame rate) that
  ignores missing frames and never bridges a gap or a change of person.
* **One person.** BlazePose follows one person per frame. When the person it follows jumps (the
  hips move more than a torso length between consecutive frames, or the torso changes size by
  half), it has switched to someone else: the clip is cut at every jump, the longest piece is the
  main person, and other pieces are kept only where the same person comes back (their median
  position and size within reach of the main person's); the frames of anyone else are dropped
  (NaN) with a warning.

Everything here is numpy on arrays; :mod:`core_models.pose.estimate` runs BlazePose itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core_models.data.layouts import NTU25

BLAZEPOSE_LANDMARKS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)  # fmt: skip
_B = {name: i for i, name in enumerate(BLAZEPOSE_LANDMARKS)}

# Synthetic-body proportions (core_models/synth/body.py): spine_mid sits 0.125 / (0.125 + 0.155)
# of the way from the spine base to the spine shoulder; the neck 0.05 / 0.12 of the way from the
# spine shoulder to the head centre (the middle of the ears).
_SPINE_MID = 0.125 / (0.125 + 0.155)
_NECK = 0.05 / 0.12


def _mix(**weights: float) -> dict[str, float]:
    return weights


def _mid(a: str, b: str, w: float = 1.0) -> dict[str, float]:
    return {a: 0.5 * w, b: 0.5 * w}


def _add(*parts: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in parts:
        for k, v in p.items():
            out[k] = out.get(k, 0.0) + v
    return out


_HIPS = _mid("left_hip", "right_hip")
_SHOULDERS = _mid("left_shoulder", "right_shoulder")
_EARS = _mid("left_ear", "right_ear")


def _knuckles(side: str, w: float = 1.0) -> dict[str, float]:
    return _mid(f"{side}_index", f"{side}_pinky", w)


# NTU joint name -> landmark weights (an affine combination: the weights sum to 1). A single
# landmark with weight 1 is a direct correspondence; anything else is interpolated.
_TABLE: dict[str, dict[str, float]] = {
    "spine_base": _HIPS,
    "spine_mid": _add({k: v * (1 - _SPINE_MID) for k, v in _HIPS.items()},
                      {k: v * _SPINE_MID for k, v in _SHOULDERS.items()}),
    "neck": _add({k: v * (1 - _NECK) for k, v in _SHOULDERS.items()},
                 {k: v * _NECK for k, v in _EARS.items()}),
    "head": _EARS,
    "shoulder_left": _mix(left_shoulder=1.0),
    "elbow_left": _mix(left_elbow=1.0),
    "wrist_left": _mix(left_wrist=1.0),
    "hand_left": _knuckles("left"),  # the palm's centre: between the index and pinky knuckles
    "shoulder_right": _mix(right_shoulder=1.0),
    "elbow_right": _mix(right_elbow=1.0),
    "wrist_right": _mix(right_wrist=1.0),
    "hand_right": _knuckles("right"),
    "hip_left": _mix(left_hip=1.0),
    "knee_left": _mix(left_knee=1.0),
    "ankle_left": _mix(left_ankle=1.0),
    "foot_left": _mix(left_foot_index=1.0),
    "hip_right": _mix(right_hip=1.0),
    "knee_right": _mix(right_knee=1.0),
    "ankle_right": _mix(right_ankle=1.0),
    "foot_right": _mix(right_foot_index=1.0),
    "spine_shoulder": _SHOULDERS,
    # fingertips: as far beyond the knuckles as the knuckles are from the wrist (extrapolated)
    "hand_tip_left": _add(_knuckles("left", 2.0), _mix(left_wrist=-1.0)),
    "thumb_left": _mix(left_thumb=1.0),
    "hand_tip_right": _add(_knuckles("right", 2.0), _mix(right_wrist=-1.0)),
    "thumb_right": _mix(right_thumb=1.0),
}  # fmt: skip


def _matrix() -> np.ndarray:
    W = np.zeros((NTU25.num_joints, len(BLAZEPOSE_LANDMARKS)), np.float64)
    for j, name in enumerate(NTU25.joint_names):
        for landmark, w in _TABLE[name].items():
            W[j, _B[landmark]] += w
    return W


NTU_FROM_BLAZEPOSE = _matrix()  # (25, 33): ntu = W @ blazepose
INTERPOLATED = tuple(
    name for j, name in enumerate(NTU25.joint_names) if np.count_nonzero(NTU_FROM_BLAZEPOSE[j]) > 1
)
KINECT_HFOV_DEG = 84.0  # Kinect v2's colour camera (and the synthetic cameras)
MIN_CONFIDENCE = 0.5
JUMP_TORSOS = 1.0  # a jump of the hips larger than this many torso lengths is a change of person
SCALE_JUMP = 1.5  # so is a torso that grows or shrinks by this factor between frames


def map_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """BlazePose landmarks (..., 33, C) -> NTU joints (..., 25, C) by :data:`NTU_FROM_BLAZEPOSE`."""
    if landmarks.shape[-2] != len(BLAZEPOSE_LANDMARKS):
        raise ValueError(f"expected (..., 33, C) BlazePose landmarks, got {landmarks.shape}")
    return np.einsum("jb,...bc->...jc", NTU_FROM_BLAZEPOSE, landmarks)


def map_confidence(visibility: np.ndarray) -> np.ndarray:
    """Landmark visibility (..., 33) -> joint confidence (..., 25): the mean of each joint's sources."""
    used = (NTU_FROM_BLAZEPOSE != 0).astype(np.float64)  # (25, 33)
    return np.einsum("jb,...b->...j", used / used.sum(axis=1, keepdims=True), visibility)


@dataclass
class Landmarks:
    """BlazePose's output over a clip (NaN in frames where no person was found).

    Attributes:
        image: (T, 33, 2) x, y in [0, 1] of the frame (y down).
        world: (T, 33, 3) metres, origin between the hips, x right, y down, z away from the camera.
        visibility: (T, 33) in [0, 1].
        frame_size: (H, W) of the frames the pixels refer to.
        fps: frames per second of the clip.
    """

    image: np.ndarray
    world: np.ndarray
    visibility: np.ndarray
    frame_size: tuple[int, int]
    fps: float = 30.0

    @property
    def detected(self) -> np.ndarray:
        """bool (T,): frames where BlazePose found a person."""
        return np.isfinite(self.image).all(axis=(1, 2))


@dataclass
class EstimatedSkeleton:
    """NTU-layout joints estimated from a video (one person, M = 1).

    Attributes:
        joints3d: float32 (T, 1, 25, 3) camera-space metres (x right, y up, z depth), NaN missing.
        joints2d: float32 (T, 1, 25, 2) pixels of frames of ``frame_size``, NaN missing.
        confidence: float32 (T, 1, 25) in [0, 1]; 0 in frames without the person.
        frame_size: (H, W) the pixels refer to.
        warnings: what the user should know (frames without a person, changes of person).
        min_confidence: the threshold under which joints were set missing.
    """

    joints3d: np.ndarray
    joints2d: np.ndarray
    confidence: np.ndarray
    frame_size: tuple[int, int]
    warnings: list[str] = field(default_factory=list)
    min_confidence: float = MIN_CONFIDENCE

    @property
    def num_frames(self) -> int:
        return int(self.joints3d.shape[0])

    def scaled(self, size: tuple[int, int]) -> EstimatedSkeleton:
        """The same skeleton with its 2D joints in pixels of frames of ``size`` (H, W)."""
        h, w = self.frame_size
        factor = np.array([size[1] / w, size[0] / h], np.float32)
        return EstimatedSkeleton(
            self.joints3d, self.joints2d * factor, self.confidence, (int(size[0]), int(size[1])),
            list(self.warnings), self.min_confidence,
        )  # fmt: skip


def _torso(points: np.ndarray) -> np.ndarray:
    """(T, 33, C) -> (T,) distance between the middle of the shoulders and the middle of the hips."""
    sh = points[:, [_B["left_shoulder"], _B["right_shoulder"]]].mean(axis=1)
    hp = points[:, [_B["left_hip"], _B["right_hip"]]].mean(axis=1)
    return np.linalg.norm(sh - hp, axis=-1)


def _hips(points: np.ndarray) -> np.ndarray:
    return points[:, [_B["left_hip"], _B["right_hip"]]].mean(axis=1)  # (T, C)


def _spans(frames: np.ndarray) -> str:
    """'3-7, 12' for sorted frame numbers."""
    out, i = [], 0
    while i < len(frames):
        j = i
        while j + 1 < len(frames) and frames[j + 1] == frames[j] + 1:
            j += 1
        out.append(f"{frames[i]}" if i == j else f"{frames[i]}-{frames[j]}")
        i = j + 1
    return ", ".join(out)


def main_person(lm: Landmarks) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Frames that follow the main person (see the module docstring).

    Returns:
        ``(keep bool (T,), pieces)``: ``keep`` is False in frames without a person or with someone
        else; ``pieces`` are the ``(first, end)`` frame spans of the cuts, for tests and messages.
    """
    det = lm.detected
    T = len(det)
    if not det.any():
        return det.copy(), []
    h, w = lm.frame_size
    px = lm.image * np.array([w, h])  # (T, 33, 2) pixels
    centre, torso = _hips(px), _torso(px)  # (T, 2), (T,)
    frames = np.flatnonzero(det)
    pieces, first = [], frames[0]
    for a, b in zip(frames[:-1], frames[1:]):
        reach = JUMP_TORSOS * max(torso[a], torso[b]) * (1 + (b - a - 1) / max(lm.fps, 1.0))
        ratio = max(torso[a], torso[b]) / max(min(torso[a], torso[b]), 1e-6)
        if np.linalg.norm(centre[b] - centre[a]) > reach or ratio > SCALE_JUMP:
            pieces.append((first, a + 1))
            first = b
    pieces.append((first, frames[-1] + 1))

    def summary(p):
        idx = frames[(frames >= p[0]) & (frames < p[1])]
        return np.median(centre[idx], axis=0), float(np.median(torso[idx])), len(idx)

    stats = [summary(p) for p in pieces]
    main = int(np.argmax([s[2] for s in stats]))
    kept = [main]
    for i, (c, t, _) in enumerate(stats):
        if i == main:
            continue
        for k in kept:
            ck, tk, _ = stats[k]
            close = np.linalg.norm(c - ck) <= 1.5 * JUMP_TORSOS * max(t, tk)
            if close and max(t, tk) / max(min(t, tk), 1e-6) <= SCALE_JUMP:
                kept.append(i)
                break
    keep = np.zeros(T, dtype=bool)
    for i in kept:
        a, b = pieces[i]
        keep[a:b] = det[a:b]
    return keep, pieces


def smooth(x: np.ndarray, sigma: float, breaks: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing over axis 0 that ignores NaN and never crosses a break.

    Args:
        x: (T, ...) values, NaN missing.
        sigma: in frames (0: unchanged).
        breaks: bool (T,), True where a new piece starts (nothing is averaged across it).

    Returns:
        (T, ...) smoothed; NaN stays NaN.
    """
    if sigma <= 0 or len(x) < 2:
        return x.copy()
    T = len(x)
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    piece = np.cumsum(breaks if breaks is not None else np.zeros(T, bool))  # (T,) piece id
    valid = np.isfinite(x)
    values = np.where(valid, x, 0.0)
    num = np.zeros_like(values, dtype=np.float64)
    den = np.zeros_like(values, dtype=np.float64)
    for o, k in zip(offsets, kernel):
        src = np.clip(np.arange(T) + o, 0, T - 1)
        ok = ((np.arange(T) + o) >= 0) & ((np.arange(T) + o) < T) & (piece[src] == piece)
        shape = (T,) + (1,) * (x.ndim - 1)
        wgt = k * ok.reshape(shape) * valid[src]
        num += wgt * values[src]
        den += wgt
    out = np.where(valid, num / np.maximum(den, 1e-12), np.nan)
    return out.astype(x.dtype, copy=False)


def to_ntu(
    lm: Landmarks, *, min_confidence: float = MIN_CONFIDENCE, smooth_sigma: float = 1.0
) -> EstimatedSkeleton:
    """BlazePose landmarks of a clip -> the NTU-layout skeleton of its main person.

    Args:
        lm: the landmarks (see :class:`Landmarks`).
        min_confidence: joints whose confidence is lower become NaN.
        smooth_sigma: temporal smoothing in frames at 30 fps (scaled with ``lm.fps``; 0: none).

    Returns:
        an :class:`EstimatedSkeleton` (see the module docstring for every step).
    """
    T = len(lm.image)
    h, w = lm.frame_size
    keep, pieces = main_person(lm)
    warnings = []
    missing = np.flatnonzero(~lm.detected)
    if len(missing) == T:
        warnings.append("no person was found in any frame")
    elif len(missing):
        warnings.append(f"no person found in {len(missing)} of {T} frames ({_spans(missing)})")
    other = np.flatnonzero(lm.detected & ~keep)
    if len(other):
        warnings.append(
            f"frames {_spans(other)} followed someone else (the estimate jumped to another person); "
            "they are left without a skeleton"
        )
    px = lm.image * np.array([w, h], np.float64)  # (T, 33, 2)
    world = lm.world.astype(np.float64) * np.array([1.0, -1.0, 1.0])  # y up
    # metres per pixel at the person (median over the clip) places the hips in camera space
    torso_px, torso_m = _torso(px)[keep], _torso(lm.world.astype(np.float64))[keep]
    m_per_px = float(np.median(torso_m / np.maximum(torso_px, 1e-6))) if keep.any() else 0.0
    f = (w / 2) / np.tan(np.deg2rad(KINECT_HFOV_DEG / 2))
    depth = f * m_per_px
    hips = _hips(px)  # (T, 2)
    offset = np.stack(
        [(hips[:, 0] - w / 2) * m_per_px, -(hips[:, 1] - h / 2) * m_per_px, np.full(T, depth)], axis=-1
    )  # (T, 3)
    cam = world + offset[:, None, :]  # (T, 33, 3)

    conf = map_confidence(np.where(keep[:, None], lm.visibility, 0.0))  # (T, 25)
    j3d, j2d = map_landmarks(cam), map_landmarks(px)  # (T, 25, 3), (T, 25, 2)
    breaks = np.zeros(T, bool)
    for a, _ in pieces:
        breaks[a] = True
    sigma = smooth_sigma * lm.fps / 30.0
    j3d = np.where(keep[:, None, None], j3d, np.nan)
    j2d = np.where(keep[:, None, None], j2d, np.nan)
    j3d, j2d = smooth(j3d, sigma, breaks), smooth(j2d, sigma, breaks)
    low = conf < min_confidence
    j3d[low], j2d[low] = np.nan, np.nan
    return EstimatedSkeleton(
        joints3d=j3d[:, None].astype(np.float32), joints2d=j2d[:, None].astype(np.float32),
        confidence=conf[:, None].astype(np.float32), frame_size=(int(h), int(w)), warnings=warnings,
        min_confidence=min_confidence,
    )  # fmt: skip
