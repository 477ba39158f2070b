"""Skeleton layouts: joint names, bones, and the named body parts attention models look at.

Three layouts ship, one per source format:

* ``NTU25``: Kinect v2, 25 joints, as in NTU RGB+D ``.skeleton`` files (and the synthetic data).
* ``NUCLA20``: Kinect v1, 20 joints, as in Northwestern-UCLA ``skeletons.txt`` files.
* ``LCR13``: LCR-Net++ 13 joints, as in the Toyota Smarthome pose JSON files.

Each layout names its body parts. A part is a set of joints plus how a crop is cut for it: hands
are boxes centred on one joint, body parts are boxes spanning their joints with a margin. Every
layout names at least ``left_hand``, ``right_hand``, ``upper_body`` and ``full_body``, so any model
that attends over parts works on any layout.

Indices are 0-based here; the dataset documents use 1-based numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

REQUIRED_PARTS = ("left_hand", "right_hand", "upper_body", "full_body")


def mirror_name(name: str) -> str:
    """``left`` and ``right`` swapped in a joint or part name (``hand_left`` -> ``hand_right``)."""
    tokens = name.split("_")
    swap = {"left": "right", "right": "left"}
    return "_".join(swap.get(t, t) for t in tokens)


@dataclass(frozen=True)
class BodyPart:
    """A named group of joints.

    Attributes:
        name: e.g. ``"left_hand"``.
        joints: joint indices (0-based) that belong to the part.
        center: for a centred crop (hands), the joint the box is centred on; ``None`` for a box
            spanning ``joints``.
    """

    name: str
    joints: tuple[int, ...]
    center: int | None = None


@dataclass(frozen=True)
class SkeletonLayout:
    """Joint names, bones and body parts of one skeleton format.

    Attributes:
        name: short id (``"ntu25"``).
        joint_names: one name per joint.
        parents: parent of each joint (``-1`` for the root); bones are (joint, parent) pairs.
        parts: the named body parts.
        origin_joints: joints whose mean is the body centre (the spine-middle joint where the
            format has one) used to normalise skeletons.
        left_hip, right_hip: joints used to orient the body for view normalisation.
        neck_joints: joints whose mean is the top of the torso (with the origin gives "up").
        extra_bones: bones to draw that are not parent links (formats without a spine).
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    parts: tuple[BodyPart, ...]
    origin_joints: tuple[int, ...]
    left_hip: int
    right_hip: int
    neck_joints: tuple[int, ...]
    extra_bones: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n:
            raise ValueError(f"{self.name}: {len(self.parents)} parents for {n} joints")
        names = [p.name for p in self.parts]
        missing = [r for r in REQUIRED_PARTS if r not in names]
        if missing:
            raise ValueError(f"{self.name}: body parts {missing} are required")
        for part in self.parts:
            if not part.joints or max(part.joints) >= n or min(part.joints) < 0:
                raise ValueError(f"{self.name}: part {part.name} has joints outside 0..{n - 1}")
        for kind, have in (("joint", self.joint_names), ("part", names)):
            unpaired = [x for x in have if mirror_name(x) not in have]
            if unpaired:
                raise ValueError(f"{self.name}: {kind}s {unpaired} have no mirror partner")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(child, parent) pairs to draw, parent links first."""
        links = tuple((j, p) for j, p in enumerate(self.parents) if p >= 0)
        return links + self.extra_bones

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts)

    @cached_property
    def mirror_joints(self) -> tuple[int, ...]:
        """For each joint, the joint it becomes in a left-right mirror image (``left`` and
        ``right`` swapped in its name; a joint on the midline maps to itself)."""
        return tuple(self.joint_names.index(mirror_name(n)) for n in self.joint_names)

    @cached_property
    def mirror_parts(self) -> tuple[int, ...]:
        """For each body part, the part it becomes in a left-right mirror image."""
        names = self.part_names
        return tuple(names.index(mirror_name(n)) for n in names)

    def part(self, name: str) -> BodyPart:
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(f"layout {self.name} has no body part {name!r}; it has {self.part_names}")

    def joint_index(self, name: str) -> int:
        return self.joint_names.index(name)

    def part_mask(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Boolean (J,) mask of the joints belonging to any of the named parts."""
        mask = np.zeros(self.num_joints, dtype=bool)
        for n in names:
            mask[list(self.part(n).joints)] = True
        return mask


