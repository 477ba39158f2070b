"""Per-class motion programs (synthetic data v2): controls over time, handled objects, ground truth.

Every program works in the subject's local frame (see :mod:`core_models.synth.body`) and draws all
its randomness from the generator it is given, so a performance is a pure function of
``(rng state, subject, stage)``. A program first decides how long its action lasts and asks the
context to :meth:`Ctx.place` it: the clip is 2-3 times the action's length and the action starts
at ``(T - duration) * Beta(0.35, 0.35)`` frames. A uniform onset would put the action's frames in
the middle of the clip more often than anywhere else (the middle is covered by most placements), so
"always attend to the middle" would beat uniform attention by about 0.12 of the truth interval; this
U-shaped onset brings the middle back to within 0.06 of uniform (``probe`` measures it), and being
symmetric it keeps time reversal exact in distribution. Outside
the action the subject does other things (:mod:`core_models.synth.distractors`).

Three designs make the classes need what the attention models look at:

* **Object groups** (:data:`OBJECT_GROUPS`). Drink water / eat meal, and reading / writing /
  typing, share one motion program *and one sample*: an eat clip is the drink clip of the same
  subject, setup and repetition with food in the hand instead of a cup (likewise a writing or
  typing clip and the reading clip). The subject takes the object from the clutter on the table,
  uses it (at the mouth, or on the table in front), and puts it back. Only the object in the hand
  tells them apart, and only while it is in the hand.
* **Opposite pairs** (:data:`OPPOSITE_PAIRS`) are exact time reversals: stand-up is sit-down
  played backwards (distractors and objects included), take-off-a-shoe is wear-a-shoe backwards,
  drop is pick-up backwards. Any single frame is equally likely under both classes.
* Every other class (phone call, waving, clapping) has its own motion.

The ground truth of a performance is the body parts that carry the action in each frame and the
frame interval that tells the class apart from its confusers: for the object classes, the frames
the object is in the hand (from the grasp to the release).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from core_models.data.layouts import NTU25
from core_models.synth import body
from core_models.synth import objects as things

FPS = 30
SYNTH_ACTIONS = (1, 2, 5, 6, 8, 9, 10, 11, 12, 16, 17, 23, 28, 30)
DATA_VERSION = 2
ONSET_BETA = 0.35  # the action starts at (T - duration) * Beta(ONSET_BETA, ONSET_BETA)

# Furniture in the subject's local frame: a chair behind every subject and a table in front of it
# (in every setup; in some setups its front panel hides the legs). The same for every class, so
# furniture never gives a class away.
CHAIR_Z = -0.32  # seat centre
SEAT_HEIGHT = 0.46
DESK_Z = (0.10, 0.64)  # near and far edge of the table
DESK_HALF_WIDTH = 0.7
DESK_HEIGHT = 0.74
# Where the clutter lies on the table: one slot (x, z) per pile object, three on each side, clear of
# the middle where the hands work (so a hand crop at work shows the object in use, not the clutter).
SLOTS = ((0.46, 0.2), (0.5, 0.44), (0.63, 0.3), (-0.46, 0.2), (-0.5, 0.44), (-0.63, 0.3))
WORK_Z = 0.22  # where a book, paper or keyboard is used, in front of the seated subject

# A class's nearest look-alikes.
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
# Reversed class -> the class whose performance it plays backwards.
REVERSED_OF = {9: 8, 17: 16, 5: 6}
OPPOSITE_PAIRS = ((8, 9), (16, 17), (6, 5))
# Classes that share one performance and differ only by the object in the hand.
OBJECT_GROUPS = ((1, 2), (11, 12, 30))
SAME_MOTION_AS = {2: 1, 12: 11, 30: 11}


def motion_key(action: int) -> int:
    """The class whose random stream (and so whose performance) ``action`` uses."""
    return REVERSED_OF.get(action, SAME_MOTION_AS.get(action, action))


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
        layer: ``"under"`` drawn before the body, ``"body"`` depth-sorted with it, ``"table"`` with
            the table (one depth), ``"over"`` after everything.
        visible: (T,) bool, frames where the primitive is drawn, or ``None`` for all.
    """

    kind: str
    color: tuple[int, int, int]
    a: np.ndarray
    b: np.ndarray | None = None
    radius: float = 0.0
    half: np.ndarray | None = None
    rot: np.ndarray | None = None
    layer: str = "body"
    visible: np.ndarray | None = None

    def reversed(self) -> Prim:
        rev = lambda x: None if x is None else x[::-1].copy()  # noqa: E731
        return replace(self, a=rev(self.a), b=rev(self.b), rot=rev(self.rot), visible=rev(self.visible))


