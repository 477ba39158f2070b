"""Reading untrusted files: the bounds and checks every reader shares, before anything is allocated.

A dataset folder, an upload or a path typed in the app can hold anything: a FIFO named like a
skeleton file (opening it for reading blocks forever), a folder named like a video, a file this
user cannot read, a 10 GB text file, a JSON nested 100,000 levels deep, a number too large for a
float, an array header claiming a terabyte. Every reader goes through this module, so each of these
is one :class:`~core_models.data.errors.DataFormatError` naming the file, what was found and what
was expected, never a hang, a traceback of another type or an allocation the file does not justify.

What is checked, and the bounds (module constants, generous for every real dataset):

* :func:`open_regular` opens without blocking (``O_NONBLOCK``) and refuses anything that is not a
  regular file once open (FIFOs, sockets, devices, folders), so swapping a file for a FIFO between
  a check and the open changes nothing. Permission and symlink-loop errors become clear messages.
* :func:`read_bytes` / :func:`read_text` refuse files over ``max_bytes`` (default
  :data:`MAX_TEXT_BYTES`, 32 MiB: the largest NTU RGB+D ``.skeleton`` files are a few MB).
* :func:`load_json` parses with integers too long for a float turned into ``inf`` (refused later as
  non-finite, instead of an ``OverflowError`` in NumPy), and turns nesting too deep for the parser
  (a ``RecursionError``) into a clear error.
* :func:`check_skeleton_shape` bounds the product frames x persons x joints x coordinates by
  :data:`MAX_SKELETON_VALUES` (16M values, 64 MB as float32: 100,000 frames of two 25-joint
  bodies in 3D) before an array of that shape is allocated.
* :func:`check_coordinates` refuses infinite coordinates and any beyond :data:`MAX_COORDINATE`
  (1e6 metres or pixels): such a value is a corrupt file, and beyond float32's range (3.4e38) it
  would silently become ``inf``.
* :func:`check_joints_present` refuses a skeleton with no usable joint and warns, as the dataset
  readers do, when frames have no joint or most coordinates are missing.
* Images (:func:`read_image`) are at most :data:`MAX_IMAGE_PIXELS` (4096 x 4096), read from their
  header before decoding, and the frames of one clip at most :data:`MAX_DECODED_BYTES` (1 GiB).
* :func:`walk` lists a root without blocking on special files, following links to folders once
  (a link loop ends), counting unreadable folders, and stopping at :data:`MAX_WALK_ENTRIES`.
* :func:`confined_to` (used by the served app) makes every read above refuse a file whose real
  path, links followed, lies outside the given folders, and :func:`walk` skip such folders: a
  link inside a data root to ``/etc/passwd`` is never opened, so no message can quote it.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from core_models.data.errors import DataFormatError

MAX_TEXT_BYTES = 32 * 1024**2
MAX_IMAGE_BYTES = 64 * 1024**2
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_DECODED_BYTES = 1024**3  # frames of one clip, uint8, after any shrinking
MAX_SKELETON_VALUES = 16_000_000
MAX_COORDINATE = 1e6
MAX_WALK_ENTRIES = 2_000_000
# A share of missing joint coordinates above this gets a warning in clip.meta["warnings"].
MOSTLY_MISSING = 0.5
# Integers with more digits than this are parsed as floats (a float holds about 15-17 digits).
_MAX_INT_DIGITS = 18

_KIND_NAMES = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


# The folders reads are confined to in this context (thread), or None: see confined_to().
_CONFINED: ContextVar[tuple[Path, ...] | None] = ContextVar("confined_to", default=None)


def _kind(mode: int) -> str:
    return _KIND_NAMES.get(stat.S_IFMT(mode), "not a regular file")


@contextlib.contextmanager
def confined_to(folders: Iterable[str | Path]) -> Iterator[None]:
    """Within this block (this thread), refuse to open files whose real path is outside ``folders``."""
    token = _CONFINED.set(tuple(Path(f).resolve() for f in folders))
    try:
        yield
    finally:
        _CONFINED.reset(token)


def _outside(real: str | Path) -> bool:
    """Whether a real (resolved) path lies outside the folders of :func:`confined_to`."""
    roots = _CONFINED.get()
    if roots is None:
        return False
    real = Path(real)
    return not any(real == r or r in real.parents for r in roots)


def _fd_path(fd: int, path: Path) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")  # exactly the file that was opened
    except OSError:
        return os.path.realpath(path)


def open_regular(
    path: str | Path, what: str = "file", *, error: Callable[..., Exception] = DataFormatError
) -> BinaryIO:
    """Open ``path`` for binary reading, refusing anything but a readable regular file.

    Args:
        path: the file.
        what: what the file should be, for the message ("skeleton file").
        error: the exception type to raise, called as ``error(path, problem, expected=...)``
            (:class:`DataFormatError`, or ``CheckpointError`` for checkpoints).

    Raises:
        ``error``: the file does not exist, is not a regular file (a FIFO, a folder, a device),
            cannot be read by this user, or is a link loop.
    """
    path = Path(path)
    expected = f"a readable regular {what}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error(path, f"{what} does not exist", expected=expected) from None
    except PermissionError:
        raise error(path, f"permission denied: this user cannot read the {what}", expected=expected) from None
    except OSError as e:  # ELOOP (a link loop), ENXIO (a socket), ENAMETOOLONG, EIO ...
        raise error(
            path, f"cannot open the {what} ({e.strerror or type(e).__name__})", expected=expected
        ) from None
    try:
        if _outside(_fd_path(fd, path)):
            raise error(path, "lies outside the folders this server offers (a link?)", expected=expected)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(path, f"is {_kind(mode)}, not a regular {what}", expected=expected)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path, what: str = "file", *, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (see :func:`open_regular`)."""
    path = Path(path)
    with open_regular(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise DataFormatError(
                path, f"{size / 1024**2:.1f} MiB is too large for a {what}",
                expected=f"at most {max_bytes / 1024**2:.0f} MiB",
            )  # fmt: skip
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise DataFormatError(path, f"reading the {what} failed ({e.strerror})") from None
    if len(data) > max_bytes:  # grew while being read
        raise DataFormatError(path, f"more than {max_bytes / 1024**2:.0f} MiB", expected=f"a {what}")
    return data


def read_text(
    path: str | Path, what: str = "text file", *, encoding: str = "utf-8", max_bytes: int = MAX_TEXT_BYTES
) -> str:
    """A regular text file decoded with ``encoding`` (a non-decodable byte is a clear error)."""
    data = read_bytes(path, what, max_bytes=max_bytes)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        name = "ASCII" if encoding == "ascii" else encoding.upper().replace("-SIG", "")
        raise DataFormatError(
            path, f"non-{name} byte at offset {e.start}", expected=f"a text {what}"
        ) from None


def _parse_int(text: str) -> int | float:
    # Longer integers than a float holds exactly are read as floats: a 400-digit one becomes inf
    # (refused as non-finite where numbers are checked) instead of an OverflowError in NumPy.
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else float(text)


def load_json(path: str | Path, what: str = "JSON file", *, max_bytes: int = MAX_TEXT_BYTES) -> Any:
    """Parse a JSON file safely: bounded size, long integers as floats, deep nesting refused.

    Raises:
        DataFormatError: the file is not a regular readable file, too large, not UTF-8, not JSON,
            or nested too deeply for the parser (about 1,000 levels: Python's recursion limit).
    """
    path = Path(path)
    text = read_text(path, what, encoding="utf-8-sig", max_bytes=max_bytes)
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as e:
        raise DataFormatError(
            path,
            f"not valid JSON ({e.msg})",
            where=f"line {e.lineno}, column {e.colno}",
            expected=f"a {what}",
        ) from None
    except RecursionError:  # the C parser recurses once per level and stops at the recursion limit
        raise DataFormatError(path, "JSON nested too deeply to parse", expected=f"a {what}") from None
    except (ValueError, OverflowError) as e:
        raise DataFormatError(path, f"not usable JSON ({type(e).__name__})", expected=f"a {what}") from None


def check_skeleton_shape(path: str | Path, shape: tuple[int, ...], where: str = "") -> None:
    """Refuse a skeleton array shape whose size exceeds :data:`MAX_SKELETON_VALUES` (before allocating)."""
    size = math.prod(int(n) for n in shape)
    if size > MAX_SKELETON_VALUES:
        dims = " x ".join(str(int(n)) for n in shape)
        raise DataFormatError(
            path, f"a skeleton of {dims} = {size:,} values is too large", where=where,
            expected=f"at most {MAX_SKELETON_VALUES:,} values (frames x persons x joints x coordinates)",
        )  # fmt: skip


def check_coordinates(path: str | Path, values: np.ndarray, where: str = "") -> None:
    """Refuse infinite coordinates and any of magnitude above :data:`MAX_COORDINATE` (NaN is allowed)."""
    values = np.asarray(values)
    if values.dtype.kind not in "fiu" or values.size == 0:
        return
    with np.errstate(invalid="ignore"):
        bad = np.abs(values.astype(np.float64, copy=False)) > MAX_COORDINATE  # False for NaN
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), values.shape)
        value = float(values[first])
        problem = "infinite coordinate" if math.isinf(value) else f"coordinate {value:.4g}"
        at = where or f"index {tuple(int(i) for i in first)}"
        raise DataFormatError(
            path, problem, where=at,
            expected=f"finite numbers of magnitude at most {MAX_COORDINATE:g} (metres or pixels), or NaN",
        )  # fmt: skip


