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
from core_models.synth.generate import SENSOR_NOISE, perform

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
    assert 48 <= T <= 72 and T % 2 == 1
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
    bg = render_clip(NAME).frames  # identical clip; compare against the empty room below
    from core_models.synth.render import background

    room = background(clip.meta["setup"], clip.meta["camera"], (120, 160)).astype(int)
    t = clip.num_frames // 2
    u, v = clip.joints2d[t, 0, 1].round().astype(int)
    assert np.abs(bg[t, v, u].astype(int) - room[v, u]).sum() > 30


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
    if action in (1, 2, 28, 12, 23, 6, 5):
        assert f"{dom}_hand" in tr.active_parts()
    if action in (8, 9):
        assert {"full_body", "left_leg", "right_leg"} <= set(tr.active_parts())


def _ctx(action, subject=3, seed=0):
    rng = np.random.default_rng([seed, subject, action])
    subj = body.make_subject(subject, seed)
    return motion.Ctx(motion.sample_length(rng), subj, body.dims_of(subj), False, rng)


@pytest.mark.parametrize("forward,backward", [(8, 9), (16, 17), (6, 5)])
def test_opposite_pair_is_exact_time_reversal(forward, backward):
    # Same random stream -> the reversed class is the forward class played backwards.
    fwd = motion.perform(forward, _ctx(forward))
    rev = motion.perform(backward, _ctx(forward))
    np.testing.assert_array_equal(rev.joints, fwd.joints[::-1])
    np.testing.assert_array_equal(rev.parts, fwd.parts[::-1])
    for o_f, o_r in zip(fwd.objects, rev.objects, strict=True):
        np.testing.assert_array_equal(o_r.a, o_f.a[::-1])
    T = len(fwd.joints)
    assert rev.interval == (T - fwd.interval[1], T - fwd.interval[0])
    # The middle frame (odd length) is the same frame in both.
    np.testing.assert_array_equal(rev.joints[T // 2], fwd.joints[T // 2])


def test_dataset_pairs_are_reversed_clips():
    # In the dataset a reversed class is its partner's clip (same subject, setup, camera) backwards.
    for a, b in OPPOSITE_PAIRS:
        ca, cb = render_clip(f"S003C001P002R001A{a:03d}"), render_clip(f"S003C001P002R001A{b:03d}")
        np.testing.assert_array_equal(cb.frames, ca.frames[::-1])
        np.testing.assert_array_equal(cb.joints3d, ca.joints3d[::-1])
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
    err = np.abs(clip.joints3d[:, 0] - rendered.joints3d[:, 0])
    assert err.max() < 6 * SENSOR_NOISE and 0.3 * SENSOR_NOISE < err.std() < 2 * SENSOR_NOISE
    assert np.abs(clip.joints2d[:, 0] - rendered.joints2d[:, 0]).max() < 3.0
    assert clip.label == SYNTH_ACTIONS.index(8)
    # The probe runs end to end on the written files (one epoch: a smoke test, not a result).
    result = run_probe(tmp_path, protocol="cs", epochs=1)
    assert result["num_train"] == 4 and result["num_test"] == 4
    assert set(result["models"]) == {"frame_skeleton", "frame_rgb", "frame_rgb_crop", "sequence_skeleton"}
    assert 0.0 <= result["models"]["sequence_skeleton"]["accuracy"] <= 1.0


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