@dataclass
class Performance:
    """One performed action in the local frame.

    Attributes:
        action: NTU action id.
        joints: (T, 25, 3) local joints.
        objects: handled objects and the table's clutter.
        parts: bool (T, P) in ``NTU25.part_names`` order: parts carrying the action.
        interval: ``[start, end)`` frames separating the class from its confusers.
        bare_foot: side whose foot has no shoe drawn on it (the shoe is an object), or ``None``.
        extra: ``span`` (the whole action, frames), ``events`` (distractors: kind, start, end, ...),
            ``acting_hand`` (the hand a one-hand action uses, else ``None``).
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
        extra = dict(self.extra)
        if "span" in extra:
            a, b = extra["span"]
            extra["span"] = (T - b, T - a)
        extra["events"] = [
            dict(ev, start=T - ev["end"], end=T - ev["start"]) for ev in extra.get("events", [])
        ]
        return Performance(
            action,
            self.joints[::-1].copy(),
            [o.reversed() for o in self.objects],
            self.parts[::-1].copy(),
            (T - e, T - s),
            self.bare_foot,
            extra,
        )


@dataclass
class Ctx:
    """What a program may use: the subject, the setup, the random stream, and (once placed) the clip.

    ``T`` is 0 until the program calls :meth:`place`.
    """

    subject: body.Subject
    dims: body.Dims
    panel: bool
    rng: np.random.Generator
    T: int = 0
    span: tuple[int, int] = (0, 0)
    events: list[dict] = field(default_factory=list)

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.T, dtype=float)

    def frames(self, seconds: float) -> float:
        """A duration in frames at this subject's tempo."""
        return seconds * FPS / self.subject.speed

    def place(self, duration: float) -> float:
        """Choose the clip length for an action of ``duration`` frames; return the action's start.

        The clip is ``U(2, 3)`` times the action (odd, so its middle frame is its own reversal) and
        the action starts at ``(T - duration) * Beta(b, b)`` with ``b`` = :data:`ONSET_BETA`.
        """
        T = int(round(duration * self.rng.uniform(2.0, 3.0)))
        T = max(T, int(duration) + 12)
        self.T = T + (1 - T % 2)
        start = (self.T - duration) * self.rng.beta(ONSET_BETA, ONSET_BETA)
        self.span = (int(np.floor(start)), int(np.ceil(start + duration)))
        return float(start)


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


def _const(v, T) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, float), (T, 3)).copy()


HAND_JOINT = {"left": 7, "right": 11}
WRIST_JOINT = {"left": 6, "right": 10}
TIP_JOINT = {"left": 21, "right": 23}


# -- the body's base posture -------------------------------------------------------------------


@dataclass
class Pose:
    """Controls for :func:`body.assemble` plus the trunk they imply.

    ``busy`` marks, per hand, the frames the action uses it (distractors leave those alone);
    ``twist`` is a yaw of the upper body about the vertical (radians, turning to look).
    """

    torso: body.Torso
    wrists: dict[str, np.ndarray]
    ankles: dict[str, np.ndarray]
    lap: dict[str, np.ndarray]
    hand_dirs: dict[str, np.ndarray] = field(default_factory=dict)
    foot_dirs: dict[str, np.ndarray] = field(default_factory=dict)
    busy: dict[str, np.ndarray] = field(default_factory=dict)
    twist: np.ndarray | None = None


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
    busy = {s: np.zeros(T, bool) for s in body.SIDES}
    return Pose(tor, wrists, ankles, lap, busy=busy)


