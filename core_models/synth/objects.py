"""The things on the table and in the hands: shapes, colours, and where they are in each frame.

Six objects lie on the table in front of every subject, in every clip and every class (the
clutter): a cup, food (a sandwich), a phone, a book, a sheet of paper and a keyboard, shuffled
over the slots. The object classes take one of them (which one is the class), so a frame outside
the action shows the same clutter whatever the class, and a frame inside it shows the object in
the hand and its empty slot.

Shapes tell the objects apart, not colours: every object draws its colour from a palette that
overlaps the others' (a white cup, a white keyboard, white paper; a red book, a red cup, a red
phone case), so a model cannot key on one colour.
"""

from __future__ import annotations

import numpy as np

PILE = ("cup", "food", "phone", "book", "paper", "keyboard")

PALETTES = {
    "cup": ((235, 235, 230), (200, 50, 50), (60, 110, 190), (70, 150, 90), (225, 190, 60), (40, 40, 45),
            (120, 80, 50)),
    "food": ((215, 175, 115), (190, 140, 80), (230, 200, 150)),
    "filling": ((90, 160, 60), (200, 60, 50), (235, 200, 70), (170, 110, 80)),
    "phone": ((25, 25, 30), (235, 235, 230), (200, 50, 50), (60, 110, 190), (120, 120, 130)),
    "book": ((150, 40, 40), (40, 70, 140), (40, 110, 60), (200, 160, 40), (200, 50, 50), (40, 40, 45),
             (120, 80, 160)),
    "paper": ((248, 248, 244), (240, 236, 220), (235, 242, 250)),
    "keyboard": ((35, 35, 40), (235, 235, 230), (120, 120, 130), (60, 110, 190)),
    "pen": ((30, 40, 120), (200, 50, 50), (30, 30, 30), (60, 150, 80)),
    "box": ((150, 105, 60), (180, 140, 90), (200, 60, 50), (60, 110, 190), (220, 210, 190)),
    "shoe": ((45, 35, 30), (235, 235, 230), (200, 50, 50), (60, 110, 190), (120, 80, 50)),
}  # fmt: skip
SCREEN = (150, 200, 235)
PAGES = (246, 246, 240)


def _pick(rng: np.random.Generator, name: str) -> tuple[int, int, int]:
    pal = PALETTES[name]
    return tuple(int(c) for c in pal[rng.integers(len(pal))])


def box_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return _pick(rng, "box")


def shoe_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return _pick(rng, "shoe")


def _const(v, T) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, float), (T, 3)).copy()


def _prim(kind, color, a, **kw):
    from core_models.synth.actions import Prim

    return Prim(kind, color, a, **kw)


def _lying(kind: str, look: tuple, centre: np.ndarray, T: int, visible=None) -> list:
    """An object lying on the table (centre (T, 3) at table height)."""
    up = np.array([0.0, 1.0, 0.0])
    color, filling = look
    if kind == "cup":
        c = centre + up * 0.06
        return [_prim("capsule", color, c - up * 0.03, b=c + up * 0.04, radius=0.038, visible=visible)]
    if kind == "food":
        return [
            _prim("box", color, centre + up * 0.02, half=np.array([0.06, 0.02, 0.05]), visible=visible),
            _prim("box", filling, centre + up * 0.021, half=np.array([0.064, 0.006, 0.054]),
                  visible=visible),
        ]  # fmt: skip
    if kind == "phone":
        return [
            _prim("box", color, centre + up * 0.006, half=np.array([0.036, 0.006, 0.072]), visible=visible),
            _prim("box", SCREEN, centre + up * 0.009, half=np.array([0.03, 0.004, 0.062]), visible=visible),
        ]
    if kind == "book":
        return [_prim("box", color, centre + up * 0.02, half=np.array([0.1, 0.02, 0.075]), visible=visible)]
    if kind == "paper":
        return [
            _prim("box", color, centre + up * 0.008, half=np.array([0.075, 0.008, 0.105]), visible=visible)
        ]
    if kind == "keyboard":
        return [
            _prim("box", color, centre + up * 0.012, half=np.array([0.15, 0.012, 0.055]), visible=visible)
        ]
    raise ValueError(f"unknown object {kind!r}; objects are {PILE}")


