"""Per-class motion programs: targets over time, the objects they handle, and the ground truth.

Every program works in the subject's local frame (see :mod:`core_models.synth.body`) and draws all
its randomness (onset, duration, amplitude, sway, tempo) from the generator it is given, so a
performance is a pure function of ``(rng state, subject, stage)``.

The three temporally opposite pairs are made *exact time reversals* of each other: stand-up is
sit-down played backwards, take-off-a-shoe is wear-a-shoe backwards and drop is pick-up backwards,
objects included. The transition's centre is drawn symmetrically around the clip centre and the
clip length is odd, so the middle frame of a clip and of its reversal coincide. Hence the
distribution of the middle frame (skeleton or RGB) is the same for both classes of a pair, and so
is the distribution of a frame picked at random from a clip: only temporal order tells them apart.
(The generator goes further and gives both classes of a pair the same sample per subject, setup
and repetition, so each stand-up clip is literally a sit-down clip played backwards.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from core_models.data.layouts import NTU25
from core_models.synth import body

FPS = 30
SYNTH_ACTIONS = (1, 2, 5, 6, 8, 9, 10, 11, 12, 16, 17, 23, 28, 30)

# Furniture in the subject's local frame: a chair behind every subject and, in some setups, a desk
# in front (the same for every class, so furniture never gives a class away).
CHAIR_Z = -0.32  # seat centre
SEAT_HEIGHT = 0.46
DESK_Z = (0.10, 0.64)  # near and far edge
DESK_HALF_WIDTH = 0.55
DESK_HEIGHT = 0.74

# A pair's members are each other's confusers; the rest are the nearest look-alikes.
CONFUSERS = {
    1: (2, 28),
    2: (1, 28),
    28: (1, 2),
    8: (9,),
    9: (8,),
    16: (17,),
    17: (16,),
    6: (5,),
    5: (6,),
    11: (12, 30),
    12: (11, 30),
    30: (12, 11),
    23: (10,),
    10: (23,),
}
# Reversed class -> the class whose program it plays backwards.
REVERSED_OF = {9: 8, 17: 16, 5: 6}
OPPOSITE_PAIRS = ((8, 9), (16, 17), (6, 5))


@dataclass
class Prim:
    """A drawable object part over time, in the local frame.

    Attributes:
        kind: ``"capsule"`` (segment ``a``-``b`` swept by ``radius``) or ``"box"`` (centre ``a``,
            half sizes ``half`` along the columns of ``rot``).
        color: RGB.
        a: (T, 3) capsule start or box centre.
        b: (T, 3) capsule end (unused for boxes).
        radius: capsule radius.
        half: (3,) box half sizes.
        rot: (T, 3, 3) box axes as columns, or ``None`` for axis-aligned.
        layer: ``"under"`` drawn before the body, ``"body"`` depth-sorted with it, ``"over"`` after.
    """

    kind: str
    color: tuple[int, int, int]
    a: np.ndarray
    b: np.ndarray | None = None
    radius: float = 0.0
    half: np.ndarray | None = None
    rot: np.ndarray | None = None
    layer: str = "body"

    def reversed(self) -> Prim:
        rev = lambda x: None if x is None else x[::-1].copy()  # noqa: E731
        return replace(self, a=rev(self.a), b=rev(self.b), rot=rev(self.rot))


@dataclass
class Performance:
    """One performed action in the local frame.

    Attributes:
        action: NTU action id.
        joints: (T, 25, 3) local joints.
        objects: handled objects.
        parts: bool (T, P) in ``NTU25.part_names`` order: parts carrying the action.
        interval: ``[start, end)`` frames separating the class from its confusers.
        bare_foot: side whose foot has no shoe drawn on it (the shoe is an object), or ``None``.
    """

    action: int
    joints: np.ndarray
    objects: list[Prim]
    parts: np.ndarray
    interval: tuple[int, int]
    bare_foot: str | None = None
    extra: dict = field(default_factory=dict)

    def reversed(self, action: int) -> Performance:
        T = len(self.joints)
        s, e = self.interval
        return Performance(
            action,
            self.joints[::-1].copy(),
            [o.reversed() for o in self.objects],
            self.parts[::-1].copy(),
            (T - e, T - s),
            self.bare_foot,
            dict(self.extra),
        )


@dataclass(frozen=True)
class Ctx:
    """What a program may use: the clip length, the subject, the stage, and the random stream."""

    T: int
    subject: body.Subject
    dims: body.Dims
    desk: bool
    rng: np.random.Generator

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.T, dtype=float)

    def frames(self, seconds: float) -> float:
        """A duration in frames at this subject's tempo."""
        return seconds * FPS / self.subject.speed

    def onset(self, duration: float) -> float:
        """Start frame of a motion of ``duration`` frames, centred symmetrically about the middle."""
        mid = (self.T - 1) / 2
        spread = max(0.0, min(0.22 * self.T, mid - duration / 2 - 2))
        return mid + self.rng.uniform(-1, 1) * spread - duration / 2


