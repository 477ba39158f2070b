"""Cameras, the room, and a small painter's-algorithm rasteriser for the synthetic clips.

Geometry follows NTU RGB+D: three cameras at the same height look at the performer from
horizontal angles 0 (C001), -45 (C002) and +45 (C003) degrees; a setup changes the height and
distance of all three (far setups give small, low-resolution performers) and whether a desk
stands in front of the performer, hiding the legs from the cameras in front of it.

World frame: metres, ``y`` up, floor at ``y = 0``, performer near the origin, cameras on the
``+z`` side. Camera frame (what ``Clip.joints3d`` holds, Kinect-like): ``x`` right in the image,
``y`` up, ``z`` depth along the optical axis. Pixels: ``u = cx + f x / z``, ``v = cy - f y / z``.

Drawing: the static room is ray-cast once per (setup, camera, size) and cached; per frame, the
chair and desk top are drawn first, then limbs (shaded capsules) and objects in far-to-near
order, then the desk's panels, which occlude whatever is behind them. OpenCV's anti-aliased
primitives with sub-pixel coordinates keep small, far performers smooth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from core_models.synth import actions as motion
from core_models.synth import body

CAMERA_ANGLES = {1: 0.0, 2: -45.0, 3: 45.0}  # degrees, NTU's C001..C003
# Horizontal field of view. Kinect v2's colour camera has about 84 degrees, which leaves an NTU
# subject a quarter of the frame tall once the 1920 x 1080 frame is shrunk; the synthetic cameras
# use a narrower lens so that the 160 x 120 frames show a person the models can see.
HFOV_DEG = 56.0
# Kinect v2 depth camera (512 x 424) intrinsics, for the depthX/depthY fields of .skeleton files.
DEPTH_SIZE = (424, 512)
DEPTH_F = 365.5


@dataclass(frozen=True)
class Setup:
    """One recording setup: camera height and distance, and whether the table's front panel hides the legs."""

    height: float
    distance: float
    desk: bool
    light: float = 1.0


# Distances put a standing subject 40-60 px tall in the 64 x 64 square the cpu-preset models read
# (the short side of the 160 x 120 frame), sitting 30-45 px.
SETUPS = {
    1: Setup(height=1.5, distance=2.6, desk=False, light=1.0),
    2: Setup(height=1.7, distance=2.8, desk=True, light=0.95),
    3: Setup(height=1.3, distance=3.0, desk=True, light=1.05),
    4: Setup(height=1.9, distance=3.2, desk=False, light=0.9),
}


@dataclass(frozen=True)
class Placement:
    """How one recording session placed a camera, relative to its setup (per-clip variation).

    Attributes:
        azimuth: degrees added to the camera's angle.
        height, distance: metres added to the setup's.
        look: (3,) metres added to the point the camera looks at.
        light: factor on the setup's light.
    """

    azimuth: float = 0.0
    height: float = 0.0
    distance: float = 0.0
    look: tuple[float, float, float] = (0.0, 0.0, 0.0)
    light: float = 1.0


def draw_placement(rng: np.random.Generator) -> Placement:
    """A session's camera placement: +-4 degrees, +-8 cm high, +-15 cm far, +-5 cm aim, +-10% light."""
    return Placement(
        azimuth=float(rng.uniform(-4, 4)),
        height=float(rng.uniform(-0.08, 0.08)),
        distance=float(rng.uniform(-0.15, 0.15)),
        look=tuple(float(v) for v in rng.uniform(-0.05, 0.05, size=3)),
        light=float(rng.uniform(0.9, 1.1)),
    )


