"""Readers for N-UCLA, Toyota Smarthome, UCF-101 and single videos, on tiny files in the real formats."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from core_models.data.errors import DataFormatError
from core_models.data.layouts import LCR13, NTU25, NUCLA20
from core_models.data.ntu import NTUBody, write_skeleton_file
from core_models.data.nucla import NUCLA_ACTIONS, NUCLAReader, read_skeletons_txt
from core_models.data.single import check_upload, load_single
from core_models.data.smarthome import CLASSES, CV_CLASSES, SmarthomeReader
from core_models.data.ucf101 import UCF101Reader
from core_models.data.video import write_video

H, W = 24, 32


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, H, W, 3), dtype=np.uint8)


# -- N-UCLA ------------------------------------------------------------------------------------


def _nucla_text(skeletons: list[np.ndarray], newline: str = "\n") -> str:
    """One per-frame skeletons.txt: per skeleton a header row, then 20 rows x,y,z,confidence."""
    rows = []
    for i, sk in enumerate(skeletons):
        rows.append(f"{i + 1},{len(skeletons)}")
        rows += [f"{x:.4f},{y:.4f},{z:.4f},2" for x, y, z in sk]
    return newline.join(rows) + (newline if rows else "")


def _nucla_skeleton(depth: float, seed: int = 0) -> np.ndarray:
    xyz = np.random.default_rng(seed).uniform(-0.5, 0.5, (20, 3))
    xyz[:, 2] = depth
    return xyz


def _nucla_sample(
    folder: Path, num_frames: int = 4, depth: float = 2.0, rgb: bool = False, newline: str = "\n"
) -> None:
    folder.mkdir(parents=True)
    for t in range(num_frames):
        key = f"frame_{t}_tc_{1000 + 33 * t}"
        text = _nucla_text([_nucla_skeleton(depth, t)], newline)
        (folder / f"{key}_skeletons.txt").write_text(text, newline="")
        if rgb:
            cv2.imwrite(str(folder / f"{key}_rgb.jpg"), np.full((H, W, 3), 10 * t, np.uint8))


@pytest.fixture
def nucla_root(tmp_path: Path) -> Path:
    base = tmp_path / "nucla" / "multiview_action"
    _nucla_sample(base / "view_1" / "a01_s01_e00", rgb=True)
    _nucla_sample(base / "view_1" / "a12_s10_e01")
    _nucla_sample(base / "view_2" / "a05_s02_e00", newline="\r\n")
    _nucla_sample(base / "view_3" / "a08_s03_e02")
    _nucla_sample(base / "view_3" / "a07_s03_e00")  # a07 does not exist in N-UCLA
    return tmp_path / "nucla"


def test_nucla_listing_labels_and_protocols(nucla_root: Path) -> None:
    reader = NUCLAReader(nucla_root)
    clips = reader.list_clips()
    assert [c.name for c in clips] == [
        "a01_s01_e00_v01",
        "a05_s02_e00_v02",
        "a08_s03_e02_v03",
        "a12_s10_e01_v01",
    ]
    assert len(reader.classes) == 10 and NUCLA_ACTIONS == (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
    labels = {c.name: (c.label, c.label_name) for c in clips}
    assert labels["a01_s01_e00_v01"] == (0, "pick up with one hand")
    assert labels["a08_s03_e02_v03"] == (6, "donning")
    assert labels["a12_s10_e01_v01"] == (9, "carry")
    assert reader.skipped["action ID outside the 10 N-UCLA actions"] == 1
    meta = reader.find("a12_s10_e01_v01").meta
    assert meta == {"action": 12, "subject": 10, "episode": 1, "view": 1}
    sides = {p: {c.name: reader.side(c, p) for c in clips} for p in reader.protocols}
    assert sides["cv"] == sides["cv3"] == {
        "a01_s01_e00_v01": "train", "a05_s02_e00_v02": "train",
        "a08_s03_e02_v03": "test", "a12_s10_e01_v01": "val",
    }  # fmt: skip
    assert sides["cv1"]["a01_s01_e00_v01"] == "test" and sides["cv1"]["a12_s10_e01_v01"] == "test"
    assert sides["cv1"]["a08_s03_e02_v03"] == "train"
    assert sides["cv2"]["a05_s02_e00_v02"] == "test"
    assert [c.name for c in reader.split("cv", "test")] == ["a08_s03_e02_v03"]


def test_nucla_views_directly_under_root(tmp_path: Path) -> None:
    _nucla_sample(tmp_path / "view_2" / "a03_s04_e00")
    (clip,) = NUCLAReader(tmp_path).list_clips()
    assert clip.name == "a03_s04_e00_v02" and clip.label == 2


def test_nucla_load_skeleton_and_rgb(nucla_root: Path) -> None:
    reader = NUCLAReader(nucla_root)
    clip = reader.load(reader.find("a01_s01_e00_v01"))
    assert clip.layout is NUCLA20 and clip.joints2d is None
    assert clip.joints3d.shape == (4, 1, 20, 3) and clip.frames.shape == (4, H, W, 3)
    np.testing.assert_allclose(clip.joints3d[2, 0], _nucla_skeleton(2.0, 2), atol=1e-4)
    # Frames are in frame order and belong to their skeleton: frame t is filled with 10 * t.
    assert [int(np.median(f)) for f in clip.frames] == pytest.approx([0, 10, 20, 30], abs=2)
    small = reader.load(reader.find("a01_s01_e00_v01"), max_side=16)
    assert small.frames.shape == (4, 12, 16, 3)
    no_rgb = reader.load(reader.find("a05_s02_e00_v02"))  # CRLF files
    assert no_rgb.frames is None and not np.isnan(no_rgb.joints3d).any()
    assert "no RGB images for this sample" in no_rgb.meta["warnings"]


def test_nucla_nearest_skeleton_kept_and_missing_frames_nan(tmp_path: Path) -> None:
    folder = tmp_path / "view_1" / "a02_s01_e00"
    _nucla_sample(folder, num_frames=3, rgb=True)
    near, far = _nucla_skeleton(1.5, 7), _nucla_skeleton(3.0, 8)
    (folder / "frame_1_tc_1033_skeletons.txt").write_text(_nucla_text([far, near]))
    (folder / "frame_2_tc_1066_skeletons.txt").write_text("")  # nobody tracked
    # An image whose skeleton file is absent, after frame 9 in numeric (not text) order.
    cv2.imwrite(str(folder / "frame_10_tc_1330_rgb.jpg"), np.zeros((H, W, 3), np.uint8))
    reader = NUCLAReader(tmp_path)
    clip = reader.load(reader.list_clips()[0])
    assert clip.joints3d.shape == (4, 1, 20, 3)
    np.testing.assert_allclose(clip.joints3d[1, 0], near, atol=1e-4)
    assert np.isnan(clip.joints3d[2:]).all() and not np.isnan(clip.joints3d[:2]).any()
    assert clip.meta["multi_skeleton_frames"] == 1
    warnings = " | ".join(clip.meta["warnings"])
    assert "1 frames without a skeleton file" in warnings and "1 frames with an empty skeleton" in warnings


def test_nucla_frames_without_image_dropped_or_refused(tmp_path: Path) -> None:
    folder = tmp_path / "view_1" / "a02_s01_e00"
    _nucla_sample(folder, num_frames=12, rgb=True)
    (folder / "frame_11_tc_1363_rgb.jpg").unlink()
    reader = NUCLAReader(tmp_path)
    clip = reader.load(reader.list_clips()[0])
    assert clip.frames.shape[0] == clip.joints3d.shape[0] == 11
    assert any("without an RGB image dropped" in w for w in clip.meta["warnings"])
    for t in range(4):
        (folder / f"frame_{t}_tc_{1000 + 33 * t}_rgb.jpg").unlink()
    with pytest.raises(DataFormatError, match="no RGB image"):
        reader.load(reader.list_clips()[0])
    assert reader.load(reader.list_clips()[0], with_video=False).joints3d.shape[0] == 12


def test_nucla_malformed_files(tmp_path: Path) -> None:
    path = tmp_path / "frame_0_tc_1_skeletons.txt"
    lines = _nucla_text([_nucla_skeleton(2.0)]).splitlines()
    lines[5] = "0.1,0.2,0.3"  # three values on line 6
    path.write_text("\n".join(lines))
    with pytest.raises(DataFormatError, match=r"frame_0_tc_1_skeletons\.txt: line 6: 3 values"):
        read_skeletons_txt(path)
    lines[5] = "0.1,abc,0.3,2"
    path.write_text("\r\n".join(lines))
    with pytest.raises(DataFormatError, match=r"skeletons\.txt: line 6: non-numeric"):
        read_skeletons_txt(path)
    path.write_text("\n".join(_nucla_text([_nucla_skeleton(2.0)]).splitlines()[:15]))  # truncated
    with pytest.raises(DataFormatError, match=r"skeletons\.txt: line 15: .*whole number of skeletons"):
        read_skeletons_txt(path)
    # A malformed frame inside a clip surfaces from load() with the file name.
    folder = tmp_path / "view_1" / "a02_s01_e00"
    _nucla_sample(folder, num_frames=2)
    (folder / "frame_1_tc_1033_skeletons.txt").write_text("x,1\n" + "1,2,3,4\n" * 20)
    reader = NUCLAReader(tmp_path)
    with pytest.raises(DataFormatError, match=r"frame_1_tc_1033_skeletons\.txt: line 1"):
        reader.load(reader.list_clips()[0])


# -- Toyota Smarthome ---------------------------------------------------------------------------


def _detection(seed: int, score: float) -> dict:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20, (13, 2))
    xyz = rng.uniform(-1, 1, (13, 3))
    return {
        "pose2d": xy.T.reshape(-1).tolist(),  # all x, then all y
        "pose3d": xyz.T.reshape(-1).tolist(),  # all x, then all y, then all z
        "cumscore": score,
    }


def _pose_json(path: Path, frames: list[list[dict]], njts: int = 13) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"njts": njts, "K": 20, "frames": frames}))
    return path


def _smarthome_clip(root: Path, name: str, num_frames: int = 6, video_frames: int | None = None,
                    pose_suffix: str = ".json", video: bool = True) -> None:  # fmt: skip
    frames = [[_detection(t, 1.0)] for t in range(num_frames)]
    _pose_json(root / "json" / f"{name}{pose_suffix}", frames)
    if video:
        write_video(root / "mp4" / f"{name}.mp4", _frames(video_frames or num_frames))


@pytest.fixture
def smarthome_root(tmp_path: Path) -> Path:
    root = tmp_path / "smarthome"
    _smarthome_clip(root, "Cook.Cut_p03_r00_v01_c01")  # cs train, not a CV class
    _smarthome_clip(root, "Walk_p19_r01_v02_c05", pose_suffix="_pose3d.json")  # val in all
    _smarthome_clip(root, "Drink.Fromcup_p02_r00_v00_c02")  # test in all
    _smarthome_clip(root, "Sitdown_p04_r00_v00_c03", video=False)  # cv1: outside, cv2: train
    _smarthome_clip(root, "Pour.Fromcup_p03_r00_v00_c01")  # dropped
    _smarthome_clip(root, "Cook_p03_r00_v00_c01")  # composite label of older code: dropped
    write_video(root / "mp4" / "Enter_p03_r00_v00_c01.mp4", _frames(3))  # no pose file
    return root


def test_smarthome_listing_labels_and_protocols(smarthome_root: Path) -> None:
    reader = SmarthomeReader(smarthome_root)
    clips = {c.name: c for c in reader.list_clips()}
    assert sorted(clips) == [
        "Cook.Cut_p03_r00_v01_c01", "Drink.Fromcup_p02_r00_v00_c02",
        "Sitdown_p04_r00_v00_c03", "Walk_p19_r01_v02_c05",
    ]  # fmt: skip
    assert reader.skipped == {
        "Pour.Fromcup (not one of the 31 classes)": 1,
        "activity outside the 31 classes": 1,
        "video without a pose file": 1,
    }
    assert reader.metric == "mean_class" and len(CLASSES) == 31 and len(CV_CLASSES) == 19
    walk = clips["Walk_p19_r01_v02_c05"]
    assert walk.meta == {"activity": "Walk", "subject": 19, "r": 1, "v": 2, "camera": 5}
    assert walk.label == 29 and walk.skeleton.name.endswith("_pose3d.json")
    assert clips["Sitdown_p04_r00_v00_c03"].video is None
    sides = {p: {n: reader.side(c, p) for n, c in clips.items()} for p in reader.protocols}
    assert sides["cs"] == {
        "Cook.Cut_p03_r00_v01_c01": "train", "Drink.Fromcup_p02_r00_v00_c02": "test",
        "Sitdown_p04_r00_v00_c03": "train", "Walk_p19_r01_v02_c05": "val",
    }  # fmt: skip
    assert sides["cv1"] == {
        "Cook.Cut_p03_r00_v01_c01": None, "Drink.Fromcup_p02_r00_v00_c02": "test",
        "Sitdown_p04_r00_v00_c03": None, "Walk_p19_r01_v02_c05": "val",
    }  # fmt: skip
    assert (
        sides["cv2"]["Sitdown_p04_r00_v00_c03"] == "train"
        and sides["cv2"]["Cook.Cut_p03_r00_v01_c01"] is None
    )
    # CV labels are compact in the 19-class list; CS labels index the 31 classes.
    assert reader.classes_for("cv1") == CV_CLASSES and reader.num_classes("cs") == 31
    assert reader.label_for(walk, "cv2") == 18 and reader.label_for(walk, "cs") == 29
    assert reader.label_for(clips["Drink.Fromcup_p02_r00_v00_c02"], "cv1") == 3
    with pytest.raises(ValueError, match="not one of the cv1 classes"):
        reader.label_for(clips["Cook.Cut_p03_r00_v01_c01"], "cv1")
    assert SmarthomeReader(smarthome_root, require_video=True).list_clips()[-1].name == "Walk_p19_r01_v02_c05"


def test_smarthome_load_best_detection_and_empty_frames(tmp_path: Path) -> None:
    weak, strong = _detection(1, 0.5), _detection(2, 3.0)
    frames = [[_detection(0, 1.0)], [weak, strong], [], [_detection(3, 1.0)]]
    _pose_json(tmp_path / "json" / "Readbook_p10_r00_v00_c02.json", frames)
    write_video(tmp_path / "mp4" / "Readbook_p10_r00_v00_c02.mp4", _frames(4))
    reader = SmarthomeReader(tmp_path)
    clip = reader.load(reader.list_clips()[0])
    assert clip.layout is LCR13 and clip.frames.shape == (4, H, W, 3)
    assert clip.joints3d.shape == (4, 1, 13, 3) and clip.joints2d.shape == (4, 1, 13, 2)
    expected = np.array(strong["pose2d"]).reshape(2, 13).T
    np.testing.assert_allclose(clip.joints2d[1, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(clip.joints3d[1, 0], np.array(strong["pose3d"]).reshape(3, 13).T, rtol=1e-5)
    assert np.isnan(clip.joints3d[2]).all() and np.isnan(clip.joints2d[2]).all()
    assert clip.meta["multi_detection_frames"] == 1 and clip.meta["empty_frames"] == 1
    assert clip.meta["frame_size"] == (H, W) and clip.meta["warnings"] == [
        "1 frames without a detected person are NaN"
    ]
    half = reader.load(reader.list_clips()[0], max_side=16)
    np.testing.assert_allclose(half.joints2d[1, 0], expected / 2, rtol=1e-5)


def test_smarthome_video_shorter_than_pose(tmp_path: Path) -> None:
    _smarthome_clip(tmp_path, "Walk_p03_r00_v00_c01", num_frames=10, video_frames=9)
    _smarthome_clip(tmp_path, "Enter_p03_r00_v00_c01", num_frames=10, video_frames=4)
    reader = SmarthomeReader(tmp_path)
    clip = reader.load(reader.find("Walk_p03_r00_v00_c01"))
    assert clip.frames.shape[0] == clip.joints3d.shape[0] == clip.joints2d.shape[0] == 9
    assert any("trimmed to 9" in w for w in clip.meta["warnings"])
    with pytest.raises(DataFormatError, match="Enter_p03_r00_v00_c01.mp4.*4 frames.*10"):
        reader.load(reader.find("Enter_p03_r00_v00_c01"))
    assert reader.load(reader.find("Enter_p03_r00_v00_c01"), with_video=False).joints3d.shape[0] == 10


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"njts": 13, "frames": [[', r"bad\.json: line 1, column \d+: not valid JSON"),
        ({"njts": 17, "K": 1, "frames": []}, r"bad\.json: key 'njts': njts is 17"),
        ({"njts": 13, "K": 1}, r"bad\.json: key 'frames': key missing"),
        ("frames_bad_pose2d", r"bad\.json: frame 2, detection 0, key 'pose2d': pose2d has 25 values"),
        ("frames_bad_pose3d", r"bad\.json: frame 1, detection 1, key 'pose3d': pose3d has 13 values"),
        ("frames_bad_score", r"bad\.json: frame 0, detection 0, key 'cumscore'"),
    ],
)
def test_smarthome_malformed_json(tmp_path: Path, content, match: str) -> None:
    from core_models.data.smarthome import read_pose_json

    path = tmp_path / "bad.json"
    frames = [[_detection(0, 1.0)], [_detection(1, 1.0), _detection(2, 1.0)], [_detection(3, 1.0)]]
    if content == "frames_bad_pose2d":
        frames[2][0]["pose2d"] = frames[2][0]["pose2d"][:-1]
    elif content == "frames_bad_pose3d":
        frames[1][1]["pose3d"] = frames[1][1]["pose3d"][:13]
    elif content == "frames_bad_score":
        frames[0][0]["cumscore"] = "high"
    if isinstance(content, str) and content.startswith("{"):
        path.write_text(content)
    elif isinstance(content, dict):
        path.write_text(json.dumps(content))
    else:
        _pose_json(path, frames)
    with pytest.raises(DataFormatError, match=match):
        read_pose_json(path)


# -- UCF-101 ------------------------------------------------------------------------------------

UCF_CLASSES = ("ApplyEyeMakeup", "Basketball", "YoYo")


def _ucf_root(tmp_path: Path, newline: str = "\r\n") -> Path:
    """Three classes, groups 1-2 test and 8-12 train in split 1; split 2 tests groups 8-9."""
    root = tmp_path / "ucf"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    write = lambda name, lines: (lists / name).write_text(newline.join(lines) + newline, newline="")  # noqa: E731
    write("classInd.txt", [f"{i + 1} {c}" for i, c in enumerate(UCF_CLASSES)])
    train1, test1, train2, test2 = [], [], [], []
    for i, c in enumerate(UCF_CLASSES):
        for g in (1, 2, 8, 9, 10, 11, 12):
            path = f"{c}/v_{c}_g{g:02d}_c01.avi"
            (train1 if g >= 8 else test1).append(path + (f" {i + 1}" if g >= 8 else ""))
            (test2 if g in (8, 9) else train2).append(path + ("" if g in (8, 9) else f" {i + 1}"))
            if not (c == "YoYo" and g == 12):  # listed but not on disk
                write_video(root / "UCF-101" / c / f"v_{c}_g{g:02d}_c01.avi", _frames(3, g))
    write("trainlist01.txt", train1)
    write("testlist01.txt", test1)
    write("trainlist02.txt", train2)
    write("testlist02.txt", test2)
    return root


def test_ucf101_listing_labels_and_protocols(tmp_path: Path) -> None:
    reader = UCF101Reader(_ucf_root(tmp_path))
    assert reader.classes == UCF_CLASSES and reader.protocols == ("split1", "split2")
    clips = reader.list_clips()
    assert len(clips) == 20 and reader.skipped == {"listed but missing on disk": 1}
    test_clip = reader.find("v_YoYo_g01_c01")  # from testlist01: label from the folder
    assert test_clip.label == 2 and test_clip.label_name == "YoYo"
    assert test_clip.meta == {"group": 1, "clip": 1, "class_folder": "YoYo"}
    by_group = {}
    for c in clips:
        by_group.setdefault(c.meta["group"], set()).add((reader.side(c, "split1"), reader.side(c, "split2")))
    assert by_group == {
        1: {("test", "val")}, 2: {("test", "val")},
        8: {("val", "test")}, 9: {("val", "test")}, 10: {("val", "val")},
        11: {("train", "train")}, 12: {("train", "train")},
    }  # fmt: skip
    # Validation is the 3 lowest training groups: 8, 9, 10 in split 1; 1, 2, 10 in split 2.
    assert len(reader.split("split1", "trainval")) == 14
    with pytest.raises(ValueError, match="no protocol"):
        reader.split("split3")


def test_ucf101_load(tmp_path: Path) -> None:
    reader = UCF101Reader(_ucf_root(tmp_path, newline="\n"))
    clip = reader.load(reader.find("v_Basketball_g08_c01"))
    assert clip.frames.shape == (3, H, W, 3) and clip.joints3d is None and clip.joints2d is None
    assert clip.label == 1 and clip.meta["group"] == 8 and clip.meta["frame_size"] == (H, W)
    assert reader.load(reader.find("v_Basketball_g08_c01"), with_video=False).frames is None


@pytest.mark.parametrize(
    ("file", "line_index", "text", "match"),
    [
        ("trainlist01.txt", 2, "Basketball/v_Basketball_g08_c01.avi", r"trainlist01\.txt: line 3: 1 fields"),
        ("trainlist01.txt", 0, "Basketball/v_Basketball_g08_c01.avi 3", r"trainlist01\.txt: line 1: label 3"),
        ("testlist01.txt", 1, "Cricket/v_Cricket_g01_c01.avi", r"testlist01\.txt: line 2: class 'Cricket'"),
        ("testlist01.txt", 0, "YoYo/not_a_video.mp4", r"testlist01\.txt: line 1: path"),
        ("classInd.txt", 1, "5 Basketball", r"classInd\.txt: line 2: class index 5"),
    ],
)
def test_ucf101_malformed_lists(tmp_path: Path, file: str, line_index: int, text: str, match: str) -> None:
    root = _ucf_root(tmp_path)
    path = root / "ucfTrainTestlist" / file
    lines = path.read_bytes().decode().split("\r\n")
    lines[line_index] = text
    path.write_bytes("\r\n".join(lines).encode())
    with pytest.raises(DataFormatError, match=match):
        UCF101Reader(root).list_clips()


# -- single videos ------------------------------------------------------------------------------


def _ntu_bodies(num_frames: int) -> list[list[NTUBody]]:
    rng = np.random.default_rng(0)
    frames = []
    for t in range(num_frames):
        joints = np.zeros((25, 12))
        joints[:, :3] = rng.uniform(-1, 1, (25, 3))
        joints[:, 1] *= 3  # upright
        joints[:, 5:7] = rng.uniform(0, 20, (25, 2))
        frames.append([NTUBody(72057594037931101, np.zeros(9), joints)] if t != 1 else [])
    return frames


def _write_csv(path: Path, arr: np.ndarray, newline: str = "\n") -> Path:
    """Long format: one row per (frame, person, joint)."""
    C = arr.shape[-1]
    rows = ["frame,person,joint,x,y" + (",z" if C == 3 else "")]
    for t, m, j in np.ndindex(arr.shape[:3]):
        rows.append(f"{t},{m},{j}," + ",".join(f"{v:.5f}" for v in arr[t, m, j]))
    path.write_text(newline.join(rows) + newline, newline="")
    return path


def test_single_video_only_and_ntu_skeleton(tmp_path: Path) -> None:
    video = write_video(tmp_path / "mine.webm", _frames(5))
    clip = load_single(video)
    assert clip.frames.shape == (5, H, W, 3) and clip.joints3d is None and clip.joints2d is None
    assert (clip.label, clip.label_name, clip.name, clip.layout) == (-1, "unknown", "mine", NTU25)
    skel = write_skeleton_file(tmp_path / "mine.skeleton", _ntu_bodies(5))
    clip = load_single(video, skel)
    assert (
        clip.layout is NTU25 and clip.joints3d.shape == (5, 2, 25, 3) and clip.joints2d.shape == (5, 2, 25, 2)
    )
    assert np.isnan(clip.joints3d[1]).all() and not np.isnan(clip.joints3d[0, 0]).any()
    with pytest.raises(DataFormatError, match="20 for layout nucla20"):
        load_single(video, skel, layout=NUCLA20)


@pytest.mark.parametrize("ext", [".mp4", ".avi", ".mov"])
def test_single_npy_layouts(tmp_path: Path, ext: str) -> None:
    video = write_video(tmp_path / f"clip{ext}", _frames(6))
    arr3 = np.random.default_rng(0).uniform(-1, 1, (6, 20, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", arr3)
    clip = load_single(video, tmp_path / "a.npy")
    assert clip.layout is NUCLA20 and clip.joints2d is None
    np.testing.assert_allclose(clip.joints3d[:, 0], arr3)
    arr2 = np.random.default_rng(1).uniform(0, 30, (6, 2, 13, 2))
    np.save(tmp_path / "b.npy", arr2)
    clip = load_single(video, tmp_path / "b.npy", max_side=16)
    assert clip.layout is LCR13 and clip.joints3d is None and clip.joints2d.shape == (6, 2, 13, 2)
    np.testing.assert_allclose(clip.joints2d, arr2 / 2, rtol=1e-5)
    assert clip.frames.shape == (6, 12, 16, 3)


def test_single_csv(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", _frames(4))
    arr3 = np.random.default_rng(0).uniform(-1, 1, (4, 1, 25, 3))
    clip = load_single(video, _write_csv(tmp_path / "a.csv", arr3, newline="\r\n"))
    assert clip.layout is NTU25 and clip.joints2d is None
    np.testing.assert_allclose(clip.joints3d, arr3, atol=1e-5)
    arr2 = np.random.default_rng(1).uniform(0, 30, (4, 2, 13, 2))
    path = _write_csv(tmp_path / "b.csv", arr2)
    # Drop the rows of person 1 in frame 3: missing there, NaN.
    kept = [ln for ln in path.read_text().splitlines() if not ln.startswith("3,1,")]
    path.write_text("\n".join(kept) + "\n")
    clip = load_single(video, path)
    assert clip.layout is LCR13 and clip.joints2d.shape == (4, 2, 13, 2)
    assert np.isnan(clip.joints2d[3, 1]).all() and not np.isnan(clip.joints2d[:3]).any()
    lines = path.read_text().splitlines()
    lines[4] = "0,0,3,1.0,oops"
    path.write_text("\n".join(lines))
    with pytest.raises(DataFormatError, match=r"b\.csv: line 5: non-numeric"):
        load_single(video, path)
    path.write_text("frame,person,joint,u,v\n0,0,0,1,2\n")
    with pytest.raises(DataFormatError, match=r"b\.csv: line 1: header"):
        load_single(video, path)


def test_single_wrong_joint_count(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", _frames(4))
    np.save(tmp_path / "a.npy", np.zeros((4, 17, 2)))
    with pytest.raises(
        DataFormatError, match=r"a\.npy: 17 joints per person.*25 \(ntu25\), 20 \(nucla20\), 13"
    ):
        load_single(video, tmp_path / "a.npy")
    with pytest.raises(DataFormatError, match=r"b\.csv: 18 joints per person"):
        load_single(video, _write_csv(tmp_path / "b.csv", np.zeros((4, 1, 18, 3))))
    np.save(tmp_path / "c.npy", np.zeros((4, 13, 4)))
    with pytest.raises(DataFormatError, match=r"c\.npy: array of shape \(4, 1, 13, 4\)"):
        load_single(video, tmp_path / "c.npy")


def _touch(path: str) -> None:
    Path(path).touch()


class _Canary:
    """Unpickling this object creates a file: proof that a loader unpickled it."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return _touch, (self.marker,)