# -- easing and blending -----------------------------------------------------------------------


def ease(x: np.ndarray) -> np.ndarray:
    """Smoothstep on [0, 1]; ``ease(1 - x) == 1 - ease(x)`` keeps reversals exact."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def ramp(t: np.ndarray, start: float, dur: float) -> np.ndarray:
    return ease((t - start) / max(dur, 1e-6))


def window(t: np.ndarray, on: float, rise: float, hold: float, fall: float) -> np.ndarray:
    return ramp(t, on, rise) * (1 - ramp(t, on + rise + hold, fall))


def lerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a + (b - a) * np.asarray(w)[..., None]


def sway(ctx: Ctx, amp: float) -> np.ndarray:
    """(T,) idle sway: a slow sinusoid of random phase (symmetric under time reversal)."""
    period = ctx.rng.uniform(1.8, 3.5) * FPS
    return amp * np.sin(2 * np.pi * ctx.t / period + ctx.rng.uniform(0, 2 * np.pi))


def part_mask(active: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(T, P) bool: ``names`` are active where ``active`` (T,) is true."""
    cols = np.array([n in names for n in NTU25.part_names])
    return active[:, None] & cols[None, :]


def span(mask: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(mask)
    return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, len(mask))


def hand_part(side: str) -> str:
    return f"{side}_hand"


# -- the body's base posture -------------------------------------------------------------------


@dataclass
class Pose:
    """Controls for :func:`body.assemble` plus the trunk they imply."""

    torso: body.Torso
    wrists: dict[str, np.ndarray]
    ankles: dict[str, np.ndarray]
    lap: dict[str, np.ndarray]
    hand_dirs: dict[str, np.ndarray] = field(default_factory=dict)
    foot_dirs: dict[str, np.ndarray] = field(default_factory=dict)


def base_pose(ctx: Ctx, sit: np.ndarray, lean_extra=0.0, head_pitch=0.0, pelvis_drop=0.0) -> Pose:
    """Standing (``sit`` = 0) to seated on the chair (``sit`` = 1), with idle sway.

    The pelvis first moves back, then down, and the trunk leans forward mid-way, as people do
    when they sit; a constant ``sit`` gives a still posture.
    """
    d, T = ctx.dims, ctx.T
    sit = np.broadcast_to(np.asarray(sit, float), (T,))
    stand_p = np.array([0.0, d.hip_height * 0.985, -0.02])
    seat_p = np.array([0.0, SEAT_HEIGHT + 0.07, CHAIR_Z + 0.04])
    wz, wy = ease(sit / 0.7), ease((sit - 0.3) / 0.7)
    pelvis = np.stack(
        [
            np.full(T, stand_p[0]),
            stand_p[1] + (seat_p[1] - stand_p[1]) * wy - pelvis_drop,
            stand_p[2] + (seat_p[2] - stand_p[2]) * wz,
        ],
        -1,
    )
    damp = 1 - 0.6 * sit  # seated people sway less
    pelvis[:, 0] += sway(ctx, 0.012) * damp
    lean = 0.04 + 0.1 * sit + 0.55 * np.sin(np.pi * sit) + sway(ctx, 0.02) * damp + lean_extra
    head = np.asarray(head_pitch, float) + 0.1 * np.sin(np.pi * sit) + sway(ctx, 0.03)
    tor = body.torso(d, pelvis, lean, np.broadcast_to(head, (T,)))
    knee_z = seat_p[2] + d.thigh * 0.92
    ankles, lap, wrists = {}, {}, {}
    for s in body.SIDES:
        sg = body.SIDE_SIGN[s]
        stand_a = np.array([sg * (d.hip_half + 0.02), d.ankle_height, 0.03])
        seat_a = np.array([sg * (d.hip_half + 0.05), d.ankle_height, knee_z + 0.04])
        ankles[s] = lerp(np.broadcast_to(stand_a, (T, 3)), np.broadcast_to(seat_a, (T, 3)), sit)
        # Seated hands rest on the thighs, a little behind the knees.
        lap[s] = tor.hips[s] + np.array([sg * 0.03, 0.10, 0.0]) + np.array([0, 0, 1.0]) * d.thigh * 0.55
        wrists[s] = lerp(body.rest_wrist(d, tor, s), lap[s], sit)
    return Pose(tor, wrists, ankles, lap)


