"""The app through Streamlit's AppTest: the router, the sidebar and its three sources, the clip page.

AppTest (streamlit 1.67) re-runs only the current page script after the first run of an
``st.navigation`` app, so the sidebar is tested on its own (``AppTest.from_function``) and the
pages with the session state the sidebar writes; the real-browser test covers them together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_support.navigation import PENDING, apply_pending
from app_support.sources import load_source, save_upload
from core_models.data.errors import DataFormatError
from core_models.data.ntu import format_name
from core_models.data.video import write_video
from core_models.inspect import inspect_clip, load_model
from core_models.synth import SYNTH_ACTIONS, SYNTH_CLASSES, setup_for

ROOT = Path(__file__).parents[1]
CHECKPOINTS = ROOT / "checkpoints"


def run(script: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def sidebar_app() -> None:
    from app_support.sidebar import sidebar

    sidebar()


def synth(name: str) -> dict:
    return {"kind": "synthetic", "name": name}


def expected(model: str, source: dict):
    """The shipped model's prediction on the clip, computed without the app."""
    return inspect_clip(load_model(CHECKPOINTS / model / "model.pt", model), load_source(source))


def test_router_shows_the_default_clip_and_the_prediction_of_the_default_model():
    at = run("app.py")
    assert at.title[0].value.lower() == SYNTH_CLASSES[0].lower()
    insp = expected("part_attention-cs", synth("S001C001P001R001A001"))
    caption = f"Groundtruth: drink water - Prediction: {insp.class_names[insp.pred]} ({insp.confidence:.3f})"
    assert caption in at.subheader[0].value
    assert len(at.get("iframe")) == 1 and not at.get("plotly_chart")  # the first page loads no plotly
    bars = at.get("progress")  # the top-5 as bars, the most probable first
    assert len(bars) >= 5 and insp.class_names[insp.pred] in bars[0].proto.text
    assert abs(bars[0].proto.value - 100 * insp.probs[insp.pred]) <= 1  # Streamlit truncates to whole percent
    assert at.sidebar.selectbox[0].label == "Class"
    assert at.session_state["model_name"] == "part_attention-cs"
    assert "top-1" in " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("model", ["i3d-cs", "temporal_granularity-cv"])
def test_clip_page_shows_the_chosen_clip_and_model(model):
    name = format_name(setup_for(7, 2), 3, 7, 2, SYNTH_ACTIONS[12])
    at = run("pages/clip.py", clip_source=synth(name), model_name=model, show_skeleton=False)
    assert at.title[0].value.lower() == SYNTH_CLASSES[12].lower()
    assert name in at.caption[0].value
    insp = expected(model, synth(name))
    assert f"Prediction: {insp.class_names[insp.pred]} ({insp.confidence:.3f})" in at.subheader[0].value
    at.slider[0].set_value(3).run()
    assert not at.exception and at.slider[0].value == 3 and len(at.image) == 1


def test_a_model_that_cannot_read_the_clip_is_explained_and_the_clip_still_plays(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (12, 48, 64, 3), dtype=np.uint8)
    video = write_video(tmp_path / "mine.avi", frames, 30)
    source = {"kind": "upload", "video": str(video), "skeleton": None}
    at = run("pages/clip.py", clip_source=source, model_name="part_attention-cs")
    assert "cannot read this clip" in at.warning[0].value and "2D joints" in at.warning[0].value
    assert len(at.get("iframe")) == 1 and at.title[0].value == "mine"


def test_sidebar_synthetic_choice_sets_the_clip_and_the_model():
    at = AppTest.from_function(sidebar_app, default_timeout=60)
    at.run()
    assert not at.exception
    at.selectbox(key="synth_class").set_value(5).run()
    at.selectbox(key="model_name").set_value("stn-cv").run()
    assert not at.exception
    name = at.session_state["clip_source"]["name"]
    assert name.endswith(f"A{SYNTH_ACTIONS[5]:03d}")
    caption = at.caption[-1].value
    assert "stn" in caption and "CV" in caption and "top-1" in caption


