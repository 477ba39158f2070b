"""The command line (every command has --help; info on a real-format root) and skeleton drawing."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from ntu_files import one_person, write_sample

from core_models.cli import COMMANDS, main
from core_models.data.layouts import NTU25
from viz.skeleton import PERSON_COLOURS, draw_skeleton


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "usage: python -m core_models " + command in capsys.readouterr().out


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "core_models", "--help"], capture_output=True, text=True, check=True
    )
    for command in COMMANDS:
        assert command in out.stdout


def test_info_reports_splits_and_skips(tmp_path, capsys):
    for n in ("S001C001P001R001A001", "S001C002P003R001A002", "S001C002P005R002A008"):
        write_sample(tmp_path, n, one_person(5))
    assert main(["info", "--data", "ntu", "--root", str(tmp_path), "--check", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clips"] == 2 and report["skipped"] == {"on the published missing-skeleton list": 1}
    assert report["protocols"]["cs"] == {"train": 1, "val": 0, "test": 1}
    assert report["checked"][0]["frames"] == 5


def test_info_on_a_broken_root_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "S001C001P001R001A001.skeleton").write_text("3\n1\n")
    assert main(["info", "--data", "ntu", "--root", str(tmp_path), "--check", "1"]) == 0
    assert "file ends before the body line" in capsys.readouterr().out
    assert main(["info", "--data", "ntu", "--root", str(tmp_path / "missing")]) == 2
    assert "dataset root is not a folder" in capsys.readouterr().err


def test_draw_skeleton_marks_bones_and_skips_missing():
    frames = np.zeros((2, 40, 40, 3), np.uint8)
    joints = np.full((2, 2, 25, 2), np.nan, np.float32)
    joints[0, 0, :, 0] = 20.0
    joints[0, 0, :, 1] = np.linspace(5, 35, 25)
    out = draw_skeleton(frames, joints, NTU25, thickness=1)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    assert (out[0] > 0).any() and not (out[1] > 0).any()  # frame 1 has nobody
    assert (frames == 0).all()  # input untouched
    assert tuple(out[0, 12, 20]) in {PERSON_COLOURS[0], (255, 255, 255)} or out[0, 12, 20].any()
    colours = np.zeros((25, 3), np.uint8)
    colours[:] = (10, 200, 30)
    coloured = draw_skeleton(frames, joints, NTU25, joint_colours=colours, thickness=1)
    assert (coloured[0][coloured[0].any(axis=-1)] == (10, 200, 30)).all(axis=-1).mean() > 0.5
    with pytest.raises(ValueError, match="does not fit"):
        draw_skeleton(frames, joints[:1], NTU25)


def test_synth_small_is_read_by_the_ntu_reader_with_both_protocols(tmp_path, capsys):
    """The issue's acceptance check: `synth --small` writes what the NTU reader loads."""
    from core_models.data.ntu import NTUReader
    from core_models.synth import SYNTH_ACTIONS

    out = tmp_path / "synth"
    # A subprocess, as a user runs it (and away from any __main__ an earlier test installed).
    done = subprocess.run(
        [sys.executable, "-m", "core_models", "synth", "--out", str(out), "--small", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote 420 clips" in done.stdout
    reader = NTUReader(out, actions=SYNTH_ACTIONS, require_video=True, skip_missing=False)
    assert len(reader.list_clips()) == 420 and not reader.skipped
    for protocol in ("cs", "cv"):
        sizes = {s: len(reader.split(protocol, s)) for s in ("train", "val", "test")}
        assert all(sizes.values()), (protocol, sizes)
        assert sum(sizes.values()) == 420
    clip = reader.load(reader.split("cs", "test")[0])
    assert clip.frames.shape[1:] == (120, 160, 3) and clip.truth is not None
    assert main(["info", "--data", "synth", "--root", str(out)]) == 0
    assert "synth: 420 clips, 14 classes" in capsys.readouterr().out


def test_render_writes_a_browser_video(tmp_path):
    from core_models.data.video import read_video

    out = tmp_path / "clip.webm"
    assert main(["render", "S001C002P003R001A008", "--out", str(out), "--size", "60", "80"]) == 0
    frames, fps = read_video(out)
    assert frames.shape[1:] == (60, 80, 3) and len(frames) > 30 and fps == 30


@pytest.mark.parametrize("target", ["synth", "data"])
def test_bench_targets_run_and_report(target, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", target, "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert "cores" in results["machine"]
    if target == "data":
        assert results["items"]["clips"] == 28 and results["items"]["cached_ms"] > 0
    else:
        assert results["dataset 160x120"]["clips"] == 14


def test_bench_models_limits_the_rows_and_refuses_where_there_are_none(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "inspect", "--models", "skeleton_lstm", "--json", str(out)]) == 0
    assert set(json.loads(out.read_text())) == {"machine", "clip", "skeleton_lstm"}
    capsys.readouterr()
    assert main(["bench", "synth", "--models", "i3d"]) == 2
    assert "bench synth has no per-model rows" in capsys.readouterr().err
    assert main(["bench", "ood", "--models", "i4d"]) == 2
    assert "unknown model(s) i4d" in capsys.readouterr().err


def test_bench_inspect_times_the_shipped_models_with_their_overlays():
    from core_models.bench import bench_inspect

    results = bench_inspect(repeats=1, models=("part_attention", "skeleton_lstm"))
    assert set(results) == {"machine", "clip", "part_attention", "skeleton_lstm"}
    assert results["clip"]["size"] == "160x120"
    pa = results["part_attention"]
    assert pa["inference_ms"] > 0 and pa["overlays_ms"] >= 0 and pa["webm_ms"] > 0  # part boxes encoded
    assert results["skeleton_lstm"]["webm_ms"] == 0  # no attention, nothing to draw
    # the pages' replay with the attention replaced: own, uniform (all, parts, steps), truth (the same)
    assert pa["what_if_ms"] > 0 and pa["what_if_runs"] == 7 and "what_if_ms" not in results["skeleton_lstm"]
