"""Where the app's clip comes from: the built-in synthetic data, a dataset folder, or an upload.

A clip source is a small JSON-able dict, kept in ``st.session_state["clip_source"]``:

* ``{"kind": "synthetic", "name": "S001C001P001R001A001"}``: rendered on demand, then written in
  the NTU RGB+D format and read back with the dataset's reader, so the app sees exactly what the
  models saw in training (the same frame size, the AVI codec, the sensor-noised skeleton);
* ``{"kind": "dataset", "data": "ntu", "root": "data/ntu", "name": "S001C002P003R001A010"}``: only
  folders inside the server's data roots (:mod:`app_support.settings`, ``ADL_DATA_ROOTS``) are
  opened, and every file read for them must lie inside those roots too (links are followed and
  checked), so a visitor can neither probe the server's folders nor read a file outside them;
* ``{"kind": "upload", "video": PATH, "skeleton": PATH or None}``: files written by
  :func:`save_upload` after :func:`~core_models.data.single.check_upload` vetted them; optional
  keys ``start`` and ``length`` (a window of frames, for long videos) and ``pose`` (the path of a
  pose estimate made by :func:`estimate_pose`, cached beside the video per window).

Every function here raises ``DataFormatError`` (or ``CheckpointError``) with the reason; the
sidebar and the pages turn them into messages. Nothing here unpickles: skeleton ``.npy`` files are
read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from app_support.settings import DATA_ROOTS_VAR, PROJECT, data_roots, resolve_under_roots
from core_models.data import open_reader
from core_models.data.base import DatasetReader
from core_models.data.clip import Clip
from core_models.data.errors import DataFormatError
from core_models.data.files import confined_to
from core_models.data.single import check_upload, load_single
from core_models.pose.estimate import attach_pose, estimate_to_file, load_estimate

SYNTH_SIZE = (120, 160)  # the frame size of the written synthetic dataset (write_dataset's default)
MAX_SIDE = 320  # dataset and uploaded videos are shrunk to this longer side for the app
UPLOAD_DIR = Path(tempfile.gettempdir()) / "adl-attention-lab-uploads"
DATASETS = {
    "ntu": "NTU RGB+D 60/120 (nturgb+d_skeletons/, nturgb+d_rgb/)",
    "nucla": "Northwestern-UCLA (multiview_action/)",
    "smarthome": "Toyota Smarthome (mp4/, skeleton json)",
    "ucf101": "UCF-101 (UCF-101/, ucfTrainTestlist/)",
    "synth": "a written synthetic dataset (python -m core_models synth)",
}


def source_key(source: dict[str, Any]) -> str:
    """A stable string for a source (the cache key of its clip and of every inspection of it)."""
    return json.dumps(source, sort_keys=True)


def synthetic_clip(name: str, seed: int = 0) -> Clip:
    """Synthetic clip ``name`` as the dataset holds it (rendered, written in NTU format, read back)."""
    from core_models.synth.generate import dataset_clip

    return dataset_clip(name, seed=seed, size=SYNTH_SIZE)


def _shown(root: Path) -> str:
    return str(root.relative_to(PROJECT)) + "/" if root.is_relative_to(PROJECT) else str(root)


def open_dataset(data: str, root: str | Path) -> DatasetReader:
    """A reader over a dataset folder inside the data roots; raises with the reason otherwise.

    A path outside the roots gets the same answer whether it exists or not, and is never touched.
    """
    if data not in DATASETS:
        raise DataFormatError(str(data)[:40], "unknown dataset kind", expected=", ".join(DATASETS))
    typed = str(root).strip()
    real = resolve_under_roots(typed) if typed and "\x00" not in typed else None
    if real is None:
        roots = ", ".join(_shown(r) for r in data_roots())
        raise DataFormatError(
            typed[:200] or "<empty>", "not a folder this server offers",
            expected=f"a folder inside the data roots: {roots} (the server's {DATA_ROOTS_VAR} adds more)",
        )  # fmt: skip
    with confined_to(data_roots()):
        if not real.is_dir():
            raise DataFormatError(typed, "no such folder", expected=f"the root of a {DATASETS[data]}")
        reader = open_reader(data, real)
        if not reader.list_clips():
            raise DataFormatError(typed, "no clips found", expected=f"the layout of {DATASETS[data]}")
    return reader


def dataset_clip(reader: DatasetReader, name: str) -> Clip:
    """A clip of an open dataset; every file it reads must lie inside the data roots."""
    with confined_to(data_roots()):
        try:
            ref = reader.find(name)
        except KeyError:
            raise DataFormatError(reader.root, f"no clip named {name[:80]!r}") from None
        return reader.load(ref, max_side=MAX_SIDE)


def save_upload(
    video_name: str,
    video: bytes,
    skeleton_name: str | None = None,
    skeleton: bytes | None = None,
    *,
    folder: Path = UPLOAD_DIR,
) -> dict[str, Any]:
    """Vet and write an upload (a video and an optional skeleton file); returns its clip source.

    The files go under ``folder/<content hash>/`` with their vetted extensions, so the same upload
    is written once and two uploads never overwrite each other.
    """
    vext = check_upload(video_name, len(video), "video")
    sext = (
        check_upload(skeleton_name or "", len(skeleton or b""), "skeleton") if skeleton is not None else None
    )
    digest = hashlib.sha256(video + (skeleton or b"")).hexdigest()[:16]
    out = folder / digest
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(video_name).stem[:80] or "upload"
    vpath = out / f"{stem}{vext}"
    vpath.write_bytes(video)
    spath = None
    if skeleton is not None:
        spath = out / f"{stem}{sext}"
        spath.write_bytes(skeleton)
    return {"kind": "upload", "video": str(vpath), "skeleton": None if spath is None else str(spath)}


def load_source(source: dict[str, Any], reader: DatasetReader | None = None) -> Clip:
    """The clip a source names (``reader`` is the open dataset for a ``dataset`` source)."""
    kind = source.get("kind")
    if kind == "synthetic":
        return synthetic_clip(source["name"])
    if kind == "dataset":
        reader = reader or open_dataset(source["data"], source["root"])
        return dataset_clip(reader, source["name"])
    if kind == "upload":  # only save_upload makes these sources: files the app wrote itself
        clip = load_single(
            source["video"], source.get("skeleton"), max_side=MAX_SIDE,
            start=int(source.get("start") or 0), length=source.get("length"),
        )  # fmt: skip
        return with_pose(clip, source)
    raise ValueError(f"unknown clip source {source!r}")


def without_pose(source: dict[str, Any]) -> dict[str, Any]:
    """The source of the same clip without its pose estimate."""
    return {k: v for k, v in source.items() if k != "pose"}


def with_pose(clip: Clip, source: dict[str, Any]) -> Clip:
    """``clip`` with the pose estimate ``source`` names attached (unchanged when it names none).

    The estimate shares the clip's frames, so a video is decoded once with or without its pose.
    """
    if source.get("pose") and source.get("skeleton") is None:
        return attach_pose(clip, load_estimate(source["pose"]))
    return clip


def pose_path(source: dict[str, Any]) -> Path:
    """Where the pose estimate of an upload's window is cached (beside the video, per window)."""
    video = Path(source["video"])
    start, length = int(source.get("start") or 0), source.get("length")
    return video.with_name(f"{video.stem}.pose-{start}-{length or 'end'}.npz")