def finish(ctx: Ctx, pose: Pose) -> np.ndarray:
    """(T, 25, 3) joints: distractors first (outside the action), then the body, then the twist."""
    from core_models.synth import distractors

    distractors.add(ctx, pose)
    joints = body.assemble(ctx.dims, pose.torso, pose.wrists, pose.ankles, pose.hand_dirs, pose.foot_dirs)
    if pose.twist is not None and np.any(pose.twist):
        joints = body.twist_upper_body(joints, pose.twist)
    return joints


def hold_point(ctx: Ctx, pose: Pose, side: str) -> np.ndarray:
    """(T, 3) wrist position holding something in front of the stomach, forearm level."""
    t = pose.torso
    return (
        t.shoulders[side]
        - t.up * 0.33 * ctx.dims.arm / 0.56
        + t.face * 0.28
        + [-body.SIDE_SIGN[side] * 0.06, 0, 0]
    )


def table_point(x: float, z: float, lift: float = 0.0) -> np.ndarray:
    """(3,) a point on the table top."""
    return np.array([x, DESK_HEIGHT + 0.01 + lift, z])


def _seated_or_not(ctx: Ctx, p_seated: float) -> np.ndarray:
    return np.full(ctx.T, float(ctx.rng.random() < p_seated))


# -- fetch, use, return: the object classes ----------------------------------------------------


@dataclass
class Fetch:
    """Timing of taking an object from the table, using it and putting it back (frames).

    ``grasp`` and ``release`` bound the frames the object is in the hand; ``use`` is the span at
    the place of use; ``w_reach`` (T,) goes 0 -> 1 as the hand reaches the slot and back,
    ``w_use`` (T,) 0 -> 1 as it carries the object from the slot to the place of use and back.
    """

    start: float
    grasp: float
    use: tuple[float, float]
    release: float
    end: float
    w_reach: np.ndarray
    w_use: np.ndarray


def _fetch_timing(ctx: Ctx, use_seconds: tuple[float, float]) -> Fetch:
    reach, carry = ctx.frames(ctx.rng.uniform(0.3, 0.4)), ctx.frames(ctx.rng.uniform(0.3, 0.4))
    use = ctx.frames(ctx.rng.uniform(*use_seconds))
    start = ctx.place(2 * reach + 2 * carry + use)
    t = ctx.t
    grasp = start + reach
    use0, use1 = grasp + carry, grasp + carry + use
    release = use1 + carry
    end = release + reach
    w_reach = window(t, start, reach, release - grasp, reach)
    w_use = window(t, grasp, carry, use, carry)
    return Fetch(start, grasp, (use0, use1), release, end, w_reach, w_use)


def _slot(ctx: Ctx) -> tuple[int, np.ndarray]:
    """The slot the dominant hand takes the object from (one of the three on its side)."""
    sg = body.SIDE_SIGN[ctx.subject.dominant]
    mine = [i for i, (x, _) in enumerate(SLOTS) if x * sg > 0]
    i = int(mine[ctx.rng.integers(len(mine))])
    return i, table_point(*SLOTS[i])


def _reach_lean(f: Fetch) -> np.ndarray:
    """(T,) extra forward lean while the hand is at the side of the table (radians)."""
    return 0.3 * f.w_reach * (1 - f.w_use)


def _in_hand(t: np.ndarray, f: Fetch) -> np.ndarray:
    return (t >= f.grasp) & (t < f.release)


