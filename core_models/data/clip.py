"""The ``Clip`` container every reader returns, and ``ClipRef``, the cheap handle readers list.

Models, pages and tests never care where a clip came from: NTU RGB+D, N-UCLA, Toyota Smarthome,
UCF-101, a single video, and the synthetic generator all yield the same :class:`Clip`.

Shapes (axis vocabulary ``t`` frames, ``m`` persons, ``j`` joints, ``p`` parts):

* ``frames``   uint8 RGB (T, H, W, 3), or ``None`` when a skeleton-only read was asked for
* ``joints3d`` float32 (T, M, J, 3) camera-space metres, NaN where a person or joint is missing
* ``joints2d`` float32 (T, M, J, 2) pixel coordinates in ``frames``, NaN where missing
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core_models.data.layouts import SkeletonLayout


@dataclass(frozen=True)
class ClipTruth:
    """Ground truth of where and when a synthetic action happens.

    Attributes:
        part_names: body-part names of the layout, in the column order of ``parts``.
        parts: bool (T, P): part ``p`` carries the action at frame ``t``.
        interval: ``[start, end)`` frames that tell the class apart from its nearest confusers.
        confusers: class names this clip is most easily mistaken for.
        info: what else the generator knows (synthetic data v2): ``version``, ``dominant`` (the
            subject's dominant hand), ``acting_hand`` (the hand of a one-hand action, else
            absent), ``span`` (the whole action), ``events`` (distractors, with frames),
            ``faults`` (the skeleton file's sensor faults).
    """

    part_names: tuple[str, ...]
    parts: np.ndarray
    interval: tuple[int, int]
    confusers: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> int:
        """The synthetic data version that made this truth (1 when the sidecar does not say)."""
        return int(self.info.get("version", 1))

    @property
    def acting_hand(self) -> str | None:
        return self.info.get("acting_hand")

    @property
    def dominant(self) -> str | None:
        return self.info.get("dominant")

    def active_parts(self) -> tuple[str, ...]:
        """Names of the parts that carry the action in any frame of the interval."""
        start, end = self.interval
        used = self.parts[start:end].any(axis=0)
        return tuple(n for n, u in zip(self.part_names, used, strict=True) if u)

    def to_json(self) -> dict[str, Any]:
        return {
            "part_names": list(self.part_names),
            "parts": self.parts.astype(int).tolist(),
            "interval": list(self.interval),
            "confusers": list(self.confusers),
            **({"info": self.info} if self.info else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClipTruth:
        return cls(
            part_names=tuple(data["part_names"]),
            parts=np.asarray(data["parts"], dtype=bool),
            interval=(int(data["interval"][0]), int(data["interval"][1])),
            confusers=tuple(data.get("confusers", ())),
            info=dict(data.get("info", {})),
        )


@dataclass(frozen=True)
class ClipRef:
    """A listed clip: enough to split, filter and load it, without decoding anything.

    Attributes:
        name: the dataset's own sample name (``S001C002P003R002A013``).
        label: 0-based class index in the reader's class list.
        label_name: the class name.
        video: path of the RGB video, or ``None``.
        skeleton: path of the skeleton file or folder, or ``None``.
        meta: subject, camera (or view), setup, repetition and anything else the name encodes.
    """

    name: str
    label: int
    label_name: str
    video: Path | None
    skeleton: Path | None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Clip:
    """One action sample with its frames, skeletons, labels and metadata (DESIGN §3)."""

    name: str
    layout: SkeletonLayout
    label: int
    label_name: str
    frames: np.ndarray | None = None
    joints3d: np.ndarray | None = None
    joints2d: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    truth: ClipTruth | None = None

    def __post_init__(self) -> None:
        if self.frames is not None:
            f = self.frames
            if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
                raise ValueError(
                    f"clip {self.name}: frames must be uint8 (T, H, W, 3), got {f.dtype} {f.shape}"
                )
        for key in ("joints3d", "joints2d"):
            arr = getattr(self, key)
            if arr is None:
                continue
            dims = 3 if key == "joints3d" else 2
            if arr.ndim != 4 or arr.shape[2] != self.layout.num_joints or arr.shape[3] != dims:
                raise ValueError(
                    f"clip {self.name}: {key} must be (T, M, {self.layout.num_joints}, {dims}) for "
                    f"layout {self.layout.name}, got {arr.shape}"
                )
            if arr.dtype != np.float32:
                setattr(self, key, arr.astype(np.float32))

    @property
    def num_frames(self) -> int:
        """Frames in the clip: the video's length, else the skeleton's."""
        for arr in (self.frames, self.joints3d, self.joints2d):
            if arr is not None:
                return int(arr.shape[0])
        return 0

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(H, W) of the frames, or the size recorded in ``meta`` for skeleton-only reads."""
        if self.frames is not None:
            return int(self.frames.shape[1]), int(self.frames.shape[2])
        size = self.meta.get("frame_size")
        return (int(size[0]), int(size[1])) if size is not None else None

    @property
    def num_persons(self) -> int:
        arr = self.joints3d if self.joints3d is not None else self.joints2d
        return 0 if arr is None else int(arr.shape[1])


# A video and its skeleton file may differ by a few frames in real datasets (dropped frames at
# either end). Up to this share of the longer stream is trimmed with a warning; more is an error.
LENGTH_TOLERANCE = 0.1


def align_lengths(
    path: Path,
    video_frames: int,
    skeleton_frames: int,
    warnings: list[str],
) -> int:
    """The common length of a video and its skeleton, or a :class:`DataFormatError`.

    A small mismatch (at most 10% of the longer stream, and at least 3 frames) is trimmed to the
    shorter length and written into ``warnings`` (which the reader stores in ``clip.meta``), so
    the difference is never silent. A larger one means the pair does not belong together.
    """
    from core_models.data.errors import DataFormatError

    if video_frames == skeleton_frames:
        return video_frames
    longer = max(video_frames, skeleton_frames)
    allowed = max(3, int(LENGTH_TOLERANCE * longer))
    if abs(video_frames - skeleton_frames) > allowed:
        raise DataFormatError(
            path,
            f"the video has {video_frames} frames but the skeleton has {skeleton_frames}",
            expected=f"lengths within {allowed} frames of each other",
        )
    common = min(video_frames, skeleton_frames)
    warnings.append(
        f"video has {video_frames} frames and skeleton {skeleton_frames}; both trimmed to {common}"
    )
    return common


def shrink(frames: np.ndarray, joints2d: np.ndarray | None, max_side: int | None):
    """Resize frames so the longer side is at most ``max_side``; 2D joints follow the frames.

    Returns:
        ``(frames, joints2d)``; unchanged when already small enough or ``max_side`` is None.
    """
    import cv2

    if max_side is None or frames is None:
        return frames, joints2d
    h, w = frames.shape[1:3]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return frames, joints2d
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    out = np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA) for f in frames])
    if joints2d is not None:
        joints2d = joints2d * np.array([nw / w, nh / h], dtype=np.float32)
    return out, joints2d


