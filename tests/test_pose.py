"""Offline pose estimation: the BlazePose -> NTU mapping on known landmark sets, and BlazePose itself
on real photographs and on rendered clips whose true joints are known.

Real photographs: ``skimage.data.astronaut()`` (Eileen Collins, NASA) and ``skimage.data.camera()``
(the cameraman), both shipped inside the scikit-image wheel (no download).
"""

from __future__ import annotations

import socket

import numpy as np
import pytest

from core_models.cli import main
from core_models.data.layouts import NTU25
from core_models.data.single import load_single
from core_models.data.skeleton import normalize_skeleton
from core_models.data.video import write_video
from core_models.ood.inputs import photo
from core_models.pose.mapping import (
    BLAZEPOSE_LANDMARKS,
    INTERPOLATED,
    NTU_FROM_BLAZEPOSE,
    Landmarks,
    main_person,
    map_confidence,
    map_landmarks,
    smooth,
    to_ntu,
)
from core_models.synth import render_clip

J = {name: i for i, name in enumerate(NTU25.joint_names)}
B = {name: i for i, name in enumerate(BLAZEPOSE_LANDMARKS)}


def standing(T: int = 10, x0: float = 0.5, height: float = 0.6, rng=None) -> Landmarks:
    """A plausible front-facing person as BlazePose landmarks: image (T, 33, 2), world (T, 33, 3)."""
    # world, metres, y down, hips at the origin; the person's left is the image's right (facing us)
    pts = {
        "nose": (0, -0.62), "left_ear": (0.07, -0.6), "right_ear": (-0.07, -0.6),
        "left_shoulder": (0.18, -0.45), "right_shoulder": (-0.18, -0.45),
        "left_elbow": (0.22, -0.2), "right_elbow": (-0.22, -0.2),
        "left_wrist": (0.24, 0.02), "right_wrist": (-0.24, 0.02),
        "left_index": (0.25, 0.1), "right_index": (-0.25, 0.1), "left_pinky": (0.23, 0.09),
        "right_pinky": (-0.23, 0.09), "left_thumb": (0.22, 0.07), "right_thumb": (-0.22, 0.07),
        "left_hip": (0.1, 0.0), "right_hip": (-0.1, 0.0),
        "left_knee": (0.1, 0.42), "right_knee": (-0.1, 0.42),
        "left_ankle": (0.1, 0.82), "right_ankle": (-0.1, 0.82), "left_heel": (0.1, 0.86),
        "right_heel": (-0.1, 0.86), "left_foot_index": (0.1, 0.9), "right_foot_index": (-0.1, 0.9),
    }  # fmt: skip
    world = np.zeros((33, 3))
    for name, i in B.items():
        world[i, :2] = pts.get(name, pts["nose"])
    world = np.repeat(world[None], T, axis=0)
    if rng is not None:
        world = world + rng.normal(0, 0.01, world.shape)
    scale = height / 1.52  # image units per metre (1.52 m from the ears to the toes)
    image = world[..., :2] * scale + np.array([x0, 0.5])
    return Landmarks(image, world, np.ones((T, 33)), frame_size=(480, 640), fps=30.0)


def test_the_mapping_is_affine_and_direct_where_it_says():
    np.testing.assert_allclose(NTU_FROM_BLAZEPOSE.sum(axis=1), 1.0)
    assert set(INTERPOLATED) == {"spine_base", "spine_mid", "spine_shoulder", "neck", "head", "hand_left",
                                 "hand_right", "hand_tip_left", "hand_tip_right"}  # fmt: skip
    pts = np.random.default_rng(0).normal(size=(33, 3))
    ntu = map_landmarks(pts)
    for ntu_name, bp in (("shoulder_left", "left_shoulder"), ("wrist_right", "right_wrist"),
                         ("foot_left", "left_foot_index"), ("thumb_right", "right_thumb")):  # fmt: skip
        np.testing.assert_allclose(ntu[J[ntu_name]], pts[B[bp]])  # same side: the person's own
    np.testing.assert_allclose(ntu[J["spine_base"]], (pts[B["left_hip"]] + pts[B["right_hip"]]) / 2)
    np.testing.assert_allclose(ntu[J["head"]], (pts[B["left_ear"]] + pts[B["right_ear"]]) / 2)
    # spine_mid on the segment spine_base -> spine_shoulder, at the synthetic bodies' proportion
    base, top = ntu[J["spine_base"]], ntu[J["spine_shoulder"]]
    np.testing.assert_allclose(ntu[J["spine_mid"]], base + 0.125 / 0.28 * (top - base))
    # moving every landmark moves every joint the same way (translation equivariance)
    np.testing.assert_allclose(map_landmarks(pts + [1.0, -2.0, 0.5]), ntu + [1.0, -2.0, 0.5], atol=1e-12)


