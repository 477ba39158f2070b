"""The app with users' own videos: the out-of-distribution banner and the training data with every
prediction, the models that can read a clip, pose estimation offered and cached, windows of long
uploads and damage shown with the clip (AppTest; the browser test drives the sidebar's uploader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_support.models import READS, list_models, missing_inputs, readers_of
from app_support.sources import cached_pose, estimate_pose, load_source, pose_path
from core_models.data.video import write_video
from core_models.models import MODELS, build_model
from core_models.synth import render_clip

ROOT = Path(__file__).parents[1]


def run(script: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("name", list(MODELS))
def test_the_table_of_what_models_read_matches_the_models(name):
    model = build_model(name, "cpu", num_classes=14)
    spec = model.input_spec
    reads = set(READS[name])
    assert ("video" in reads) == spec.needs_video
    assert ("joints2d" in reads) == (spec.crops is not None)
    assert ("skeleton" in reads) == (spec.skeleton_frames > 0)


@pytest.fixture(scope="module")
def person_video(tmp_path_factory) -> Path:
    """A rendered person drinking water, as a user's video without a skeleton file."""
    folder = tmp_path_factory.mktemp("upload")
    return write_video(folder / "drink.avi", render_clip("S001C002P003R001A001", size=(240, 320)).frames, 30)


def test_noise_is_none_of_the_classes_the_model_knows(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (30, 120, 160, 3), dtype=np.uint8)
    source = {
        "kind": "upload",
        "video": str(write_video(tmp_path / "noise.avi", frames, 30)),
        "skeleton": None,
    }
    at = run("pages/clip.py", clip_source=source, model_name="i3d-cs")  # whole frames, no pose
    assert "None of the classes this model knows" in at.warning[0].value
    assert at.subheader[0].value.startswith("(closest known class) Groundtruth: unknown - Prediction:")
    notes = " ".join(c.value for c in at.caption)
    assert "Trained on the built-in synthetic dataset" in notes and "14 classes (drink water," in notes
    assert "above the threshold" in notes


def test_a_training_clip_is_not_flagged_and_says_what_the_model_knows():
    source = {"kind": "synthetic", "name": "S001C001P001R001A001"}
    at = run("pages/clip.py", clip_source=source, model_name="part_attention-cs")
    assert not at.warning and "Groundtruth: drink water - Prediction:" in at.subheader[0].value
    notes = " ".join(c.value for c in at.caption)
    assert "cross-subject: 14 classes" in notes and "within the threshold" in notes


def test_models_that_can_read_a_clip_are_named_and_pose_estimation_is_offered(person_video):
    source = {"kind": "upload", "video": str(person_video), "skeleton": None}
    clip = load_source(source)
    entries = list_models()
    assert missing_inputs(next(e for e in entries if e.name == "part_attention-cs"), clip) == [
        "2D joints",
        "a skeleton",
    ]
    can = {e.name for e in readers_of(entries, clip)}
    assert "i3d-cs" in can and "glimpse_clouds-cv" in can and "skeleton_lstm-cs" not in can

    at = run("pages/clip.py", clip_source=source, model_name="part_attention-cs")
    warning = at.warning[0].value
    assert "part_attention-cs cannot read this clip" in warning and "Models that can: " in warning
    assert "i3d-cs" in warning and "skeleton_lstm" not in warning and "estimate its pose" in warning
    assert any(
        "Estimating the pose" in c.value and f"{clip.num_frames} frames" in c.value for c in at.caption
    )
    assert cached_pose(source) is None
    at.button(key="clip_page_estimate_pose").click().run()
    assert not at.exception
    assert cached_pose(source) == str(pose_path(source))  # cached beside the video, for this window

    posed = run(
        "pages/clip.py", clip_source={**source, "pose": cached_pose(source)}, model_name="part_attention-cs"
    )
    assert "Prediction:" in posed.subheader[-1].value
    assert not any("cannot read" in w.value for w in posed.warning)  # read now (and judged on its own)
    assert any("Skeleton estimated by BlazePose" in c.value for c in posed.caption)


def test_a_pose_estimate_is_attached_with_its_confidence(person_video):
    source = {"kind": "upload", "video": str(person_video), "skeleton": None, "start": 10, "length": 30}
    clip = load_source(source)
    assert clip.num_frames == 30 and clip.meta["window"] == (10, 30)
    estimate_pose(source, clip.num_frames)
    posed = load_source({**source, "pose": cached_pose(source)})
    assert posed.joints3d.shape == (30, 1, 25, 3) and posed.joints2d.shape == (30, 1, 25, 2)
    conf = posed.meta["pose"]["confidence"]
    assert conf.shape == (30, 1, 25) and posed.meta["pose"]["source"] == "blazepose"
    assert np.isnan(posed.joints2d[conf < posed.meta["pose"]["min_confidence"]]).all()
    # the joints land on the person in the (shrunk) frames the page shows
    truth = render_clip("S001C002P003R001A001", size=(240, 320)).joints2d[10:40, 0]
    err = np.nanmedian(np.linalg.norm(posed.joints2d[:, 0] - truth, axis=-1))
    assert err < 8.0  # pixels, in 320x240 frames


def test_damage_is_shown_with_the_clip(person_video, tmp_path):
    cut = tmp_path / "cut.avi"
    data = person_video.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    at = run(
        "pages/clip.py",
        clip_source={"kind": "upload", "video": str(cut), "skeleton": None},
        model_name="i3d-cs",
    )
    assert any("frames decoded" in i.value for i in at.info)
