"""NTU RGB+D 60 and 120: the ``.skeleton`` text format, sample names, classes and protocols.

The ``.skeleton`` format (one text file per sample, whitespace separated)::

    framecount
    per frame:
      bodycount
      per body:
        bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence handRightState
               isResticted leanX leanY trackingState
        jointCount                                   (25)
        per joint:
          x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ
          trackingState

``x y z`` are camera-space metres, ``colorX colorY`` pixels in the RGB video (1920x1080 in the
real data). Frames may hold no body, one, two or more (noise skeletons of furniture included).

Main actors. A clip keeps at most two persons, chosen as the NTU authors describe: the bodies
(tracking IDs) with the largest amount of motion, measured as the sum of the variances of x, y
and z over all joints. Before ranking, a body whose vertical spread is less than 0.8 of its
horizontal spread (a table or a chair seen as a skeleton) is ranked after every upright body.
Person 0 is the one that moves most. Frames where a person is absent are NaN.

Sample names ``SsssCcccPpppRrrrAaaa`` give setup, camera, performer (subject), replication and
action (1-based). Protocols: ``cs`` cross-subject (the published training subjects; NTU-120
uses its own 53-subject list), ``cv`` cross-view (train cameras 2 and 3, test camera 1), and for
NTU-120 ``cset`` cross-setup (even setups train). Validation (``val``) holds out the training
subjects 4, 19 and 31 from the training side of any protocol, as P-I3D does for cross-subject,
so validation never overlaps the test set (P-I3D's cross-view validation did).

The authors' list of samples with missing or incomplete skeletons is skipped, with a count.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from core_models.data.base import DatasetReader
from core_models.data.clip import Clip, ClipRef, ClipTruth, attach_video
from core_models.data.errors import DataFormatError
from core_models.data.files import check_coordinates, check_skeleton_shape, load_json, read_text, walk
from core_models.data.layouts import NTU25

NAME_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
BODY_FIELDS = (
    "bodyID", "clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
    "handRightState", "isResticted", "leanX", "leanY", "trackingState",
)  # fmt: skip
JOINT_FIELDS = (
    "x", "y", "z", "depthX", "depthY", "colorX", "colorY",
    "orientationW", "orientationX", "orientationY", "orientationZ", "trackingState",
)  # fmt: skip

CS_TRAIN_SUBJECTS_60 = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38))
CS_TRAIN_SUBJECTS_120 = CS_TRAIN_SUBJECTS_60 | frozenset(
    (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
     89, 91, 92, 93, 94, 95, 97, 98, 100, 103)
)  # fmt: skip
CV_TRAIN_CAMERAS = frozenset((2, 3))
VAL_SUBJECTS = frozenset((4, 19, 31))
TRUTH_SUFFIX = ".truth.json"


def _resource_lines(name: str) -> list[str]:
    text = resources.files("core_models.data.resources").joinpath(name).read_text("utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


CLASSES_120: tuple[str, ...] = tuple(_resource_lines("ntu_classes.txt"))
CLASSES_60 = CLASSES_120[:60]
MISSING_120 = frozenset(_resource_lines("ntu_missing_skeletons.txt"))
MISSING_60 = frozenset(n for n in MISSING_120 if int(n[1:4]) <= 17)


def parse_name(name: str) -> dict[str, int]:
    """``S001C002P003R002A013`` -> setup, camera, subject, repetition, action (all 1-based)."""
    m = NAME_RE.search(name)
    if m is None:
        raise DataFormatError(name, "not an NTU sample name", expected="SsssCcccPpppRrrrAaaa")
    s, c, p, r, a = (int(g) for g in m.groups())
    return {"setup": s, "camera": c, "subject": p, "repetition": r, "action": a}


def format_name(setup: int, camera: int, subject: int, repetition: int, action: int) -> str:
    return f"S{setup:03d}C{camera:03d}P{subject:03d}R{repetition:03d}A{action:03d}"


# -- the .skeleton format ---------------------------------------------------------------------


@dataclass
class NTUBody:
    """One body in one frame of a ``.skeleton`` file.

    Attributes:
        body_id: the Kinect tracking ID (int64).
        info: float64 (9,): the other nine values of the body line, in ``BODY_FIELDS`` order.
        joints: float64 (J, 12): one row per joint, in ``JOINT_FIELDS`` order.
    """

    body_id: int
    info: np.ndarray
    joints: np.ndarray


def read_skeleton_file(path: str | Path, num_joints: int = 25) -> list[list[NTUBody]]:
    """Parse a ``.skeleton`` file into frames of bodies.

    The file is read through :mod:`core_models.data.files` (a regular file of at most 32 MiB) and
    parsed line by line; the frame count is bounded before frames are collected.

    Raises:
        DataFormatError: naming the line (1-based) and frame of the first value that does not fit
            the format: a missing line (truncated file), a wrong count of values, a joint count
            other than ``num_joints``, text where a number belongs, a non-finite coordinate or one
            beyond :data:`~core_models.data.files.MAX_COORDINATE`, or more frames than the skeleton
            bound allows.
    """
    path = Path(path)
    text = read_text(path, "skeleton file", encoding="ascii")
    lines = io.StringIO(text, newline=None)  # lazily, one line at a time; \n, \r\n and \r end a line
    pos = 0

    def take(n_values: int | None, what: str, frame: int | None) -> list[str]:
        nonlocal pos
        where_frame = "" if frame is None else f", frame {frame}"
        line = lines.readline()
        if not line:
            raise DataFormatError(
                path,
                f"file ends before the {what}",
                where=f"line {pos + 1}{where_frame}",
                expected=f"{what} (the file is truncated)",
            )
        tokens = line.split()
        pos += 1
        if n_values is not None and len(tokens) != n_values:
            raise DataFormatError(
                path,
                f"{len(tokens)} values in the {what}",
                where=f"line {pos}{where_frame}",
                expected=f"{n_values} values",
            )
        return tokens

    def number(tokens: list[str], cast, what: str, frame: int | None):
        try:
            return [cast(t) for t in tokens]
        except ValueError:
            where_frame = "" if frame is None else f", frame {frame}"
            raise DataFormatError(
                path,
                f"non-numeric value in the {what}: {' '.join(tokens)[:80]!r}",
                where=f"line {pos}{where_frame}",
                expected="numbers",
            ) from None

    (num_frames,) = number(take(1, "frame count", None), int, "frame count", None)
    if num_frames < 0:
        raise DataFormatError(path, f"negative frame count {num_frames}", where="line 1")
    # the two main actors are kept as (T, 2, J, 3): bound that before collecting frames
    check_skeleton_shape(path, (num_frames, 2, num_joints, 3), where="line 1 (frame count)")
    frames: list[list[NTUBody]] = []
    for f in range(num_frames):
        (num_bodies,) = number(take(1, "body count", f), int, "body count", f)
        if num_bodies < 0:
            raise DataFormatError(path, f"negative body count {num_bodies}", where=f"line {pos}, frame {f}")
        bodies = []
        for _ in range(num_bodies):
            tokens = take(10, "body line", f)
            body_id = number(tokens[:1], int, "body line", f)[0]
            info = np.array(number(tokens[1:], float, "body line", f), dtype=np.float64)
            (count,) = number(take(1, "joint count", f), int, "joint count", f)
            if count != num_joints:
                raise DataFormatError(
                    path,
                    f"joint count {count}",
                    where=f"line {pos}, frame {f}",
                    expected=f"{num_joints} joints (Kinect v2)",
                )
            rows = [number(take(12, "joint line", f), float, "joint line", f) for _ in range(count)]
            joints = np.array(rows, dtype=np.float64)
            where = f"lines {pos - count + 1}-{pos}, frame {f}"
            if not np.isfinite(joints[:, :7]).all():
                raise DataFormatError(
                    path, "non-finite joint coordinate", where=where, expected="finite numbers"
                )
            check_coordinates(path, joints[:, :7], where=where)
            bodies.append(NTUBody(body_id, info, joints))
        frames.append(bodies)
    rest = [line for line in lines]  # only blank lines may follow the last frame
    while rest and not rest[-1].strip():
        rest.pop()
    if rest:
        raise DataFormatError(
            path,
            f"{len(rest)} lines after the last of {num_frames} frames",
            where=f"line {pos + 1}",
            expected=f"exactly {num_frames} frames as the first line says",
        )
    return frames


def write_skeleton_file(path: str | Path, frames: Sequence[Sequence[NTUBody]], newline: str = "\n") -> Path:
    """Write frames of bodies in the ``.skeleton`` format (the inverse of ``read_skeleton_file``)."""
    path = Path(path)
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for b in bodies:
            info = " ".join(_fmt(v) for v in b.info)
            out.append(f"{b.body_id} {info}")
            out.append(str(len(b.joints)))
            for row in b.joints:
                out.append(" ".join(_fmt(v) for v in row[:11]) + f" {int(row[11])}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(newline.join(out) + newline, encoding="ascii", newline="")
    tmp.replace(path)
    return path


def _fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.7g}"


def select_actors(
    frames: Sequence[Sequence[NTUBody]], max_persons: int = 2
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Keep the main actors of a parsed file as arrays (see the module docstring for the rule).

    Returns:
        ``(joints3d, joints2d, info)``: float32 (T, max_persons, J, 3) and (T, max_persons, J, 2)
        with NaN where a person is absent, and a dict with ``num_bodies`` (distinct tracking IDs),
        ``max_bodies_per_frame`` and ``kept_ids``.
    """
    T = len(frames)
    J = next((len(b.joints) for fr in frames for b in fr), 25)
    tracks: dict[int, dict[int, np.ndarray]] = {}
    for t, bodies in enumerate(frames):
        for b in bodies:
            tracks.setdefault(b.body_id, {}).setdefault(t, b.joints)  # a repeated ID keeps the first

    def score(track: dict[int, np.ndarray]) -> tuple[int, float]:
        xyz = np.stack([j[:, :3] for j in track.values()])  # (t, J, 3)
        motion = float(xyz.var(axis=0).sum()) if len(xyz) > 1 else 0.0
        spread = xyz.max(axis=1) - xyz.min(axis=1)  # (t, 3)
        upright = float(spread[:, 1].mean()) >= 0.8 * float(spread[:, 0].mean())
        return (int(upright), motion)

    ranked = sorted(tracks, key=lambda i: score(tracks[i]), reverse=True)[:max_persons]
    joints3d = np.full((T, max_persons, J, 3), np.nan, dtype=np.float32)
    joints2d = np.full((T, max_persons, J, 2), np.nan, dtype=np.float32)
    for m, body_id in enumerate(ranked):
        for t, j in tracks[body_id].items():
            joints3d[t, m] = j[:, 0:3]
            joints2d[t, m] = j[:, 5:7]
    info = {
        "num_bodies": len(tracks),
        "max_bodies_per_frame": max((len(b) for b in frames), default=0),
        "kept_ids": [int(i) for i in ranked],
    }
    return joints3d, joints2d, info


