"""Toyota Smarthome (trimmed): MP4 videos with LCR-Net++ pose JSON files, CS and CV protocols.

On disk (any sub-folders of the root; the official archives unpack to ``mp4/`` and ``json/``)::

    <Activity>_pPP_rRR_vVV_cCC.mp4        e.g. Cook.Cleandishes_p02_r00_v02_c03.mp4
    <Activity>_pPP_rRR_vVV_cCC.json       pose of that video; ``<video>_pose3d.json`` is accepted too

``p`` is the subject and ``c`` the camera; the meaning of ``r`` and ``v`` is not documented, they
are kept in ``meta`` as ``r`` and ``v``. The label is the activity before the first ``_``.

Pose JSON (LCR-Net++)::

    {"njts": 13, "K": ..., "frames": [                  one entry per video frame
        [ {"pose2d": [x0..x12, y0..y12],                2 * njts pixels in the video frame
           "pose3d": [x0..x12, y0..y12, z0..z12],       3 * njts, as LCR-Net++ writes them
           "cumscore": 7.3}, ... ],                     one dict per detected person
        [], ...]}                                        an empty list: nobody detected

Joints follow :data:`~core_models.data.layouts.LCR13`. Per frame, the detection with the highest
``cumscore`` is kept (M = 1: the activities have one performer, and the most confident detection
is the one LCR-Net itself ranks first); frames with no detection are NaN. ``K`` is not used.

Classes and protocols (the authors' i3d_smarthome splits):

* 31 classes (:data:`CLASSES`, the authors' index order) for the cross-subject protocol ``cs``:
  train subjects {3,4,6,7,9,12,13,15,17}, validation {19,25}, test {2,10,11,14,16,18,20}.
* 19 classes (:data:`CV_CLASSES`) for the cross-view protocols: ``cv1`` trains on camera 1,
  ``cv2`` on cameras 1,3,4,6,7; both validate on camera 5 and test on camera 2. Labels in a CV
  protocol are compact indices into the 19-class list (:meth:`SmarthomeReader.label_for`), and
  clips of the other 12 classes are outside the protocol (``side`` is ``None``).
* ``Pour.Fromcup`` (two training clips of the authors' list) and any activity outside the 31
  classes are skipped while listing, with a count.

The metric is mean per-class accuracy (``metric = "mean_class"``), Smarthome's official one.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from core_models.data.base import DatasetReader
from core_models.data.clip import Clip, ClipRef, attach_video
from core_models.data.errors import DataFormatError
from core_models.data.files import check_coordinates, check_skeleton_shape, load_json, walk
from core_models.data.layouts import LCR13
from core_models.data.video import VIDEO_EXTENSIONS

CLASSES = (
    "Cook.Cleandishes", "Cook.Cleanup", "Cook.Cut", "Cook.Stir", "Cook.Usestove", "Cutbread",
    "Drink.Frombottle", "Drink.Fromcan", "Drink.Fromcup", "Drink.Fromglass", "Eat.Attable",
    "Eat.Snack", "Enter", "Getup", "Laydown", "Leave", "Makecoffee.Pourgrains",
    "Makecoffee.Pourwater", "Maketea.Boilwater", "Maketea.Insertteabag", "Pour.Frombottle",
    "Pour.Fromcan", "Pour.Fromkettle", "Readbook", "Sitdown", "Takepills", "Uselaptop",
    "Usetablet", "Usetelephone", "Walk", "WatchTV",
)  # fmt: skip
CV_CLASSES = (
    "Cutbread", "Drink.Frombottle", "Drink.Fromcan", "Drink.Fromcup", "Drink.Fromglass",
    "Eat.Attable", "Eat.Snack", "Enter", "Getup", "Leave", "Pour.Frombottle", "Pour.Fromcan",
    "Readbook", "Sitdown", "Takepills", "Uselaptop", "Usetablet", "Usetelephone", "Walk",
)  # fmt: skip
CS_SUBJECTS = {
    "train": frozenset((3, 4, 6, 7, 9, 12, 13, 15, 17)),
    "val": frozenset((19, 25)),
    "test": frozenset((2, 10, 11, 14, 16, 18, 20)),
}
CV_CAMERAS = {
    "cv1": {"train": frozenset((1,)), "val": frozenset((5,)), "test": frozenset((2,))},
    "cv2": {"train": frozenset((1, 3, 4, 6, 7)), "val": frozenset((5,)), "test": frozenset((2,))},
}
NUM_JOINTS = 13

NAME_RE = re.compile(r"([A-Za-z.]+)_p(\d+)_r(\d+)_v(\d+)_c(\d+)")
POSE_SUFFIXES = ("_pose3d.json", ".json")


def parse_name(name: str) -> dict[str, Any]:
    """``Cook.Cut_p03_r00_v01_c02`` -> activity, subject, r, v, camera."""
    m = NAME_RE.fullmatch(name)
    if m is None:
        raise DataFormatError(name, "not a Toyota Smarthome clip name", expected="<Activity>_pPP_rRR_vVV_cCC")
    activity, p, r, v, c = m.groups()
    return {"activity": activity, "subject": int(p), "r": int(r), "v": int(v), "camera": int(c)}


def read_pose_json(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Parse an LCR-Net++ pose JSON file, keeping the highest-``cumscore`` detection per frame.

    Returns:
        ``(joints3d, joints2d, info)``: float32 (T, 1, 13, 3) and (T, 1, 13, 2), NaN in frames
        without a detection, and a dict with ``empty_frames`` and ``multi_detection_frames``.

    Raises:
        DataFormatError: the file is not JSON, lacks ``njts`` or ``frames``, ``njts`` is not 13,
            or a detection is not a dict with ``pose2d`` of 26 numbers, ``pose3d`` of 39 numbers
            and a numeric ``cumscore``; the message names the frame (0-based) and the key.
    """
    path = Path(path)
    data = load_json(path, "LCR-Net++ pose JSON")
    if not isinstance(data, dict):
        raise DataFormatError(path, f"top level is a {type(data).__name__}", expected="a JSON object")
    for key in ("njts", "frames"):
        if key not in data:
            raise DataFormatError(path, "key missing", where=f"key {key!r}", expected="keys njts, K, frames")
    njts = data["njts"]
    if isinstance(njts, bool) or not isinstance(njts, int) or njts != NUM_JOINTS:
        raise DataFormatError(
            path, f"njts is {njts!r}", where="key 'njts'", expected=f"{NUM_JOINTS} (LCR-Net++)"
        )
    frames = data["frames"]
    if not isinstance(frames, list):
        raise DataFormatError(
            path, f"frames is a {type(frames).__name__}", where="key 'frames'", expected="a list"
        )

    T = len(frames)
    check_skeleton_shape(path, (T, 1, NUM_JOINTS, 3), where="key 'frames'")
    joints3d = np.full((T, 1, NUM_JOINTS, 3), np.nan, dtype=np.float32)
    joints2d = np.full((T, 1, NUM_JOINTS, 2), np.nan, dtype=np.float32)
    empty = multi = 0
    for t, detections in enumerate(frames):
        if not isinstance(detections, list):
            raise DataFormatError(
                path,
                f"a {type(detections).__name__}",
                where=f"frame {t}, key 'frames'",
                expected="a list of detections (empty when nobody is seen)",
            )
        if not detections:
            empty += 1
            continue
        multi += len(detections) > 1
        best, best_score = None, -math.inf
        for d, det in enumerate(detections):
            where = f"frame {t}, detection {d}"
            if not isinstance(det, dict):
                raise DataFormatError(path, f"a {type(det).__name__}", where=where, expected="a dict")
            score = _number(path, det, "cumscore", where)
            pose2d = _numbers(path, det, "pose2d", 2 * NUM_JOINTS, where)
            pose3d = _numbers(path, det, "pose3d", 3 * NUM_JOINTS, where)
            if score > best_score:
                best, best_score = (pose2d, pose3d), score
        pose2d, pose3d = best
        # Stored coordinate-major (all x, then all y[, then all z]); transpose to joint-major.
        joints2d[t, 0] = pose2d.reshape(2, NUM_JOINTS).T  # (13, 2)
        joints3d[t, 0] = pose3d.reshape(3, NUM_JOINTS).T  # (13, 3)
    return joints3d, joints2d, {"empty_frames": empty, "multi_detection_frames": multi}