def test_sidebar_dataset_folder_errors_keep_the_previous_clip_and_a_real_folder_works(tmp_path, monkeypatch):
    from core_models.synth import write_dataset

    monkeypatch.setenv("ADL_DATA_ROOTS", str(tmp_path))  # the server offers this folder
    root = tmp_path / "synth"
    write_dataset(root, workers=1, progress=False, subjects=(3,), cameras=(2,), repetitions=(1,),
                  actions=SYNTH_ACTIONS[:2], size=(60, 80))  # fmt: skip
    at = AppTest.from_function(sidebar_app, default_timeout=60)
    at.run()
    before = at.session_state["clip_source"]
    at.radio(key="source").set_value("Dataset folder").run()
    at.selectbox(key="dataset_kind").set_value("ntu").run()
    at.text_input(key="dataset_root").input(str(tmp_path / "nowhere")).run()
    assert not at.exception
    assert "no such folder" in at.error[0].value
    assert at.session_state["clip_source"] == before  # nothing lost
    (tmp_path / "empty").mkdir()
    at.text_input(key="dataset_root").input(str(tmp_path / "empty")).run()  # a folder, but not a dataset
    assert "no clips found" in at.error[0].value or "Not a ntu dataset" in at.error[0].value
    at.selectbox(key="dataset_kind").set_value("synth").run()
    at.text_input(key="dataset_root").input(str(root)).run()
    assert not at.exception and not at.error
    source = at.session_state["clip_source"]
    assert source["kind"] == "dataset" and source["name"].endswith(f"A{SYNTH_ACTIONS[0]:03d}")
    page = run("pages/clip.py", clip_source=source, model_name="skeleton_lstm-cs")
    assert page.title[0].value.lower() == SYNTH_CLASSES[0].lower()


def test_uploads_are_vetted_and_a_valid_one_loads(tmp_path):
    frames = np.random.default_rng(1).integers(0, 255, (10, 48, 64, 3), dtype=np.uint8)
    video = write_video(tmp_path / "v.avi", frames, 30).read_bytes()
    with pytest.raises(DataFormatError, match="extension"):
        save_upload("v.exe", video, folder=tmp_path / "up")
    with pytest.raises(DataFormatError, match="empty"):
        save_upload("v.avi", b"", folder=tmp_path / "up")
    with pytest.raises(DataFormatError, match="skeleton upload"):
        save_upload("v.avi", video, "s.pkl", b"x", folder=tmp_path / "up")
    joints = np.random.default_rng(2).uniform(0, 40, (10, 25, 2)).astype(np.float32)
    npy = tmp_path / "s.npy"
    np.save(npy, joints)
    source = save_upload("v.avi", video, "s.npy", npy.read_bytes(), folder=tmp_path / "up")
    clip = load_source(source)
    assert clip.frames.shape == (10, 48, 64, 3) and clip.joints2d.shape == (10, 1, 25, 2)
    pickled = tmp_path / "p.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    bad = save_upload("v.avi", video, "p.npy", pickled.read_bytes(), folder=tmp_path / "up")
    with pytest.raises(DataFormatError, match="pickle|object"):
        load_source(bad)  # never unpickled


def test_a_corrupt_upload_is_reported_on_the_page(tmp_path):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"RIFF not really a video")
    at = run("pages/clip.py", clip_source={"kind": "upload", "video": str(broken), "skeleton": None})
    assert "Could not load the clip" in at.error[0].value


def test_opening_a_clip_from_another_page_sets_the_sidebar():
    state = {PENDING: {"name": "S004C003P004R002A009", "model": "i3d-cs"}}
    apply_pending(state)
    assert state["clip_source"] == synth("S004C003P004R002A009")
    assert state["synth_class"] == SYNTH_ACTIONS.index(9) and state["synth_subject"] == 4
    assert state["synth_camera"] == 3 and state["synth_repetition"] == 2 and state["model_name"] == "i3d-cs"


def test_a_link_restores_the_clip_and_the_model_and_ignores_what_it_cannot_use():
    """The sidebar's widgets are bound to the URL: its query parameters choose them on a first run."""
    at = AppTest.from_function(sidebar_app, default_timeout=60)
    at.query_params.update(model_name="i3d-cs", synth_class=SYNTH_CLASSES[7], synth_camera="C002",
                           synth_subject="P004", synth_repetition="2")  # fmt: skip
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["model_name"] == "i3d-cs"
    name = format_name(setup_for(4, 2), 2, 4, 2, SYNTH_ACTIONS[7])
    assert at.session_state["clip_source"] == synth(name)

    wrong = AppTest.from_function(sidebar_app, default_timeout=60)
    wrong.query_params.update(model_name="no-such-model", synth_class="no such class")
    wrong.run()
    assert not wrong.exception, wrong.exception
    assert wrong.session_state["model_name"] == "part_attention-cs"  # the default, not an error
    assert wrong.session_state["clip_source"] == synth("S001C001P001R001A001")


