"""UCF-101: AVI videos in class folders and the three official train/test split lists.

On disk (any sub-folders of the root; the official archives unpack to ``UCF-101/`` and
``ucfTrainTestlist/``)::

    ucfTrainTestlist/classInd.txt       "1 ApplyEyeMakeup" ... "101 YoYo"   (1-based)
    ucfTrainTestlist/trainlist01.txt    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    ucfTrainTestlist/testlist01.txt     "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"  (no label)
    .../02.txt, .../03.txt              splits 2 and 3
    UCF-101/<Class>/v_<Class>_gGG_cCC.avi

The official lists use CRLF line endings; any line ending is accepted. A test line has no label:
it is taken from the class folder through ``classInd.txt``. A train line's label must agree with
the folder's class. Videos are found by file name anywhere under the root; a listed video that
is not on disk is skipped with a count. Lines that do not parse, unknown classes and labels that
disagree with ``classInd.txt`` are a :class:`DataFormatError` naming the file and line.

Clips are listed from the lists of the reader's ``split``; the protocols ``split1``..``split3``
(those whose two list files exist) say which side each clip is on. Validation holds out the three
lowest-numbered groups of the training side of each split (groups 8, 9, 10 for split 1): a group
is one recording session of a class, so holding out whole groups keeps near-duplicate clips of
one session from straddling train and validation, which the official test split also avoids.

UCF-101 has no skeletons: ``Clip.joints3d`` and ``Clip.joints2d`` are ``None``. ``Clip`` needs a
layout, so clips carry :data:`~core_models.data.layouts.NTU25` as a placeholder that describes no
data; code must check for ``None`` joints, not the layout.
"""

from __future__ import annotations

import re
from pathlib import Path

from core_models.data.base import DatasetReader
from core_models.data.clip import Clip, ClipRef, shrink
from core_models.data.errors import DataFormatError
from core_models.data.files import check_readable, list_folder, read_text, walk
from core_models.data.layouts import NTU25
from core_models.data.video import read_video, video_info