def test_confidence_threshold_and_camera_space():
    lm = standing()
    lm.visibility[:, B["left_wrist"]] = 0.2  # a wrist the model barely sees
    sk = to_ntu(lm, smooth_sigma=0)
    conf = sk.confidence[0, 0]
    assert conf[J["wrist_left"]] == pytest.approx(0.2) and np.isnan(sk.joints3d[:, 0, J["wrist_left"]]).all()
    assert conf[J["hand_tip_left"]] == pytest.approx((1 + 1 + 0.2) / 3)  # the mean of its sources
    assert np.isfinite(sk.joints3d[:, 0, J["wrist_right"]]).all()
    j = sk.joints3d[0, 0]
    assert j[J["head"], 1] > j[J["spine_shoulder"], 1] > j[J["spine_base"], 1] > j[J["ankle_left"], 1]  # y up
    assert j[J["shoulder_left"], 0] > j[J["shoulder_right"], 0]  # facing the camera: left on the right
    assert 1.0 < j[J["spine_base"], 2] < 10.0  # in front of the camera
    # 2D joints in pixels of the frame
    assert sk.joints2d[0, 0, J["spine_base"]] == pytest.approx([0.5 * 640, 0.5 * 480], abs=1e-3)


def test_moving_across_the_image_moves_the_skeleton():
    lm = standing(T=20)
    lm.image[:, :, 1] += np.linspace(0, 0.2, 20)[:, None]  # sitting down: 20% of the image lower
    sk = to_ntu(lm, smooth_sigma=0)
    drop = sk.joints3d[0, 0, J["spine_base"], 1] - sk.joints3d[-1, 0, J["spine_base"], 1]
    metres_per_image = 1.52 / 0.6  # the person is 0.6 of the image tall and 1.52 m
    assert drop == pytest.approx(0.2 * metres_per_image * 480 / 480, rel=0.05)


def test_smoothing_keeps_constants_removes_jitter_and_respects_gaps_and_breaks():
    x = np.full((30, 2), 3.0)
    np.testing.assert_allclose(smooth(x, 1.0), x)
    noisy = np.random.default_rng(0).normal(size=(200, 1))
    assert smooth(noisy, 1.0).std() < 0.7 * noisy.std()
    gappy = np.arange(10.0)[:, None].copy()
    gappy[4] = np.nan
    out = smooth(gappy, 1.0)
    assert np.isnan(out[4, 0]) and np.isfinite(np.delete(out, 4, axis=0)).all()
    step = np.r_[np.zeros(10), np.ones(10)][:, None]
    breaks = np.zeros(20, bool)
    breaks[10] = True
    np.testing.assert_allclose(smooth(step, 2.0, breaks), step)  # nothing leaks across a change of person


def test_the_main_person_is_kept_when_the_estimate_jumps_to_someone_else():
    lm = standing(T=60, x0=0.3, rng=np.random.default_rng(0))
    other = standing(T=60, x0=0.8, height=0.4)
    lm.image[20:30], lm.world[20:30] = other.image[20:30], other.world[20:30]  # someone else for 10 frames
    lm.image[50:52] = np.nan  # and nobody for two
    keep, pieces = main_person(lm)
    assert not keep[20:30].any() and not keep[50:52].any() and keep[:20].all() and keep[30:50].all()
    assert len(pieces) == 3
    sk = to_ntu(lm)
    assert np.isnan(sk.joints3d[20:30]).all() and np.isfinite(sk.joints3d[:20, 0, J["spine_mid"]]).all()
    text = " ".join(sk.warnings)
    assert (
        "frames 20-29 followed someone else" in text and "no person found in 2 of 60 frames (50-51)" in text
    )


def test_confidence_of_a_joint_is_the_mean_of_its_landmarks():
    vis = np.zeros(33)
    vis[[B["left_hip"], B["right_hip"]]] = [1.0, 0.5]
    conf = map_confidence(vis)
    assert conf[J["spine_base"]] == pytest.approx(0.75) and conf[J["hip_right"]] == pytest.approx(0.5)


# -- BlazePose itself --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_network():
    """Any socket connection fails while BlazePose runs: the models must come from the wheel."""
    real = socket.socket.connect

    def refuse(self, *args, **kwargs):
        raise OSError("network access during pose estimation")

    socket.socket.connect = refuse
    yield
    socket.socket.connect = real


