"""Clip generation from an NTU sample name, and the dataset writer.

``render_clip("S001C002P003R001A008")`` performs and renders one clip. The performance depends on
``(seed, setup, subject, repetition, action)`` only, so the three cameras of a setup see the same
performance, as NTU records with three Kinects at once; the camera only changes the view.

``write_dataset`` writes the NTU RGB+D on-disk format (``<name>.skeleton``, ``<name>_rgb.avi``)
plus a ``<name>.truth.json`` ground-truth sidecar per clip and a ``synth.json`` summary, so that
:class:`~core_models.data.ntu.NTUReader` and its cross-subject / cross-view protocols read it as
they read the real dataset.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core_models.data.clip import Clip, ClipTruth
from core_models.data.layouts import NTU25
from core_models.data.ntu import (
    CLASSES_120,
    CS_TRAIN_SUBJECTS_60,
    TRUTH_SUFFIX,
    NTUBody,
    NTUReader,
    format_name,
    parse_name,
    write_skeleton_file,
)
from core_models.data.video import write_video
from core_models.synth import actions as motion
from core_models.synth import body, faults, render

SYNTH_ACTIONS = motion.SYNTH_ACTIONS
SYNTH_CLASSES: tuple[str, ...] = tuple(CLASSES_120[a - 1] for a in SYNTH_ACTIONS)
NUM_SUBJECTS = 20
SYNTH_SUBJECTS = tuple(range(1, NUM_SUBJECTS + 1))
SYNTH_CAMERAS = (1, 2, 3)
SMALL_SUBJECTS = (1, 2, 3, 4, 6)  # CS train (1, 2), validation (4), test (3, 6); all four setups
FPS = 30.0
BODY_ID = 72057594037931101  # a Kinect-looking tracking id
P_PASSERBY = 0.35  # clips in which a second person walks past behind the subject


def setup_for(subject: int, repetition: int) -> int:
    """Setup of a (subject, repetition): odd subjects use S001/S002, even ones S003/S004.

    Both CS sides hold odd and even subjects, so every setup appears on both sides of CS, and every
    subject is seen once with and once without the table's front panel (S002 and S003 have it).
    """
    return (2 * (subject - 1) + (repetition - 1)) % len(render.SETUPS) + 1


def list_names(
    small: bool = False,
    *,
    subjects: Sequence[int] | None = None,
    cameras: Sequence[int] | None = None,
    repetitions: Sequence[int] | None = None,
    actions: Sequence[int] | None = None,
) -> list[str]:
    """Sample names of the dataset (default 20 x 3 x 2 x 14 = 1680; ``small``: 5 subjects, 420)."""
    subjects = subjects or (SMALL_SUBJECTS if small else range(1, NUM_SUBJECTS + 1))
    names = []
    for p in subjects:
        for r in repetitions or (1, 2):
            for c in cameras or (1, 2, 3):
                for a in actions or SYNTH_ACTIONS:
                    if a not in SYNTH_ACTIONS:
                        raise ValueError(f"action {a} is not a synthetic class; choose from {SYNTH_ACTIONS}")
                    names.append(format_name(setup_for(p, r), c, p, r, a))
    return sorted(names)


def perform(setup: int, subject: int, repetition: int, action: int, seed: int = 0):
    """The performance (local frame), the subject and where it stands; camera independent.

    Returns:
        ``(performance, subject, stage)``.
    """
    # A reversed class draws the very sample of its partner (a stand-up clip is the sit-down clip
    # of the same subject and setup played backwards), and the members of an object group draw
    # one sample (an eat clip is the drink clip with food in the hand): no single frame, and no
    # skeleton, can be memorised per performance (which cross-view would otherwise allow, since
    # its test camera sees the performances the training cameras saw).
    key = motion.motion_key(action)
    rng = np.random.default_rng([seed, setup, subject, repetition, key, 0xAC7, motion.DATA_VERSION])
    subj = body.make_subject(subject, seed)
    # R001 faces camera 2 (-45 degrees), R002 camera 3 (+45), as in NTU; a little jitter.
    yaw = np.deg2rad((-45.0 if repetition % 2 == 1 else 45.0) + rng.uniform(-6, 6))
    stage = render.Stage(np.array([rng.uniform(-0.1, 0.1), 0.0, rng.uniform(-0.1, 0.1)]), float(yaw))
    ctx = motion.Ctx(subj, body.dims_of(subj), render.setup_of(setup).desk, rng)
    return motion.perform(action, ctx), subj, stage


def session_placement(
    setup: int, camera: int, subject: int, repetition: int, seed: int = 0
) -> render.Placement:
    """Where a camera stood for one recording session (the same for every class of that session)."""
    return render.draw_placement(np.random.default_rng([seed, setup, camera, subject, repetition, 0xCA3]))


def draw_passerby(setup: int, subject: int, repetition: int, action: int, T: int, seed: int = 0):
    """A second person walking past behind the subject, or ``None`` (rate :data:`P_PASSERBY`).

    Drawn per class (never shared by a reversed pair or an object group, so it never walks
    backwards) and camera independent. Not in the skeleton file: the walker is beyond the
    sensor's tracking range.

    Returns:
        ``None`` or ``(Figure in world coordinates, event dict)``.
    """
    rng = np.random.default_rng([seed, setup, subject, repetition, action, 0x9A55])
    if rng.random() >= P_PASSERBY:
        return None
    walker = body.make_subject(100 + int(rng.integers(0, 1000)), seed)
    speed = float(rng.uniform(0.9, 1.4))
    direction = 1.0 if rng.random() < 0.5 else -1.0
    z = float(rng.uniform(-2.3, -1.5))
    t0 = float(rng.uniform(0.1, 0.9) * T)  # frame at which it crosses x = 0
    local = body.walk(walker, T, speed=speed, t0=t0, fps=FPS)
    world = body.to_world(local, np.array([0.0, 0.0, z]), direction * np.pi / 2)
    visible = np.abs(world[:, 0, 0]) < 3.6
    frames = np.flatnonzero(visible)
    if not len(frames):
        return None
    event = {"kind": "passerby", "start": int(frames[0]), "end": int(frames[-1]) + 1, "speed": speed}
    return render.Figure(world, walker, visible), event


def render_clip(name: str, *, seed: int = 0, size: tuple[int, int] = (120, 160)) -> Clip:
    """Perform and render one clip, deterministically for ``(seed, name)``.

    Args:
        name: an NTU sample name ``SsssCcccPpppRrrrAaaa`` with an action of :data:`SYNTH_ACTIONS`.
        seed: dataset seed.
        size: (H, W) of the frames.

    Returns:
        A :class:`Clip`: frames uint8 (T, H, W, 3); joints3d (T, 2, 25, 3) camera frame (x right,
        y up, z depth, metres) with person 1 all NaN; joints2d (T, 2, 25, 2) their pixels; truth.
        The joints are the clean ones; the skeleton file adds the sensor faults.
    """
    m = parse_name(name)
    if m["action"] not in SYNTH_ACTIONS:
        raise ValueError(f"{name}: action {m['action']} is not one of {SYNTH_ACTIONS}")
    perf, subj, stage = perform(m["setup"], m["subject"], m["repetition"], m["action"], seed)
    T = len(perf.joints)
    placement = session_placement(m["setup"], m["camera"], m["subject"], m["repetition"], seed)
    cam = render.make_camera(m["setup"], m["camera"], size, placement)
    panel = render.setup_of(m["setup"]).desk
    passer = draw_passerby(m["setup"], m["subject"], m["repetition"], m["action"], T, seed)
    others = (passer[0],) if passer else ()
    frames = render.render_frames(
        cam, m["setup"], m["camera"], stage, perf, subj, panel, placement=placement, others=others
    )
    jc = cam.to_camera(stage.to_world(perf.joints)).astype(np.float32)  # (T, 25, 3)
    joints3d = np.full((T, 2, 25, 3), np.nan, np.float32)
    joints2d = np.full((T, 2, 25, 2), np.nan, np.float32)
    joints3d[:, 0] = jc
    joints2d[:, 0] = cam.project(jc)
    label = SYNTH_ACTIONS.index(m["action"])
    events = list(perf.extra.get("events", [])) + ([passer[1]] if passer else [])
    info = {
        "version": motion.DATA_VERSION,
        "dominant": subj.dominant,
        "span": [int(v) for v in perf.extra.get("span", (0, T))],
        "events": events,
    }
    if perf.extra.get("acting_hand"):
        info["acting_hand"] = perf.extra["acting_hand"]
    truth = ClipTruth(
        part_names=NTU25.part_names,
        parts=perf.parts.astype(bool),
        interval=perf.interval,
        confusers=tuple(CLASSES_120[a - 1] for a in motion.CONFUSERS[m["action"]]),
        info=info,
    )
    meta = dict(
        m,
        fps=FPS,
        frame_size=(int(size[0]), int(size[1])),
        dataset="synth",
        seed=seed,
        dominant=subj.dominant,
        height=subj.height,
        desk=panel,
        version=motion.DATA_VERSION,
    )
    return Clip(name, NTU25, label, SYNTH_CLASSES[label], frames, joints3d, joints2d, meta, truth)


def render_frame(
    name: str, *, seed: int = 0, size: tuple[int, int] = (90, 120), person: bool = False
) -> np.ndarray:
    """One frame of clip ``name``, the middle of the interval that tells its class apart (a
    thumbnail: the pixels :func:`render_clip` draws at that frame).

    Args:
        size: (H, W) of the result.
        person: frame the person (the box around the joints, widened by half, at the aspect of
            ``size``; drawn at twice ``size`` first, so the crop keeps its detail) instead of the
            whole room.

    Returns:
        uint8 (H, W, 3) RGB.
    """
    m = parse_name(name)
    if m["action"] not in SYNTH_ACTIONS:
        raise ValueError(f"{name}: action {m['action']} is not one of {SYNTH_ACTIONS}")
    perf, subj, stage = perform(m["setup"], m["subject"], m["repetition"], m["action"], seed)
    drawn = (2 * size[0], 2 * size[1]) if person else tuple(size)
    placement = session_placement(m["setup"], m["camera"], m["subject"], m["repetition"], seed)
    cam = render.make_camera(m["setup"], m["camera"], drawn, placement)
    panel = render.setup_of(m["setup"]).desk
    start, end = perf.interval
    middle = min((int(start) + int(end)) // 2, len(perf.joints) - 1)
    passer = draw_passerby(m["setup"], m["subject"], m["repetition"], m["action"], len(perf.joints), seed)
    frame = render.render_frames(
        cam,
        m["setup"],
        m["camera"],
        stage,
        perf,
        subj,
        panel,
        placement=placement,
        others=(passer[0],) if passer else (),
        times=[middle],
    )[0]
    if not person:
        return frame
    uv = cam.project(cam.to_camera(stage.to_world(perf.joints[middle])))  # (25, 2) pixels
    (x0, y0), (x1, y1) = np.nanmin(uv, axis=0), np.nanmax(uv, axis=0)
    h = max(y1 - y0, (x1 - x0) * size[0] / size[1]) * 1.5  # the box at the result's aspect, widened
    w = h * size[1] / size[0]
    H, W = drawn
    h, w = min(h, H), min(w, W)
    top = int(np.clip((y0 + y1 - h) / 2, 0, H - h))
    left = int(np.clip((x0 + x1 - w) / 2, 0, W - w))
    crop = frame[top : top + int(h), left : left + int(w)]
    return cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def skeleton_bodies(clip: Clip, *, seed: int = 0) -> tuple[list[list[NTUBody]], faults.Faults]:
    """The clip's person 0 as ``.skeleton`` frames with Kinect-like faults (:mod:`faults`).

    Returns:
        ``(frames of bodies, the faults drawn)``; a frame where the body flickered out is empty.
    """
    m = clip.meta
    rng = np.random.default_rng(
        [seed, m["setup"], m["camera"], m["subject"], m["repetition"], m["action"], 7, motion.DATA_VERSION]
    )
    placement = session_placement(m["setup"], m["camera"], m["subject"], m["repetition"], seed)
    cam = render.make_camera(m["setup"], m["camera"], tuple(m["frame_size"]), placement)
    drawn = faults.draw(rng, clip.num_frames)
    xyz, state, present = faults.apply(clip.joints3d[:, 0], drawn, rng)
    depth_uv, color_uv = cam.project_depth(xyz), cam.project(xyz)
    info = np.array([0, 1, 1, 1, 1, 0, 0, 0, 2], np.float64)
    frames = []
    for t in range(len(xyz)):
        if not present[t]:
            frames.append([])
            continue
        rows = np.zeros((25, 12))
        rows[:, 0:3], rows[:, 3:5], rows[:, 5:7] = xyz[t], depth_uv[t], color_uv[t]
        rows[:, 7] = 1.0  # identity orientation
        rows[:, 11] = state[t]
        frames.append([NTUBody(BODY_ID, info, np.round(rows, 5))])
    return frames, drawn


def write_clip(clip: Clip, out: str | Path, *, seed: int = 0) -> int:
    """Write one clip's skeleton, video and truth sidecar into ``out``; returns bytes written."""
    out = Path(out)
    bodies, drawn = skeleton_bodies(clip, seed=seed)
    skel = write_skeleton_file(out / f"{clip.name}.skeleton", bodies)
    video = write_video(out / f"{clip.name}_rgb.avi", clip.frames, FPS)
    truth = out / f"{clip.name}{TRUTH_SUFFIX}"
    data = clip.truth.to_json()
    data.setdefault("info", {})["faults"] = drawn.to_json()
    truth.write_text(json.dumps(data), encoding="utf-8")
    return sum(p.stat().st_size for p in (skel, video, truth))