def pile(
    rng: np.random.Generator,
    T: int,
    slots,
    table_height: float,
    *,
    taken: tuple[int, str] | None = None,
    held: np.ndarray | None = None,
) -> tuple[list, dict]:
    """The clutter on the table: every object of :data:`PILE` in a slot, shuffled.

    Args:
        rng: random stream (the order of slots and the colours).
        T: frames.
        slots: ``(x, z)`` of each slot in the local frame.
        table_height: height of the table top.
        taken: ``(slot, object)``: this object lies in this slot and is taken from it.
        held: (T,) frames the taken object is in the hand (its slot is empty then).

    Returns:
        ``(primitives, looks)``: looks maps each object to its ``(colour, second colour)``, so the
        taken object keeps its looks in the hand.
    """
    order = [k for k in PILE if taken is None or k != taken[1]]
    perm = rng.permutation(len(order))
    free_slots = [i for i in range(len(slots)) if taken is None or i != taken[0]]
    layout = {free_slots[j]: order[perm[j]] for j in range(len(free_slots))}
    if taken is not None:
        layout[taken[0]] = taken[1]
    looks = {k: (_pick(rng, k), _pick(rng, "filling")) for k in PILE}
    prims = []
    for i in sorted(layout):
        kind = layout[i]
        x, z = slots[i]
        centre = _const([x + rng.uniform(-0.02, 0.02), table_height + 0.01, z + rng.uniform(-0.03, 0.03)], T)
        visible = None
        if taken is not None and i == taken[0] and held is not None:
            visible = ~held
        prims += _lying(kind, looks[kind], centre, T, visible)
    return prims, looks


def handheld(kind: str, look: tuple, hand: np.ndarray, direction: np.ndarray, *, visible) -> list:
    """An object in the hand at ``hand`` (T, 3), its long axis along ``direction`` (T, 3).

    ``cup``: a cylinder that tips towards the mouth; ``food``: a sandwich (bread and filling);
    ``phone``: a flat slab with its screen.
    """
    d = direction / np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-9)
    color, filling = look
    if kind == "cup":
        return [_prim("capsule", color, hand - d * 0.045, b=hand + d * 0.06, radius=0.038, visible=visible)]
    if kind == "food":
        c = hand + np.array([0.0, 0.03, 0.02])
        return [
            _prim("box", color, c, half=np.array([0.06, 0.025, 0.05]), visible=visible),
            _prim("box", filling, c, half=np.array([0.066, 0.007, 0.056]), visible=visible),
        ]
    if kind == "phone":
        return [
            _prim("capsule", color, hand - d * 0.04, b=hand + d * 0.07, radius=0.024, visible=visible),
            _prim("capsule", SCREEN, hand - d * 0.03, b=hand + d * 0.06, radius=0.012, visible=visible),
        ]
    raise ValueError(f"{kind!r} is not held in the hand; handheld objects are cup, food, phone")


def on_table(
    rng: np.random.Generator,
    kind: str,
    look: tuple,
    hand: np.ndarray,
    work: np.ndarray,
    table_height: float,
    w_use: np.ndarray,
    held: np.ndarray,
    tip: np.ndarray,
) -> list:
    """A book, paper or keyboard: carried by ``hand`` between its slot and ``work``, used there.

    While carried it hangs under the hand; once at the place of use (``w_use`` = 1) it lies
    there, open (the book) or with a pen in the dominant hand at ``tip`` (the paper).
    """
    T = len(hand)
    color = look[0]
    carried = held & (w_use < 0.999)
    lying = held & (w_use >= 0.999)
    c_carry = hand - np.array([0.0, 0.035, 0.0])
    c_lie = _const(work, T) * [1, 0, 1] + [0, table_height + 0.01, 0.05]  # beyond the hands
    up = np.array([0.0, 1.0, 0.0])
    closed = {"book": [0.1, 0.02, 0.075], "paper": [0.075, 0.006, 0.105], "keyboard": [0.15, 0.012, 0.055]}
    prims = [_prim("box", color, c_carry, half=np.array(closed[kind]), visible=carried)]
    if kind == "book":  # open: the cover's rim around two white pages and the spine
        prims += [
            _prim("box", color, c_lie + up * 0.008, half=np.array([0.19, 0.008, 0.13]), visible=lying),
            _prim("box", PAGES, c_lie + up * 0.018, half=np.array([0.17, 0.006, 0.115]), visible=lying),
            _prim("capsule", color, c_lie + [0, 0.026, -0.115], b=c_lie + [0, 0.026, 0.115], radius=0.008,
                  visible=lying),
        ]  # fmt: skip
    elif kind == "paper":  # a sheet, landscape, and a pen in the dominant hand
        prims += [
            _prim("box", color, c_lie + up * 0.004, half=np.array([0.15, 0.004, 0.105]), visible=lying),
            _prim("capsule", _pick(rng, "pen"), tip + [0, -0.02, 0.0], b=tip + [0, 0.09, -0.08], radius=0.009,
                  visible=lying),
        ]  # fmt: skip
    else:  # the body and three rows of keys in a contrasting shade
        key = tuple(int(min(255, c * 0.6 + 110)) if sum(color) < 300 else int(c * 0.55) for c in color)
        prims.append(
            _prim("box", color, c_lie + up * 0.012, half=np.array([0.22, 0.012, 0.08]), visible=lying)
        )
        for dz in (-0.045, 0.0, 0.045):
            prims.append(
                _prim("box", key, c_lie + up * 0.026 + [0, 0, dz], half=np.array([0.2, 0.004, 0.016]),
                      visible=lying)
            )  # fmt: skip
    return prims