def _parts(spec: dict[str, tuple[tuple[int, ...], int | None]]) -> tuple[BodyPart, ...]:
    return tuple(BodyPart(name, joints, center) for name, (joints, center) in spec.items())


# Kinect v2 JointType order (NTU RGB+D README / read_skeleton_file.m), 0-based.
NTU25 = SkeletonLayout(
    name="ntu25",
    joint_names=(
        "spine_base",
        "spine_mid",
        "neck",
        "head",
        "shoulder_left",
        "elbow_left",
        "wrist_left",
        "hand_left",
        "shoulder_right",
        "elbow_right",
        "wrist_right",
        "hand_right",
        "hip_left",
        "knee_left",
        "ankle_left",
        "foot_left",
        "hip_right",
        "knee_right",
        "ankle_right",
        "foot_right",
        "spine_shoulder",
        "hand_tip_left",
        "thumb_left",
        "hand_tip_right",
        "thumb_right",
    ),  # fmt: skip
    # From the dataset's own drawing code, made a tree: the root (spine_base) has no parent.
    parents=(-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7, 11, 11),
    parts=_parts(
        {
            "left_hand": ((6, 7, 21, 22), 7),
            "right_hand": ((10, 11, 23, 24), 11),
            "head": ((2, 3), 3),
            "upper_body": ((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 21, 22, 23, 24), None),
            "full_body": (tuple(range(25)), None),
            "left_leg": ((12, 13, 14, 15), None),
            "right_leg": ((16, 17, 18, 19), None),
        }
    ),
    origin_joints=(1,),
    left_hip=12,
    right_hip=16,
    neck_joints=(20,),
)

# Kinect v1 order used by Northwestern-UCLA, 0-based.
NUCLA20 = SkeletonLayout(
    name="nucla20",
    joint_names=(
        "hip_center",
        "spine",
        "shoulder_center",
        "head",
        "shoulder_left",
        "elbow_left",
        "wrist_left",
        "hand_left",
        "shoulder_right",
        "elbow_right",
        "wrist_right",
        "hand_right",
        "hip_left",
        "knee_left",
        "ankle_left",
        "foot_left",
        "hip_right",
        "knee_right",
        "ankle_right",
        "foot_right",
    ),  # fmt: skip
    parents=(-1, 0, 1, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18),
    parts=_parts(
        {
            "left_hand": ((6, 7), 7),
            "right_hand": ((10, 11), 11),
            "head": ((2, 3), 3),
            "upper_body": ((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), None),
            "full_body": (tuple(range(20)), None),
            "left_leg": ((12, 13, 14, 15), None),
            "right_leg": ((16, 17, 18, 19), None),
        }
    ),
    origin_joints=(1,),
    left_hip=12,
    right_hip=16,
    neck_joints=(2,),
)

# LCR-Net++ 13-joint order (even = right, odd = left, 12 = head), 0-based. There is no spine
# joint, so the body centre is the middle of the hips (the group's loaders subtract joint 1, which
# in this order is the left ankle; we do not repeat that).
LCR13 = SkeletonLayout(
    name="lcr13",
    joint_names=(
        "ankle_right",
        "ankle_left",
        "knee_right",
        "knee_left",
        "hip_right",
        "hip_left",
        "wrist_right",
        "wrist_left",
        "elbow_right",
        "elbow_left",
        "shoulder_right",
        "shoulder_left",
        "head",
    ),  # fmt: skip
    parents=(2, 3, 4, 5, -1, 4, 8, 9, 10, 11, 4, 10, 10),
    parts=_parts(
        {
            "left_hand": ((7,), 7),
            "right_hand": ((6,), 6),
            "head": ((12,), 12),
            "upper_body": ((6, 7, 8, 9, 10, 11, 12), None),
            "full_body": (tuple(range(13)), None),
            "left_leg": ((1, 3, 5), None),
            "right_leg": ((0, 2, 4), None),
        }
    ),
    origin_joints=(4, 5),
    left_hip=5,
    right_hip=4,
    neck_joints=(10, 11),
    extra_bones=((11, 5), (12, 11)),
)

LAYOUTS = {layout.name: layout for layout in (NTU25, NUCLA20, LCR13)}