def finish(ctx: Ctx, pose: Pose) -> np.ndarray:
    return body.assemble(ctx.dims, pose.torso, pose.wrists, pose.ankles, pose.hand_dirs, pose.foot_dirs)


def hold_point(ctx: Ctx, pose: Pose, side: str) -> np.ndarray:
    """(T, 3) wrist position holding something in front of the stomach, forearm level."""
    t = pose.torso
    return (
        t.shoulders[side]
        - t.up * 0.33 * ctx.dims.arm / 0.56
        + t.face * 0.28
        + [-body.SIDE_SIGN[side] * 0.06, 0, 0]
    )


def surface(ctx: Ctx, pose: Pose) -> np.ndarray:
    """(T, 3) where a plate, paper or keyboard lies: on the desk if there is one, else the lap."""
    if ctx.desk:
        return np.broadcast_to(np.array([0.0, DESK_HEIGHT + 0.01, DESK_Z[0] + 0.14]), (ctx.T, 3)).copy()
    return (pose.lap["left"] + pose.lap["right"]) / 2 + np.array([0.0, 0.03, 0.06])


def _const(v, T) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, float), (T, 3)).copy()


def _box(color, centre, half, rot=None) -> Prim:
    return Prim("box", color, centre, half=np.asarray(half, float), rot=rot)


def _caps(color, a, b, r) -> Prim:
    return Prim("capsule", color, a, b, radius=r)


def _random_color(rng, palette) -> tuple[int, int, int]:
    return tuple(int(c) for c in palette[rng.integers(len(palette))])


# -- the programs ------------------------------------------------------------------------------


def _seated_or_not(ctx: Ctx, p_seated: float) -> np.ndarray:
    return np.full(ctx.T, float(ctx.rng.random() < p_seated))


def prog_drink(ctx: Ctx) -> Performance:
    t, dom = ctx.t, ctx.subject.dominant
    rise, hold = ctx.frames(0.45), ctx.frames(ctx.rng.uniform(0.6, 1.1))
    on = ctx.onset(2 * rise + hold)
    w = window(t, on, rise, hold, rise)
    pose = base_pose(ctx, _seated_or_not(ctx, 0.35), head_pitch=-0.25 * w)
    tor = pose.torso
    at_mouth = tor.mouth + tor.face * 0.02 - [body.SIDE_SIGN[dom] * 0.02, 0.05, 0]
    pose.wrists[dom] = lerp(hold_point(ctx, pose, dom), at_mouth, w)
    joints = finish(ctx, pose)
    hand = joints[:, 11 if dom == "right" else 7]
    tilt = lerp(_const([0, 1, 0], ctx.T), _const([0, 0.5, -0.87], ctx.T), w)  # tip the cup to drink
    cup = _caps(
        _random_color(ctx.rng, ((235, 235, 230), (200, 50, 50), (60, 120, 200))),
        hand - tilt * 0.05,
        hand + tilt * 0.06,
        0.035,
    )
    active = w > 0.05
    return Performance(1, joints, [cup], part_mask(active, (hand_part(dom),)), span(w > 0.6))