def cached_pose(source: dict[str, Any]) -> str | None:
    """The cached pose estimate of an upload's window, if one was made."""
    path = pose_path(source)
    return str(path) if path.is_file() else None


def estimate_pose(source: dict[str, Any], frames: int, progress=None) -> dict[str, Any]:
    """Estimate the pose of an upload's window (BlazePose, offline, in a child process) and cache it
    beside the video.

    Args:
        source: an ``upload`` source without a skeleton file.
        frames: the frames of the loaded clip (the estimate covers exactly these).
        progress: ``callable(done, total)``.

    Returns:
        ``stats`` of the estimate (frames, detected, seconds, fps).

    Raises:
        ValueError: no person was found in any frame.
    """
    start = int(source.get("start") or 0)
    stats = estimate_to_file(
        source["video"], pose_path(source), start=start, length=frames, progress=progress
    )
    if stats["detected"] == 0:
        raise ValueError(f"no person was found in any of the {stats['frames']} frames")
    return stats


def describe(clip: Clip) -> str:
    """One line about a clip: its source, subject / camera / setup where known, length and size."""
    m = clip.meta
    bits = [clip.name]
    origin = {"synth": "synthetic, NTU RGB+D format", "single": "uploaded"}.get(
        m.get("dataset"), m.get("dataset")
    )
    if origin:
        bits.append(str(origin))
    who = [
        f"{k} {p}{m[k]:03d}"
        for k, p in (("subject", "P"), ("camera", "C"), ("setup", "S"))
        if isinstance(m.get(k), int)
    ]
    if who:
        bits.append(", ".join(who))
    size = (
        f" · {clip.frames.shape[2]}x{clip.frames.shape[1]} px" if clip.frames is not None else " · no video"
    )
    bits.append(f"{clip.num_frames} frames{size}")
    if clip.joints3d is None and clip.joints2d is None:
        bits.append("no skeleton")
    return " · ".join(bits)
