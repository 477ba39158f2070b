"""Skeleton normalisation for models that read joints.

Origin: every joint of every person is expressed relative to the body centre of the first frame
in which person 0 is present (the spine-middle joint where the layout has one; the middle of the
hips for LCR-Net's 13 joints). This is the rule of the pose-driven attention authors' loaders,
except that it looks for the first *valid* frame rather than trusting frame 0 to hold a body.

View normalisation (optional): additionally rotate about the vertical axis so that person 0's
hips in that frame run along +x (left hip minus right hip), which removes the camera's azimuth.
"""

from __future__ import annotations

import numpy as np

from core_models.data.layouts import SkeletonLayout


def _first_valid_frame(joints: np.ndarray, layout: SkeletonLayout) -> int | None:
    """First frame where person 0's origin joints are all present."""
    origin = joints[:, 0, list(layout.origin_joints)]  # (T, k, 3)
    ok = np.isfinite(origin).all(axis=(1, 2))
    idx = np.flatnonzero(ok)
    return int(idx[0]) if idx.size else None


def normalize_skeleton(joints3d: np.ndarray, layout: SkeletonLayout, *, view: bool = False) -> np.ndarray:
    """Move (and optionally rotate) skeletons into the body frame of the first valid frame.

    Args:
        joints3d: float (T, M, J, 3); NaN where missing.
        layout: the skeleton layout (gives the origin and hip joints).
        view: also rotate about y so the hips of that frame align with +x.

    Returns:
        float32 (T, M, J, 3), NaN kept where the input was NaN. A clip with no valid frame is
        returned unchanged.
    """
    if joints3d.ndim != 4 or joints3d.shape[-1] != 3 or joints3d.shape[2] != layout.num_joints:
        raise ValueError(f"joints3d must be (T, M, {layout.num_joints}, 3), got {joints3d.shape}")
    out = joints3d.astype(np.float32, copy=True)
    t0 = _first_valid_frame(out, layout)
    if t0 is None:
        return out
    origin = out[t0, 0, list(layout.origin_joints)].mean(axis=0)  # (3,)
    out -= origin
    if view:
        across = out[t0, 0, layout.left_hip] - out[t0, 0, layout.right_hip]
        if np.isfinite(across).all() and np.hypot(across[0], across[2]) > 1e-6:
            angle = np.arctan2(across[2], across[0])  # rotate this onto +x around y
            c, s = np.cos(angle), np.sin(angle)
            rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=np.float32)
            out = out @ rot.T
    return out


def fill_missing(joints: np.ndarray, value: float = 0.0) -> np.ndarray:
    """Replace NaN (absent person or joint) with ``value`` for a network's input."""
    return np.where(np.isfinite(joints), joints, np.float32(value)).astype(np.float32)