SPLITS = (1, 2, 3)
VAL_GROUPS_PER_SPLIT = 3
LIST_FOLDER = "ucfTrainTestlist"
VIDEO_RE = re.compile(r"v_(\w+?)_g(\d+)_c(\d+)\.avi")


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines; \\n, \\r\\n and \\r all end a line."""
    text = read_text(path, "list file")
    return [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines()) if ln.strip()]


def read_class_index(path: str | Path) -> tuple[str, ...]:
    """Parse ``classInd.txt`` into class names, index = 0-based label.

    Raises:
        DataFormatError: a line that is not ``<index> <Class>``, or indices that are not
            1, 2, ..., N in order.
    """
    path = Path(path)
    names: list[str] = []
    for line_no, line in _read_lines(path):
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise DataFormatError(
                path, f"line {line!r}", where=f"line {line_no}", expected="'<index> <Class>'"
            )
        if int(fields[0]) != len(names) + 1:
            raise DataFormatError(
                path,
                f"class index {fields[0]}",
                where=f"line {line_no}",
                expected=f"index {len(names) + 1} (indices 1..N in order)",
            )
        if fields[1] in names:
            raise DataFormatError(path, f"class {fields[1]} listed twice", where=f"line {line_no}")
        names.append(fields[1])
    if not names:
        raise DataFormatError(path, "no class listed", expected="lines '<index> <Class>'")
    return tuple(names)


def read_split_list(
    path: str | Path, classes: tuple[str, ...], *, labelled: bool
) -> list[tuple[str, str, int]]:
    """Parse a ``trainlistNN.txt`` (``labelled``) or ``testlistNN.txt`` file.

    Returns:
        ``(class folder, video file name, 0-based label)`` per line.

    Raises:
        DataFormatError: naming the file and line, for a line that is not ``Class/v_..._gGG_cCC.avi``
            (plus `` <label>`` in a train list), a class not in ``classInd.txt``, or a label that
            disagrees with the folder's class.
    """
    path = Path(path)
    out = []
    for line_no, line in _read_lines(path):
        where = f"line {line_no}"
        fields = line.split()
        expected = "'Class/v_Class_gGG_cCC.avi" + (" <label>'" if labelled else "'")
        if len(fields) != (2 if labelled else 1):
            raise DataFormatError(path, f"{len(fields)} fields in {line!r}", where=where, expected=expected)
        parts = fields[0].split("/")
        if len(parts) != 2 or VIDEO_RE.fullmatch(parts[1]) is None:
            raise DataFormatError(path, f"path {fields[0]!r}", where=where, expected=expected)
        folder, file = parts
        if folder not in classes:
            raise DataFormatError(path, f"class {folder!r} is not in classInd.txt", where=where)
        label = classes.index(folder)
        if labelled:
            if not fields[1].isdigit():
                raise DataFormatError(
                    path, f"label {fields[1]!r}", where=where, expected="a 1-based class index"
                )
            if int(fields[1]) != label + 1:
                raise DataFormatError(
                    path,
                    f"label {fields[1]} for a clip of class {folder}",
                    where=where,
                    expected=f"{label + 1}, the classInd.txt index of {folder}",
                )
        out.append((folder, file, label))
    return out


def _require_list(path: Path, split: int) -> None:
    if not path.is_file():
        problem = "is not a regular file" if path.exists() or path.is_symlink() else "does not exist"
        raise DataFormatError(path, f"split {split} list file {problem}", expected="a text file")


def _check_disjoint(
    train_file: Path, train: list[tuple[str, str, int]], test_file: Path, test: list[tuple[str, str, int]]
) -> None:
    """Refuse a clip listed twice, in one list or in both (it would be trained on and tested on)."""
    seen: dict[str, str] = {}
    for path, rows in ((train_file, train), (test_file, test)):
        for i, (_, file, _) in enumerate(rows):
            if file in seen:
                raise DataFormatError(
                    path, f"{file} is listed again (first in {seen[file]})", where=f"entry {i + 1}",
                    expected="every clip once, in the train list or in the test list",
                )  # fmt: skip
            seen[file] = f"{path.name}, entry {i + 1}"


class UCF101Reader(DatasetReader):
    """UCF-101 videos with the official split lists (see the module docstring).

    Args:
        root: dataset folder holding ``ucfTrainTestlist/`` and the class folders.
        split: 1, 2 or 3: the split whose lists define which clips are listed (all three cover
            the same 13,320 videos in the real data). Its two list files must exist; it is kept
            as ``list_split`` (``split`` is the base class's method).
    """

    name = "ucf101"
    layout = NTU25  # placeholder: UCF-101 has no skeleton (joints are None)

    def __init__(self, root: str | Path, split: int = 1):
        super().__init__(root)
        if split not in SPLITS:
            raise ValueError(f"UCF-101 split must be one of {SPLITS}, got {split}")
        self.list_split = split
        self.list_dir = self._find_list_dir()
        self.classes = read_class_index(self.list_dir / "classInd.txt")
        # Each available split's lists: video file name -> "train" / "val" / "test".
        self._sides: dict[str, dict[str, str]] = {}

    def _find_list_dir(self) -> Path:
        candidates = [self.root / LIST_FOLDER, self.root]
        candidates += [p / LIST_FOLDER for p in list_folder(self.root) if p.is_dir()]
        for folder in candidates:
            if (folder / "classInd.txt").is_file():
                return folder
        raise DataFormatError(
            self.root,
            "no ucfTrainTestlist/classInd.txt found",
            expected="ucfTrainTestlist/ under the root (or one folder below it)",
        )

    def _list_files(self, split: int) -> tuple[Path, Path]:
        return self.list_dir / f"trainlist{split:02d}.txt", self.list_dir / f"testlist{split:02d}.txt"

    @property
    def protocols(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(f"split{s}" for s in SPLITS if all(p.is_file() for p in self._list_files(s)))

    def _split_sides(self, split: int) -> dict[str, str]:
        """Video file name -> side for one split, parsed once."""
        if split not in self._sides:
            train_file, test_file = self._list_files(split)
            for p in (train_file, test_file):
                _require_list(p, split)
            train = read_split_list(train_file, self.classes, labelled=True)
            test = read_split_list(test_file, self.classes, labelled=False)
            groups = sorted({int(VIDEO_RE.fullmatch(f).group(2)) for _, f, _ in train})
            val_groups = set(groups[:VAL_GROUPS_PER_SPLIT]) if len(groups) > VAL_GROUPS_PER_SPLIT else set()
            sides = {}
            for _, f, _ in train:
                sides[f] = "val" if int(VIDEO_RE.fullmatch(f).group(2)) in val_groups else "train"
            for _, f, _ in test:
                if f in sides:
                    raise DataFormatError(
                        test_file, f"{f} is also in {train_file.name}", expected="disjoint lists"
                    )
                sides[f] = "test"
            self._sides[split] = sides
        return self._sides[split]

    def _scan(self) -> list[ClipRef]:
        train_file, test_file = self._list_files(self.list_split)
        for p in (train_file, test_file):
            _require_list(p, self.list_split)
        train = read_split_list(train_file, self.classes, labelled=True)
        test = read_split_list(test_file, self.classes, labelled=False)
        _check_disjoint(train_file, train, test_file, test)
        listed = train + test
        videos = {}
        for entry in walk(self.root, self.skipped):
            if entry.name.endswith(".avi"):
                if entry.regular:
                    videos[entry.name] = entry.path
                else:  # a FIFO or a folder named like a video: never opened
                    self.skipped[f"{entry.kind} named like a data file"] += 1
        refs = []
        for folder, file, label in listed:
            if file not in videos:
                self.skipped["listed but missing on disk"] += 1
                continue
            _, group, clip = VIDEO_RE.fullmatch(file).groups()
            name = file.removesuffix(".avi")
            meta = {"group": int(group), "clip": int(clip), "class_folder": folder}
            refs.append(ClipRef(name, label, self.classes[label], videos[file], None, meta))
        return refs

    def side(self, ref: ClipRef, protocol: str) -> str | None:
        protocol = self.check_protocol(protocol)
        return self._split_sides(int(protocol.removeprefix("split"))).get(ref.video.name)

    def load(self, ref: ClipRef, *, with_video: bool = True, max_side: int | None = None) -> Clip:
        """Read one video.

        Returns:
            a :class:`Clip` with ``frames`` uint8 (T, H, W, 3) (``None`` if not ``with_video``),
            no joints, and ``meta`` with group, clip, fps and frame_size.
        """
        vinfo = video_info(check_readable(ref.video, "video"))
        meta = dict(ref.meta)
        meta.update(
            source=str(ref.video),
            dataset="ucf101",
            video=str(ref.video),
            fps=vinfo.fps or 25.0,
            frame_size=(vinfo.height, vinfo.width),
            warnings=[],
        )
        frames = None
        if with_video:
            frames, _ = read_video(ref.video)
            frames, _ = shrink(frames, None, max_side)
        return Clip(
            name=ref.name, layout=NTU25, label=ref.label, label_name=ref.label_name, frames=frames, meta=meta
        )
