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
