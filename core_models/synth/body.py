"""Subjects and a kinematic body that produces the 25 Kinect v2 (NTU25) joints.

A subject is a frozen bundle of parameters (size, proportions, handedness, speed, colours) drawn
deterministically from the subject id and the dataset seed, so the same performer looks and moves
the same in every clip, as in a real recording.

The body is posed in its own *local* frame (metres, ``y`` up, ``z`` the facing direction, ``x`` the
subject's left, the origin on the floor between the feet). An action drives a few controls
(pelvis position, torso lean, head pitch, wrist and ankle targets, hand directions) and the arms
and legs follow by two-bone inverse kinematics, so actions are written as "put the wrist at the
mouth" rather than as joint angles. Everything is vectorised over time: controls are (T, ...)
arrays and the output is (T, 25, 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDES = ("left", "right")
# Sign of the local x axis for each side: +x is the subject's left.
SIDE_SIGN = {"left": 1.0, "right": -1.0}

# Palettes (RGB, 0..255) clothing and skin are drawn from.
SHIRTS = (
    (200, 60, 55), (60, 110, 190), (70, 150, 90), (220, 180, 60), (120, 80, 160),
    (230, 230, 225), (40, 45, 55), (200, 120, 60), (90, 170, 180), (170, 70, 120),
)  # fmt: skip
TROUSERS = ((40, 50, 80), (60, 60, 65), (110, 90, 70), (30, 30, 35), (80, 100, 120), (150, 140, 120))
SKINS = ((245, 205, 180), (225, 180, 140), (190, 140, 100), (140, 95, 65), (95, 65, 45))
HAIRS = ((30, 25, 20), (90, 60, 35), (160, 120, 70), (60, 60, 60), (20, 20, 20))


@dataclass(frozen=True)
class Subject:
    """One performer.

    Attributes:
        subject: the 1-based subject id (``P001`` -> 1).
        height: standing height in metres.
        arm_ratio, leg_ratio, torso_ratio: multipliers of the average limb lengths for that height.
        shoulder_ratio: multiplier of the average shoulder width.
        left_handed: the dominant hand (the one actions use) is the left one.
        speed: tempo multiplier; durations of motions are divided by it.
        shirt, trousers, skin, hair: RGB colours.
    """

    subject: int
    height: float
    arm_ratio: float
    leg_ratio: float
    torso_ratio: float
    shoulder_ratio: float
    left_handed: bool
    speed: float
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]

    @property
    def dominant(self) -> str:
        return "left" if self.left_handed else "right"

    @property
    def other(self) -> str:
        return "right" if self.left_handed else "left"


def make_subject(subject: int, seed: int = 0) -> Subject:
    """The parameters of subject ``subject`` for dataset seed ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, subject, 0x5B0D7])
    pick = lambda pal: tuple(int(c) for c in pal[rng.integers(len(pal))])  # noqa: E731
    return Subject(
        subject=subject,
        height=float(np.clip(rng.normal(1.72, 0.11), 1.50, 1.95)),
        arm_ratio=float(rng.uniform(0.93, 1.07)),
        leg_ratio=float(rng.uniform(0.94, 1.06)),
        torso_ratio=float(rng.uniform(0.93, 1.07)),
        shoulder_ratio=float(rng.uniform(0.9, 1.12)),
        left_handed=bool(rng.random() < 0.25),
        speed=float(rng.uniform(0.75, 1.3)),
        shirt=pick(SHIRTS),
        trousers=pick(TROUSERS),
        skin=pick(SKINS),
        hair=pick(HAIRS),
    )


@dataclass(frozen=True)
class Dims:
    """Segment lengths in metres, derived from a subject (anthropometric fractions of height)."""

    ankle_height: float
    shin: float
    thigh: float
    hip_half: float
    spine_low: float  # spine_base -> spine_mid
    spine_high: float  # spine_mid -> spine_shoulder
    neck: float
    head: float
    shoulder_half: float
    upper_arm: float
    forearm: float
    hand: float
    foot: float

    @property
    def hip_height(self) -> float:
        return self.ankle_height + self.shin + self.thigh

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm


def dims_of(s: Subject) -> Dims:
    h = s.height
    return Dims(
        ankle_height=0.039 * h,
        shin=0.245 * h * s.leg_ratio,
        thigh=0.245 * h * s.leg_ratio,
        hip_half=0.055 * h,
        spine_low=0.125 * h * s.torso_ratio,
        spine_high=0.155 * h * s.torso_ratio,
        neck=0.05 * h,
        head=0.07 * h,
        shoulder_half=0.105 * h * s.shoulder_ratio,
        upper_arm=0.172 * h * s.arm_ratio,
        forearm=0.152 * h * s.arm_ratio,
        hand=0.055 * h,
        foot=0.085 * h,
    )