def check_joints_present(path: str | Path, joints: np.ndarray, warnings: list[str] | None = None) -> None:
    """Refuse a (T, M, J, C) skeleton without any usable joint; warn when most of it is missing.

    A joint is usable when all its coordinates are numbers (not NaN). The warnings say how many
    frames have no joint at all and what share of the coordinates of the persons that appear is
    missing, as the dataset readers say how many frames have no body.
    """
    present = ~np.isnan(joints).any(axis=-1)  # (T, M, J)
    if not present.any():
        raise DataFormatError(
            path, "no usable joint: every coordinate is missing (NaN)",
            expected="at least one frame with a joint",
        )  # fmt: skip
    if warnings is None:
        return
    T = joints.shape[0]
    empty = int((~present.reshape(T, -1).any(axis=1)).sum())
    if empty:
        warnings.append(f"{empty} of {T} frames have no joint (NaN)")
    # Over the persons that appear at all: a second-person slot that stays empty is not missing data.
    persons = present.any(axis=(0, 2))  # (M,)
    missing = float(np.isnan(joints[:, persons]).mean())
    if missing > MOSTLY_MISSING:
        warnings.append(f"{missing:.1%} of the joint coordinates are missing (NaN)")


@dataclass(frozen=True)
class Entry:
    """One thing found by :func:`walk`: its path and whether it is a regular file."""

    path: Path
    regular: bool
    kind: str  # "file", or "a FIFO (named pipe)", "a folder" ... for the count of skipped entries

    @property
    def name(self) -> str:
        return self.path.name


