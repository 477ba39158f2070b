"""Contracts of the synthetic dataset: determinism, shapes, projection, truth, time reversal, I/O."""

from __future__ import annotations

import numpy as np
import pytest

from core_models.data.layouts import NTU25
from core_models.data.ntu import CS_TRAIN_SUBJECTS_60
from core_models.synth import (
    OPPOSITE_PAIRS,
    SYNTH_ACTIONS,
    SYNTH_CLASSES,
    body,
    list_names,
    render_clip,
    run_probe,
    setup_for,
    synth_reader,
    write_dataset,
)
from core_models.synth import actions as motion
from core_models.synth.generate import parse_name, perform

NAME = "S001C002P001R001A008"


@pytest.fixture(scope="module")
def clip():
    return render_clip(NAME)


def test_determinism():
    a, b = render_clip(NAME, seed=3), render_clip(NAME, seed=3)
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.joints3d, b.joints3d, equal_nan=True)
    c = render_clip(NAME, seed=4)
    assert a.frames.shape != c.frames.shape or not np.array_equal(a.frames, c.frames)


def test_cameras_share_the_performance():
    # Same performance, different view: the camera-space skeletons differ by a rigid motion,
    # so bone lengths agree exactly.
    c1, c3 = render_clip("S001C001P001R001A023"), render_clip("S001C003P001R001A023")
    assert c1.num_frames == c3.num_frames
    bones = np.array(NTU25.bones)

    def lengths(c):
        j = c.joints3d[:, 0]
        return np.linalg.norm(j[:, bones[:, 0]] - j[:, bones[:, 1]], axis=-1)

    np.testing.assert_allclose(lengths(c1), lengths(c3), atol=1e-5)
    assert not np.allclose(c1.joints2d[:, 0], c3.joints2d[:, 0])


def test_shapes_and_meta(clip):
    T = clip.num_frames
    assert 40 <= T <= 400 and T % 2 == 1
    assert clip.frames.dtype == np.uint8 and clip.frames.shape == (T, 120, 160, 3)
    assert clip.joints3d.dtype == np.float32 and clip.joints3d.shape == (T, 2, 25, 3)
    assert clip.joints2d.shape == (T, 2, 25, 2)
    assert np.isnan(clip.joints3d[:, 1]).all() and np.isfinite(clip.joints3d[:, 0]).all()
    assert clip.label == SYNTH_ACTIONS.index(8) and clip.label_name == SYNTH_CLASSES[clip.label]
    for key in ("subject", "camera", "setup", "repetition", "action"):
        assert key in clip.meta
    assert clip.meta["fps"] == 30 and tuple(clip.meta["frame_size"]) == (120, 160)
    big = render_clip(NAME, size=(240, 320))
    assert big.frames.shape[1:3] == (240, 320)
    np.testing.assert_allclose(big.joints3d, clip.joints3d)


def test_joints2d_inside_frame_and_projected(clip):
    uv = clip.joints2d[:, 0]
    H, W = clip.frames.shape[1:3]
    assert (uv[..., 0] >= 0).all() and (uv[..., 0] < W).all()
    assert (uv[..., 1] >= 0).all() and (uv[..., 1] < H).all()
    j = clip.joints3d[:, 0]
    assert (j[..., 2] > 1.0).all()  # depth in front of the camera
    # A pinhole: the ratio of pixel offsets to x/z and y/z is one focal length for all joints.
    cx, cy = (W - 1) / 2, (H - 1) / 2
    fx = (uv[..., 0] - cx) / (j[..., 0] / j[..., 2])
    fy = -(uv[..., 1] - cy) / (j[..., 1] / j[..., 2])
    ok_x, ok_y = np.abs(j[..., 0]) > 0.05, np.abs(j[..., 1]) > 0.05
    f = np.median(fx[ok_x])
    np.testing.assert_allclose(fx[ok_x], f, rtol=1e-3)
    np.testing.assert_allclose(fy[ok_y], f, rtol=1e-3)
    # y is up: the head is above the feet.
    assert (j[:, 3, 1] > j[:, 15, 1]).all()


