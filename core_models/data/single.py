"""One video with an optional skeleton file: what the app loads for a user's own upload.

Videos: ``.mp4``, ``.avi``, ``.webm``, ``.mov``. Skeleton files (docs/skeleton-files.md):

* ``.skeleton``: the NTU RGB+D text format, read with
  :func:`~core_models.data.ntu.read_skeleton_file`; the two main actors are kept
  (:func:`~core_models.data.ntu.select_actors`), giving both 3D joints and 2D colour-pixel joints.
* ``.npy``: a numeric array (T, J, C) or (T, M, J, C). C = 2 is 2D joints in pixels of the video,
  C = 3 is 3D joints in metres; NaN marks a missing joint. Loaded with ``allow_pickle=False``: an
  object array is refused, never unpickled.
* ``.csv``: long format, one row per joint, header ``frame,person,joint,x,y`` (2D, pixels) or
  ``frame,person,joint,x,y,z`` (3D, metres). ``frame``, ``person`` and ``joint`` are 0-based
  integers; T, M and J are one more than the largest of each; (frame, person, joint) triples that
  no row gives are NaN, and a coordinate written ``nan`` is missing too.

The layout follows the joint count (25 -> NTU25, 20 -> NUCLA20, 13 -> LCR13) unless one is given;
any other count is a :class:`DataFormatError`. A video and skeleton that differ by a few frames
are trimmed to the shorter with a warning (:func:`~core_models.data.clip.align_lengths`); a larger
difference is an error. A single clip has no class: ``label = -1``, ``label_name = "unknown"``.

The video is decoded with :func:`~core_models.data.video.decode_video`: only a window
(``start``, ``length``) when one is given, downscaled as it is decoded, within a budget of decoded
pixels, with damage reported in ``clip.meta["warnings"]`` (and the full report in
``clip.meta["decode"]``); a file that decodes to nothing usable is a :class:`DataFormatError`.

:func:`check_upload` vets a file name and size before the app writes an upload to disk.
"""

from __future__ import annotations

import csv
import io
import math
from array import array
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from core_models.data.clip import Clip, align_lengths
from core_models.data.errors import DataFormatError
from core_models.data.files import (
    MAX_COORDINATE,
    check_coordinates,
    check_joints_present,
    check_readable,
    check_skeleton_shape,
    read_bytes,
    read_text,
)
from core_models.data.layouts import LCR13, NTU25, NUCLA20, SkeletonLayout
from core_models.data.ntu import read_skeleton_file, select_actors
from core_models.data.video import decode_video

SINGLE_VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mov")
SKELETON_EXTENSIONS = (".skeleton", ".npy", ".csv")
LAYOUT_BY_JOINTS = {25: NTU25, 20: NUCLA20, 13: LCR13}
MAX_UPLOAD_BYTES = {"video": 200 * 1024**2, "skeleton": 20 * 1024**2}
CSV_HEADERS = {
    ("frame", "person", "joint", "x", "y"): 2,
    ("frame", "person", "joint", "x", "y", "z"): 3,
}
# Caps on what a skeleton file may claim, so that a hostile CSV ("frame" = 10**9) cannot make the
# reader allocate gigabytes; real clips are far below them. Their product is bounded too
# (core_models.data.files.MAX_SKELETON_VALUES), before the array is allocated.
MAX_FRAMES = 100_000
MAX_PERSONS = 16
MAX_JOINTS = 1_000


def check_upload(name: str, size_bytes: int, kind: str, max_bytes: int | None = None) -> str:
    """Vet an upload's file name and size before it is written to disk.

    Args:
        name: the file name the user's browser sent (a bare name: no folders).
        size_bytes: its size.
        kind: ``"video"`` or ``"skeleton"``.
        max_bytes: the largest size accepted; default 200 MB for videos, 20 MB for skeletons.

    Returns:
        the lower-case extension (``".mp4"``).

    Raises:
        DataFormatError: the extension is not one of the accepted ones, the name holds a folder
            separator, or the file is empty or larger than ``max_bytes``.
        ValueError: ``kind`` is neither ``"video"`` nor ``"skeleton"``.
    """
    if kind not in MAX_UPLOAD_BYTES:
        raise ValueError(f"kind must be 'video' or 'skeleton', got {kind!r}")
    allowed = SINGLE_VIDEO_EXTENSIONS if kind == "video" else SKELETON_EXTENSIONS
    limit = MAX_UPLOAD_BYTES[kind] if max_bytes is None else max_bytes
    # The name is only used to pick a suffix, but one with folders in it is never legitimate.
    if not name or "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise DataFormatError(
            name or "<empty name>", "not a bare file name", expected="a name without folders"
        )
    ext = Path(name).suffix.lower()
    if ext not in allowed:
        raise DataFormatError(
            name, f"a {kind} upload with extension {ext or '(none)'!r}", expected=", ".join(allowed)
        )
    if size_bytes <= 0:
        raise DataFormatError(name, "the file is empty", expected="a non-empty file")
    if size_bytes > limit:
        raise DataFormatError(
            name, f"{size_bytes / 1024**2:.1f} MB is too large", expected=f"at most {limit / 1024**2:.0f} MB"
        )
    return ext