def prog_mouth(ctx: Ctx, action: int) -> Performance:
    """Drink water (cup) and eat meal (food): take it from the table, 1-3 times to the mouth, back.

    Both classes draw the same random numbers in the same order up to the object, so a drink and
    an eat clip of the same subject, setup and repetition move identically.
    """
    dom = ctx.subject.dominant
    f = _fetch_timing(ctx, (0.9, 1.5))
    t = ctx.t
    n = int(ctx.rng.integers(1, 4))  # times to the mouth while using
    phase = np.clip((t - f.use[0]) / max(f.use[1] - f.use[0], 1.0), 0, 1)
    near = 0.5 - 0.5 * np.cos(2 * np.pi * n * phase)  # 0 at the mouth, 1 a little away
    pose = base_pose(ctx, 1.0, lean_extra=_reach_lean(f), head_pitch=-0.12 * f.w_use)
    tor = pose.torso
    slot_i, slot = _slot(ctx)
    sg = body.SIDE_SIGN[dom]
    at_mouth = tor.mouth + tor.face * 0.04 - [sg * 0.02, 0.06, 0]
    away = at_mouth + tor.face * 0.10 - tor.up * 0.10
    use_at = lerp(at_mouth, away, 0.6 * near)
    grip = np.broadcast_to(slot + [0, 0.05, -0.05], (ctx.T, 3))
    rest = pose.wrists[dom]
    pose.wrists[dom] = lerp(lerp(rest, grip, f.w_reach), use_at, f.w_use)
    pose.busy[dom] = (t >= f.start) & (t < f.end)
    joints = finish(ctx, pose)
    held = _in_hand(t, f)
    kind = {1: "cup", 2: "food"}[action]
    pile, looks = things.pile(ctx.rng, ctx.T, SLOTS, DESK_HEIGHT, taken=(slot_i, kind), held=held)
    tilt = lerp(_const([0, 1, 0], ctx.T), _const([0, 0.45, -0.9], ctx.T), f.w_use * (1 - near))
    obj = things.handheld(kind, looks[kind], joints[:, HAND_JOINT[dom]], tilt, visible=held)
    parts = part_mask(held, (hand_part(dom),))
    return Performance(
        action, joints, pile + obj, parts, span(held), extra={"span": ctx.span, "acting_hand": dom}
    )


def prog_phone(ctx: Ctx) -> Performance:
    """Phone call: take the phone from the table, hold it to the ear, put it back."""
    dom = ctx.subject.dominant
    f = _fetch_timing(ctx, (1.0, 1.8))
    t = ctx.t
    sg = body.SIDE_SIGN[dom]
    pose = base_pose(ctx, 1.0, lean_extra=_reach_lean(f), head_pitch=0.05 * f.w_use)
    tor = pose.torso
    slot_i, slot = _slot(ctx)
    grip = np.broadcast_to(slot + [0, 0.05, -0.05], (ctx.T, 3))
    at_ear = tor.ear(dom) + [sg * 0.03, -0.07, 0.02]
    pose.wrists[dom] = lerp(lerp(pose.wrists[dom], grip, f.w_reach), at_ear, f.w_use)
    pose.hand_dirs[dom] = lerp(tor.face, _const([0, 1, 0.2], ctx.T), f.w_use)
    pose.busy[dom] = (t >= f.start) & (t < f.end)
    joints = finish(ctx, pose)
    held = _in_hand(t, f)
    pile, looks = things.pile(ctx.rng, ctx.T, SLOTS, DESK_HEIGHT, taken=(slot_i, "phone"), held=held)
    up = lerp(tor.face, _const([0, 1, 0.3], ctx.T), f.w_use)
    obj = things.handheld("phone", looks["phone"], joints[:, HAND_JOINT[dom]], up, visible=held)
    parts = part_mask(held, (hand_part(dom),))
    return Performance(
        28, joints, pile + obj, parts, span(held), extra={"span": ctx.span, "acting_hand": dom}
    )


