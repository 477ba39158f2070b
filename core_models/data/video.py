"""Reading and writing videos with OpenCV, with clear errors for files that cannot be decoded.

Frames are uint8 RGB (T, H, W, 3) everywhere in the project (OpenCV itself works in BGR).
The writer picks the codec from the extension: ``.avi`` Motion-JPEG (what the synthetic NTU-format
data uses), ``.webm`` VP8 (what browsers play; OpenCV's default ``mp4v`` does not play in a
browser), ``.mp4`` / ``.mov`` mp4v.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core_models.data.errors import DataFormatError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mov", ".mkv")
_CODECS = {".avi": "MJPG", ".webm": "VP80", ".mp4": "mp4v", ".mov": "mp4v", ".mkv": "VP80"}


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about itself (the frame count is the container's claim)."""

    num_frames: int
    fps: float
    height: int
    width: int


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise DataFormatError(path, "video file does not exist", expected="a readable video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataFormatError(
            path, "OpenCV cannot open this file as a video", expected="mp4, avi, webm or mov"
        )
    return cap


def video_info(path: str | Path) -> VideoInfo:
    """Frame count, fps and size from the container, without decoding the frames."""
    path = Path(path)
    cap = _open(path)
    try:
        return VideoInfo(
            num_frames=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
            fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        )
    finally:
        cap.release()


def read_video(
    path: str | Path,
    *,
    indices: np.ndarray | list[int] | None = None,
    max_frames: int | None = None,
    size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, float]:
    """Decode a video into RGB frames.

    Args:
        path: the video file.
        indices: frame indices to keep (sorted or not, repeats allowed); ``None`` keeps all.
            Decoding still runs sequentially up to the last index, which is faster than seeking
            for the short clips of these datasets.
        max_frames: stop after this many decoded frames.
        size: optional (H, W) to resize every kept frame to.

    Returns:
        ``(frames, fps)`` with frames uint8 (T, H, W, 3).

    Raises:
        DataFormatError: the file cannot be opened, holds no decodable frame, or is shorter than
            the largest requested index.
    """
    path = Path(path)
    cap = _open(path)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    wanted = None if indices is None else np.asarray(indices, dtype=np.int64)
    last = None if wanted is None else int(wanted.max(initial=-1))
    decoded: list[np.ndarray] = []
    keep: dict[int, np.ndarray] = {}
    wanted_set = None if wanted is None else set(wanted.tolist())
    i = 0
    try:
        while True:
            if max_frames is not None and i >= max_frames:
                break
            if last is not None and i > last:
                break
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            if wanted_set is None or i in wanted_set:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                if size is not None and rgb.shape[:2] != tuple(size):
                    rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                if wanted_set is None:
                    decoded.append(rgb)
                else:
                    keep[i] = rgb
            i += 1
    finally:
        cap.release()
    if i == 0:
        raise DataFormatError(path, "no frame could be decoded", expected="at least one frame")
    if wanted is None:
        return np.stack(decoded), fps
    if last is not None and last >= i:
        raise DataFormatError(
            path,
            f"frame {last} was requested but the video decodes to only {i} frames",
            expected=f"at least {last + 1} frames",
        )
    if wanted.size == 0:
        h, w = size if size is not None else (0, 0)
        return np.zeros((0, h, w, 3), np.uint8), fps
    return np.stack([keep[int(k)] for k in wanted]), fps


def write_video(path: str | Path, frames: np.ndarray, fps: float = 30.0) -> Path:
    """Write uint8 RGB (T, H, W, 3) frames; the codec follows the extension (see module doc).

    The file is written next to its destination and renamed into place, so a reader never sees a
    half-written video.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be non-empty uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    ext = path.suffix.lower()
    if ext not in _CODECS:
        raise ValueError(f"cannot write {path.name}: extension must be one of {sorted(_CODECS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{ext}")
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*_CODECS[ext]), float(fps), (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open a {_CODECS[ext]} writer for {path}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    tmp.replace(path)
    return path