def load_single(
    video: str | Path,
    skeleton: str | Path | None = None,
    *,
    layout: SkeletonLayout | None = None,
    max_side: int | None = None,
    start: int = 0,
    length: int | None = None,
    skeleton_start: int = 0,
    progress=None,
) -> Clip:
    """Load one video (or a window of it) and, optionally, its skeleton.

    Args:
        video: an ``.mp4``, ``.avi``, ``.webm`` or ``.mov`` file.
        skeleton: a ``.skeleton``, ``.npy`` or ``.csv`` file (see the module docstring), or None.
        layout: the skeleton layout; by default chosen from the joint count. Without a skeleton
            it only names the layout the clip carries (NTU25 by default; the joints are None).
        max_side: shrink frames (and 2D joints with them) so the longer side is at most this;
            frames are shrunk as they are decoded.
        start, length: the window of video frames to load (``length`` None: to the end, within
            the decoding budget).
        skeleton_start: the video frame the skeleton file's first frame belongs to (0 for a
            skeleton of the whole video; ``start`` for one estimated on the window).
        progress: optional ``callable(done, total)`` while decoding.

    Returns:
        a :class:`Clip` with ``frames`` uint8 (T, H, W, 3), ``joints3d`` (T, M, J, 3) and / or
        ``joints2d`` (T, M, J, 2) as the skeleton file provides, label -1.
    """
    video = Path(video)
    if video.suffix.lower() not in SINGLE_VIDEO_EXTENSIONS:
        raise DataFormatError(
            video,
            f"unsupported video extension {video.suffix!r}",
            expected=", ".join(SINGLE_VIDEO_EXTENSIONS),
        )
    joints3d = joints2d = None
    meta: dict = {"source": str(video), "video": str(video), "dataset": "single"}
    warnings: list[str] = []
    check_readable(video, "video")
    if skeleton is not None:
        skeleton = Path(skeleton)
        joints3d, joints2d = read_skeleton(skeleton, warnings)
        arr = joints3d if joints3d is not None else joints2d
        layout = _layout_for(skeleton, arr.shape[2], layout)
        meta["skeleton"] = str(skeleton)
    elif layout is None:
        layout = NTU25  # Clip needs a layout; with no joints it describes nothing

    decoded = decode_video(video, start=start, length=length, max_side=max_side, progress=progress)
    frames, info, report = decoded.frames, decoded.info, decoded.report
    warnings.extend(report.warnings())
    meta.update(
        fps=decoded.fps, frame_size=(info.height, info.width), decode=report.__dict__.copy(),
        window=(start, len(frames)),
    )  # fmt: skip
    if skeleton is not None:
        first = start - skeleton_start
        if first < 0:
            raise ValueError(
                f"the window starts at {start}, before the skeleton's first frame {skeleton_start}"
            )
        joints3d = None if joints3d is None else joints3d[first:]
        joints2d = None if joints2d is None else joints2d[first:]
        have = len(joints3d if joints3d is not None else joints2d)
        if have == 0:
            raise DataFormatError(
                skeleton, f"no skeleton frame at or after video frame {start}",
                expected="a skeleton as long as the video",
            )  # fmt: skip
        # a window (or a decode stopped by the budget) cut inside the skeleton compares like for like
        if length is not None or start > 0 or report.capped:
            have = min(have, len(frames))
        n = align_lengths(skeleton, len(frames), have, warnings)
        frames = frames[:n]
        joints3d = None if joints3d is None else joints3d[:n]
        joints2d = None if joints2d is None else joints2d[:n]
        if joints2d is not None and info.height and info.width:
            scale = np.array([frames.shape[2] / info.width, frames.shape[1] / info.height], np.float32)
            joints2d = joints2d * scale  # pixels of the video -> pixels of the shrunk frames
    meta["warnings"] = warnings
    return Clip(
        name=video.stem,
        layout=layout,
        label=-1,
        label_name="unknown",
        frames=frames,
        joints3d=joints3d,
        joints2d=joints2d,
        meta=meta,
    )


