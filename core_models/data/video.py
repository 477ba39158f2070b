"""Reading and writing videos with OpenCV, with clear errors for files that cannot be decoded.

Frames are uint8 RGB (T, H, W, 3) everywhere in the project (OpenCV itself works in BGR).
The writer picks the codec from the extension: ``.avi`` Motion-JPEG (what the synthetic NTU-format
data uses), ``.webm`` VP8 (what browsers play; OpenCV's default ``mp4v`` does not play in a
browser), ``.mp4`` / ``.mov`` mp4v.

:func:`read_video` is the datasets' reader (whole short clips, or chosen frames). Users' own
files go through :func:`decode_video`, which is built for files nobody here made:

* a **window** (``start``, ``length`` frames) is decoded, never the rest of the file: the
  position is set with a seek (checked; frames are skipped one by one where seeking fails);
* frames are **downscaled as they are decoded** (longer side at most ``max_side``) into one
  preallocated array, so a full-size frame never outlives its decoding; a **budget** on decoded
  frames x pixels (:data:`MAX_DECODED_PIXELS`) stops decoding with a warning;
* **damage is reported, not hidden**: a read that fails in the middle of the stream is retried
  (FFmpeg resynchronises after a corrupt packet) and counted; the decoded count is set against
  the container's claim ("68 of 444 frames decoded"); runs of blank frames are listed; a file
  that opens but decodes no frame, or only blank ones, is refused (:class:`DataFormatError`).

What was found is a :class:`DecodeReport`; its :meth:`~DecodeReport.warnings` are the sentences
the app shows with the clip (``clip.meta["warnings"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core_models.data.errors import DataFormatError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mov", ".mkv")
_CODECS = {".avi": "MJPG", ".webm": "VP80", ".mp4": "mp4v", ".mov": "mp4v", ".mkv": "VP80"}


# Decoding budget for users' files: frames x pixels after downscaling (64 M pixels = 192 MB of
# uint8 RGB, a 36 s 720p video at 320 px); beyond it decoding stops with a warning.
MAX_DECODED_PIXELS = 64 * 1024**2
# Consecutive failed reads tolerated in the middle of a stream before it counts as ended.
MAX_RESYNC = 64
# A frame is blank when its pixels barely vary (standard deviation of a grey thumbnail below this)
BLANK_STD = 2.0
BLANK_RUN = 5  # runs of at least this many blank frames are reported


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about itself (the frame count is the container's claim)."""

    num_frames: int
    fps: float
    height: int
    width: int

    @property
    def seconds(self) -> float:
        """Duration the container claims (0 when it gives no frame count or fps)."""
        return self.num_frames / self.fps if self.fps > 0 and self.num_frames > 0 else 0.0


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise DataFormatError(path, "video file does not exist", expected="a readable video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataFormatError(
            path,
            "OpenCV cannot open this file as a video: the container is damaged or not a video "
            "(an mp4 cut short loses the index it keeps at its end)",
            expected="a complete mp4, avi, webm or mov file",
        )
    return cap


def _info(cap: cv2.VideoCapture) -> VideoInfo:
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    fps = cap.get(cv2.CAP_PROP_FPS)
    # Damaged headers claim nonsense (negative or astronomic counts, fps of 0 or 90000): unknown.
    count = int(count) if np.isfinite(count) and 0 < count < 10**8 else 0
    fps = float(fps) if np.isfinite(fps) and 0 < fps <= 1000 else 0.0
    height, width = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    return VideoInfo(count, fps, height, width)


def video_info(path: str | Path) -> VideoInfo:
    """Frame count, fps and size from the container, without decoding the frames.

    A count or fps the header cannot give (or gives as nonsense) is 0.
    """
    path = Path(path)
    cap = _open(path)
    try:
        return _info(cap)
    finally:
        cap.release()