def test_a_link_opens_the_clip_page_on_its_frame():
    at = AppTest.from_file(str(ROOT / "pages/clip.py"), default_timeout=120)
    at.query_params["frame"] = "11"
    at.run()
    assert not at.exception, at.exception
    assert at.slider(key="frame").value == 11 and at.get("image")[0].proto.imgs[0].caption == "frame 11"
    at.button(key="frame_ahead").click().run()  # the step buttons move the slider and the frame shown
    assert at.slider(key="frame").value == 12 and at.get("image")[0].proto.imgs[0].caption == "frame 12"
    at.button(key="frame_back").click().run()
    at.button(key="frame_back").click().run()
    assert at.slider(key="frame").value == 10 and at.get("image")[0].proto.imgs[0].caption == "frame 10"


def test_process_settings_bound_torch_threads_and_log_runs(tmp_path, monkeypatch):
    import os

    import torch

    from app_support import process

    process.configure()
    assert torch.get_num_threads() == process.torch_threads() <= max(1, (os.cpu_count() or 2) // 2)
    monkeypatch.setenv("ADL_TORCH_THREADS", "3")
    assert process.torch_threads() == 3
    log = tmp_path / "runs.log"
    monkeypatch.setenv(process.RUN_LOG, str(log))
    with process.timed_run("Some page"):
        pass
    title, seconds = log.read_text().strip().split("\t")
    assert title == "Some page" and 0 <= float(seconds) < 5
    assert process.rss_mib() > 0


def test_the_page_html_learns_where_the_app_root_is():
    """serve.py's middleware: Streamlit's page gets the root as its backend URL (no 404 probes),
    whether the HTML comes plain or gzipped; other responses pass untouched."""
    import asyncio
    import gzip

    from app_support.server import BaseUrlScript, base_url_script, inject

    html = b"<html><head><title>x</title></head><body></body></html>"
    assert inject(html, b"<script>s</script>").startswith(b"<html><head><script>s</script><title>")
    assert b'BACKEND_BASE_URL: window.location.origin + "/"' in base_url_script()

    def app_sending(body: bytes, kind: bytes, gzipped: bool = False):
        async def app(scope, receive, send):
            headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
            if gzipped:
                headers.append((b"content-encoding", b"gzip"))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return app

    def serve(app, method: str = "GET") -> tuple[dict, bytes]:
        sent = []

        async def send(message):
            sent.append(message)

        asyncio.run(BaseUrlScript(app)({"type": "http", "method": method, "path": "/compare"}, None, send))
        start = sent[0]
        return dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])

    for gzipped in (False, True):
        body = gzip.compress(html) if gzipped else html
        headers, out = serve(app_sending(body, b"text/html; charset=utf-8", gzipped))
        assert out.startswith(b"<html><head>" + base_url_script()) and b"content-encoding" not in headers
        assert int(headers[b"content-length"]) == len(out)
    headers, out = serve(app_sending(b"{}", b"application/json"))
    assert out == b"{}"


def test_opening_a_dataset_clip_from_another_page_sets_the_sidebar_to_that_folder():
    state = {PENDING: {"name": "S001C002P003R001A010", "model": "i3d-cs", "data": "ntu", "root": "/data/ntu"}}
    apply_pending(state)
    assert state["source"] == "Dataset folder" and state["dataset_kind"] == "ntu"
    assert state["dataset_root"] == "/data/ntu" and state["dataset_clip"] == "S001C002P003R001A010"
    assert state["clip_source"] == {"kind": "dataset", "data": "ntu", "root": "/data/ntu",
                                    "name": "S001C002P003R001A010"}  # fmt: skip
    assert state["model_name"] == "i3d-cs"


def test_drawn_overlays_are_kept_while_what_they_are_drawn_from_stays():
    """Moving the frame slider does not draw every frame again; a new clip does."""

    def app():
        from types import SimpleNamespace

        import numpy as np
        import streamlit as st

        from app_support import state

        def make():
            st.session_state["made"] = st.session_state.get("made", 0) + 1
            return np.zeros((2, 4, 4, 3), np.uint8)

        token = st.session_state.setdefault("token", str(id(st.session_state)))  # this test's own entries
        clip = SimpleNamespace(frames=np.full((2, 4, 4, 3), ord(st.session_state.get("clip", "a")), np.uint8),
                               joints2d=None)  # fmt: skip
        frames, digest = state.drawn("page", None, clip, (token,), make)
        assert not frames.flags.writeable  # shared between sessions: nobody draws on them in place
        assert digest == state.drawn("page", None, clip, (token,), make)[1]  # names them for the video
        st.slider("Frame", 0, 5, key="frame")

    at = AppTest.from_function(app, default_timeout=60).run()
    assert at.session_state["made"] == 1
    at.slider[0].set_value(3).run()
    assert not at.exception and at.session_state["made"] == 1
    at.session_state["clip"] = "b"
    at.run()
    assert at.session_state["made"] == 2