def attach_video(
    video: Path | None,
    joints3d: np.ndarray,
    joints2d: np.ndarray | None,
    meta: dict,
    warnings: list[str],
    *,
    with_video: bool,
    max_side: int | None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Pair a skeleton with its video: what readers with both modalities share.

    Records fps, frame size and the video path in ``meta``; decodes the frames when
    ``with_video``, trims video and joints to a common length (:func:`align_lengths`), and
    shrinks the frames with their 2D joints (:func:`shrink`).

    Returns:
        ``(frames or None, joints3d, joints2d)``.
    """
    from core_models.data.files import check_readable
    from core_models.data.video import read_video, video_info

    frames = None
    if video is not None:
        info = video_info(check_readable(video, "video"))
        meta.update(fps=info.fps or 30.0, frame_size=(info.height, info.width), video=str(video))
        if with_video:
            frames, _ = read_video(video)
            n = align_lengths(video, len(frames), len(joints3d), warnings)
            frames, joints3d = frames[:n], joints3d[:n]
            joints2d = None if joints2d is None else joints2d[:n]
            frames, joints2d = shrink(frames, joints2d, max_side)
    elif with_video:
        warnings.append("no RGB video for this clip")
    meta.setdefault("fps", 30.0)
    return frames, joints3d, joints2d