def prog_desk(ctx: Ctx, action: int) -> Performance:
    """Reading (book), writing (paper and pen) and typing (keyboard), one shared motion.

    The dominant hand takes the object from the table and lays it in front; both hands then make
    small motions on it (the same small loops and taps for every class, plus 0-2 sweeps of the
    dominant hand, as when turning a page); the object goes back to its slot.
    """
    dom, other = ctx.subject.dominant, ctx.subject.other
    f = _fetch_timing(ctx, (1.2, 2.0))
    t = ctx.t
    pose = base_pose(ctx, 1.0, lean_extra=_reach_lean(f), head_pitch=0.25 + 0.15 * f.w_use)
    slot_i, slot = _slot(ctx)
    work = table_point(0.0, WORK_Z)
    grip = np.broadcast_to(slot + [0, 0.05, -0.05], (ctx.T, 3))
    rate = ctx.subject.speed / FPS
    using = window(t, f.use[0] - ctx.frames(0.15), ctx.frames(0.15), f.use[1] - f.use[0], ctx.frames(0.15))
    moves = {}
    for s in body.SIDES:
        fr, amp = ctx.rng.uniform(2.0, 5.0) * rate, ctx.rng.uniform(0.01, 0.025)
        ph = ctx.rng.uniform(0, 2 * np.pi)
        moves[s] = np.stack(
            [amp * np.cos(2 * np.pi * fr * t + ph), amp * np.abs(np.sin(2 * np.pi * fr * t + ph)),
             0.5 * amp * np.sin(4 * np.pi * fr * t + ph)], -1)  # fmt: skip
    n_sweeps = int(ctx.rng.integers(0, 3))
    sweep = np.zeros(ctx.T)
    for _ in range(n_sweeps):
        on = ctx.rng.uniform(f.use[0], max(f.use[1] - ctx.frames(0.5), f.use[0] + 1))
        sweep = np.maximum(sweep, window(t, on, ctx.frames(0.25), 0.0, ctx.frames(0.25)))
    for s in body.SIDES:
        sg = body.SIDE_SIGN[s]
        at = work + [sg * 0.2, 0.04, -0.06] + moves[s]  # at the object's edges
        if s == dom:
            at = at + np.array([-sg * 0.16, 0.03, 0.0]) * sweep[:, None]
            carry = lerp(grip, work + [sg * 0.08, 0.04, -0.06], f.w_use)
            pose.wrists[s] = lerp(lerp(pose.wrists[s], carry, f.w_reach), at, using)
        else:
            pose.wrists[s] = lerp(pose.wrists[s], at, using)
        pose.hand_dirs[s] = lerp(_const([0, -0.6, 1.0], ctx.T), _const([0, -0.3, 1.0], ctx.T), using)
    pose.busy[dom] = (t >= f.start) & (t < f.end)
    pose.busy[other] = using > 0
    joints = finish(ctx, pose)
    held = _in_hand(t, f)
    kind = {11: "book", 12: "paper", 30: "keyboard"}[action]
    pile, looks = things.pile(ctx.rng, ctx.T, SLOTS, DESK_HEIGHT, taken=(slot_i, kind), held=held)
    on_table = things.on_table(
        ctx.rng,
        kind,
        looks[kind],
        joints[:, HAND_JOINT[dom]],
        work,
        DESK_HEIGHT,
        f.w_use,
        held,
        joints[:, TIP_JOINT[dom]],
    )
    parts = part_mask(held & (using > 0.05), ("left_hand", "right_hand")) | part_mask(
        held & (using <= 0.05), (hand_part(dom),)
    )
    return Performance(action, joints, pile + on_table, parts, span(held), extra={"span": ctx.span})


def _with_pile(ctx: Ctx, objects: list[Prim]) -> list[Prim]:
    """The table's clutter, untouched, behind the objects of a class that does not use it."""
    return things.pile(ctx.rng, ctx.T, SLOTS, DESK_HEIGHT)[0] + objects