@dataclass(frozen=True)
class Camera:
    """A pinhole camera.

    Attributes:
        position: (3,) world position.
        rot: (3, 3) rows are the camera's right, up and forward axes in world coordinates.
        f: focal length in pixels.
        size: (H, W) of the image.
    """

    position: np.ndarray
    rot: np.ndarray
    f: float
    size: tuple[int, int]

    @property
    def center(self) -> tuple[float, float]:
        return (self.size[1] - 1) / 2, (self.size[0] - 1) / 2

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 3) camera frame (x right, y up, z depth)."""
        return (world - self.position) @ self.rot.T

    def project(self, cam: np.ndarray, f: float | None = None, center=None) -> np.ndarray:
        """(..., 3) camera-frame points -> (..., 2) pixel coordinates (u, v)."""
        f = self.f if f is None else f
        cx, cy = self.center if center is None else center
        z = np.maximum(cam[..., 2], 1e-3)
        return np.stack([cx + f * cam[..., 0] / z, cy - f * cam[..., 1] / z], -1)

    def project_depth(self, cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points -> (..., 2) pixels of a 512 x 424 Kinect depth frame."""
        return self.project(cam, DEPTH_F, ((DEPTH_SIZE[1] - 1) / 2, (DEPTH_SIZE[0] - 1) / 2))


def make_camera(
    setup: int, camera: int, size: tuple[int, int] = (120, 160), placement: Placement | None = None
) -> Camera:
    """The camera ``camera`` (1..3) of setup ``setup``, rendering (H, W) = ``size`` images."""
    if camera not in CAMERA_ANGLES:
        raise ValueError(f"camera must be 1, 2 or 3, got {camera}")
    pl = placement or Placement()
    st = SETUPS[(setup - 1) % len(SETUPS) + 1]
    a = np.deg2rad(CAMERA_ANGLES[camera] + pl.azimuth)
    dist, height = st.distance + pl.distance, st.height + pl.height
    pos = np.array([dist * np.sin(a), height, dist * np.cos(a)])
    look = np.array([0.0, 0.9, 0.0]) + np.asarray(pl.look)
    fwd = (look - pos) / np.linalg.norm(look - pos)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    f = (size[1] / 2) / np.tan(np.deg2rad(HFOV_DEG / 2))
    return Camera(pos, np.stack([right, up, fwd]), float(f), (int(size[0]), int(size[1])))


def setup_of(setup: int) -> Setup:
    return SETUPS[(setup - 1) % len(SETUPS) + 1]


# -- the room ----------------------------------------------------------------------------------

BACK_WALL_Z, SIDE_WALL_X, CEILING_Y = -3.0, 4.0, 2.8