def dataset_clip(name: str, *, seed: int = 0, size: tuple[int, int] = (120, 160)) -> Clip:
    """Clip ``name`` exactly as the written dataset holds it, without writing the dataset.

    Rendered, written in the NTU format to a temporary folder (the AVI codec, the skeleton with
    its sensor faults) and read back with the dataset's reader: what a model saw in training.
    """
    clip = render_clip(name, seed=seed, size=size)
    with tempfile.TemporaryDirectory(prefix="synth-clip-") as tmp:
        write_clip(clip, tmp, seed=seed)
        reader = synth_reader(tmp)
        out = reader.load(reader.find(name))
    out.meta.update(dataset="synth", seed=seed, fps=out.meta.get("fps") or FPS)
    return out


def _write_one(job: tuple[str, str, int, tuple[int, int]]) -> tuple[str, int, int]:
    name, out, seed, size = job
    clip = render_clip(name, seed=seed, size=size)
    return name, clip.num_frames, write_clip(clip, out, seed=seed)


def write_dataset(
    out: str | Path,
    *,
    small: bool = False,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
    subjects: Sequence[int] | None = None,
    cameras: Sequence[int] | None = None,
    repetitions: Sequence[int] | None = None,
    actions: Sequence[int] | None = None,
    size: tuple[int, int] = (120, 160),
    progress_file: str | Path | None = None,
) -> dict[str, Any]:
    """Write the synthetic dataset in the NTU RGB+D format.

    Args:
        out: destination folder (created).
        small: a 420-clip subset (5 subjects) that still covers both sides of CS (and its
            validation subject) and of CV.
        seed: dataset seed.
        workers: processes; 1 renders in this process.
        progress: show a tqdm bar.
        subjects, cameras, repetitions, actions: restrict the clips written.
        size: (H, W) of the videos.
        progress_file: keep ``{"stage": "data", "done", "total", "started", "time"}`` there
            (written atomically, at most twice a second), for a page to show.

    Returns:
        The summary also written to ``out/synth.json``: seed, size, classes, counts, bytes, seconds.
    """
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list_names(small, subjects=subjects, cameras=cameras, repetitions=repetitions, actions=actions)
    jobs = [(n, str(out), seed, (int(size[0]), int(size[1]))) for n in names]
    start = time.perf_counter()
    frames: dict[str, int] = {}
    total_bytes = 0
    started, shown = time.time(), [0.0]

    def tick(done: int) -> None:
        if progress_file and (done == len(jobs) or time.perf_counter() - shown[0] >= 0.5):
            from core_models.results import write_progress

            write_progress(progress_file, "data", done, len(jobs), started)
            shown[0] = time.perf_counter()

    tick(0)
    with tqdm(total=len(jobs), disable=not progress, desc="synth", unit="clip") as bar:
        if workers > 1:
            # spawn: a fresh interpreter per worker, safe whatever threads the parent runs. An
            # executor (not multiprocessing.Pool) so that a worker that dies at start-up raises
            # BrokenProcessPool instead of being respawned forever.
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                for name, n, nbytes in pool.map(_write_one, jobs, chunksize=4):
                    frames[name], total_bytes = n, total_bytes + nbytes
                    bar.update()
                    tick(len(frames))
        else:
            for job in jobs:
                name, n, nbytes = _write_one(job)
                frames[name], total_bytes = n, total_bytes + nbytes
                bar.update()
                tick(len(frames))
    metas = [parse_name(n) for n in names]
    summary = {
        "version": motion.DATA_VERSION,
        "seed": seed,
        "size": [int(size[0]), int(size[1])],
        "fps": FPS,
        "actions": list(SYNTH_ACTIONS),
        "classes": list(SYNTH_CLASSES),
        "clips": len(names),
        "frames": int(sum(frames.values())),
        "bytes": int(total_bytes),
        "seconds": round(time.perf_counter() - start, 2),
        "per_class": {
            SYNTH_CLASSES[SYNTH_ACTIONS.index(a)]: c
            for a, c in sorted(Counter(m["action"] for m in metas).items())
        },
        "cs": {
            "train_subjects": sorted({m["subject"] for m in metas if m["subject"] in CS_TRAIN_SUBJECTS_60}),
            "test_subjects": sorted(
                {m["subject"] for m in metas if m["subject"] not in CS_TRAIN_SUBJECTS_60}
            ),
        },
        "setups": {
            str(s): {"desk": st.desk, "camera_height": st.height, "distance": st.distance}
            for s, st in render.SETUPS.items()
        },
        "rates": rates(),
    }
    (out / "synth.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def standing_heights(square: int = 64) -> np.ndarray:
    """How tall each subject stands, in pixels of the ``square`` the whole-frame models read.

    The first frame of every sit-down performance (standing), from every camera of both
    repetitions, in the central square of the 160x120 frame resized to ``square`` pixels; the top
    of the head is 10 px (at 120 rows) above the head joint.

    Returns:
        (120,) heights in pixels: 20 subjects x 2 repetitions x 3 cameras.
    """
    heights = []
    for p in range(1, 21):
        for r in (1, 2):
            s = setup_for(p, r)
            perf, _, stage = perform(s, p, r, 8)
            for cam_id in SYNTH_CAMERAS:
                cam = render.make_camera(s, cam_id, (120, 160), session_placement(s, cam_id, p, r))
                uv = cam.project(cam.to_camera(stage.to_world(perf.joints[0])))  # (25, 2)
                heights.append((uv[:, 1].max() - uv[:, 1].min() + 10) * square / 120)
    return np.array(heights)


def written_version(root: str | Path) -> int:
    """The version of the synthetic data written under ``root`` (1 when ``synth.json`` predates versions)."""
    try:
        return int(json.loads((Path(root) / "synth.json").read_text()).get("version", 1))
    except (OSError, ValueError):
        return motion.DATA_VERSION


def rates() -> dict[str, Any]:
    """The stated rates of every distractor and sensor fault (written into ``synth.json``)."""
    from core_models.synth import distractors

    return {
        "scratch_head": distractors.P_SCRATCH,
        "turn_to_look": distractors.P_TURN,
        "passerby": P_PASSERBY,
        "jitter_m": list(faults.JITTER_M),
        "lost_limb": faults.P_LOST,
        "left_right_swap": faults.P_SWAP,
        "flicker": faults.P_FLICKER,
    }


def partial_dirs(out: str | Path) -> list[Path]:
    """The unfinished folders :func:`write_dataset_atomically` leaves next to ``out`` when killed."""
    out = Path(out)
    return sorted(out.parent.glob(f".{out.name}.partial-*")) if out.parent.is_dir() else []


def write_dataset_atomically(out: str | Path, **kwargs) -> dict[str, Any]:
    """:func:`write_dataset` into a hidden folder next to ``out``, renamed to ``out`` once whole.

    ``out`` must not exist yet (or be empty). A stopped or failed write removes its folder; one
    killed outright leaves ``.<out>.partial-<pid>``, which :func:`partial_dirs` finds (the Train
    page removes them before it writes again). Either way ``out`` is never half a dataset.
    """
    import os
    import shutil

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} already holds files; write the dataset to a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        summary = write_dataset(tmp, **kwargs)
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def synth_reader(root: str | Path) -> NTUReader:
    """An :class:`NTUReader` over a written synthetic dataset (labels in :data:`SYNTH_ACTIONS` order).

    The published list of NTU samples with missing skeletons is not applied: a few synthetic
    names coincide with it, and every synthetic clip has its skeleton.
    """
    reader = NTUReader(root, version=60, actions=SYNTH_ACTIONS, require_video=True, skip_missing=False)
    reader.name = "synth"
    return reader