# -- geometry helpers ---------------------------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def two_bone_ik(
    root: np.ndarray, target: np.ndarray, upper: float, lower: float, pole: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Place a two-bone chain (shoulder-elbow-wrist, hip-knee-ankle) to reach a target.

    Args:
        root: (T, 3) chain root.
        target: (T, 3) wanted end position; pulled in when out of reach.
        upper, lower: bone lengths.
        pole: (T, 3) or (3,) direction the middle joint bends towards.

    Returns:
        ``(middle, end)`` positions, each (T, 3).
    """
    d_vec = target - root
    dist = np.linalg.norm(d_vec, axis=-1, keepdims=True)
    axis = d_vec / np.maximum(dist, 1e-9)
    # Keep the chain a hair short of straight (and not folded flat) so the bend stays defined.
    dist = np.clip(dist, abs(upper - lower) + 1e-3, (upper + lower) * 0.999)
    end = root + axis * dist
    cos_a = (upper**2 + dist**2 - lower**2) / (2 * upper * dist)
    sin_a = np.sqrt(np.clip(1 - cos_a**2, 0.0, 1.0))
    pole = np.broadcast_to(pole, root.shape)
    perp = pole - (pole * axis).sum(-1, keepdims=True) * axis
    perp = _unit(perp)
    middle = root + upper * (cos_a * axis + sin_a * perp)
    return middle, end


@dataclass
class Torso:
    """Trunk joints in the local frame, each (T, 3), the trunk's up axis and the face direction."""

    spine_base: np.ndarray
    spine_mid: np.ndarray
    spine_shoulder: np.ndarray
    neck: np.ndarray
    head: np.ndarray
    up: np.ndarray
    face: np.ndarray
    shoulders: dict[str, np.ndarray]
    hips: dict[str, np.ndarray]

    @property
    def mouth(self) -> np.ndarray:
        """(T, 3): a little below the head joint and in front of the face."""
        return self.head - 0.4 * (self.head - self.neck) + 0.08 * self.face

    def ear(self, side: str) -> np.ndarray:
        return self.head + np.array([SIDE_SIGN[side] * 0.085, 0.0, -0.01])


def torso(d: Dims, pelvis: np.ndarray, lean: np.ndarray, head_pitch: np.ndarray) -> Torso:
    """Trunk joints from the pelvis position and the forward lean (radians) of trunk and head.

    Args:
        pelvis: (T, 3) spine_base position in the local frame.
        lean: (T,) forward tilt of the trunk about the local x axis.
        head_pitch: (T,) extra forward tilt of neck and head (looking down is positive).
    """
    up = np.stack([np.zeros_like(lean), np.cos(lean), np.sin(lean)], -1)  # (T, 3)
    hup = np.stack([np.zeros_like(lean), np.cos(lean + head_pitch), np.sin(lean + head_pitch)], -1)
    mid = pelvis + up * d.spine_low
    sh = mid + up * d.spine_high
    neck = sh + up * d.neck * 0.6 + hup * d.neck * 0.4
    head = neck + hup * d.head
    # The face looks along the head's forward axis: (0, -sin, cos) of the head tilt.
    face = np.stack([np.zeros_like(lean), -np.sin(lean + head_pitch), np.cos(lean + head_pitch)], -1)
    x = np.array([1.0, 0.0, 0.0])
    shoulders = {s: sh + SIDE_SIGN[s] * d.shoulder_half * x - 0.02 * up for s in SIDES}
    hips = {s: pelvis + SIDE_SIGN[s] * d.hip_half * x - 0.03 * up for s in SIDES}
    return Torso(pelvis, mid, sh, neck, head, up, face, shoulders, hips)


def rest_wrist(d: Dims, t: Torso, side: str) -> np.ndarray:
    """(T, 3) wrist position of an arm hanging relaxed from its shoulder."""
    down = -t.up
    return t.shoulders[side] + down * d.arm * 0.93 + np.array([SIDE_SIGN[side] * 0.05, 0.0, 0.04])