def prog_waving(ctx: Ctx) -> Performance:
    dom = ctx.subject.dominant
    sg = body.SIDE_SIGN[dom]
    rise, hold = ctx.frames(0.35), ctx.frames(ctx.rng.uniform(0.9, 1.4))
    on = ctx.place(2 * rise + hold)
    t = ctx.t
    w = window(t, on, rise, hold, rise)
    pose = base_pose(ctx, _seated_or_not(ctx, 0.5))
    tor = pose.torso
    freq = ctx.rng.uniform(2.0, 3.2) * ctx.subject.speed / FPS
    wave = ctx.rng.uniform(0.08, 0.14) * np.sin(2 * np.pi * freq * (t - on))
    up_at = tor.shoulders[dom] + tor.up * 0.36 + np.stack([sg * (0.22 + wave), 0 * t, 0.12 + 0 * t], -1)
    pose.wrists[dom] = lerp(pose.wrists[dom], up_at, w)
    pose.busy[dom] = w > 0.01
    joints = finish(ctx, pose)
    return Performance(
        23, joints, _with_pile(ctx, []), part_mask(w > 0.05, (hand_part(dom),)), span(w > 0.6),
        extra={"span": ctx.span, "acting_hand": dom},
    )  # fmt: skip


def prog_clapping(ctx: Ctx) -> Performance:
    rise, hold = ctx.frames(0.3), ctx.frames(ctx.rng.uniform(1.0, 1.5))
    on = ctx.place(2 * rise + hold)
    t = ctx.t
    w = window(t, on, rise, hold, rise)
    pose = base_pose(ctx, _seated_or_not(ctx, 0.5))
    tor = pose.torso
    freq = ctx.rng.uniform(2.2, 3.5) * ctx.subject.speed / FPS
    gap = 0.04 + ctx.rng.uniform(0.08, 0.14) * (0.5 + 0.5 * np.cos(2 * np.pi * freq * (t - on)))
    centre = tor.spine_shoulder - tor.up * 0.1 + tor.face * 0.32
    for s in body.SIDES:
        sg = body.SIDE_SIGN[s]
        pose.wrists[s] = lerp(pose.wrists[s], centre + np.array([1.0, 0, 0]) * (sg * gap)[:, None], w)
        pose.hand_dirs[s] = lerp(tor.face, _const([-sg * 0.3, 0.9, 0.3], ctx.T), w)
        pose.busy[s] = w > 0.01
    joints = finish(ctx, pose)
    return Performance(
        10, joints, _with_pile(ctx, []), part_mask(w > 0.05, ("left_hand", "right_hand")), span(w > 0.6),
        extra={"span": ctx.span},
    )  # fmt: skip


def prog_sit_down(ctx: Ctx) -> Performance:
    dur = ctx.frames(ctx.rng.uniform(0.9, 1.3))
    start = ctx.place(dur)
    sit = ramp(ctx.t, start, dur)
    pose = base_pose(ctx, sit)
    joints = finish(ctx, pose)
    moving = (sit > 0.01) & (sit < 0.99)
    parts = part_mask(moving, ("full_body", "left_leg", "right_leg"))
    return Performance(8, joints, _with_pile(ctx, []), parts, span(moving), extra={"span": ctx.span})