def _room_colors(p: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Colour of world points ``p`` (N, 3) on surface ``which`` (0 floor, 1 back, 2 side, 3 ceiling)."""
    col = np.zeros_like(p)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    floor = which == 0
    plank = (np.floor(x / 0.18) % 2).astype(float)
    col[floor] = np.array([176, 140, 100]) * (0.92 + 0.08 * plank[floor, None])
    back = which == 1
    col[back] = [214, 206, 188]
    window = back & (x > 0.4) & (x < 2.0) & (y > 1.0) & (y < 2.2)
    frame = back & (x > 0.33) & (x < 2.07) & (y > 0.93) & (y < 2.27) & ~window
    col[window] = [205, 225, 242]
    col[frame] = [240, 240, 238]
    shelf = back & (x > -2.6) & (x < -1.3) & (y < 1.9)
    board = shelf & (np.abs((y % 0.45) - 0.02) < 0.03)
    col[shelf] = [120, 85, 55]
    col[board] = [95, 65, 40]
    books = shelf & ~board & ((y % 0.45) < 0.3) & ((np.floor(x / 0.07) % 3) != 0)
    col[books] = np.array([[170, 60, 50], [60, 90, 150], [80, 130, 80]])[
        (np.floor(x[books] / 0.07) % 3).astype(int)
    ]
    side = which == 2
    col[side] = [200, 196, 186]
    col[which == 3] = [235, 235, 232]
    skirting = (back | side) & (y < 0.1)
    col[skirting] = [235, 235, 230]
    # Soft light from the window; the far corners are darker.
    light = 1.0 - 0.04 * np.clip(np.hypot(x - 1.2, z + 1.0), 0, 6)
    return col * light[:, None]


@lru_cache(maxsize=64)
def background(
    setup: int, camera: int, size: tuple[int, int], placement: Placement | None = None
) -> np.ndarray:
    """The empty room seen by a camera, uint8 (H, W, 3); ray-cast at 2x and cached."""
    cam = make_camera(setup, camera, size, placement)
    H, W = size[0] * 2, size[1] * 2
    f, cx, cy = cam.f * 2, (W - 1) / 2, (H - 1) / 2
    v, u = np.mgrid[0:H, 0:W].astype(float)
    d_cam = np.stack([(u - cx) / f, -(v - cy) / f, np.ones_like(u)], -1).reshape(-1, 3)
    d = d_cam @ cam.rot  # camera -> world directions
    o = cam.position
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = np.stack(
            [
                np.where(d[:, 1] < 0, -o[1] / d[:, 1], np.inf),
                np.where(d[:, 2] < 0, (BACK_WALL_Z - o[2]) / d[:, 2], np.inf),
                np.where(d[:, 0] != 0, (np.sign(d[:, 0]) * SIDE_WALL_X - o[0]) / d[:, 0], np.inf),
                np.where(d[:, 1] > 0, (CEILING_Y - o[1]) / d[:, 1], np.inf),
            ],
            -1,
        )
    ts[~np.isfinite(ts) | (ts <= 0)] = np.inf
    which = ts.argmin(-1)
    p = o + d * ts.min(-1, keepdims=True)
    img = _room_colors(p, which) * setup_of(setup).light
    img = np.clip(img, 0, 255).astype(np.uint8).reshape(H, W, 3)
    out = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    out.setflags(write=False)
    return out


# -- scene assembly ----------------------------------------------------------------------------

SHOE = (45, 35, 30)
UNDER_TABLE = motion.DESK_HEIGHT - 0.03  # items whose middle is lower are drawn before the table
SOCK = (228, 228, 224)
WOOD = (125, 85, 55)
DESK = (190, 155, 115)


def furniture(panel: bool) -> list[motion.Prim]:
    """Chair and table (always) and the table's front panel (if the setup has one), local frame, T = 1."""
    one = lambda v: np.asarray(v, float)[None]  # noqa: E731
    prims = [
        motion.Prim(
            "box",
            WOOD,
            one([0, motion.SEAT_HEIGHT - 0.02, motion.CHAIR_Z]),
            half=np.array([0.21, 0.025, 0.2]),
            layer="under",
        ),
        motion.Prim(
            "box",
            WOOD,
            one([0, motion.SEAT_HEIGHT + 0.26, motion.CHAIR_Z - 0.19]),
            half=np.array([0.2, 0.2, 0.015]),
            layer="under",
        ),
    ]
    for sx in (-0.18, 0.18):
        for sz in (-0.17, 0.17):
            prims.append(
                motion.Prim(
                    "capsule",
                    WOOD,
                    one([sx, motion.SEAT_HEIGHT - 0.04, motion.CHAIR_Z + sz]),
                    one([sx, 0.0, motion.CHAIR_Z + sz]),
                    radius=0.015,
                    layer="under",
                )
            )
    z0, z1 = motion.DESK_Z
    zc, hz, hw, h = (z0 + z1) / 2, (z1 - z0) / 2, motion.DESK_HALF_WIDTH, motion.DESK_HEIGHT
    prims.append(
        motion.Prim("box", DESK, one([0, h - 0.02, zc]), half=np.array([hw, 0.02, hz]), layer="table")
    )
    if panel:
        prims.append(
            motion.Prim(
                "box",
                DESK,
                one([0, (h + 0.1) / 2, z1 - 0.015]),
                half=np.array([hw - 0.01, (h - 0.14) / 2, 0.012]),
                layer="over",
            )
        )
        for sx in (-1, 1):
            prims.append(
                motion.Prim(
                    "box",
                    DESK,
                    one([sx * (hw - 0.015), (h - 0.04) / 2, zc]),
                    half=np.array([0.015, (h - 0.04) / 2, hz]),
                    layer="over",
                )
            )
    else:  # four legs
        for sx in (-1, 1):
            for sz in (z0 + 0.03, z1 - 0.03):
                prims.append(
                    motion.Prim(
                        "capsule", DESK, one([sx * (hw - 0.04), h - 0.04, sz]),
                        one([sx * (hw - 0.04), 0.0, sz]), radius=0.02, layer="table",
                    )
                )  # fmt: skip
    return prims


# (joint a, joint b, radius, colour key): how the body is drawn.
LIMBS = (
    (0, 20, 0.12, "shirt"),
    (12, 16, 0.085, "trousers"),
    (4, 8, 0.06, "shirt"),
    (20, 2, 0.045, "skin"),
    (4, 5, 0.047, "shirt"),
    (5, 6, 0.038, "skin"),
    (6, 21, 0.03, "skin"),
    (8, 9, 0.047, "shirt"),
    (9, 10, 0.038, "skin"),
    (10, 23, 0.03, "skin"),
    (12, 13, 0.07, "trousers"),
    (13, 14, 0.055, "trousers"),
    (14, 15, 0.042, "foot_left"),
    (16, 17, 0.07, "trousers"),
    (17, 18, 0.055, "trousers"),
    (18, 19, 0.042, "foot_right"),
)
LIGHT = np.array([0.3, 0.8, 0.5]) / np.linalg.norm([0.3, 0.8, 0.5])
_BOX_FACES = ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3))
_BOX_NORMALS = np.array([[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]], float)
_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