def test_person_is_drawn_where_joints_say(clip):
    # The person changes pixels near the projected spine, not far from it.
    from core_models.synth.generate import session_placement
    from core_models.synth.render import background

    m = clip.meta
    placement = session_placement(m["setup"], m["camera"], m["subject"], m["repetition"])
    room = background(m["setup"], m["camera"], (120, 160), placement).astype(int)
    t = clip.num_frames // 2
    u, v = clip.joints2d[t, 0, 1].round().astype(int)
    assert np.abs(clip.frames[t, v, u].astype(int) - room[v, u]).sum() > 30


@pytest.mark.parametrize("action", SYNTH_ACTIONS)
def test_every_class_renders_with_sane_truth(action):
    name = f"S002C001P002R002A{action:03d}"
    c = render_clip(name)
    T = c.num_frames
    tr = c.truth
    assert tr.parts.shape == (T, len(NTU25.part_names)) and tr.parts.dtype == bool
    assert tr.part_names == NTU25.part_names
    s, e = tr.interval
    assert 0 <= s < e <= T
    assert tr.parts[s:e].any()
    assert tr.active_parts()
    assert tr.confusers and c.label_name not in tr.confusers
    assert np.isfinite(c.joints3d[:, 0]).all()
    dom = c.meta["dominant"]
    assert tr.version == 2 and tr.dominant == dom
    span = tr.info["span"]
    assert 0 <= span[0] <= s and e <= span[1] <= T  # the interval lies inside the action
    assert 2.0 <= T / (span[1] - span[0]) <= 3.3  # the clip is 2-3 times the action
    if action in (1, 2, 28, 23, 6, 5):  # one-hand actions use the dominant hand
        assert tr.acting_hand == dom and f"{dom}_hand" in tr.active_parts()
    else:
        assert tr.acting_hand is None


def _ctx(action, subject=3, seed=0):
    rng = np.random.default_rng([seed, subject, action])
    subj = body.make_subject(subject, seed)
    return motion.Ctx(subj, body.dims_of(subj), False, rng)


