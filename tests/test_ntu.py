"""The NTU RGB+D reader against files written in the real .skeleton / _rgb.avi formats."""

from __future__ import annotations

import numpy as np
import pytest
from ntu_files import body, one_person, write_sample

from core_models.data.errors import DataFormatError
from core_models.data.ntu import (
    CLASSES_60,
    CLASSES_120,
    MISSING_60,
    MISSING_120,
    NTUReader,
    format_name,
    parse_name,
    read_skeleton_file,
    select_actors,
    write_skeleton_file,
)


def test_published_lists_have_their_published_sizes():
    assert len(CLASSES_60) == 60 and len(CLASSES_120) == 120
    assert CLASSES_60[0] == "drink water" and CLASSES_120[119].startswith("finger-guessing")
    assert len(MISSING_60) == 302 and len(MISSING_120) == 535
    assert MISSING_60 < MISSING_120


def test_names_round_trip():
    meta = parse_name("S001C002P003R002A013")
    assert meta == {"setup": 1, "camera": 2, "subject": 3, "repetition": 2, "action": 13}
    assert format_name(**meta) == "S001C002P003R002A013"
    with pytest.raises(DataFormatError, match="SsssCcccPpppRrrrAaaa"):
        parse_name("clip_0001")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_skeleton_round_trip_with_empty_frames(tmp_path, newline):
    frames = one_person(4) + [[]] + one_person(2)
    p = write_skeleton_file(tmp_path / "S001C001P001R001A001.skeleton", frames, newline=newline)
    if newline == "\r\n":
        assert b"\r\n" in p.read_bytes()
    back = read_skeleton_file(p)
    assert [len(b) for b in back] == [1, 1, 1, 1, 0, 1, 1]
    np.testing.assert_allclose(back[0][0].joints[:, :11], frames[0][0].joints[:, :11], rtol=1e-6, atol=1e-6)
    assert back[0][0].body_id == 72057594037931101
    j3, j2, info = select_actors(back)
    assert j3.shape == (7, 2, 25, 3) and j2.shape == (7, 2, 25, 2)
    assert np.isnan(j3[4]).all() and np.isnan(j3[:, 1]).all()  # empty frame, absent 2nd person
    assert np.isfinite(j3[0, 0]).all()
    np.testing.assert_allclose(j2[0, 0], frames[0][0].joints[:, 5:7], rtol=1e-6)
    assert info["num_bodies"] == 1


def test_main_actors_by_motion_and_noise_skeletons_last():
    frames = []
    for t in range(10):
        frames.append(
            [
                body(1, t, motion=0.01),  # nearly still person
                body(2, t, offset=(1, 0, 3), motion=0.3),  # moving person: main actor
                body(3, t, offset=(-1, 0, 3), motion=0.9, upright=False),  # "table": flat, noisy
            ]
        )
    _, _, info = select_actors(frames)
    assert info["kept_ids"] == [2, 1]
    assert info["num_bodies"] == 3 and info["max_bodies_per_frame"] == 3


def _write_broken(tmp_path, text: str):
    p = tmp_path / "S001C001P001R001A001.skeleton"
    p.write_text(text)
    return p


def test_truncated_file_names_line_and_frame(tmp_path):
    p = write_skeleton_file(tmp_path / "S001C001P001R001A001.skeleton", one_person(3))
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:40]) + "\n")  # cut inside frame 1
    with pytest.raises(DataFormatError) as e:
        read_skeleton_file(p)
    msg = str(e.value)
    assert p.name in msg and "frame 1" in msg and "line 41" in msg and "truncated" in msg


@pytest.mark.parametrize(
    "mutate, expect",
    [
        (lambda ls: ls.__setitem__(3, "24"), "joint count 24"),
        (lambda ls: ls.__setitem__(5, ls[5] + " 7"), "13 values in the joint line"),
        (lambda ls: ls.__setitem__(2, "abc 0 1 0 1 0 0 0.1 0.1 2"), "non-numeric"),
        (lambda ls: ls.__setitem__(0, "2"), "lines after the last of 2 frames"),
        (lambda ls: ls.__setitem__(1, "-1"), "negative body count"),
    ],
)
def test_malformed_files_raise_one_error_type(tmp_path, mutate, expect):
    p = write_skeleton_file(tmp_path / "S001C001P001R001A001.skeleton", one_person(3))
    lines = p.read_text().splitlines()
    mutate(lines)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=expect):
        read_skeleton_file(p)


def test_binary_garbage_is_a_format_error(tmp_path):
    p = tmp_path / "S001C001P001R001A001.skeleton"
    p.write_bytes(b"\x00\xff\xfe garbage")
    with pytest.raises(DataFormatError, match="non-ASCII"):
        read_skeleton_file(p)


def _dataset(tmp_path, names, t=6):
    for n in names:
        write_sample(tmp_path, n, one_person(t))
    return NTUReader(tmp_path)