def _shade(color, k: float) -> tuple[float, float, float]:
    return tuple(float(min(255.0, c * k)) for c in color)


def _draw_capsule(img, p0, p1, r_px, color) -> None:
    """A capsule as three nested anti-aliased thick lines: rim, body, highlight (fake shading)."""
    a = (int(p0[0] * _ONE), int(p0[1] * _ONE))
    b = (int(p1[0] * _ONE), int(p1[1] * _ONE))
    th = max(1, int(round(2 * r_px)))
    cv2.line(img, a, b, _shade(color, 0.62), th, cv2.LINE_AA, _SHIFT)
    if th >= 3:
        off = int(-0.25 * r_px * _ONE)  # the light comes from above
        a2, b2 = (a[0], a[1] + off), (b[0], b[1] + off)
        cv2.line(img, a2, b2, _shade(color, 0.95), max(1, int(round(1.2 * r_px))), cv2.LINE_AA, _SHIFT)
        if th >= 6:
            cv2.line(img, a2, b2, _shade(color, 1.12), max(1, int(round(0.45 * r_px))), cv2.LINE_AA, _SHIFT)


def _box_world_corners(prim: motion.Prim, t: int, to_world) -> np.ndarray:
    rot = np.eye(3) if prim.rot is None else prim.rot[min(t, len(prim.rot) - 1)]
    local = prim.a[min(t, len(prim.a) - 1)] + (_CORNERS * prim.half) @ rot.T  # (8, 3)
    return to_world(local), to_world(rot.T) - to_world(np.zeros(3))  # world axes as rows


def _draw_box(img, cam: Camera, corners_w: np.ndarray, axes_w: np.ndarray, color, outward=None) -> None:
    """Draw a box's faces that face the camera; with ``outward`` (3,), only faces pointing away from
    that point (the desk's panels show their outside only, so they never cover what is on the desk)."""
    cc = cam.to_camera(corners_w)
    if (cc[:, 2] < 0.05).any():
        return
    uv = cam.project(cc)
    normals = _BOX_NORMALS @ axes_w  # (6, 3) world normals
    for face, n in zip(_BOX_FACES, normals, strict=True):
        fc = corners_w[list(face)].mean(0)
        if np.dot(n, fc - cam.position) >= 0:
            continue  # back face
        if outward is not None and np.dot(n, fc - outward) < 0:
            continue
        k = 0.55 + 0.5 * max(0.0, float(np.dot(n, LIGHT)))
        pts = (uv[list(face)] * _ONE).astype(np.int32)
        cv2.fillConvexPoly(img, pts, _shade(color, k), cv2.LINE_AA, _SHIFT)