@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_blazepose_finds_the_person_in_real_photos_offline(name, no_network):
    from core_models.pose.estimate import estimate_frames

    image = photo(name)  # skimage.data, shipped in the scikit-image wheel
    lm = estimate_frames([image], frame_size=image.shape[:2], video=False)
    assert lm.detected.all()
    sk = to_ntu(lm, min_confidence=0.0)
    j2, j3 = sk.joints2d[0, 0], sk.joints3d[0, 0]
    assert j2[J["head"], 1] < j2[J["spine_shoulder"], 1] < j2[J["spine_base"], 1]  # image y down
    assert j3[J["head"], 1] > j3[J["spine_shoulder"], 1] > j3[J["spine_base"], 1]  # camera y up
    assert sk.confidence[0, 0, [J["head"], J["shoulder_left"], J["shoulder_right"]]].min() > 0.9
    shoulders = np.linalg.norm(j3[J["shoulder_left"]] - j3[J["shoulder_right"]])
    assert 0.2 < shoulders < 0.5  # metres: a human's shoulder width


@pytest.fixture(scope="module")
def sit_down(tmp_path_factory):
    """A rendered sit-down clip (its true joints known) written as a video, and its estimate."""
    from core_models.pose.estimate import estimate_clip_pose

    clip = render_clip("S001C002P001R001A008", size=(240, 320))  # camera 2: the subject faces it
    video = write_video(tmp_path_factory.mktemp("pose") / "sit.avi", clip.frames, 30)
    skeleton, raw, stats = estimate_clip_pose(video)
    return clip, video, skeleton, raw, stats


def test_estimates_on_rendered_clips_match_their_true_joints(sit_down):
    clip, _, sk, _, stats = sit_down
    # a person found in nearly every frame (v2's sit-down clips turn and fidget around the action)
    assert sk.num_frames == clip.num_frames and stats["detected"] >= 0.9 * clip.num_frames
    height = np.nanmax(clip.joints2d[:, 0, :, 1]) - np.nanmin(clip.joints2d[:, 0, :, 1])
    err = np.linalg.norm(sk.joints2d[:, 0] - clip.joints2d[:, 0], axis=-1) / height  # (T, 25)
    torso = [J[n] for n in ("spine_mid", "neck", "head", "shoulder_left", "shoulder_right", "spine_shoulder")]
    assert np.nanmedian(err[:, torso]) < 0.03  # direct and interpolated joints land on the true ones
    assert np.nanmedian(err) < 0.06
    # in camera space, normalised as the models read it: sitting down lowers the hips as in the truth
    est = normalize_skeleton(sk.joints3d, NTU25)[:, 0, J["spine_base"], 1]
    true = normalize_skeleton(clip.joints3d[:, :1], NTU25)[:, 0, J["spine_base"], 1]
    assert est[-1] - est[0] == pytest.approx(true[-1] - true[0], abs=0.08) and true[-1] - true[0] < -0.2


def test_the_pose_command_writes_a_skeleton_every_reader_reads(sit_down, tmp_path, capsys):
    clip, video, sk, _, _ = sit_down
    out = tmp_path / "sit.skeleton"
    assert main(["pose", str(video), "--out", str(out)]) == 0
    assert "a person in" in capsys.readouterr().out
    read = load_single(video, out)
    missing = clip.num_frames - int(np.isfinite(sk.joints3d[:, 0]).any(axis=(-1, -2)).sum())
    expected = [f"{missing} of {clip.num_frames} frames have no joint (NaN)"] if missing else []
    assert read.joints3d.shape == (clip.num_frames, 2, 25, 3) and read.meta["warnings"] == expected
    both = np.isfinite(sk.joints3d[:, 0]).all(axis=-1)
    np.testing.assert_allclose(read.joints3d[:, 0][both], sk.joints3d[:, 0][both], atol=1e-4)
    np.testing.assert_allclose(read.joints2d[:, 0][both], sk.joints2d[:, 0][both], atol=1e-3)


def test_the_pose_command_on_a_video_without_anybody(tmp_path, capsys):
    frames = np.random.default_rng(0).integers(0, 255, (8, 120, 160, 3), dtype=np.uint8)
    video = write_video(tmp_path / "noise.avi", frames, 30)
    assert main(["pose", str(video), "--out", str(tmp_path / "n.skeleton")]) == 1
    assert "no person was found" in capsys.readouterr().err
    assert not (tmp_path / "n.skeleton").exists()