def prog_eat(ctx: Ctx) -> Performance:
    t, dom, other = ctx.t, ctx.subject.dominant, ctx.subject.other
    period = ctx.frames(ctx.rng.uniform(0.55, 0.8))
    n = int(ctx.rng.integers(2, 4))
    while n > 1 and n * period > ctx.T - 4:
        n -= 1
    on = ctx.onset(n * period)
    phase = np.clip((t - on) / period, 0, n)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * phase)  # hand goes plate -> mouth -> plate n times
    pose = base_pose(ctx, 1.0, head_pitch=0.15 - 0.1 * w)
    tor = pose.torso
    plate_at = surface(ctx, pose)
    if not ctx.desk:  # no desk: the other hand holds the plate on the lap
        pose.wrists[other] = plate_at + [body.SIDE_SIGN[other] * 0.1, -0.01, -0.02]
    pose.wrists[dom] = lerp(
        plate_at + [body.SIDE_SIGN[dom] * 0.04, 0.06, -0.06], tor.mouth + tor.face * 0.03, w
    )
    joints = finish(ctx, pose)
    tip = joints[:, 23 if dom == "right" else 21]
    wrist = joints[:, 10 if dom == "right" else 6]
    plate = _box((240, 240, 235), plate_at, [0.11, 0.012, 0.11])
    food = _caps((200, 150, 60), plate_at + [0.02, 0.02, 0], plate_at + [-0.03, 0.02, 0.02], 0.025)
    spoon = _caps((170, 170, 180), wrist, tip + (tip - wrist) * 0.8, 0.01)
    active = (phase > 0) & (phase < n)
    return Performance(2, joints, [plate, food, spoon], part_mask(active, (hand_part(dom),)), span(w > 0.5))


def prog_phone(ctx: Ctx) -> Performance:
    t, dom = ctx.t, ctx.subject.dominant
    rise, hold = ctx.frames(0.5), ctx.frames(ctx.rng.uniform(0.9, 1.6))
    on = ctx.onset(2 * rise + hold)
    w = window(t, on, rise, hold, rise)
    sg = body.SIDE_SIGN[dom]
    pose = base_pose(ctx, _seated_or_not(ctx, 0.35), head_pitch=0.05 * w)
    tor = pose.torso
    pose.wrists[dom] = lerp(hold_point(ctx, pose, dom), tor.ear(dom) + [sg * 0.03, -0.07, 0.02], w)
    pose.hand_dirs[dom] = lerp(tor.face, _const([0, 1, 0.2], ctx.T), w)
    joints = finish(ctx, pose)
    hand = joints[:, 11 if dom == "right" else 7]
    up = lerp(tor.face, _const([0, 1, 0.3], ctx.T), w)
    phone = _caps((25, 25, 30), hand - up * 0.04, hand + up * 0.06, 0.022)
    return Performance(28, joints, [phone], part_mask(w > 0.05, (hand_part(dom),)), span(w > 0.6))


def prog_waving(ctx: Ctx) -> Performance:
    t, dom = ctx.t, ctx.subject.dominant
    sg = body.SIDE_SIGN[dom]
    rise, hold = ctx.frames(0.35), ctx.frames(ctx.rng.uniform(0.9, 1.4))
    on = ctx.onset(2 * rise + hold)
    w = window(t, on, rise, hold, rise)
    pose = base_pose(ctx, _seated_or_not(ctx, 0.25))
    tor = pose.torso
    freq = ctx.rng.uniform(2.0, 3.2) * ctx.subject.speed / FPS
    wave = ctx.rng.uniform(0.08, 0.14) * np.sin(2 * np.pi * freq * (t - on))
    up_at = tor.shoulders[dom] + tor.up * 0.36 + np.stack([sg * (0.22 + wave), 0 * t, 0.12 + 0 * t], -1)
    pose.wrists[dom] = lerp(pose.wrists[dom], up_at, w)
    joints = finish(ctx, pose)
    return Performance(23, joints, [], part_mask(w > 0.05, (hand_part(dom),)), span(w > 0.6))