@dataclass
class Stage:
    """Where the performer stands in the world: local origin and facing (yaw, radians)."""

    position: np.ndarray
    yaw: float

    def to_world(self, local: np.ndarray) -> np.ndarray:
        return body.to_world(local, self.position, self.yaw)


@dataclass
class Figure:
    """Another person in the scene (drawn, never in the skeleton file): world joints and looks."""

    joints: np.ndarray  # (T, 25, 3) world frame
    subject: body.Subject
    visible: np.ndarray  # (T,) bool


def _is_static(prim: motion.Prim) -> bool:
    """A primitive that never moves or hides (drawn once per clip under the body)."""
    if prim.visible is not None and not prim.visible.all():
        return False
    arrays = [prim.a] + [x for x in (prim.b, prim.rot) if x is not None]
    return all(len(x) == 1 or np.ptp(x, axis=0).max() < 1e-9 for x in arrays)


def _body_items(t, jc, uv, height, f, colors, subject, order0) -> list[tuple[bool, float, int, tuple]]:
    """Draw items ``(below the table top, depth, order, call)`` of one body in frame ``t``."""
    items = []
    for k, (ja, jb, r, ck) in enumerate(LIMBS):
        z = 0.5 * (jc[t, ja, 2] + jc[t, jb, 2])
        below = 0.5 * (height[t, ja] + height[t, jb]) < UNDER_TABLE
        items.append((below, z, order0 + k, ("cap", uv[t, ja], uv[t, jb], f * r / z, colors[ck])))
    # The head: hair behind, face in front (one item so they never interleave with limbs).
    zh = jc[t, 3, 2]
    items.append((False, zh + 0.02, order0 + 100, ("head", uv[t, 3], f / zh, subject.skin, subject.hair)))
    return items