def walk(root: str | Path, skipped: Counter[str] | None = None) -> Iterator[Entry]:
    """Every non-hidden entry under ``root`` that is not a folder to descend into, sorted per folder.

    Links to folders are followed once (a loop of links ends); links to files are judged by their
    target (a link to a FIFO is not regular; a broken link is not regular). Nothing is opened, so
    special files cannot block. Folders that cannot be read are counted in ``skipped``.

    Raises:
        DataFormatError: more than :data:`MAX_WALK_ENTRIES` entries (``/`` typed as a dataset root).
    """
    root = Path(root)
    seen: set[tuple[int, int]] = set()
    count = 0

    def unreadable(e: OSError) -> None:
        if skipped is not None:
            skipped["unreadable folders"] += 1

    for folder, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen or _outside(os.path.realpath(folder)):
            dirnames[:] = []  # reached again through a link, or a link out of the served folders
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        count += len(dirnames) + len(filenames)
        if count > MAX_WALK_ENTRIES:
            raise DataFormatError(
                root, f"more than {MAX_WALK_ENTRIES:,} files and folders under it",
                expected="a dataset root (choose the dataset's own folder)",
            )  # fmt: skip
        base = Path(folder)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = base / name
            try:
                mode = os.stat(path).st_mode
            except OSError:  # a broken link, or a link loop
                yield Entry(path, False, "a broken link")
                continue
            if _CONFINED.get() is not None and os.path.islink(path) and _outside(os.path.realpath(path)):
                yield Entry(path, False, "a link out of the served folders")
                continue
            regular = stat.S_ISREG(mode)
            yield Entry(path, regular, "file" if regular else _kind(mode))
        for name in dirnames:
            yield Entry(base / name, False, "a folder")