def _number(path: Path, det: dict, key: str, where: str) -> float:
    value = det.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataFormatError(path, f"{key} is {value!r}", where=f"{where}, key {key!r}", expected="a number")
    return float(value)


def _numbers(path: Path, det: dict, key: str, length: int, where: str) -> np.ndarray:
    value = det.get(key)
    if not isinstance(value, list) or len(value) != length:
        found = f"{len(value)} values" if isinstance(value, list) else repr(value)[:40]
        raise DataFormatError(
            path, f"{key} has {found}", where=f"{where}, key {key!r}", expected=f"a list of {length} numbers"
        )
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise DataFormatError(
            path, f"{key} holds a non-number", where=f"{where}, key {key!r}", expected="numbers"
        )
    arr = np.asarray(value, dtype=np.float64)  # long integers were parsed as floats (load_json)
    if not np.isfinite(arr).all():
        raise DataFormatError(path, f"{key} holds a non-finite value", where=f"{where}, key {key!r}")
    check_coordinates(path, arr, where=f"{where}, key {key!r}")
    return arr


class SmarthomeReader(DatasetReader):
    """Toyota Smarthome trimmed clips (see the module docstring for format and protocols).

    Args:
        root: dataset folder; videos and pose JSON files may be in any sub-folders.
        require_video: skip clips that have a pose file but no video (counted).
    """

    name = "smarthome"
    layout = LCR13
    metric = "mean_class"
    protocols = ("cs", "cv1", "cv2")

    def __init__(self, root: str | Path, *, require_video: bool = False):
        super().__init__(root)
        self.classes = CLASSES
        self.require_video = require_video

    def _scan(self) -> list[ClipRef]:
        videos: dict[str, Path] = {}
        poses: dict[str, Path] = {}
        for entry in walk(self.root, self.skipped):
            p = entry.path
            if not entry.regular:  # a FIFO or a folder named like a clip: never opened
                named = NAME_RE.fullmatch(p.stem) or NAME_RE.fullmatch(p.name.removesuffix("_pose3d.json"))
                if named and (p.suffix.lower() in VIDEO_EXTENSIONS or p.suffix == ".json"):
                    self.skipped[f"{entry.kind} named like a data file"] += 1
                continue
            if p.suffix.lower() in VIDEO_EXTENSIONS and NAME_RE.fullmatch(p.stem):
                videos[p.stem] = p
                continue
            for suffix in POSE_SUFFIXES:
                stem = p.name.removesuffix(suffix)
                if stem != p.name and NAME_RE.fullmatch(stem):
                    poses.setdefault(stem, p)
                    break
        names = sorted(set(videos) | set(poses))
        if not names:
            raise DataFormatError(
                self.root,
                "no Toyota Smarthome clip found",
                expected="files named <Activity>_pPP_rRR_vVV_cCC.mp4 / .json",
            )
        refs = []
        for n in names:
            meta = parse_name(n)
            activity = meta["activity"]
            if activity == "Pour.Fromcup":
                self.skipped["Pour.Fromcup (not one of the 31 classes)"] += 1
                continue
            if activity not in CLASSES:
                self.skipped["activity outside the 31 classes"] += 1
                continue
            if n not in poses:
                self.skipped["video without a pose file"] += 1
                continue
            if self.require_video and n not in videos:
                self.skipped["pose file without a video"] += 1
                continue
            label = CLASSES.index(activity)
            refs.append(ClipRef(n, label, activity, videos.get(n), poses[n], meta))
        return refs

    def classes_for(self, protocol: str | None = None) -> tuple[str, ...]:
        """The 31 classes for ``cs`` (or no protocol), the 19 CV classes for ``cv1`` / ``cv2``."""
        if protocol is None or self.check_protocol(protocol) == "cs":
            return CLASSES
        return CV_CLASSES

    def label_for(self, ref: ClipRef, protocol: str | None = None) -> int:
        """Index of the clip's class in the protocol's class list.

        Raises:
            ValueError: the class is not part of the protocol (``side`` is ``None`` for it).
        """
        classes = self.classes_for(protocol)
        if ref.label_name not in classes:
            raise ValueError(f"{ref.name}: class {ref.label_name} is not one of the {protocol} classes")
        return classes.index(ref.label_name)

    def side(self, ref: ClipRef, protocol: str) -> str | None:
        protocol = self.check_protocol(protocol)
        if protocol == "cs":
            key, groups = "subject", CS_SUBJECTS
        else:
            if ref.label_name not in CV_CLASSES:
                return None
            key, groups = "camera", CV_CAMERAS[protocol]
        for side, members in groups.items():
            if ref.meta[key] in members:
                return side
        return None

    def load(self, ref: ClipRef, *, with_video: bool = True, max_side: int | None = None) -> Clip:
        """Read one clip.

        Returns:
            a :class:`Clip` with ``joints3d`` float32 (T, 1, 13, 3), ``joints2d`` float32
            (T, 1, 13, 2) in pixels of the frames, and ``frames`` uint8 (T, H, W, 3) when there is
            a video and ``with_video`` is set. A small video/pose length mismatch is trimmed with
            a warning in ``meta['warnings']``; a large one is a :class:`DataFormatError`.
        """
        joints3d, joints2d, info = read_pose_json(ref.skeleton)
        if len(joints3d) == 0:
            raise DataFormatError(
                ref.skeleton, "the file holds 0 frames", where="key 'frames'", expected="at least one frame"
            )
        if info["empty_frames"] == len(joints3d):
            raise DataFormatError(
                ref.skeleton,
                "no detection in any frame",
                where="key 'frames'",
                expected="at least one detection",
            )
        meta = dict(ref.meta)
        meta.update(source=str(ref.skeleton), dataset="smarthome", **info)
        warnings: list[str] = []
        if info["empty_frames"]:
            warnings.append(f"{info['empty_frames']} frames without a detected person are NaN")
        frames, joints3d, joints2d = attach_video(
            ref.video, joints3d, joints2d, meta, warnings, with_video=with_video, max_side=max_side
        )
        meta["warnings"] = warnings
        return Clip(
            name=ref.name,
            layout=LCR13,
            label=ref.label,
            label_name=ref.label_name,
            frames=frames,
            joints3d=joints3d,
            joints2d=joints2d,
            meta=meta,
        )