def test_single_npy_object_array_refused(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", _frames(4))
    marker = tmp_path / "unpickled"
    arr = np.empty((4, 25, 3), dtype=object)
    arr[0, 0, 0] = _Canary(marker)
    np.save(tmp_path / "evil.npy", arr, allow_pickle=True)
    with pytest.raises(DataFormatError, match=r"evil\.npy: cannot read as a plain numeric \.npy"):
        load_single(video, tmp_path / "evil.npy")
    assert not marker.exists()


def test_single_length_mismatch(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", _frames(9))
    np.save(tmp_path / "a.npy", np.zeros((10, 25, 3)))
    clip = load_single(video, tmp_path / "a.npy")
    assert clip.frames.shape[0] == clip.joints3d.shape[0] == 9
    assert clip.meta["warnings"] == ["video has 9 frames and skeleton 10; both trimmed to 9"]
    np.save(tmp_path / "b.npy", np.zeros((30, 25, 3)))
    with pytest.raises(DataFormatError, match=r"b\.npy: the video has 9 frames but the skeleton has 30"):
        load_single(video, tmp_path / "b.npy")


def test_check_upload() -> None:
    assert check_upload("My Clip.MP4", 1000, "video") == ".mp4"
    assert check_upload("pose.npy", 1000, "skeleton") == ".npy"
    with pytest.raises(DataFormatError, match=r"clip\.exe.*expected \.mp4, \.avi, \.webm, \.mov"):
        check_upload("clip.exe", 1000, "video")
    with pytest.raises(DataFormatError, match="extension '.pkl'"):
        check_upload("pose.pkl", 1000, "skeleton")
    with pytest.raises(DataFormatError, match="too large.*at most 200 MB"):
        check_upload("big.avi", 201 * 1024**2, "video")
    with pytest.raises(DataFormatError, match="too large.*at most 20 MB"):
        check_upload("big.csv", 21 * 1024**2, "skeleton")
    with pytest.raises(DataFormatError, match="too large"):
        check_upload("small.csv", 2000, "skeleton", max_bytes=1000)
    with pytest.raises(DataFormatError, match="not a bare file name"):
        check_upload(f"..{os.sep}x.mp4", 10, "video")
    with pytest.raises(DataFormatError, match="empty"):
        check_upload("x.mp4", 0, "video")
    with pytest.raises(ValueError, match="kind"):
        check_upload("x.mp4", 10, "audio")
