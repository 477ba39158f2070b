"""Northwestern-UCLA Multiview Action3D (N-UCLA): per-frame skeleton text files and RGB images.

On disk::

    multiview_action/                       (optional: the view folders may sit directly under root)
      view_1/ view_2/ view_3/               one folder per Kinect v1 camera (view)
        aAA_sSS_eEE/                        action, subject, episode (1-based, zero padded)
          <frame>_skeletons.txt             one file per frame, comma separated
          <frame>_rgb.jpg                   the RGB frame (optional: skeleton-only copies exist)

The real frame files are named like ``frame_12_tc_8736592_skeletons.txt``; a frame's key is the
name without the ``_skeletons.txt`` / ``_rgb.jpg`` suffix, and frames are ordered by the integers
in that key (so ``frame_10`` follows ``frame_9``).

A ``*_skeletons.txt`` file holds one block of 21 rows per tracked skeleton: a header row whose
first field is the skeleton id (or count), then 20 rows ``x,y,z,confidence`` in the Kinect v1
joint order of :data:`~core_models.data.layouts.NUCLA20` (camera-space metres). The files carry
no 2D joints, so ``Clip.joints2d`` is ``None``.

Choices this reader makes:

* Several skeletons in one frame: the one with the smallest mean depth (mean ``z``) is kept, as
  one public converter does; the performer stands in front of anything Kinect mistakes for a
  person. A clip therefore has M = 1 person.
* A frame whose skeleton file is missing (an RGB image without a partner) or empty is NaN and
  counted in ``clip.meta['warnings']``. A malformed row (wrong number of values, text where a
  number belongs, a truncated block) is a :class:`DataFormatError` naming the file and line.
* When some frames have an RGB image and some do not, frames without an image are dropped from
  the clip (skeleton included, so frames and joints stay aligned), with a warning; more missing
  images than :func:`~core_models.data.clip.align_lengths` tolerates is an error.
* Labels are 0..9 over the 10 actions that exist (IDs a07 and a10 do not); P-I3D's released code
  uses a 12-way output with two classes that never occur, which we do not repeat.

Protocols: ``cv`` is the standard cross-view protocol (train views 1 and 2, test view 3);
``cv1``, ``cv2``, ``cv3`` leave view 1, 2 or 3 out for testing and train on the other two
(``cv3`` is the same split as ``cv``). In every protocol, validation holds out subject 10
(:data:`VAL_SUBJECT`) of the training views, so validation never overlaps the test view.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from core_models.data.base import DatasetReader
from core_models.data.clip import LENGTH_TOLERANCE, Clip, ClipRef, shrink
from core_models.data.errors import DataFormatError
from core_models.data.files import (
    check_coordinates,
    check_decoded_size,
    check_skeleton_shape,
    list_folder,
    read_image,
    read_text,
    regular_files,
)
from core_models.data.layouts import NUCLA20

NUCLA_ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
CLASSES = (
    "pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
    "stand up", "donning", "doffing", "throw", "carry",
)  # fmt: skip
VIEWS = (1, 2, 3)
VAL_SUBJECT = 10
NUM_JOINTS = 20
# Values of a joint row: x, y, z (metres, Kinect v1 camera space) and a confidence.
JOINT_VALUES = 4
# A per-frame skeleton file holds a few 21-row blocks (about 1 KB each).
MAX_FRAME_FILE_BYTES = 1024**2

SAMPLE_RE = re.compile(r"a(\d+)_s(\d+)_e(\d+)")
VIEW_RE = re.compile(r"view_(\d+)")
SKELETON_SUFFIX = "_skeletons.txt"
RGB_SUFFIX = "_rgb.jpg"
_INT_RE = re.compile(r"\d+")


def format_name(action: int, subject: int, episode: int, view: int) -> str:
    """Sample name ``aAA_sSS_eEE_vVV``."""
    return f"a{action:02d}_s{subject:02d}_e{episode:02d}_v{view:02d}"


def _frame_order(key: str) -> tuple:
    """Sort key of a frame: the integers in its name, then the name itself."""
    return tuple(int(n) for n in _INT_RE.findall(key)), key


def read_skeletons_txt(path: str | Path) -> np.ndarray:
    """Parse one per-frame ``*_skeletons.txt`` file.

    Blank lines are ignored; line numbers in errors count every line of the file (1-based).

    Returns:
        float64 (S, 20, 4): ``x, y, z, confidence`` of each of the S skeletons in the file;
        S = 0 for an empty file.

    Raises:
        DataFormatError: a header whose first field is not a number, a joint row without exactly
            four numbers, or a block cut short (the file must hold whole blocks of 21 rows).
    """
    path = Path(path)
    text = read_text(path, "skeleton file", encoding="ascii", max_bytes=MAX_FRAME_FILE_BYTES)
    rows = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    block = NUM_JOINTS + 1
    if len(rows) % block:
        last = rows[-1][0]
        raise DataFormatError(
            path,
            f"{len(rows)} non-empty rows, which is not a whole number of skeletons",
            where=f"line {last}",
            expected=f"blocks of {block} rows (a header and {NUM_JOINTS} joints)",
        )
    skeletons = []
    for start in range(0, len(rows), block):
        line_no, header = rows[start]
        first = header.split(",")[0].strip()
        try:
            float(first)
        except ValueError:
            raise DataFormatError(
                path,
                f"skeleton header {header[:60]!r}",
                where=f"line {line_no}",
                expected="a header row whose first field is the skeleton id",
            ) from None
        joints = np.empty((NUM_JOINTS, JOINT_VALUES), dtype=np.float64)
        for j in range(NUM_JOINTS):
            line_no, row = rows[start + 1 + j]
            fields = row.split(",")
            if len(fields) != JOINT_VALUES:
                raise DataFormatError(
                    path,
                    f"{len(fields)} values in joint row {j + 1}",
                    where=f"line {line_no}",
                    expected=f"{JOINT_VALUES} comma-separated values x,y,z,confidence",
                )
            try:
                joints[j] = [float(v) for v in fields]
            except ValueError:
                raise DataFormatError(
                    path,
                    f"non-numeric value in joint row {row[:60]!r}",
                    where=f"line {line_no}",
                    expected="numbers x,y,z,confidence",
                ) from None
        where = f"lines {rows[start + 1][0]}-{line_no}"
        if not np.isfinite(joints[:, :3]).all():
            raise DataFormatError(path, "non-finite joint coordinate", where=where, expected="finite numbers")
        check_coordinates(path, joints[:, :3], where=where)
        skeletons.append(joints)
    if not skeletons:
        return np.zeros((0, NUM_JOINTS, JOINT_VALUES), dtype=np.float64)
    return np.stack(skeletons)


def nearest_skeleton(skeletons: np.ndarray) -> np.ndarray | None:
    """The skeleton with the smallest mean z of (S, 20, 4) skeletons, as (20, 4); None if S = 0."""
    if len(skeletons) == 0:
        return None
    return skeletons[int(np.argmin(skeletons[:, :, 2].mean(axis=1)))]


class NUCLAReader(DatasetReader):
    """Northwestern-UCLA Multiview Action3D (see the module docstring for format and protocols).

    Args:
        root: the folder holding ``multiview_action/`` or the ``view_N`` folders themselves.
    """

    name = "nucla"
    layout = NUCLA20
    protocols = ("cv", "cv1", "cv2", "cv3")

    def __init__(self, root: str | Path):
        super().__init__(root)
        self.classes = CLASSES

    def _view_folders(self) -> list[tuple[int, Path]]:
        for base in (self.root / "multiview_action", self.root):
            found = []
            if base.is_dir():
                for p in list_folder(base):
                    m = VIEW_RE.fullmatch(p.name)
                    if m and p.is_dir():
                        found.append((int(m.group(1)), p))
            if found:
                return found
        raise DataFormatError(
            self.root,
            "no view folder found",
            expected="multiview_action/view_1 .. view_3, or view_1 .. view_3 directly under the root",
        )

    def _scan(self) -> list[ClipRef]:
        refs = []
        for view, folder in self._view_folders():
            if view not in VIEWS:
                self.skipped[f"view folder {folder.name} (N-UCLA has views 1-3)"] += 1
                continue
            for sample in list_folder(folder):
                m = SAMPLE_RE.fullmatch(sample.name)
                if m is None or not sample.is_dir():
                    continue
                action, subject, episode = (int(g) for g in m.groups())
                if action not in NUCLA_ACTIONS:
                    self.skipped["action ID outside the 10 N-UCLA actions"] += 1
                    continue
                if not regular_files(sample, SKELETON_SUFFIX, self.skipped):
                    self.skipped["sample folder without skeleton files"] += 1
                    continue
                has_rgb = bool(regular_files(sample, RGB_SUFFIX))
                label = NUCLA_ACTIONS.index(action)
                meta = {"action": action, "subject": subject, "episode": episode, "view": view}
                refs.append(
                    ClipRef(
                        format_name(action, subject, episode, view),
                        label,
                        CLASSES[label],
                        video=sample if has_rgb else None,
                        skeleton=sample,
                        meta=meta,
                    )
                )
        if not refs and not self.skipped:
            raise DataFormatError(
                self.root,
                "no N-UCLA sample found",
                expected="view_N/aAA_sSS_eEE folders holding *_skeletons.txt files",
            )
        return refs

    def side(self, ref: ClipRef, protocol: str) -> str | None:
        protocol = self.check_protocol(protocol)
        test_view = 3 if protocol == "cv" else int(protocol[-1])
        if ref.meta["view"] == test_view:
            return "test"
        return "val" if ref.meta["subject"] == VAL_SUBJECT else "train"

    def load(self, ref: ClipRef, *, with_video: bool = True, max_side: int | None = None) -> Clip:
        """Read one sample folder.

        Returns:
            a :class:`Clip` with ``joints3d`` float32 (T, 1, 20, 3), ``joints2d`` None, and, when
            the folder has RGB images and ``with_video`` is set, ``frames`` uint8 (T, H, W, 3).
            ``meta`` gains ``multi_skeleton_frames`` and ``warnings``. The confidence column of
            the joint rows is not returned (:func:`read_skeletons_txt` gives it).
        """
        folder = ref.skeleton
        if folder is None or not folder.is_dir():
            raise DataFormatError(folder or ref.name, "sample folder does not exist")
        odd: Counter[str] = Counter()  # FIFOs, folders ... named like frame files: never opened
        skel_files = {p.name[: -len(SKELETON_SUFFIX)]: p for p in regular_files(folder, SKELETON_SUFFIX, odd)}
        rgb_files = {p.name[: -len(RGB_SUFFIX)]: p for p in regular_files(folder, RGB_SUFFIX, odd)}
        keys = sorted(set(skel_files) | set(rgb_files), key=_frame_order)
        warnings: list[str] = [f"{what} skipped ({n})" for what, n in sorted(odd.items())]

        if with_video and rgb_files:
            # Frames are matched by name, so dropping the few frames without an image keeps the
            # skeleton aligned with the video exactly.
            no_image = [k for k in keys if k not in rgb_files]
            allowed = max(3, int(LENGTH_TOLERANCE * len(keys)))
            if len(no_image) > allowed:
                raise DataFormatError(
                    folder,
                    f"{len(no_image)} of {len(keys)} frames have a skeleton but no RGB image",
                    expected=f"at most {allowed} frames without an image",
                )
            if no_image:
                warnings.append(f"{len(no_image)} frames without an RGB image dropped")
                keys = [k for k in keys if k in rgb_files]

        T = len(keys)
        check_skeleton_shape(folder, (T, 1, NUM_JOINTS, 3))
        joints3d = np.full((T, 1, NUM_JOINTS, 3), np.nan, dtype=np.float32)
        missing, empty, multi = 0, 0, 0
        for t, key in enumerate(keys):
            path = skel_files.get(key)
            if path is None:
                missing += 1
                continue
            skeletons = read_skeletons_txt(path)
            multi += len(skeletons) > 1
            chosen = nearest_skeleton(skeletons)
            if chosen is None:
                empty += 1
                continue
            joints3d[t, 0] = chosen[:, :3]
        if missing:
            warnings.append(f"{missing} frames without a skeleton file are NaN")
        if empty:
            warnings.append(f"{empty} frames with an empty skeleton file are NaN")
        if T == 0 or missing + empty == T:
            raise DataFormatError(folder, "no skeleton in any frame", expected="at least one skeleton")

        frames = None
        meta = dict(ref.meta)
        meta.update(
            source=str(folder),
            dataset="nucla",
            fps=30.0,
            multi_skeleton_frames=multi,
        )
        if rgb_files:
            if with_video:
                first = read_image(rgb_files[keys[0]])
                meta["frame_size"] = first.shape[:2]
                # images shrink as they are decoded; the clip's decoded size is bounded first
                h, w = _shrunk(first.shape[:2], max_side)
                check_decoded_size(folder, T, h, w)
                frames = np.empty((T, h, w, 3), np.uint8)
                for t, k in enumerate(keys):
                    im = read_image(rgb_files[k])
                    if im.shape != first.shape:
                        raise DataFormatError(
                            rgb_files[k],
                            f"image of size {im.shape[:2]}",
                            expected=f"the size of the clip's first frame, {first.shape[:2]}",
                        )
                    frames[t] = shrink(im[None], None, max_side)[0][0]  # (T, H, W, 3)
            else:
                meta["frame_size"] = read_image(next(iter(rgb_files.values()))).shape[:2]
        elif with_video:
            warnings.append("no RGB images for this sample")
        meta["warnings"] = warnings
        return Clip(
            name=ref.name,
            layout=NUCLA20,
            label=ref.label,
            label_name=ref.label_name,
            frames=frames,
            joints3d=joints3d,
            joints2d=None,
            meta=meta,
        )


def _shrunk(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(H, W) after :func:`~core_models.data.clip.shrink` to ``max_side``."""
    h, w = size
    if max_side is None or max(h, w) <= max_side:
        return h, w
    scale = max_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))