def read_skeleton(
    path: str | Path, warnings: list[str] | None = None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Read a single-clip skeleton file into ``(joints3d, joints2d)``.

    Args:
        path: a ``.skeleton``, ``.npy`` or ``.csv`` file (a regular file of at most 32 MiB).
        warnings: where to say that frames have no joint or most coordinates are missing.

    Returns:
        float32 arrays (T, M, J, 3) and (T, M, J, 2); one of them is ``None`` for ``.npy`` and
        ``.csv`` files (they hold either 2D or 3D coordinates), neither for ``.skeleton`` files.

    Raises:
        DataFormatError: the file is not a regular readable file, does not fit its format, is
            larger than the skeleton bounds, or has no usable joint (every coordinate NaN).
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in SKELETON_EXTENSIONS:
        raise DataFormatError(
            path, f"unsupported skeleton extension {ext!r}", expected=", ".join(SKELETON_EXTENSIONS)
        )
    if ext == ".skeleton":
        frames = read_skeleton_file(path)
        if not frames or not any(frames):
            raise DataFormatError(path, "no body in any frame", expected="at least one body")
        joints3d, joints2d, _ = select_actors(frames)
        check_joints_present(path, joints3d, warnings)
        return joints3d, joints2d
    arr = _read_npy(path) if ext == ".npy" else _read_csv(path)
    check_joints_present(path, arr, warnings)
    return (arr, None) if arr.shape[-1] == 3 else (None, arr)


def _layout_for(path: Path, num_joints: int, layout: SkeletonLayout | None) -> SkeletonLayout:
    accepted = ", ".join(f"{j} ({lay.name})" for j, lay in LAYOUT_BY_JOINTS.items())
    if layout is None:
        if num_joints not in LAYOUT_BY_JOINTS:
            raise DataFormatError(path, f"{num_joints} joints per person", expected=f"one of {accepted}")
        return LAYOUT_BY_JOINTS[num_joints]
    if layout.num_joints != num_joints:
        raise DataFormatError(
            path, f"{num_joints} joints per person", expected=f"{layout.num_joints} for layout {layout.name}"
        )
    return layout


def _read_npy(path: Path) -> np.ndarray:
    """A numeric (T, M, J, C) float32 array from an ``.npy`` file (a (T, J, C) one gains M = 1).

    The header is read first (``numpy.lib.format``): the dtype, the shape and its size are checked
    against the skeleton bounds, and the data length against the header, before any array exists.
    Nothing is unpickled: an object dtype is refused from the header.
    """
    data = read_bytes(path, "skeleton file")
    buf = io.BytesIO(data)
    expected = "a float array (T, J, C) or (T, M, J, C), no pickled objects"
    try:
        version = npy_format.read_magic(buf)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(buf)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(buf)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} is not supported")
    except (ValueError, SyntaxError, TypeError, OverflowError, EOFError) as e:
        # not an .npy file at all, a damaged header, or a header that is not a plain literal
        raise DataFormatError(path, f"cannot read as a plain numeric .npy ({e})", expected=expected) from None
    if dtype.hasobject:
        raise DataFormatError(
            path,
            f"cannot read as a plain numeric .npy (dtype {dtype} holds Python objects)",
            expected=expected,
        )
    if dtype.kind not in "fiu" or dtype.subdtype is not None:
        raise DataFormatError(path, f"array of dtype {dtype}", expected="a float or integer array")
    shape4 = (shape[0], 1, *shape[1:]) if len(shape) == 3 else tuple(shape)
    if len(shape4) != 4 or shape4[-1] not in (2, 3) or min(shape4) <= 0:
        raise DataFormatError(
            path,
            f"array of shape {shape4}",
            expected="(T, J, C) or (T, M, J, C) with C = 2 or 3 and no empty axis",
        )
    check_skeleton_shape(path, shape4, where="array header")
    count = math.prod(shape)
    have = len(data) - buf.tell()
    if have != count * dtype.itemsize:
        raise DataFormatError(
            path, f"{have} bytes of array data after the header",
            expected=f"{count * dtype.itemsize} bytes for shape {tuple(shape)} of {dtype}",
        )  # fmt: skip
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=buf.tell())
    arr = arr.reshape(shape, order="F" if fortran else "C").reshape(shape4)
    check_coordinates(path, arr)
    return arr.astype(np.float32)  # (T, M, J, C)


