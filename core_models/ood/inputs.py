"""Clips unlike the training data, made on demand, to measure and test the out-of-distribution score.

Five kinds, each a list of :class:`~core_models.data.clip.Clip` at the synthetic data's frame size
(160x120), made deterministically from a seed:

=============  =====================================================================================
``noise``      uniform random pixels in every frame
``no_person``  the synthetic room itself, empty (every setup and camera), with sensor noise
``still``      an in-distribution clip frozen on its middle frame (frames and skeleton)
``photos``     real photographs shipped in scikit-image's wheel (``skimage.data``: astronaut,
               camera, coffee, chelsea, rocket, hubble_deep_field), filmed by a slow zoom and pan
``shuffled``   an in-distribution clip with its frames (and skeleton) in random order
=============  =====================================================================================

A clip without a skeleton gets the one BlazePose estimates, as the app would offer
(:func:`with_estimated_pose`); where no person is found it stays without, and models that need a
skeleton cannot read it (the app says so rather than scoring it).
"""

from __future__ import annotations

import cv2
import numpy as np

from core_models.data.clip import Clip
from core_models.data.layouts import NTU25

OOD_KINDS = ("noise", "no_person", "still", "photos", "shuffled")
PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "hubble_deep_field")
SIZE = (120, 160)  # (H, W) of the synthetic dataset's frames
FRAMES = 48
FPS = 30.0


def _clip(name: str, frames: np.ndarray, joints3d=None, joints2d=None, kind: str = "") -> Clip:
    meta = {"dataset": "ood", "ood_kind": kind, "fps": FPS, "warnings": []}
    return Clip(name, NTU25, -1, "unknown", frames, joints3d, joints2d, meta)


def noise_clip(seed: int, frames: int = FRAMES, size: tuple[int, int] = SIZE) -> Clip:
    """Uniform random RGB noise."""
    rng = np.random.default_rng([seed, 1])
    return _clip(f"noise-{seed}", rng.integers(0, 256, (frames, *size, 3), dtype=np.uint8), kind="noise")


def empty_room_clip(setup: int, camera: int, seed: int = 0, frames: int = FRAMES, size=SIZE) -> Clip:
    """The synthetic room of ``setup`` seen by ``camera`` with nobody in it (and Gaussian sensor noise)."""
    from core_models.synth.render import background

    room = background(setup, camera, size).astype(np.float32)  # (H, W, 3)
    rng = np.random.default_rng([seed, setup, camera, 2])
    noisy = room[None] + rng.normal(0.0, 2.0, (frames, *room.shape))
    return _clip(f"room-S{setup:03d}C{camera:03d}", np.clip(noisy, 0, 255).astype(np.uint8), kind="no_person")


def still_clip(clip: Clip) -> Clip:
    """``clip`` frozen on its middle frame: the same picture and pose in every frame."""
    t, n = clip.num_frames // 2, clip.num_frames

    def freeze(a):
        return None if a is None else np.repeat(a[t : t + 1], n, axis=0)

    return _clip(
        f"still-{clip.name}", freeze(clip.frames), freeze(clip.joints3d), freeze(clip.joints2d), "still"
    )


def shuffled_clip(clip: Clip, seed: int = 0) -> Clip:
    """``clip`` with its frames, and its skeleton with them, in a random order."""
    order = np.random.default_rng([seed, 3]).permutation(clip.num_frames)

    def perm(a):
        return None if a is None else a[order]

    return _clip(
        f"shuffled-{clip.name}", perm(clip.frames), perm(clip.joints3d), perm(clip.joints2d), "shuffled"
    )


def photo(name: str) -> np.ndarray:
    """A photograph from ``skimage.data`` (shipped in the scikit-image wheel) as uint8 RGB (H, W, 3)."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def film(image: np.ndarray, frames: int = FRAMES, size: tuple[int, int] = SIZE, seed: int = 0) -> np.ndarray:
    """A slow zoom (100% to 85%) and pan over ``image``, as uint8 frames (T, H, W, 3) of ``size``."""
    H, W = image.shape[:2]
    h, w = size
    rng = np.random.default_rng([seed, 4])
    direction = rng.uniform(-1, 1, 2)
    aspect = w / h
    out = np.empty((frames, h, w, 3), np.uint8)
    for t in range(frames):
        z = 1.0 - 0.15 * t / max(frames - 1, 1)
        ch = min(H, W / aspect) * z  # crop of the output's aspect ratio
        cw = ch * aspect
        cx = W / 2 + direction[0] * (W - cw) / 2 * t / max(frames - 1, 1)
        cy = H / 2 + direction[1] * (H - ch) / 2 * t / max(frames - 1, 1)
        m = np.array([[w / cw, 0, w / 2 - cx * w / cw], [0, h / ch, h / 2 - cy * h / ch]], np.float32)
        out[t] = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    return out


def photo_clip(name: str, seed: int = 0, frames: int = FRAMES, size=SIZE) -> Clip:
    """A real photograph from ``skimage.data`` filmed by :func:`film`."""
    return _clip(f"photo-{name}", film(photo(name), frames, size, seed), kind="photos")


def with_estimated_pose(clip: Clip) -> Clip:
    """``clip`` with BlazePose's skeleton when it has none and a person is found; else unchanged."""
    if clip.joints3d is not None or clip.frames is None:
        return clip
    from core_models.pose.estimate import attach_pose, estimate_frames
    from core_models.pose.mapping import to_ntu

    lm = estimate_frames(clip.frames, frame_size=clip.frames.shape[1:3], fps=clip.meta.get("fps", FPS))
    if not lm.detected.any():
        return clip
    out = attach_pose(clip, to_ntu(lm))
    out.meta["ood_kind"] = clip.meta.get("ood_kind", "")
    return out


def ood_clips(
    id_clips: list[Clip], *, per_kind: int = 12, seed: int = 0, estimate_pose: bool = True
) -> dict[str, list[Clip]]:
    """``per_kind`` clips of every kind of :data:`OOD_KINDS` (``still`` and ``shuffled`` from ``id_clips``).

    With ``estimate_pose`` every clip without a skeleton gets BlazePose's (see the module docstring).
    """
    from core_models.synth.render import SETUPS

    cams = [(s, c) for s in sorted(SETUPS) for c in (1, 2, 3)]
    out = {
        "noise": [noise_clip(seed * 1000 + i) for i in range(per_kind)],
        "no_person": [empty_room_clip(*cams[i % len(cams)], seed=seed + i) for i in range(per_kind)],
        "still": [still_clip(c) for c in id_clips[:per_kind]],
        "photos": [photo_clip(PHOTOS[i % len(PHOTOS)], seed=seed + i) for i in range(per_kind)],
        "shuffled": [shuffled_clip(c, seed + i) for i, c in enumerate(id_clips[:per_kind])],
    }
    if estimate_pose:
        out = {k: [with_estimated_pose(c) for c in clips] for k, clips in out.items()}
    return out