def prog_clapping(ctx: Ctx) -> Performance:
    t = ctx.t
    rise, hold = ctx.frames(0.3), ctx.frames(ctx.rng.uniform(1.0, 1.5))
    on = ctx.onset(2 * rise + hold)
    w = window(t, on, rise, hold, rise)
    pose = base_pose(ctx, _seated_or_not(ctx, 0.25))
    tor = pose.torso
    freq = ctx.rng.uniform(2.2, 3.5) * ctx.subject.speed / FPS
    gap = 0.04 + ctx.rng.uniform(0.08, 0.14) * (0.5 + 0.5 * np.cos(2 * np.pi * freq * (t - on)))
    centre = tor.spine_shoulder - tor.up * 0.1 + tor.face * 0.32
    for s in body.SIDES:
        sg = body.SIDE_SIGN[s]
        pose.wrists[s] = lerp(pose.wrists[s], centre + np.array([1.0, 0, 0]) * (sg * gap)[:, None], w)
        pose.hand_dirs[s] = lerp(tor.face, _const([-sg * 0.3, 0.9, 0.3], ctx.T), w)
    joints = finish(ctx, pose)
    return Performance(10, joints, [], part_mask(w > 0.05, ("left_hand", "right_hand")), span(w > 0.6))


def prog_reading(ctx: Ctx) -> Performance:
    t, dom = ctx.t, ctx.subject.dominant
    turn_len = ctx.frames(ctx.rng.uniform(0.6, 0.9))
    on = ctx.onset(turn_len)
    w_turn = window(t, on, turn_len / 2, 0.0, turn_len / 2)  # one page turn: across and back
    pose = base_pose(ctx, _seated_or_not(ctx, 0.6), head_pitch=0.35)
    tor = pose.torso
    book_c = tor.spine_shoulder - tor.up * 0.22 + tor.face * 0.3
    x = np.array([1.0, 0, 0])
    for s in body.SIDES:
        pose.wrists[s] = book_c + x * body.SIDE_SIGN[s] * 0.12 - tor.up * 0.04
    sg = body.SIDE_SIGN[dom]
    pose.wrists[dom] = (
        pose.wrists[dom] + x * (-sg * 0.16) * w_turn[:, None] + tor.face * 0.04 * w_turn[:, None]
    )
    joints = finish(ctx, pose)
    cover = _random_color(ctx.rng, ((150, 40, 40), (40, 70, 140), (40, 110, 60), (200, 160, 40)))
    rot = np.stack([np.broadcast_to(x, (ctx.T, 3)), tor.face, tor.up], -1)  # tilt with the trunk
    book = _box(cover, book_c, [0.14, 0.1, 0.015], rot)
    pages = _box((245, 245, 240), book_c + tor.face * 0.02, [0.13, 0.09, 0.006], rot)
    active = np.ones(ctx.T, bool)  # both hands hold the book all along
    return Performance(
        11,
        joints,
        [book, pages],
        part_mask(active, ("left_hand", "right_hand")),
        span(w_turn > 0.05) if w_turn.max() > 0.05 else (0, ctx.T),
    )


