"""Writers of tiny NTU RGB+D samples in the real on-disk format, for reader tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core_models.data.ntu import NTUBody, write_skeleton_file
from core_models.data.video import write_video


def body(body_id: int, t: int, *, offset=(0.0, 0.0, 3.0), motion: float = 0.0, upright: bool = True):
    """A 25-joint body whose joints move by ``motion`` metres per frame along x."""
    rng = np.random.default_rng(body_id % 1000)
    base = rng.normal(scale=0.1, size=(25, 3))
    base[:, 1] = np.linspace(-0.8, 0.8, 25) if upright else np.linspace(-0.05, 0.05, 25)
    if not upright:
        base[:, 0] = np.linspace(-0.8, 0.8, 25)
    xyz = base + np.asarray(offset) + np.array([motion * np.sin(t), 0.0, 0.0])
    joints = np.zeros((25, 12))
    joints[:, 0:3] = xyz
    joints[:, 3:5] = 200.0 + 50 * xyz[:, :2]
    joints[:, 5] = 16.0 + 10.0 * (xyz[:, 0] + 1.0)  # colorX inside a 32 x 24 video
    joints[:, 6] = 12.0 - 6.0 * xyz[:, 1]  # colorY
    joints[:, 7] = 1.0
    joints[:, 11] = 2
    info = np.array([0, 0, 1, 0, 1, 0, 0.01, -0.02, 2], dtype=float)
    return NTUBody(body_id, info, joints)


def write_sample(
    root: Path,
    name: str,
    frames: list[list[NTUBody]],
    *,
    video_frames: int | None = None,
    newline: str = "\n",
) -> tuple[Path, Path | None]:
    """Write ``name.skeleton`` and (unless ``video_frames == 0``) ``name_rgb.avi`` of 32 x 24."""
    skel = write_skeleton_file(root / "nturgb+d_skeletons" / f"{name}.skeleton", frames, newline=newline)
    n = len(frames) if video_frames is None else video_frames
    if n == 0:
        return skel, None
    video = np.zeros((n, 24, 32, 3), np.uint8)
    video[:, :, :, 0] = (np.arange(n) * 9 % 255)[:, None, None]
    return skel, write_video(root / "nturgb+d_rgb" / f"{name}_rgb.avi", video, fps=30)


def one_person(t_frames: int, body_id: int = 72057594037931101) -> list[list[NTUBody]]:
    return [[body(body_id, t, motion=0.05)] for t in range(t_frames)]