def assemble(
    d: Dims,
    t: Torso,
    wrists: dict[str, np.ndarray],
    ankles: dict[str, np.ndarray],
    hand_dirs: dict[str, np.ndarray] | None = None,
    foot_dirs: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """All 25 NTU joints in the local frame.

    Args:
        d: segment lengths.
        t: the trunk (see :func:`torso`).
        wrists: per side (T, 3) wrist targets; reached by IK from the shoulder.
        ankles: per side (T, 3) ankle targets; reached by IK from the hip.
        hand_dirs: per side (T, 3) wrist->hand directions; default along the forearm.
        foot_dirs: per side (T, 3) ankle->toe directions; default forward and slightly down.

    Returns:
        (T, 25, 3) joints in NTU25 order.
    """
    T = len(t.spine_base)
    J = np.zeros((T, 25, 3))
    J[:, 0], J[:, 1], J[:, 20], J[:, 2], J[:, 3] = t.spine_base, t.spine_mid, t.spine_shoulder, t.neck, t.head
    arm_idx = {"left": (4, 5, 6, 7, 21, 22), "right": (8, 9, 10, 11, 23, 24)}
    leg_idx = {"left": (12, 13, 14, 15), "right": (16, 17, 18, 19)}
    for s in SIDES:
        sg = SIDE_SIGN[s]
        sh_i, el_i, wr_i, ha_i, tip_i, th_i = arm_idx[s]
        # Elbows bend backwards, outwards and down, as human elbows do.
        pole = _unit(np.array([sg * 0.5, -0.4, -1.0]))
        elbow, wrist = two_bone_ik(t.shoulders[s], wrists[s], d.upper_arm, d.forearm, pole)
        hd = _unit(wrist - elbow) if hand_dirs is None or s not in hand_dirs else _unit(hand_dirs[s])
        hand = wrist + hd * d.hand * 0.45
        tip = wrist + hd * d.hand
        # The thumb sits beside the hand, on the side towards the body's midline and up.
        side_v = _unit(np.cross(hd, np.array([0.0, 0.0, 1.0])) * -sg + np.array([0.0, 0.3, 0.0]))
        thumb = wrist + hd * d.hand * 0.5 + side_v * 0.035
        J[:, sh_i], J[:, el_i], J[:, wr_i], J[:, ha_i], J[:, tip_i], J[:, th_i] = (
            t.shoulders[s],
            elbow,
            wrist,
            hand,
            tip,
            thumb,
        )
        hi_i, kn_i, an_i, fo_i = leg_idx[s]
        knee, ankle = two_bone_ik(t.hips[s], ankles[s], d.thigh, d.shin, np.array([0.0, 0.1, 1.0]))
        fd = _unit(np.array([0.0, -0.25, 1.0])) if foot_dirs is None or s not in foot_dirs else foot_dirs[s]
        fd = np.broadcast_to(_unit(np.asarray(fd, dtype=float)), ankle.shape)
        J[:, hi_i], J[:, kn_i], J[:, an_i], J[:, fo_i] = t.hips[s], knee, ankle, ankle + fd * d.foot
    return J


def to_world(local: np.ndarray, position: np.ndarray, yaw: float) -> np.ndarray:
    """Local body frame -> world frame.

    Args:
        local: (..., 3) points.
        position: (3,) world position of the local origin (on the floor).
        yaw: rotation about world y; 0 faces world +z.
    """
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return local @ R.T + position


# Joints that turn with the shoulders when the upper body twists (spine_mid turns half as far).
UPPER_BODY = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 21, 22, 23, 24)


def twist_upper_body(joints: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Turn the upper body about the vertical through the pelvis (turning to look).

    Args:
        joints: (T, 25, 3) local joints.
        angle: (T,) yaw in radians (positive turns towards the subject's left).

    Returns:
        (T, 25, 3) joints; hips and legs stay where they were.
    """
    out = joints.copy()
    pivot = joints[:, 0:1]  # (T, 1, 3) spine_base
    for idx, share in ((list(UPPER_BODY), 1.0), ([1], 0.5)):
        a = angle * share
        c, s = np.cos(a)[:, None], np.sin(a)[:, None]
        rel = joints[:, idx] - pivot  # (T, k, 3)
        x, z = rel[..., 0], rel[..., 2]
        out[:, idx, 0] = pivot[..., 0] + c * x + s * z
        out[:, idx, 2] = pivot[..., 2] - s * x + c * z
    return out


def walk(subject: Subject, T: int, *, speed: float, t0: float, fps: float = 30.0) -> np.ndarray:
    """(T, 25, 3) local joints of ``subject`` walking along its local +z at ``speed`` m/s.

    The pelvis is at z = 0 at frame ``t0``; steps at about 1.8 Hz (scaled with speed), arms
    swinging against the legs.
    """
    d = dims_of(subject)
    t = (np.arange(T, dtype=float) - t0) / fps  # seconds
    freq = 1.8 * speed / 1.2
    phase = 2 * np.pi * freq * t
    stride = 0.5 * speed / freq  # metres per step
    z = speed * t
    bob = 0.015 * np.cos(2 * phase)
    pelvis = np.stack([0.02 * np.sin(phase), d.hip_height * 0.97 + bob, z], -1)
    lean = np.full(T, 0.06)
    tor = torso(d, pelvis, lean, np.zeros(T))
    wrists, ankles = {}, {}
    for s, sign in (("left", 1.0), ("right", -1.0)):
        sw = np.sin(phase) * sign  # the leg's swing: +1 forward
        lift = np.clip(np.cos(phase) * sign, 0, None) * 0.08  # lifted while swinging forward
        ankles[s] = np.stack([np.full(T, SIDE_SIGN[s] * (d.hip_half + 0.01)), d.ankle_height + lift,
                              z + stride * sw], -1)  # fmt: skip
        wrists[s] = rest_wrist(d, tor, s) + np.stack([np.zeros(T), np.zeros(T), -0.18 * sw], -1)
    return assemble(d, tor, wrists, ankles)