def render_frames(
    cam: Camera,
    setup: int,
    camera: int,
    stage: Stage,
    perf: motion.Performance,
    subject: body.Subject,
    panel: bool,
    *,
    placement: Placement | None = None,
    others: tuple[Figure, ...] = (),
    times: Sequence[int] | None = None,
) -> np.ndarray:
    """Draw a performance (and any passers-by) from one camera.

    The room, the furniture under the body and the objects that never move are drawn once; per
    frame, limbs, heads and moving objects are drawn far to near, then the table's front panel.

    Args:
        times: draw only these frames (default: every frame).

    Returns:
        uint8 (T, H, W, 3) RGB frames, T = ``len(times)`` when given.
    """
    T = len(perf.joints)
    times = range(T) if times is None else [min(max(int(t), 0), T - 1) for t in times]
    bg = background(setup, camera, cam.size, placement).copy()
    for prim in furniture(panel):
        if prim.layer == "under":
            _draw_prim(bg, cam, prim, stage)
    # The table and the objects that never move on it are drawn once, as a sprite. Per frame,
    # whatever lies below the table top (thighs, legs) is drawn before it and hides behind it, and
    # whatever is above it (trunk, arms, hands, objects on the table) is drawn after it.
    fixed = [o for o in perf.objects if _is_static(o)]
    moving = [o for o in perf.objects if not _is_static(o)]
    on_table = [p for p in furniture(panel) if p.layer == "table"]
    on_table += sorted(fixed, key=lambda o: -float(cam.to_camera(stage.to_world(o.a[0]))[2]))
    sprite = bg.copy()
    for prim in on_table:
        _draw_prim(sprite, cam, prim, stage)
    mask = (sprite != bg).any(-1)
    over = [p for p in furniture(panel) if p.layer == "over"]
    people = [(stage.to_world(perf.joints), subject, perf.bare_foot, None)]
    people += [(o.joints, o.subject, None, o.visible) for o in others]
    people = [(cam.to_camera(w), w[..., 1], subj, bare, vis) for w, subj, bare, vis in people]
    people = [(jc, cam.project(jc), y, subj, bare, vis) for jc, y, subj, bare, vis in people]
    shoe = perf.extra.get("shoe_color", SHOE)
    obj_w = [(o, stage.to_world(o.a), None if o.b is None else stage.to_world(o.b)) for o in moving]
    frames = np.empty((len(times), *cam.size, 3), np.uint8)
    for n, t in enumerate(times):
        img = bg.copy()
        items: list[tuple[bool, float, int, tuple]] = []  # (below the table top, depth, order, call)
        for p, (jc, uv, height, subj, bare, vis) in enumerate(people):
            if vis is not None and not vis[t]:
                continue
            colors = {
                "shirt": subj.shirt, "trousers": subj.trousers, "skin": subj.skin,
                "foot_left": SOCK if bare == "left" else shoe,
                "foot_right": SOCK if bare == "right" else shoe,
            }  # fmt: skip
            items += _body_items(t, jc, uv, height, cam.f, colors, subj, 1000 * p)
        for k, (o, aw, bw) in enumerate(obj_w):
            if o.visible is not None and not o.visible[min(t, len(o.visible) - 1)]:
                continue
            i = min(t, len(aw) - 1)
            if o.kind == "capsule":
                ca, cb = cam.to_camera(aw[i]), cam.to_camera(bw[i])
                z = 0.5 * (ca[2] + cb[2])
                call = ("cap", cam.project(ca), cam.project(cb), cam.f * o.radius / z, o.color)
                below = 0.5 * (aw[i][1] + bw[i][1]) < UNDER_TABLE
                items.append((below, z - 0.03, 500 + k, call))
            else:
                cw, axes = _box_world_corners(o, t, stage.to_world)
                z = float(cam.to_camera(cw.mean(0))[2])
                items.append((aw[i][1] < UNDER_TABLE, z - 0.03, 500 + k, ("box", cw, axes, o.color)))
        for below in (True, False):
            for _, _, _, call in sorted(
                (it for it in items if it[0] == below), key=lambda it: (-it[1], it[2])
            ):
                _draw_call(img, cam, call)
            if below:
                img[mask] = sprite[mask]
        for prim in over:
            _draw_prim(img, cam, prim, stage)
        frames[n] = img
    if placement is not None and placement.light != 1.0:
        frames = cv2.convertScaleAbs(frames.reshape(len(frames), -1), alpha=placement.light).reshape(
            frames.shape
        )
    return frames


def _draw_prim(img, cam: Camera, prim: motion.Prim, stage: Stage) -> None:
    if prim.kind == "box":
        cw, axes = _box_world_corners(prim, 0, stage.to_world)
        desk_centre = stage.to_world(np.array([0.0, motion.DESK_HEIGHT / 2, sum(motion.DESK_Z) / 2]))
        _draw_box(img, cam, cw, axes, prim.color, desk_centre if prim.layer == "over" else None)
    else:
        ca, cb = cam.to_camera(stage.to_world(prim.a[0])), cam.to_camera(stage.to_world(prim.b[0]))
        z = 0.5 * (ca[2] + cb[2])
        _draw_capsule(img, cam.project(ca), cam.project(cb), cam.f * prim.radius / z, prim.color)


def _draw_call(img, cam: Camera, call: tuple) -> None:
    kind = call[0]
    if kind == "cap":
        _draw_capsule(img, call[1], call[2], call[3], call[4])
    elif kind == "box":
        _draw_box(img, cam, call[1], call[2], call[3])
    else:  # head: hair cap slightly above and behind, then the face
        _, c, scale, skin, hair = call
        _draw_capsule(img, (c[0], c[1] - 0.03 * scale), (c[0], c[1] - 0.03 * scale), 0.1 * scale, hair)
        _draw_capsule(img, (c[0], c[1] + 0.012 * scale), (c[0], c[1] + 0.012 * scale), 0.088 * scale, skin)