def _desk_work(ctx: Ctx, action: int) -> Performance:
    """Writing (12) and typing (30): seated, small fast hand motions over a surface."""
    t, dom, other = ctx.t, ctx.subject.dominant, ctx.subject.other
    rise, hold = ctx.frames(0.35), ctx.frames(ctx.rng.uniform(0.9, 1.5))
    on = ctx.onset(2 * rise + hold)
    w = window(t, on, rise, hold, rise)
    pose = base_pose(ctx, 1.0, head_pitch=0.25 + 0.15 * w)
    at = surface(ctx, pose)
    rate = ctx.subject.speed / FPS
    objects = []
    if action == 12:
        a, f = ctx.rng.uniform(0.015, 0.03), ctx.rng.uniform(2.5, 4.0) * rate
        loop = np.stack(
            [a * np.cos(2 * np.pi * f * t), np.zeros(ctx.T), 0.5 * a * np.sin(4 * np.pi * f * t)], -1
        )
        drift = np.stack([np.linspace(-0.04, 0.04, ctx.T), np.zeros(ctx.T), np.zeros(ctx.T)], -1)
        pen_at = at + [body.SIDE_SIGN[dom] * 0.03, 0.05, 0] + (loop + drift) * w[:, None]
        pose.wrists[dom] = lerp(pose.wrists[dom], pen_at, w)
        pose.wrists[other] = lerp(pose.wrists[other], at + [body.SIDE_SIGN[other] * 0.1, 0.03, -0.02], w)
        pose.hand_dirs[dom] = _const([0, -0.6, 1.0], ctx.T)
        joints = finish(ctx, pose)
        tip = joints[:, 23 if dom == "right" else 21]
        objects.append(_box((250, 250, 245), at, [0.1, 0.003, 0.14]))
        objects.append(_caps((30, 40, 120), tip + [0, -0.02, 0.0], tip + [0, 0.06, -0.06], 0.007))
        hands = (hand_part(dom),)
    else:
        f = ctx.rng.uniform(4.0, 6.0) * rate
        for s in body.SIDES:
            sg = body.SIDE_SIGN[s]
            tap = 0.012 * np.abs(np.sin(2 * np.pi * f * t + ctx.rng.uniform(0, np.pi)))
            key_at = (
                at
                + [sg * 0.1, 0.04, -0.03]
                + np.stack([np.zeros(ctx.T), tap, np.zeros(ctx.T)], -1) * w[:, None]
            )
            pose.wrists[s] = lerp(pose.wrists[s], key_at, w)
            pose.hand_dirs[s] = _const([0, -0.3, 1.0], ctx.T)
        joints = finish(ctx, pose)
        objects.append(_box((50, 50, 55), at + [0, 0.01, 0], [0.2, 0.012, 0.07]))
        hands = ("left_hand", "right_hand")
    return Performance(action, joints, objects, part_mask(w > 0.05, hands), span(w > 0.6))


def prog_writing(ctx: Ctx) -> Performance:
    return _desk_work(ctx, 12)


def prog_typing(ctx: Ctx) -> Performance:
    return _desk_work(ctx, 30)


def prog_sit_down(ctx: Ctx) -> Performance:
    dur = ctx.frames(ctx.rng.uniform(0.9, 1.3))
    start = ctx.onset(dur)
    sit = ramp(ctx.t, start, dur)
    joints = finish(ctx, base_pose(ctx, sit))
    moving = (sit > 0.01) & (sit < 0.99)
    parts = part_mask(moving, ("full_body", "left_leg", "right_leg"))
    return Performance(8, joints, [], parts, span(moving))


def prog_pickup(ctx: Ctx) -> Performance:
    t, dom, d = ctx.t, ctx.subject.dominant, ctx.dims
    dur = ctx.frames(ctx.rng.uniform(1.1, 1.5))
    start = ctx.onset(dur)
    bend = window(t, start, 0.45 * dur, 0.1 * dur, 0.45 * dur)  # down, grasp, up
    grasped = t >= start + 0.5 * dur
    pose = base_pose(ctx, 0.0, lean_extra=0.95 * bend, pelvis_drop=0.3 * d.hip_height * bend)
    tor = pose.torso
    # Put the box where this subject's hand reaches at the bottom of the bend.
    k = int(np.argmax(bend))
    sh = tor.shoulders[dom][k]
    reach = 0.93 * d.arm
    box_h = 0.09
    grip_y = box_h * 2 + 0.02
    horiz = np.sqrt(max(reach**2 - (sh[1] - grip_y) ** 2, 0.0))
    grip = np.array([sh[0] * 0.7, grip_y, sh[2] + max(horiz, 0.05)])
    carry = hold_point(ctx, pose, dom) + [body.SIDE_SIGN[dom] * 0.05, 0, 0.0]
    pose.wrists[dom] = np.where(grasped[:, None], lerp(carry, grip, bend), lerp(pose.wrists[dom], grip, bend))
    # The other hand steadies itself on the knee while bending.
    pose.wrists[ctx.subject.other] = lerp(
        pose.wrists[ctx.subject.other], pose.ankles[ctx.subject.other] + [0, 0.4, 0.12], bend * 0.8
    )
    joints = finish(ctx, pose)
    wrist = joints[:, 10 if dom == "right" else 6]
    on_floor = np.broadcast_to(grip - [0, box_h + 0.02, 0], (ctx.T, 3))
    centre = np.where(grasped[:, None], wrist - [0, box_h + 0.02, 0], on_floor)
    box = _box((150, 105, 60), centre, [box_h, box_h, box_h])
    moving = bend > 0.01
    return Performance(6, joints, [box], part_mask(moving, (hand_part(dom),)), span(moving))