@dataclass(frozen=True)
class DecodeReport:
    """What decoding a user's file found (see the module docstring).

    Attributes:
        header_frames: the container's frame count (0: it does not say).
        start: first frame of the decoded window.
        requested: frames the window asked for (``None``: to the end).
        decoded: frames decoded.
        damaged: reads that failed in the middle of the stream and were skipped.
        blank_runs: ``(first, end)`` clip frames (end excluded) of runs of blank frames.
        capped: decoding stopped at the :data:`MAX_DECODED_PIXELS` budget.
        scale: the downscaling factor applied (1.0: frames kept at their size).
    """

    header_frames: int
    start: int
    requested: int | None
    decoded: int
    damaged: int = 0
    blank_runs: tuple[tuple[int, int], ...] = ()
    capped: bool = False
    scale: float = 1.0

    @property
    def expected(self) -> int | None:
        """Frames the window should have held by the container's count (``None`` if unknown)."""
        if self.header_frames <= 0:
            return self.requested
        rest = max(0, self.header_frames - self.start)
        return rest if self.requested is None else min(rest, self.requested)

    def warnings(self) -> list[str]:
        """The findings as sentences for the user (empty for a clean file)."""
        out = []
        exp = self.expected
        # containers often miscount by a frame; a real shortfall is larger
        if exp is not None and exp - self.decoded > max(1, exp // 100) and not self.capped:
            where = f" from frame {self.start}" if self.start else ""
            out.append(
                f"{self.decoded} of {exp} frames decoded{where}: the stream ends early or is damaged "
                f"(the file's header promises {self.header_frames or 'an unknown number of'} frames)"
            )
        if self.damaged:
            out.append(f"{self.damaged} damaged frame(s) could not be decoded and were skipped")
        for a, b in self.blank_runs:
            out.append(f"frames {a}-{b - 1} ({b - a}) are blank")
        if self.capped:
            out.append(
                f"decoding stopped after {self.decoded} frames, the most that is decoded at this size; "
                "choose a window (a later start) to see the rest"
            )
        return out


@dataclass
class DecodedVideo:
    """Frames of a user's file with what decoding found.

    Attributes:
        frames: uint8 (T, H, W, 3) RGB, downscaled.
        fps: frames per second (30 when the container does not say).
        info: the container's own description (full size).
        report: see :class:`DecodeReport`.
    """

    frames: np.ndarray
    fps: float
    info: VideoInfo
    report: DecodeReport


def scaled_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(H, W) with the longer side at most ``max_side`` (unchanged when smaller or ``None``)."""
    if max_side is None or max(height, width) <= max_side:
        return height, width
    s = max_side / max(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


def shrink_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` resized to ``size`` (h, w): area averaging, after a cheap bilinear halving step
    when shrinking more than twice (a 720p frame to 320 px: 0.7 ms instead of 1.8 ms, alike)."""
    h, w = size
    if frame.shape[0] > 2 * h and frame.shape[1] > 2 * w:
        frame = cv2.resize(frame, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)


def _seek(cap: cv2.VideoCapture, start: int) -> int:
    """Move to frame ``start``; returns the frames that could not be skipped (0 when all went)."""
    if start <= 0:
        return 0
    if cap.set(cv2.CAP_PROP_POS_FRAMES, start) and int(cap.get(cv2.CAP_PROP_POS_FRAMES)) == start:
        return 0
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # the seek failed or landed elsewhere: skip frame by frame
    for i in range(start):
        if not cap.grab():
            return start - i
    return 0


def blank_frames(frames: np.ndarray) -> np.ndarray:
    """bool (T,): frames whose pixels barely vary (black, white or any flat colour)."""
    out = np.zeros(len(frames), dtype=bool)
    for t, f in enumerate(frames):
        step = max(1, max(f.shape[:2]) // 160)  # every few pixels: fast, and small details still count
        out[t] = float(f[::step, ::step].std()) < BLANK_STD
    return out


def _runs(mask: np.ndarray, min_len: int) -> tuple[tuple[int, int], ...]:
    runs, t, n = [], 0, len(mask)
    while t < n:
        if mask[t]:
            e = t
            while e < n and mask[e]:
                e += 1
            if e - t >= min_len:
                runs.append((t, e))
            t = e
        else:
            t += 1
    return tuple(runs)


class FrameReader:
    """Frames of a window of a video, downscaled as they are decoded, one at a time.

    Iterating yields uint8 RGB (h, w, 3) frames (a fresh array each); failed reads in the middle
    of the stream are skipped and counted in ``damaged`` (see the module docstring). Use it as a
    context manager, or call :meth:`close`.

    Args:
        path: the video file.
        start: first frame of the window.
        length: most frames to yield (``None``: to the end).
        max_side: longer side of the yielded frames (``None``: full size).

    Raises:
        DataFormatError: the file cannot be opened or ``start`` lies beyond its end.
    """

    def __init__(self, path: str | Path, *, start: int = 0, length: int | None = None, max_side=None):
        self.path = Path(path)
        if start < 0 or (length is not None and length <= 0):
            raise ValueError(f"a window needs start >= 0 and length > 0, got start={start}, length={length}")
        self.start, self.length = start, length
        self.cap = _open(self.path)
        self.info = _info(self.cap)
        self.fps = self.info.fps or 30.0
        self.size = scaled_size(self.info.height, self.info.width, max_side)  # (h, w)
        self.decoded = self.damaged = 0
        if self.info.num_frames and start >= self.info.num_frames:
            self.close()
            raise DataFormatError(
                self.path, f"the window starts at frame {start}",
                expected=f"a start before the end ({self.info.num_frames} frames, {self.info.seconds:.1f} s)",
            )  # fmt: skip
        unskipped = _seek(self.cap, start)
        if unskipped:
            self.close()
            raise DataFormatError(
                self.path, f"the stream ends {unskipped} frames before the window's start {start}",
                expected="a start inside the decodable part of the file",
            )  # fmt: skip

    @property
    def expected(self) -> int:
        """Frames the window should yield by the container's count (0: unknown)."""
        if not self.info.num_frames:
            return self.length or 0
        rest = self.info.num_frames - self.start
        return rest if self.length is None else min(rest, self.length)

    def __iter__(self):
        h, w = self.size
        fails = 0
        while self.length is None or self.decoded < self.length:
            ok, bgr = self.cap.read()
            if not ok or bgr is None:
                fails += 1
                past = self.info.num_frames and self.start + self.decoded + fails > self.info.num_frames + 8
                if fails > MAX_RESYNC or past:
                    return
                continue
            self.damaged += fails  # failures followed by a good frame were damage, not the end
            fails = 0
            if bgr.shape[:2] != (h, w):
                bgr = shrink_frame(bgr, (h, w))
            self.decoded += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.cap.release()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def decode_video(
    path: str | Path,
    *,
    start: int = 0,
    length: int | None = None,
    max_side: int | None = None,
    max_pixels: int = MAX_DECODED_PIXELS,
    progress=None,
) -> DecodedVideo:
    """Decode a window of a user's video, downscaled as it goes, and report what was wrong.

    Args:
        path: the video file.
        start: first frame of the window (0-based).
        length: frames to decode from ``start`` (``None``: to the end, within the budget).
        max_side: longer side of the kept frames (``None``: full size).
        max_pixels: budget of decoded frames x pixels (after downscaling).
        progress: optional ``callable(done, total)``; ``total`` is 0 when unknown.

    Returns:
        a :class:`DecodedVideo`.

    Raises:
        DataFormatError: the file cannot be opened, ``start`` lies beyond its end, no frame of the
            window decodes (an unreadable stream), or every decoded frame is blank.
    """
    path = Path(path)
    with FrameReader(path, start=start, length=length, max_side=max_side) as reader:
        info, (h, w) = reader.info, reader.size
        budget = max(1, max_pixels // max(1, h * w))
        want = budget if length is None else min(length, budget)
        if info.num_frames:  # the header sizes the allocation, with room for a count a little low
            want = min(want, info.num_frames - start + 16)
        frames = np.empty((want, h, w, 3), np.uint8)  # (T, h, w, 3), filled as frames arrive
        n = 0
        for frame in reader:
            frames[n] = frame
            n += 1
            if progress is not None and n % 32 == 0:
                progress(n, reader.expected)
            if n == want:
                break
        more = not info.num_frames or info.num_frames - start > budget
        capped = n == budget and (length is None or length > budget) and more
        damaged = reader.damaged
    if n == 0:
        raise DataFormatError(
            path, "no frame of the video stream could be decoded (unreadable or unsupported stream)",
            expected="a video OpenCV/FFmpeg can decode (H.264/MPEG-4 mp4, MJPG avi, VP8/VP9 webm)",
        )  # fmt: skip
    # free a large unused tail (a header that promised far more); a small one is kept as a view
    frames = frames[:n] if n >= 0.9 * len(frames) else frames[:n].copy()
    blank = blank_frames(frames)
    if blank.all():
        raise DataFormatError(
            path, f"all {n} decoded frames are blank (one flat colour)", expected="frames with a picture"
        )
    report = DecodeReport(
        header_frames=info.num_frames, start=start, requested=length, decoded=n, damaged=damaged,
        blank_runs=_runs(blank, BLANK_RUN), capped=capped,
        scale=h / info.height if info.height else 1.0,
    )  # fmt: skip
    return DecodedVideo(frames, reader.fps, info, report)


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