def regular_files(folder: str | Path, suffix: str, skipped: Counter[str] | None = None) -> list[Path]:
    """The regular files directly in ``folder`` whose names end with ``suffix``, sorted.

    Entries with that suffix that are not regular files (a FIFO, a folder, a broken link) are left
    out, never opened, and counted in ``skipped`` as "<kind> named like a data file".

    Raises:
        DataFormatError: the folder cannot be listed (it does not exist, or this user cannot read it).
    """
    folder = Path(folder)
    out = []
    try:
        with os.scandir(folder) as it:
            entries = sorted((e for e in it if e.name.endswith(suffix) and not e.name.startswith(".")),
                             key=lambda e: e.name)  # fmt: skip
    except OSError as e:
        raise DataFormatError(
            folder, f"cannot list the folder ({e.strerror})", expected="a readable folder"
        ) from None
    for e in entries:
        try:
            regular = e.is_file()  # follows links; no stat call for plain files
        except OSError:
            regular = False
        if regular:
            out.append(Path(e.path))
        elif skipped is not None:
            try:
                kind = _kind(e.stat().st_mode)
            except OSError:
                kind = "a broken link"
            skipped[f"{kind} named like a data file"] += 1
    return out


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """One RGB image, uint8 (H, W, 3), its size read from the header before it is decoded.

    Args:
        path: a JPEG or PNG file (any format OpenCV decodes).
        max_side: shrink the image so its longer side is at most this, as it is decoded.

    Raises:
        DataFormatError: not a regular readable file, larger than :data:`MAX_IMAGE_BYTES`, a
            header that is not an image's or claims more than :data:`MAX_IMAGE_PIXELS`, or data
            OpenCV cannot decode.
    """
    import cv2
    from PIL import Image

    path = Path(path)
    data = read_bytes(path, "image", max_bytes=MAX_IMAGE_BYTES)
    try:
        with Image.open(io.BytesIO(data)) as im:  # reads the header only
            width, height = im.size
    except Exception:  # PIL raises many types for data that is not an image; all mean the same
        raise DataFormatError(path, "not a readable image header", expected="a JPEG image") from None
    if width * height > MAX_IMAGE_PIXELS or min(width, height) < 1:
        raise DataFormatError(
            path, f"an image of {width} x {height} pixels", expected=f"at most {MAX_IMAGE_PIXELS:,} pixels"
        )
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataFormatError(path, "OpenCV cannot decode this image", expected="a JPEG image")
    if bgr.shape[:2] != (height, width):
        raise DataFormatError(
            path, f"decodes to {bgr.shape[1]} x {bgr.shape[0]} pixels but its header says {width} x {height}",
            expected="an undamaged image",
        )  # fmt: skip
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if max_side is not None and max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return rgb


def check_decoded_size(path: str | Path, num_frames: int, height: int, width: int) -> None:
    """Refuse decoding ``num_frames`` RGB frames of ``height`` x ``width`` over :data:`MAX_DECODED_BYTES`."""
    size = num_frames * height * width * 3
    if size > MAX_DECODED_BYTES:
        raise DataFormatError(
            path, f"{num_frames} frames of {width} x {height} pixels would take {size / 1024**3:.1f} GiB",
            expected=f"at most {MAX_DECODED_BYTES / 1024**3:.0f} GiB of decoded frames per clip",
        )  # fmt: skip


def list_folder(folder: str | Path) -> list[Path]:
    """The entries of ``folder``, sorted; :class:`DataFormatError` when it cannot be listed."""
    folder = Path(folder)
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise DataFormatError(
            folder, f"cannot list the folder ({e.strerror})", expected="a readable folder"
        ) from None


def check_readable(path: str | Path, what: str = "file") -> Path:
    """Refuse ``path`` unless it is a regular file this user can read (opened and closed at once).

    For files another library opens by name (OpenCV opens videos itself): a FIFO, a folder or an
    unreadable file gets a clear message here instead of a hang or a vague one there.
    """
    open_regular(path, what).close()
    return Path(path)