@pytest.mark.parametrize("forward,backward", [(8, 9), (16, 17), (6, 5)])
def test_opposite_pair_is_exact_time_reversal(forward, backward):
    # Same random stream -> the reversed class is the forward class played backwards,
    # distractors included.
    fwd = motion.perform(forward, _ctx(forward))
    rev = motion.perform(backward, _ctx(forward))
    np.testing.assert_array_equal(rev.joints, fwd.joints[::-1])
    np.testing.assert_array_equal(rev.parts, fwd.parts[::-1])
    for o_f, o_r in zip(fwd.objects, rev.objects, strict=True):
        np.testing.assert_array_equal(o_r.a, o_f.a[::-1])
    T = len(fwd.joints)
    assert rev.interval == (T - fwd.interval[1], T - fwd.interval[0])
    kinds = lambda p: sorted((e["kind"], e["end"] - e["start"]) for e in p.extra["events"])  # noqa: E731
    assert kinds(rev) == kinds(fwd)
    # The middle frame (odd length) is the same frame in both.
    np.testing.assert_array_equal(rev.joints[T // 2], fwd.joints[T // 2])


@pytest.mark.parametrize("group", motion.OBJECT_GROUPS)
def test_object_group_members_move_identically(group):
    # An eat clip is the drink clip with food in the hand: the same skeleton, interval and
    # distractors; only the objects differ.
    perfs = [perform(2, 5, 1, a)[0] for a in group]
    for p in perfs[1:]:
        np.testing.assert_array_equal(p.joints, perfs[0].joints)
        assert p.interval == perfs[0].interval
        assert p.extra["events"] == perfs[0].extra["events"]
    s, e = perfs[0].interval
    held = [[o for o in p.objects if o.visible is not None and o.visible[(s + e) // 2]] for p in perfs]
    looks = [sorted((o.kind, tuple(np.round(o.half, 3)) if o.half is not None else o.radius) for o in h)
             for h in held]  # fmt: skip
    assert all(looks[0] != other for other in looks[1:])


def test_dataset_pairs_are_reversed_clips():
    # In the dataset a reversed class is its partner's clip (same subject, setup, camera) backwards;
    # only a passer-by (drawn for each class on its own, never walking backwards) differs.
    for a, b in OPPOSITE_PAIRS:
        ca, cb = render_clip(f"S003C001P002R001A{a:03d}"), render_clip(f"S003C001P002R001A{b:03d}")
        np.testing.assert_array_equal(cb.joints3d, ca.joints3d[::-1])
        T = ca.num_frames
        walker = np.zeros(T, bool)
        for c, rev in ((ca, False), (cb, True)):
            for ev in c.truth.info["events"]:
                if ev["kind"] == "passerby":
                    lo, hi = (T - ev["end"], T - ev["start"]) if rev else (ev["start"], ev["end"])
                    walker[lo:hi] = True
        same = ~walker
        np.testing.assert_array_equal(cb.frames[::-1][same], ca.frames[same])
        assert ca.label != cb.label


def test_middle_frame_statistics_match_within_pairs():
    # Over independent samples (different subjects for the two classes) the middle-frame pose
    # distributions of a pair agree (height of the pelvis), while the first frames differ.
    for a, b in OPPOSITE_PAIRS:
        mid_a, mid_b, first_a, first_b = [], [], [], []
        for subject in range(1, 31):
            pa, _, _ = perform(1, subject, 1, a)
            pb, _, _ = perform(1, subject + 100, 1, b)
            mid_a.append(pa.joints[len(pa.joints) // 2, 0, 1])
            mid_b.append(pb.joints[len(pb.joints) // 2, 0, 1])
            first_a.append(pa.joints[0, 11, 1] + pa.joints[0, 7, 1] + pa.joints[0, 0, 1])
            first_b.append(pb.joints[0, 11, 1] + pb.joints[0, 7, 1] + pb.joints[0, 0, 1])
        sd = np.std(mid_a + mid_b) + 1e-6
        assert abs(np.mean(mid_a) - np.mean(mid_b)) < 0.6 * sd
        if a == 8:  # standing at the start of sit-down, seated at the start of stand-up
            assert np.mean(first_a) > np.mean(first_b) + 0.2


@pytest.fixture(scope="module")
def many():
    """Performances of every class for 24 subjects x 2 repetitions (no rendering)."""
    return [
        (a, perform(setup_for(p, r), p, r, a)[0]) for p in range(1, 25) for r in (1, 2) for a in SYNTH_ACTIONS
    ]


def test_distractors_at_their_stated_rates_and_outside_the_action(many):
    from core_models.synth import distractors

    n = len(many)
    counts = {"scratch": 0, "turn": 0, "fidget": 0}
    for _, p in many:
        T = len(p.joints)
        a, b = p.extra["span"]
        for ev in p.extra["events"]:
            counts[ev["kind"]] += 1
            if ev["kind"] != "fidget":  # never inside the action (with its margin)
                assert ev["end"] <= a or ev["start"] >= b, (ev, a, b)
                assert 0 <= ev["start"] < ev["end"] <= T
    assert counts["fidget"] == n
    # A distractor is dropped when no idle stretch holds it, so the realised rate is a little lower.
    assert 0.75 * distractors.P_SCRATCH <= counts["scratch"] / n <= distractors.P_SCRATCH + 0.05
    assert 0.75 * distractors.P_TURN <= counts["turn"] / n <= distractors.P_TURN + 0.05


def test_action_onsets_are_not_a_fixed_place(many):
    # "Always the middle" gets at most 0.10 more of the truth interval than uniform weights do.
    from core_models.attention_scores import bin_coverage

    for n in (3, 8, 16):
        cover = np.stack([bin_coverage(n, (p.interval[0] / len(p.joints), p.interval[1] / len(p.joints)))
                          for _, p in many])  # fmt: skip
        middle = cover[:, n // 2] if n % 2 else cover[:, n // 2 - 1 : n // 2 + 1].mean(1)
        assert middle.mean() <= cover.mean() + 0.10
    starts = np.array([p.extra["span"][0] / len(p.joints) for _, p in many])
    assert (starts < 0.1).mean() > 0.1 and (starts > 0.4).mean() > 0.1  # near either end, often


def test_sensor_faults_at_their_stated_rates():
    from core_models.synth import faults

    rng = np.random.default_rng(0)
    drawn = [faults.draw(rng, 150) for _ in range(3000)]
    rate = lambda key: np.mean([bool(getattr(f, key)) for f in drawn])  # noqa: E731
    assert abs(rate("lost") - faults.P_LOST) < 0.03
    assert abs(rate("swaps") - faults.P_SWAP) < 0.03
    assert abs(rate("flicker") - faults.P_FLICKER) < 0.03
    jit = np.array([f.jitter for f in drawn])
    assert faults.JITTER_M[0] <= jit.min() and jit.max() <= faults.JITTER_M[1]
    # Applying them: a lost limb is frozen and inferred, a swap exchanges the arms, a flicker
    # removes the body, and the rest jitters by about the drawn amount.
    xyz = np.cumsum(rng.normal(0, 0.01, (60, 25, 3)), axis=0) + [0, 0, 3.0]
    f = faults.Faults(
        jitter=0.03, lost=[{"limb": "left_leg", "start": 10, "end": 20}],
        swaps=[{"limbs": "arms", "start": 30, "end": 40}], flicker=[{"start": 50, "end": 53}],
    )  # fmt: skip
    out, state, present = faults.apply(xyz, f, np.random.default_rng(1))
    leg = list(faults.LIMBS["left_leg"])
    np.testing.assert_array_equal(out[10:20, leg], np.broadcast_to(out[9, leg], (10, 4, 3)))
    assert (state[10:20, leg] == 1).all() and (state[:10] == 2).all()
    la, ra = list(faults.LIMBS["left_arm"]), list(faults.LIMBS["right_arm"])
    assert (
        np.abs(out[30:40, la] - xyz[30:40, ra]).mean() < 0.05 < np.abs(out[30:40, la] - xyz[30:40, la]).mean()
    )
    assert present.sum() == 57 and not present[50:53].any()
    assert 0.025 < (out[:10] - xyz[:10])[:, :21].std() < 0.035


def test_a_passerby_at_its_stated_rate_and_never_in_the_skeleton():
    from core_models.synth.generate import P_PASSERBY, draw_passerby

    drawn = [
        draw_passerby(1 + k % 4, 1 + k % 20, 1 + k % 2, SYNTH_ACTIONS[k % 14], 150, seed=k)
        for k in range(600)
    ]
    rate = np.mean([d is not None for d in drawn])
    assert P_PASSERBY - 0.08 < rate <= P_PASSERBY + 0.05
    fig, event = next(d for d in drawn if d is not None)
    assert event["kind"] == "passerby" and event["start"] < event["end"]
    assert fig.joints.shape == (150, 25, 3) and (fig.joints[:, :, 2] < -1.2).all()  # behind the subject


def test_frames_drawn_alone_equal_the_full_render_with_a_passerby_in_view():
    from core_models.synth import render
    from core_models.synth.generate import draw_passerby, session_placement

    name = next(
        f"S001C001P{p:03d}R001A{a:03d}"
        for p in range(1, 41)
        for a in SYNTH_ACTIONS
        if draw_passerby(1, p, 1, a, len(perform(1, p, 1, a, 0)[0].joints), 0) is not None
    )
    m = parse_name(name)
    perf, subj, stage = perform(m["setup"], m["subject"], m["repetition"], m["action"], 0)
    fig, event = draw_passerby(m["setup"], m["subject"], m["repetition"], m["action"], len(perf.joints), 0)
    placement = session_placement(m["setup"], m["camera"], m["subject"], m["repetition"], 0)
    cam = render.make_camera(m["setup"], m["camera"], (60, 80), placement)
    args = (cam, m["setup"], m["camera"], stage, perf, subj, render.setup_of(m["setup"]).desk)
    full = render.render_frames(*args, placement=placement, others=(fig,))
    times = [0, event["start"], (event["start"] + event["end"]) // 2, len(full) - 1]
    alone = render.render_frames(*args, placement=placement, others=(fig,), times=times)
    assert np.array_equal(alone, full[times])
    assert (np.abs(np.diff(full.astype(int), axis=0)).max(axis=(1, 2, 3)) > 0).mean() > 0.5  # frames move


def test_subjects_are_40_to_60_pixels_tall_in_the_64_pixel_square():
    from core_models.synth.generate import standing_heights

    heights = standing_heights()
    assert 40 <= np.median(heights) <= 60 and (heights > 35).mean() > 0.9 and (heights < 66).all()


def test_names_and_setups():
    names = list_names()
    assert len(names) == 20 * 3 * 2 * 14
    small = list_names(small=True)
    assert 200 <= len(small) <= 600
    subjects = {int(n[9:12]) for n in small}
    assert subjects & CS_TRAIN_SUBJECTS_60 - {4, 19} and subjects - CS_TRAIN_SUBJECTS_60
    for side in (CS_TRAIN_SUBJECTS_60, set(range(1, 21)) - CS_TRAIN_SUBJECTS_60):
        assert {setup_for(p, r) for p in side for r in (1, 2)} == {1, 2, 3, 4}
    with pytest.raises(ValueError):
        render_clip("S001C001P001R001A003")


def test_write_and_read_back(tmp_path):
    summary = write_dataset(
        tmp_path, subjects=[1, 3], cameras=[1, 2], actions=[8, 23], repetitions=[1], workers=1, progress=False
    )
    assert summary["clips"] == 8 and (tmp_path / "synth.json").is_file()
    reader = synth_reader(tmp_path)
    assert len(reader.list_clips()) == 8 and reader.classes == SYNTH_CLASSES
    for protocol in ("cs", "cv"):
        assert reader.split(protocol, "trainval") and reader.split(protocol, "test")
    ref = reader.find("S001C002P001R001A008")
    clip = reader.load(ref)
    rendered = render_clip(ref.name)
    assert clip.truth is not None and clip.truth.interval == rendered.truth.interval
    np.testing.assert_array_equal(clip.truth.parts, rendered.truth.parts)
    assert clip.frames.shape == rendered.frames.shape
    assert np.abs(clip.frames.astype(int) - rendered.frames.astype(int)).mean() < 8  # MJPG loss
    # The skeleton file carries the sensor faults its truth sidecar records.
    f = clip.truth.info["faults"]
    missing = np.isnan(clip.joints3d[:, 0]).all(axis=-1).all(axis=-1)  # (T,) frames with no body
    flicker = np.zeros(clip.num_frames, bool)
    for run in f["flicker"]:
        flicker[run["start"] : run["end"]] = True
    np.testing.assert_array_equal(missing, flicker)
    err = (clip.joints3d[:, 0] - rendered.joints3d[:, 0])[~missing]
    clean = np.ones(err.shape[:2], bool)  # frames and joints outside every lost-limb and swap run
    from core_models.synth.faults import LIMBS

    for run in f["lost"] + f["swaps"]:
        limbs = [run["limb"]] if "limb" in run else [k for k in LIMBS if k.endswith(run["limbs"][:-1])]
        for limb in limbs:
            clean[run["start"] : run["end"], list(LIMBS[limb])] = False
    assert 0.7 * f["jitter"] < np.nanstd(err[clean][:, :20]) < 1.3 * f["jitter"]
    for key in ("dominant", "span", "events", "version"):
        assert key in clip.truth.info
    assert clip.label == SYNTH_ACTIONS.index(8)
    # The probe runs end to end on the written files (one epoch: a smoke test, not a result).
    result = run_probe(tmp_path, protocol="cs", epochs=1)
    assert result["num_train"] == 4 and result["num_test"] == 4
    from core_models.synth.probe import KINDS

    assert set(result["models"]) == set(KINDS)
    assert 0.0 <= result["models"]["sequence_skeleton"]["accuracy"] <= 1.0
    assert set(result["priors"]) == {"3", "8", "16"}


def test_parallel_writer_fails_loudly_when_workers_cannot_start(tmp_path, monkeypatch):
    """Spawned workers re-import ``__main__``; if that fails (as under AppTest, which installs a
    page script there) the writer must raise, not respawn workers forever."""
    import sys
    import types
    from concurrent.futures.process import BrokenProcessPool

    bad = tmp_path / "bad_main.py"
    bad.write_text("raise RuntimeError('this script cannot be imported by a worker')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(bad)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    with pytest.raises(BrokenProcessPool):
        write_dataset(
            tmp_path / "out",
            subjects=[1],
            cameras=[1],
            repetitions=[1],
            actions=[1, 2],
            workers=2,
            progress=False,
        )


def test_the_readme_probe_table_is_the_committed_probe_output():
    """The README's probe figures are `probe --json`'s output for CS and CV, not typed by hand."""
    import json
    from pathlib import Path

    from core_models.synth.probe import markdown_table

    root = Path(__file__).resolve().parents[1]
    runs = {p: json.loads((root / "docs" / "probe" / f"{p}.json").read_text()) for p in ("cs", "cv")}
    assert all(r["protocol"] == p for p, r in runs.items())
    assert markdown_table(runs) in (root / "README.md").read_text()