def prog_pickup(ctx: Ctx) -> Performance:
    dom, d = ctx.subject.dominant, ctx.dims
    dur = ctx.frames(ctx.rng.uniform(1.1, 1.5))
    start = ctx.place(dur)
    t = ctx.t
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
    other = ctx.subject.other
    pose.wrists[other] = lerp(pose.wrists[other], pose.ankles[other] + [0, 0.4, 0.12], bend * 0.8)
    pose.busy[dom] = (bend > 0.01) | grasped
    pose.busy[other] = bend > 0.01
    joints = finish(ctx, pose)
    wrist = joints[:, WRIST_JOINT[dom]]
    on_floor = np.broadcast_to(grip - [0, box_h + 0.02, 0], (ctx.T, 3))
    centre = np.where(grasped[:, None], wrist - [0, box_h + 0.02, 0], on_floor)
    box = Prim("box", things.box_color(ctx.rng), centre, half=np.array([box_h, box_h, box_h]))
    moving = bend > 0.01
    return Performance(
        6, joints, _with_pile(ctx, [box]), part_mask(moving, (hand_part(dom),)), span(moving),
        extra={"span": ctx.span, "acting_hand": dom},
    )  # fmt: skip


def prog_wear_shoe(ctx: Ctx) -> Performance:
    """Seated: lift the foot, slide the shoe on from the toe to the heel, put the foot down.

    The dominant hand travels along the foot from the toe to the heel while the shoe goes on;
    played backwards (take off) it travels heel to toe, so the skeleton alone tells them apart
    only through the order of events.
    """
    dom, other, d = ctx.subject.dominant, ctx.subject.other, ctx.dims
    leg = dom
    dur = ctx.frames(ctx.rng.uniform(1.3, 1.7))
    start = ctx.place(dur)
    t = ctx.t
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
    pose.busy[dom] = pose.busy[other] = lift > 0.01
    joints = finish(ctx, pose)
    ankle_i, foot_i, hand_i = (18, 19, 11) if leg == "right" else (14, 15, 7)
    hand = joints[:, hand_i]
    held_a, held_b = hand - fwd * 0.02 - [0, 0.04, 0], hand + fwd * 0.13 - [0, 0.04, 0]
    worn_a, worn_b = joints[:, ankle_i], joints[:, foot_i]
    # Before the lift the shoe lies on the floor beside the foot (taken up as the lift starts).
    floor_a = np.broadcast_to(pose.ankles[leg][0] * [1, 0, 1] + [sg * 0.18, 0.045, 0.02], (ctx.T, 3))
    floor_b = floor_a + fwd * 0.15
    taken = ramp(t, start, 0.2 * dur)
    a = lerp(lerp(floor_a, held_a, taken), worn_a, slide)
    b = lerp(lerp(floor_b, held_b, taken), worn_b, slide)
    color = things.shoe_color(ctx.rng)
    shoe = Prim("capsule", color, a, b, radius=0.045)
    moving = lift > 0.01
    parts = part_mask(moving, ("left_hand", "right_hand", f"{leg}_leg"))
    return Performance(
        16,
        joints,
        _with_pile(ctx, [shoe]),
        parts,
        span(moving),
        bare_foot=leg,
        extra={"span": ctx.span, "shoe_color": color},
    )


PROGRAMS = {
    1: lambda ctx: prog_mouth(ctx, 1),
    2: lambda ctx: prog_mouth(ctx, 2),
    6: prog_pickup,
    8: prog_sit_down,
    10: prog_clapping,
    11: lambda ctx: prog_desk(ctx, 11),
    12: lambda ctx: prog_desk(ctx, 12),
    16: prog_wear_shoe,
    23: prog_waving,
    28: prog_phone,
    30: lambda ctx: prog_desk(ctx, 30),
}


def perform(action: int, ctx: Ctx) -> Performance:
    """The performance of ``action`` (an NTU id in :data:`SYNTH_ACTIONS`).

    A reversed class runs its partner's program with the same random stream and plays it
    backwards (objects, distractors and ground truth included). The members of an object group
    run one program that draws the same random numbers, up to the object they hold.
    """
    partner = REVERSED_OF.get(action)
    if (partner or action) not in PROGRAMS:
        raise ValueError(f"action {action} is not one of the synthetic classes {SYNTH_ACTIONS}")
    perf = PROGRAMS[partner or action](ctx)
    perf.extra.setdefault("events", list(ctx.events))
    return perf.reversed(action) if partner else perf