def prog_wear_shoe(ctx: Ctx) -> Performance:
    """Seated: lift the foot, slide the shoe on from the toe to the heel, put the foot down.

    The dominant hand travels along the foot from the toe to the heel while the shoe goes on;
    played backwards (take off) it travels heel to toe, so the skeleton alone tells them apart
    only through the order of events.
    """
    t, dom, other, d = ctx.t, ctx.subject.dominant, ctx.subject.other, ctx.dims
    leg = dom
    dur = ctx.frames(ctx.rng.uniform(1.3, 1.7))
    start = ctx.onset(dur)
    lift = window(t, start, 0.2 * dur, 0.6 * dur, 0.2 * dur)
    slide = ramp(t, start + 0.2 * dur, 0.45 * dur)  # hand toe -> heel, the shoe going on with it
    pose = base_pose(ctx, 1.0, lean_extra=0.35 * lift, head_pitch=0.3 * lift)
    sg = body.SIDE_SIGN[leg]
    raised = pose.ankles[leg] + [-sg * 0.04, 0.28, -0.1]
    pose.ankles[leg] = lerp(pose.ankles[leg], raised, lift)
    pose.foot_dirs[leg] = lerp(_const([0, -0.25, 1], ctx.T), _const([-sg * 0.3, -0.1, 1], ctx.T), lift)
    fwd = np.array([0.0, 0.0, 1.0])
    ahead_of_toe = pose.ankles[leg] + fwd * (d.foot + 0.08) + [0, 0.05, 0]
    behind_heel = pose.ankles[leg] - fwd * 0.07 + [0, 0.07, 0]
    on_foot = lerp(ahead_of_toe, behind_heel, slide)
    pose.wrists[dom] = lerp(pose.lap[dom] + [0, 0.02, 0.04], on_foot, lift)
    pose.wrists[other] = lerp(pose.wrists[other], pose.ankles[leg] + [-sg * 0.06, 0.08, 0.04], lift)
    joints = finish(ctx, pose)
    ankle_i, foot_i, hand_i = (18, 19, 11) if leg == "right" else (14, 15, 7)
    hand = joints[:, hand_i]
    held_a, held_b = hand - fwd * 0.02 - [0, 0.04, 0], hand + fwd * 0.13 - [0, 0.04, 0]
    worn_a, worn_b = joints[:, ankle_i], joints[:, foot_i]
    shoe = _caps((45, 35, 30), lerp(held_a, worn_a, slide), lerp(held_b, worn_b, slide), 0.045)
    moving = lift > 0.01
    parts = part_mask(moving, ("left_hand", "right_hand", f"{leg}_leg"))
    return Performance(16, joints, [shoe], parts, span(moving), bare_foot=leg)


PROGRAMS = {
    1: prog_drink,
    2: prog_eat,
    6: prog_pickup,
    8: prog_sit_down,
    10: prog_clapping,
    11: prog_reading,
    12: prog_writing,
    16: prog_wear_shoe,
    23: prog_waving,
    28: prog_phone,
    30: prog_typing,
}


def perform(action: int, ctx: Ctx) -> Performance:
    """The performance of ``action`` (an NTU id in :data:`SYNTH_ACTIONS`).

    A reversed class runs its partner's program with the same random stream and plays it
    backwards (objects and ground truth included).
    """
    if action in REVERSED_OF:
        return PROGRAMS[REVERSED_OF[action]](ctx).reversed(action)
    if action not in PROGRAMS:
        raise ValueError(f"action {action} is not one of the synthetic classes {SYNTH_ACTIONS}")
    return PROGRAMS[action](ctx)


def sample_length(rng: np.random.Generator) -> int:
    """An odd clip length in 49..71 frames (odd, so the middle frame is its own reversal)."""
    return 2 * int(rng.integers(24, 36)) + 1