def _read_csv(path: Path) -> np.ndarray:
    """A (T, M, J, C) float32 array from a long-format CSV (see the module docstring).

    Rows are read one at a time into compact arrays; the shape they imply is checked against
    the skeleton bounds before the array is allocated.
    """
    text = read_text(path, "skeleton file", encoding="utf-8-sig")  # tolerate a BOM from spreadsheets
    reader = csv.reader(io.StringIO(text, newline=None))
    header_no, header, C = 0, None, 0
    index = array("q")  # frame, person, joint of every row
    coords = array("d")
    lines = array("q")
    try:
        for row in reader:
            if not any(f.strip() for f in row):
                continue
            line_no = reader.line_num
            where = f"line {line_no}"
            if header is None:
                header_no, header = line_no, row
                header_key = tuple(f.strip().lower() for f in header)
                if header_key not in CSV_HEADERS:
                    raise DataFormatError(
                        path,
                        f"header {','.join(header)[:80]!r}",
                        where=f"line {header_no}",
                        expected="frame,person,joint,x,y or frame,person,joint,x,y,z",
                    )
                C = CSV_HEADERS[header_key]
                continue
            if len(row) != 3 + C:
                raise DataFormatError(
                    path, f"{len(row)} values", where=where, expected=f"{3 + C} values as the header says"
                )
            try:
                t, m, j = (int(v) for v in row[:3])
                xyz = [float(v) for v in row[3:]]
            except ValueError:
                raise DataFormatError(
                    path,
                    f"non-numeric value in {','.join(row)[:80]!r}",
                    where=where,
                    expected="integer frame, person, joint and numeric coordinates",
                ) from None
            if min(t, m, j) < 0 or t >= MAX_FRAMES or m >= MAX_PERSONS or j >= MAX_JOINTS:
                raise DataFormatError(
                    path,
                    f"frame {t}, person {m}, joint {j}",
                    where=where,
                    expected=f"0 <= frame < {MAX_FRAMES}, 0 <= person < {MAX_PERSONS}, "
                    f"0 <= joint < {MAX_JOINTS}",
                )
            for v in xyz:
                if abs(v) > MAX_COORDINATE:  # False for NaN, which marks a missing coordinate
                    problem = "infinite coordinate" if math.isinf(v) else f"coordinate {v:.4g}"
                    raise DataFormatError(
                        path, problem, where=where,
                        expected=f"finite numbers of magnitude at most {MAX_COORDINATE:g}, or nan",
                    )  # fmt: skip
            index.extend((t, m, j))
            coords.extend(xyz)
            lines.append(line_no)
    except csv.Error as e:
        raise DataFormatError(path, f"malformed CSV ({e})", where=f"line {reader.line_num}") from None
    if header is None:
        raise DataFormatError(path, "the file is empty", expected="a header and rows")
    if not lines:
        raise DataFormatError(path, "no data rows after the header", expected="one row per joint")
    idx = np.frombuffer(index, dtype=np.int64).reshape(-1, 3)  # (rows, 3)
    T, M, J = (int(n) + 1 for n in idx.max(axis=0))
    check_skeleton_shape(path, (T, M, J, C))
    flat = (idx[:, 0] * M + idx[:, 1]) * J + idx[:, 2]
    order = np.argsort(flat, kind="stable")
    repeated = order[1:][flat[order][1:] == flat[order][:-1]]  # later rows of a repeated triple
    if len(repeated):
        r = int(repeated.min())
        t, m, j = (int(v) for v in idx[r])
        raise DataFormatError(path, f"frame {t}, person {m}, joint {j} given twice", where=f"line {lines[r]}")
    arr = np.full((T * M * J, C), np.nan, dtype=np.float32)
    arr[flat] = np.frombuffer(coords, dtype=np.float64).reshape(-1, C)
    return arr.reshape(T, M, J, C)