# -- the dataset reader -----------------------------------------------------------------------


class NTUReader(DatasetReader):
    """NTU RGB+D 60 / 120 (and the synthetic data, which is written in the same format).

    The root may hold the skeleton files and the ``_rgb.avi`` videos in any sub-folders (the
    official archives unpack to ``nturgb+d_skeletons/`` and ``nturgb+d_rgb/``); they are paired
    by sample name.

    Args:
        root: dataset folder.
        version: 60 or 120; ``None`` picks 120 if any setup above 17 or action above 60 is found.
        actions: 1-based action IDs to keep, in label order (the synthetic data uses a subset);
            ``None`` keeps every class of the version, label = action - 1.
        require_video: skip samples that have no video (counted).
        skip_missing: skip the authors' list of samples with missing skeletons (counted).
    """

    name = "ntu"
    layout = NTU25

    def __init__(
        self,
        root: str | Path,
        *,
        version: int | None = None,
        actions: Sequence[int] | None = None,
        require_video: bool = False,
        skip_missing: bool = True,
    ):
        super().__init__(root)
        if version not in (None, 60, 120):
            raise ValueError(f"NTU version must be 60 or 120, got {version}")
        self.version = version
        self.actions = tuple(actions) if actions is not None else None
        self.require_video = require_video
        self.skip_missing = skip_missing
        self._set_classes()
        if version is None:
            self.list_clips()  # the version follows from the names found

    def _set_classes(self) -> None:
        if self.actions is not None:
            self.classes = tuple(CLASSES_120[a - 1] for a in self.actions)
        else:
            self.classes = CLASSES_120 if self.version == 120 else CLASSES_60

    @property
    def protocols(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("cs", "cv", "cset") if self.version == 120 else ("cs", "cv")

    def _scan(self) -> list[ClipRef]:
        skeletons: dict[str, Path] = {}
        videos: dict[str, Path] = {}
        for entry in walk(self.root, self.skipped):
            p = entry.path
            m = NAME_RE.fullmatch(p.name.split(".")[0].removesuffix("_rgb"))
            if m is None or not (p.suffix == ".skeleton" or p.name.endswith("_rgb.avi")):
                continue
            if not entry.regular:  # a FIFO or a folder named like a sample: never opened
                self.skipped[f"{entry.kind} named like a data file"] += 1
                continue
            if p.suffix == ".skeleton":
                skeletons[m.group(0)] = p
            elif p.name.endswith("_rgb.avi"):
                videos[m.group(0)] = p
        names = sorted(set(skeletons) | set(videos))
        if not names:
            raise DataFormatError(
                self.root,
                "no NTU sample found",
                expected="files named SsssCcccPpppRrrrAaaa.skeleton or SsssCcccPpppRrrrAaaa_rgb.avi",
            )
        if self.version is None:
            big = any(int(n[1:4]) > 17 or int(n[-3:]) > 60 for n in names)
            self.version = 120 if big else 60
            self._set_classes()
        missing = MISSING_120 if self.version == 120 else MISSING_60
        refs = []
        for n in names:
            meta = parse_name(n)
            a = meta["action"]
            if self.actions is not None:
                if a not in self.actions:
                    self.skipped["outside the chosen actions"] += 1
                    continue
                label = self.actions.index(a)
            else:
                if a > len(self.classes):
                    self.skipped[f"actions above A{len(self.classes):03d}"] += 1
                    continue
                label = a - 1
            if self.skip_missing and n in missing:
                self.skipped["on the published missing-skeleton list"] += 1
                continue
            if n not in skeletons:
                self.skipped["video without a skeleton file"] += 1
                continue
            if self.require_video and n not in videos:
                self.skipped["skeleton without a video"] += 1
                continue
            refs.append(ClipRef(n, label, self.classes[label], videos.get(n), skeletons[n], meta))
        return refs

    def side(self, ref: ClipRef, protocol: str) -> str | None:
        m = ref.meta
        if protocol == "cs":
            subjects = CS_TRAIN_SUBJECTS_120 if self.version == 120 else CS_TRAIN_SUBJECTS_60
            train = m["subject"] in subjects
        elif protocol == "cv":
            train = m["camera"] in CV_TRAIN_CAMERAS
        elif protocol == "cset":
            train = m["setup"] % 2 == 0
        else:
            raise ValueError(f"unknown NTU protocol {protocol!r}")
        if not train:
            return "test"
        return "val" if m["subject"] in VAL_SUBJECTS else "train"

    def load(self, ref: ClipRef, *, with_video: bool = True, max_side: int | None = None) -> Clip:
        frames_b = read_skeleton_file(ref.skeleton)
        joints3d, joints2d, info = select_actors(frames_b)
        meta = dict(ref.meta)
        meta.update(source=str(ref.skeleton), dataset=f"ntu{self.version}", **info)
        warnings: list[str] = []
        if len(frames_b) == 0:
            raise DataFormatError(ref.skeleton, "the file holds 0 frames", expected="at least one frame")
        if info["num_bodies"] == 0:
            raise DataFormatError(ref.skeleton, "no body in any frame", expected="at least one body")
        frames, joints3d, joints2d = attach_video(
            ref.video, joints3d, joints2d, meta, warnings, with_video=with_video, max_side=max_side
        )
        meta["warnings"] = warnings
        truth = None
        truth_path = ref.skeleton.with_name(ref.name + TRUTH_SUFFIX)
        if truth_path.is_file():
            truth = _read_truth(truth_path, len(joints3d))
        return Clip(
            name=ref.name,
            layout=NTU25,
            label=ref.label,
            label_name=ref.label_name,
            frames=frames,
            joints3d=joints3d,
            joints2d=joints2d,
            meta=meta,
            truth=truth,
        )


def _read_truth(path: Path, num_frames: int) -> ClipTruth:
    try:
        data = load_json(path, "ground-truth sidecar")
        if not isinstance(data, dict):
            raise TypeError(f"top level is a {type(data).__name__}")
        truth = ClipTruth.from_json(data)
    except DataFormatError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, OverflowError) as e:
        raise DataFormatError(
            path,
            f"unreadable ground-truth sidecar ({e})",
            expected="the JSON written by the synthetic generator",
        ) from None
    if truth.parts.ndim != 2 or truth.parts.shape[1] != len(truth.part_names):
        raise DataFormatError(
            path, f"parts has shape {truth.parts.shape}", expected=f"(T, {len(truth.part_names)})"
        )
    if len(truth.parts) < num_frames:
        raise DataFormatError(path, f"{len(truth.parts)} frames of truth", expected=f"at least {num_frames}")
    return replace(truth, parts=truth.parts[:num_frames])
