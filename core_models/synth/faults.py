"""Kinect-like skeleton faults of the written ``.skeleton`` files (synthetic data v2).

A depth sensor's skeleton is not the body: it jitters, loses limbs it cannot see, confuses left and
right when the body turns, and drops the whole body for a few frames. The synthetic files carry
these faults, drawn per clip *and per camera* (each Kinect tracks on its own), at these rates:

==============  ===================================================================  ============
fault           what                                                                 rate
==============  ===================================================================  ============
jitter          Gaussian noise on every joint, std drawn per clip in 2-5 cm (hand     every clip
                tips and thumbs 1.5x)
lost limb       an arm or a leg frozen where it was last seen, marked "inferred"     0.6 of clips,
                (tracking state 1), for 8-25 frames                                  1-3 runs
left/right      the two arms (or the two legs) exchanged for 6-20 frames             0.25 of clips
swap
flicker         the body missing from 1-4 consecutive frames (no body in the frame)  0.3 of clips,
                                                                                     1-3 runs
==============  ===================================================================  ============

The faults are recorded in the clip's ``.truth.json`` (``faults``), so tests and scores can tell a
model's error from a sensor's. The 2D colour-frame joints are projected from the faulty 3D joints,
as Kinect maps them, so body-part crops follow the faults too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

JITTER_M = (0.02, 0.05)
HAND_JITTER = 1.5
P_LOST, LOST_RUNS, LOST_FRAMES = 0.6, (1, 3), (8, 25)
P_SWAP, SWAP_FRAMES = 0.25, (6, 20)
P_FLICKER, FLICKER_RUNS, FLICKER_FRAMES = 0.3, (1, 3), (1, 4)

LIMBS = {
    "left_arm": (4, 5, 6, 7, 21, 22),
    "right_arm": (8, 9, 10, 11, 23, 24),
    "left_leg": (12, 13, 14, 15),
    "right_leg": (16, 17, 18, 19),
}
HAND_EXTREMITIES = (21, 22, 23, 24)


@dataclass
class Faults:
    """The faults of one clip seen by one camera (frames are ``[start, end)``)."""

    jitter: float
    lost: list[dict] = field(default_factory=list)  # {"limb", "start", "end"}
    swaps: list[dict] = field(default_factory=list)  # {"limbs": "arms" | "legs", "start", "end"}
    flicker: list[dict] = field(default_factory=list)  # {"start", "end"}

    def to_json(self) -> dict:
        return asdict(self)


def _run(rng: np.random.Generator, T: int, length: tuple[int, int]) -> tuple[int, int]:
    n = int(rng.integers(length[0], length[1] + 1))
    n = min(n, max(T - 2, 1))
    start = int(rng.integers(1, max(T - n, 1) + 1))
    return start, min(T, start + n)


def draw(rng: np.random.Generator, T: int) -> Faults:
    """Draw the faults of a ``T``-frame clip at the rates in the module docstring."""
    f = Faults(jitter=float(rng.uniform(*JITTER_M)))
    if rng.random() < P_LOST:
        for _ in range(int(rng.integers(LOST_RUNS[0], LOST_RUNS[1] + 1))):
            limb = str(rng.choice(list(LIMBS)))
            s, e = _run(rng, T, LOST_FRAMES)
            f.lost.append({"limb": limb, "start": s, "end": e})
    if rng.random() < P_SWAP:
        s, e = _run(rng, T, SWAP_FRAMES)
        f.swaps.append({"limbs": "arms" if rng.random() < 0.7 else "legs", "start": s, "end": e})
    if rng.random() < P_FLICKER:
        for _ in range(int(rng.integers(FLICKER_RUNS[0], FLICKER_RUNS[1] + 1))):
            s, e = _run(rng, T, FLICKER_FRAMES)
            f.flicker.append({"start": s, "end": e})
    return f


def apply(
    xyz: np.ndarray, faults: Faults, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``faults`` to clean joints.

    Args:
        xyz: (T, 25, 3) camera-frame joints of the tracked person.
        faults: what to apply.
        rng: the noise stream.

    Returns:
        ``(joints, state, present)``: (T, 25, 3) faulty joints, (T, 25) Kinect tracking states
        (2 tracked, 1 inferred) and (T,) bool, frames where the body is reported at all.
    """
    T = len(xyz)
    out = xyz.astype(np.float64).copy()
    sigma = np.full(25, faults.jitter)
    sigma[list(HAND_EXTREMITIES)] *= HAND_JITTER
    out += rng.normal(0.0, 1.0, out.shape) * sigma[None, :, None]
    state = np.full((T, 25), 2, np.int64)
    for sw in faults.swaps:
        a, b = ("left_arm", "right_arm") if sw["limbs"] == "arms" else ("left_leg", "right_leg")
        ia, ib = list(LIMBS[a]), list(LIMBS[b])
        s, e = sw["start"], sw["end"]
        out[s:e, ia], out[s:e, ib] = out[s:e, ib].copy(), out[s:e, ia].copy()
    for lost in faults.lost:
        idx = list(LIMBS[lost["limb"]])
        s, e = lost["start"], lost["end"]
        out[s:e, idx] = out[s - 1, idx][None]  # frozen where it was last seen
        state[s:e, idx] = 1
    present = np.ones(T, bool)
    for fl in faults.flicker:
        present[fl["start"] : fl["end"]] = False
    return out, state, present