def test_reader_lists_pairs_and_splits(tmp_path):
    names = [
        "S001C001P001R001A001",  # cs train, cv test
        "S001C002P003R001A002",  # cs test, cv train
        "S001C003P004R002A060",  # cs val (subject 4), cv val
        "S001C002P005R002A008",  # on the published missing list
    ]
    reader = _dataset(tmp_path, names)
    assert reader.version == 60 and len(reader.classes) == 60
    listed = [r.name for r in reader.list_clips()]
    assert listed == names[:3]
    assert reader.skipped["on the published missing-skeleton list"] == 1
    assert "skipped 1" in reader.summary()
    assert [r.name for r in reader.split("cs", "train")] == [names[0]]
    assert [r.name for r in reader.split("cs", "test")] == [names[1]]
    assert [r.name for r in reader.split("cs", "val")] == [names[2]]
    assert [r.name for r in reader.split("cv", "test")] == [names[0]]
    assert [r.name for r in reader.split("cv", "train")] == [names[1]]
    assert len(reader.split("cv", "all")) == 3
    ref = reader.find(names[2])
    assert ref.label == 59 and ref.label_name == CLASSES_60[59]
    assert ref.meta["subject"] == 4 and ref.meta["camera"] == 3
    with pytest.raises(ValueError, match="cset"):
        reader.split("cset", "train")


def test_ntu120_protocols_and_auto_version(tmp_path):
    reader = _dataset(tmp_path, ["S018C001P045R001A061", "S019C001P044R001A001"])
    assert reader.version == 120 and len(reader.classes) == 120
    assert {r.name for r in reader.split("cs", "train")} == {"S018C001P045R001A061"}  # 45 trains
    assert {r.name for r in reader.split("cset", "train")} == {"S018C001P045R001A061"}  # even setup
    assert {r.name for r in reader.split("cset", "test")} == {"S019C001P044R001A001"}


def test_action_subset_gives_compact_labels(tmp_path):
    write_sample(tmp_path, "S001C001P001R001A030", one_person(5))
    write_sample(tmp_path, "S001C001P001R001A001", one_person(5))
    write_sample(tmp_path, "S001C001P001R001A007", one_person(5))
    reader = NTUReader(tmp_path, actions=(30, 1))
    refs = {r.name: r.label for r in reader.list_clips()}
    assert refs == {"S001C001P001R001A001": 1, "S001C001P001R001A030": 0}
    assert reader.classes == ("typing on a keyboard", "drink water")
    assert reader.skipped["outside the chosen actions"] == 1


def test_load_clip_with_video(tmp_path):
    reader = _dataset(tmp_path, ["S001C001P001R001A001"], t=8)
    clip = reader.load(reader.list_clips()[0])
    assert clip.frames.shape == (8, 24, 32, 3) and clip.frames.dtype == np.uint8
    assert clip.joints3d.shape == (8, 2, 25, 3) and clip.joints2d.shape == (8, 2, 25, 2)
    assert clip.meta["subject"] == 1 and clip.meta["fps"] == pytest.approx(30)
    assert clip.meta["warnings"] == [] and clip.truth is None
    small = reader.load(reader.list_clips()[0], with_video=False)
    assert small.frames is None and small.frame_size == (24, 32)


def test_video_shorter_than_skeleton(tmp_path):
    write_sample(tmp_path, "S001C001P001R001A001", one_person(40), video_frames=38)
    write_sample(tmp_path, "S001C001P001R001A002", one_person(40), video_frames=10)
    reader = NTUReader(tmp_path)
    clip = reader.load(reader.find("S001C001P001R001A001"))
    assert clip.frames.shape[0] == clip.joints3d.shape[0] == 38
    assert "trimmed to 38" in clip.meta["warnings"][0]
    with pytest.raises(DataFormatError, match="10 frames but the skeleton has 40"):
        reader.load(reader.find("S001C001P001R001A002"))


def test_require_video_and_orphans_are_counted(tmp_path):
    write_sample(tmp_path, "S001C001P001R001A001", one_person(4))
    write_sample(tmp_path, "S001C001P001R001A002", one_person(4), video_frames=0)
    reader = NTUReader(tmp_path, require_video=True)
    assert [r.name for r in reader.list_clips()] == ["S001C001P001R001A001"]
    assert reader.skipped["skeleton without a video"] == 1


def test_empty_or_bodiless_inputs(tmp_path):
    with pytest.raises(DataFormatError, match="no NTU sample"):
        NTUReader(tmp_path)
    with pytest.raises(DataFormatError, match="not a folder"):
        NTUReader(tmp_path / "nope")
    write_sample(tmp_path, "S001C001P001R001A001", [[], []], video_frames=2)
    reader = NTUReader(tmp_path)
    with pytest.raises(DataFormatError, match="no body in any frame"):
        reader.load(reader.list_clips()[0])
