"""What the subject does outside the action: the motion a temporal attention must learn to skip.

:func:`add` edits a pose's controls before the body is assembled, only in the frames outside the
action (``Ctx.span`` widened by :data:`MARGIN` seconds) and only with hands the action leaves
free (``Pose.busy``):

=============  ==============================================================  ================
distractor     what                                                            rate
=============  ==============================================================  ================
fidget         both free wrists drift by 1-3 cm (two slow sinusoids)           every clip
scratch head   a free hand goes to the side of the head, rubs 3-5 times at     0.5 of clips
               3-4 Hz, comes back (1.0-1.6 s): the same place a phone call
               or a drink reaches
turn to look   the upper body turns 20-45 degrees to one side and back         0.4 of clips
               (0.8-1.6 s)
=============  ==============================================================  ================

A scratch and a turn need an idle stretch long enough to hold them (a turn may overlap a scratch);
when no stretch is, the clip has none, so the realised rates are a little below the drawn ones
(``test_synth`` checks they stay above three quarters of them).
Every distractor is symmetric under time reversal, so a reversed class is still a natural clip.
A fourth distractor, a second person walking past behind the subject, is drawn at render time
(:mod:`core_models.synth.generate`), independently for each class, so that it never walks
backwards in a reversed clip.
"""

from __future__ import annotations

import numpy as np

from core_models.synth import body

P_SCRATCH = 0.5
P_TURN = 0.4
MARGIN = 0.25  # seconds kept clear on each side of the action


def idle_stretches(T: int, span: tuple[int, int], margin: int) -> list[tuple[int, int]]:
    """The frame ranges ``[a, b)`` outside ``span`` widened by ``margin``."""
    a, b = max(0, span[0] - margin), min(T, span[1] + margin)
    return [(s, e) for s, e in ((0, a), (b, T)) if e > s]


def _free_window(ctx, stretches, length: int, taken: list[tuple[int, int]], busy=None):
    """A random ``[s, s + length)`` inside an idle stretch, clear of ``taken`` and of ``busy``."""
    options = []
    for a, b in stretches:
        for s in range(a, b - length + 1):
            e = s + length
            if any(s < te and ts < e for ts, te in taken):
                continue
            if busy is not None and busy[s:e].any():
                continue
            options.append(s)
    if not options:
        return None
    return int(options[ctx.rng.integers(len(options))])


def add(ctx, pose) -> list[dict]:
    """Add the distractors to ``pose`` in place; returns them as events (also on ``ctx.events``).

    The random numbers drawn do not depend on the class, only on the stream's state, so members
    of an object group (which share a stream) also share their distractors.
    """
    from core_models.synth.actions import lerp, window

    T, t = ctx.T, ctx.t
    margin = int(round(ctx.frames(MARGIN)))
    stretches = idle_stretches(T, ctx.span, margin)
    outside = np.ones(T)
    lo, hi = max(0, ctx.span[0] - margin), min(T, ctx.span[1] + margin)
    outside[lo:hi] = 0.0
    # Fidget: a small drift of each free wrist (faded out at the action's margins).
    fade = np.convolve(outside, np.ones(9) / 9, mode="same")
    for s in body.SIDES:
        drift = np.zeros((T, 3))
        for _ in range(2):
            amp = ctx.rng.uniform(0.005, 0.015, size=3)
            period = ctx.rng.uniform(0.8, 2.5) * 30.0
            drift += amp * np.sin(2 * np.pi * t[:, None] / period + ctx.rng.uniform(0, 2 * np.pi, size=3))
        free = (~pose.busy[s]).astype(float) * fade
        pose.wrists[s] = pose.wrists[s] + drift * free[:, None]
    events: list[dict] = [{"kind": "fidget", "start": 0, "end": T}]
    taken: list[tuple[int, int]] = []
    # Scratch the head.
    if ctx.rng.random() < P_SCRATCH:
        length = int(round(ctx.frames(ctx.rng.uniform(1.0, 1.6))))
        side = ctx.subject.dominant if ctx.rng.random() < 0.7 else ctx.subject.other
        order = [side] + [s for s in body.SIDES if s != side]
        reps, freq = ctx.rng.uniform(3, 5), ctx.rng.uniform(3.0, 4.0)
        for hand in order:
            s0 = _free_window(ctx, stretches, length, taken, pose.busy[hand])
            if s0 is None:
                continue
            rise = min(ctx.frames(0.3), length / 3)
            rub = length - 2 * rise
            w = window(t, s0, rise, rub, rise)
            tor = pose.torso
            sg = body.SIDE_SIGN[hand]
            osc = 0.02 * np.sin(2 * np.pi * freq / 30.0 * (t - s0 - rise)) * (reps > 0)
            at = tor.head + np.array([sg * 0.1, 0.04, -0.02]) + tor.up * osc[:, None]
            pose.wrists[hand] = lerp(pose.wrists[hand], at, w)
            taken.append((s0, s0 + length))
            events.append({"kind": "scratch", "hand": hand, "start": s0, "end": s0 + length})
            break
    # Turn to look.
    if ctx.rng.random() < P_TURN:
        length = int(round(ctx.frames(ctx.rng.uniform(0.8, 1.6))))
        angle = np.deg2rad(ctx.rng.uniform(20, 45)) * (1 if ctx.rng.random() < 0.5 else -1)
        s0 = _free_window(ctx, stretches, length, [])  # may overlap a scratch, never the action
        if s0 is not None:
            rise = length / 3
            w = window(t, s0, rise, length - 2 * rise, rise)
            pose.twist = (pose.twist if pose.twist is not None else np.zeros(T)) + angle * w
            taken.append((s0, s0 + length))
            events.append(
                {"kind": "turn", "angle_deg": float(np.rad2deg(angle)), "start": s0, "end": s0 + length}
            )
    ctx.events = events
    return events
