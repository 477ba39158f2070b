"""Users' video files: damaged, truncated, blank, long; windows, downscaling while decoding, the budget.

Every file is written here with OpenCV (MJPG .avi, mp4v .mp4) and then damaged the way real files
are: cut short, overwritten in the middle, or made of flat frames.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from core_models.data.errors import DataFormatError
from core_models.data.single import load_single
from core_models.data.video import FrameReader, decode_video, video_info

SIZE = (288, 384)  # (H, W) of the test files: larger than the app's 320 px, so frames shrink


def numbered(i: int, size=SIZE) -> np.ndarray:
    """A frame whose top-left grey level says its index (i * 2 % 200 + 30), a gradient, a moving disc."""
    h, w = size
    f = np.full((h, w, 3), (i * 2) % 200 + 30, np.uint8)
    f[h // 4 :, :, 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    cv2.circle(f, (20 + (i * 3) % (w - 40), h // 2), 15, (250, 80, 20), -1)
    return f


def write(path: Path, frames, fourcc: str, fps: float = 25.0) -> Path:
    frames = list(frames)
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        out.write(f)
    out.release()
    return path


def level(frame: np.ndarray) -> float:
    """The grey level of a numbered frame (away from the disc)."""
    return float(np.median(frame[:5, :5]))


@pytest.fixture(scope="module")
def avi(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("v") / "clip.avi", (numbered(i) for i in range(120)), "MJPG")


def test_a_clean_file_decodes_whole_and_shrinks_as_it_goes(avi):
    d = decode_video(avi, max_side=192)
    assert d.frames.shape == (120, 144, 192, 3) and d.report.warnings() == []
    assert d.report.scale == pytest.approx(0.5) and d.info.num_frames == 120
    assert abs(level(d.frames[37]) - level(numbered(37))) < 4


def test_a_window_decodes_only_its_frames(avi):
    d = decode_video(avi, start=50, length=20, max_side=192)
    assert len(d.frames) == 20 and d.report.start == 50
    for k in (0, 7, 19):  # the right frames, not the first 20
        assert abs(level(d.frames[k]) - level(numbered(50 + k))) < 4
    with pytest.raises(DataFormatError, match="starts at frame 500"):
        decode_video(avi, start=500)
    with pytest.raises(ValueError, match="start >= 0"):
        decode_video(avi, start=-1)


def test_a_truncated_avi_says_how_many_of_its_frames_decoded(avi, tmp_path):
    cut = tmp_path / "cut.avi"
    data = avi.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 10])
    d = decode_video(cut, max_side=192)
    assert 10 < len(d.frames) < 50
    (warning,) = d.report.warnings()
    assert f"{len(d.frames)} of 120 frames decoded" in warning


def test_damage_in_the_middle_of_an_mp4_is_skipped_and_counted(tmp_path):
    mp4 = write(tmp_path / "a.mp4", (numbered(i) for i in range(150)), "mp4v")
    data = bytearray(mp4.read_bytes())
    mid = len(data) // 2
    data[mid : mid + len(data) // 10] = (
        np.random.default_rng(0).integers(0, 256, len(data) // 10, np.uint8).tobytes()
    )
    broken = tmp_path / "b.mp4"
    broken.write_bytes(bytes(data))
    d = decode_video(broken, max_side=192)
    text = " ".join(d.report.warnings())
    assert d.report.decoded < 150 and f"{d.report.decoded} of 150 frames decoded" in text
    assert d.report.damaged > 0 and "damaged frame(s)" in text
    assert d.report.decoded > 100  # the frames after the damage were recovered


def test_unreadable_and_blank_files_are_refused(tmp_path, avi):
    mp4 = write(tmp_path / "a.mp4", (numbered(i) for i in range(30)), "mp4v")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])  # the mp4 index is at the end
    with pytest.raises(DataFormatError, match="cannot open this file as a video"):
        decode_video(cut)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    with pytest.raises(DataFormatError, match="cannot open"):
        decode_video(text)
    black = write(tmp_path / "black.avi", [np.zeros((*SIZE, 3), np.uint8)] * 20, "MJPG")
    with pytest.raises(DataFormatError, match="all 20 decoded frames are blank"):
        decode_video(black)


def test_runs_of_blank_frames_are_reported(tmp_path):
    frames = [numbered(i) if not 30 <= i < 45 else np.zeros((*SIZE, 3), np.uint8) for i in range(60)]
    d = decode_video(write(tmp_path / "gap.avi", frames, "MJPG"), max_side=192)
    assert d.report.blank_runs == ((30, 45),)
    assert "frames 30-44 (15) are blank" in d.report.warnings()


def test_the_budget_stops_decoding_and_says_so(avi):
    d = decode_video(avi, max_side=192, max_pixels=192 * 144 * 40)
    assert len(d.frames) == 40 and d.report.capped
    assert "decoding stopped after 40 frames" in d.report.warnings()[0]
    assert not decode_video(avi, max_side=192, max_pixels=192 * 144 * 40, length=30).report.capped


def test_decoding_never_holds_full_size_frames(tmp_path):
    """Peak Python-side memory stays near the shrunk clip: full-size frames are dropped as decoded."""
    big = (576, 768)
    path = write(tmp_path / "big.avi", (numbered(i, big) for i in range(150)), "MJPG")
    tracemalloc.start()
    d = decode_video(path, max_side=192)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full = 150 * big[0] * big[1] * 3
    assert d.frames.nbytes < full / 10
    assert peak < d.frames.nbytes + 8 * big[0] * big[1] * 3  # the clip and a few full frames at most


def test_frame_reader_streams_and_counts(avi):
    with FrameReader(avi, start=100, max_side=96) as reader:
        assert reader.expected == 20 and reader.size == (72, 96)
        frames = list(reader)
    assert len(frames) == 20 and frames[0].shape == (72, 96, 3)
    assert video_info(avi).seconds == pytest.approx(120 / 25.0)


def test_load_single_windows_the_video_and_its_skeleton(tmp_path, avi):
    joints = np.zeros((120, 1, 25, 2), np.float32)
    joints[..., 0] = np.arange(120)[:, None, None]  # x = the frame index, in video pixels
    np.save(tmp_path / "s.npy", joints)
    clip = load_single(avi, tmp_path / "s.npy", max_side=192, start=40, length=30)
    assert clip.num_frames == 30 and clip.meta["window"] == (40, 30)
    # the skeleton was cut at the same frame and its pixels shrunk with the frames (x 0.5)
    np.testing.assert_allclose(clip.joints2d[:, 0, 0, 0], np.arange(40, 70) * 0.5)
    est = np.zeros((30, 1, 25, 2), np.float32)  # a skeleton of the window alone
    np.save(tmp_path / "w.npy", est)
    clip = load_single(avi, tmp_path / "w.npy", start=40, length=30, skeleton_start=40)
    assert clip.num_frames == 30 and clip.meta["warnings"] == []


def test_load_single_reports_damage_with_the_clip(avi, tmp_path):
    cut = tmp_path / "cut.avi"
    data = avi.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    clip = load_single(cut, max_side=192)
    assert any(f"{clip.num_frames} of 120 frames decoded" in w for w in clip.meta["warnings"])
    assert clip.meta["decode"]["header_frames"] == 120
