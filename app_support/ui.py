"""Small page building blocks: every figure, table, image and overlaid clip with its export button.

Export bytes are made when the button is pressed, not on every run: a standalone HTML figure
carries plotly.js (about 4.6 MB), and making one per figure per run cost the server time and
memory on every page.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from viz.charts import ood_sentence, prediction_caption, training_caption
from viz.export import csv_bytes, html_bytes, png_bytes, webm_bytes
from viz.player import player_page

URL = "query-params"
MAX_VIDEOS = 24  # encoded clips kept (tens to hundreds of KiB each)


@st.cache_resource(show_spinner="Encoding the video…", max_entries=MAX_VIDEOS)
def _webm(key: str, _frames: np.ndarray, fps: float) -> bytes:
    return webm_bytes(_frames, fps)  # bytes are immutable: shared, never copied per call


@st.cache_resource(show_spinner=False, max_entries=MAX_VIDEOS)
def _player(key: str, _frames: np.ndarray, fps: float) -> str:
    return player_page(_frames, fps)  # a str is immutable: shared, never copied per call


def frames_key(frames: np.ndarray) -> str:
    """A content hash of a frame stack (the cache key of its WebM)."""
    return hashlib.blake2b(np.ascontiguousarray(frames).data, digest_size=16).hexdigest()


def download(label: str, make, file_name: str, mime: str, key: str) -> None:
    """A download button whose bytes ``make()`` produces only when it is pressed (no rerun)."""
    st.download_button(label, make, file_name, mime, key=key, on_click="ignore")


def video(frames: np.ndarray, fps: float, file_name: str, key: str, digest: str | None = None) -> None:
    """The frames in the teaching player (slow motion, loop, frame stepping; :mod:`viz.player`)
    with a WebM download under it. ``digest`` names the frames for the caches (default: their
    content hash; ``state.drawn`` gives one without hashing 64 MiB on every run)."""
    fps, digest = float(fps or 30.0), digest or frames_key(frames)
    st.iframe(_player(digest, frames, fps), height="content")
    data = _webm(digest, frames, fps)  # encoded now: a deferred download would keep the frames alive
    st.download_button("Download video (WebM)", data, file_name, "video/webm", key=f"{key}_webm")


def figure(fig: go.Figure, file_name: str, key: str, **kwargs):
    """A plotly figure with an HTML download (PNG export is in the figure's own toolbar).

    ``kwargs`` go to ``st.plotly_chart`` (``on_select``...); returns what it returns.
    """
    config = {"toImageButtonOptions": {"format": "png", "filename": file_name}, "displaylogo": False}
    event = st.plotly_chart(fig, key=key, config=config, **kwargs)
    download(
        "Download figure (HTML)", lambda: html_bytes(fig), f"{file_name}.html", "text/html", f"{key}_html"
    )
    return event


def image(frame: np.ndarray, caption: str, file_name: str, key: str) -> None:
    st.image(frame, caption=caption, width="stretch")
    download("Download image (PNG)", lambda: png_bytes(frame), f"{file_name}.png", "image/png", f"{key}_png")


def table(frame: pd.DataFrame, file_name: str, key: str, **kwargs):
    """A table with a CSV download; ``kwargs`` go to ``st.dataframe``; returns what it returns."""
    event = st.dataframe(frame, key=key, hide_index=True, **kwargs)
    download("Download table (CSV)", lambda: csv_bytes(frame), f"{file_name}.csv", "text/csv", f"{key}_csv")
    return event


def frame_slider(num_frames: int, key: str = "frame") -> int:
    """A frame slider over ``num_frames`` frames, starting in the middle of the clip, with
    previous / next frame buttons bound to it.

    Bound to the URL (``?frame=12``), so a link opens on the same frame.
    """
    num_frames = max(int(num_frames), 1)
    top = max(num_frames - 1, 1)
    value = st.session_state.get(key)
    if isinstance(value, int) and value > top:  # a shorter clip than the last one
        del st.session_state[key]
    start = {} if key in st.session_state else {"value": num_frames // 2}
    frame_steps(num_frames, key)
    return st.slider("Frame", 0, top, key=key, bind=URL, **start)


def ood_banner(insp) -> None:
    """Before any label: "none of the classes this model knows" when the clip is out of distribution."""
    if insp.outside:
        st.warning(
            "**None of the classes this model knows.** This clip is unlike anything "
            f"{insp.model} was trained on, so the label below is only the closest of its classes, "
            "not a recognition."
        )


def _step(key: str, by: int, num_frames: int) -> None:
    st.session_state[key] = int(min(max(st.session_state.get(key, 0) + by, 0), num_frames - 1))


def frame_steps(num_frames: int, key: str) -> None:
    """Buttons that move the frame slider ``key`` one frame back or forward."""
    row = st.container(horizontal=True)  # side by side at their labels' width, in a column of any width
    row.button(
        "◀ frame", key=f"{key}_back", on_click=_step, args=(key, -1, num_frames), help="previous frame"
    )
    row.button("frame ▶", key=f"{key}_ahead", on_click=_step, args=(key, 1, num_frames), help="next frame")


def prediction_header(insp) -> None:
    """ "Groundtruth: X - Prediction: Y (0.825)" as a subheader, a red cross in front when wrong.

    The out-of-distribution banner comes first (:func:`ood_banner`), and under the label what the
    model was trained on and the clip's out-of-distribution score.
    """
    ood_banner(insp)
    truth = insp.class_names[insp.label] if insp.label is not None else None
    caption = prediction_caption(truth, insp.class_names[insp.pred], insp.confidence)
    if insp.outside:
        caption = f"(closest known class) {caption}"
    st.subheader(caption if insp.label in (None, insp.pred) else f":red[✗] {caption}")
    notes = [training_caption(insp.trained_on)] if insp.trained_on else []
    if insp.ood is not None:
        notes.append(ood_sentence(insp.ood.score, insp.ood.value, insp.ood.threshold, insp.ood.outside))
    if notes:
        st.caption(" ".join(notes))


def what_if(rows: list[dict], file_name: str, key: str, fused: bool = False) -> None:
    """This clip's prediction with the model's own attention, equal weights and the ground-truth
    attention (``core_models.inspect.what_if`` rows): a sentence on which of them lost or kept the
    clip, then the table (``fused``: the model adds a pose classifier's scores, and the sentence
    says so). Nothing for a model without steerable attention."""
    from viz.checks import what_if_sentence, what_if_table

    if not rows:
        return
    st.markdown("**What if the attention were elsewhere?** (this clip)")
    sentence = what_if_sentence(rows, fused)
    if sentence:
        st.markdown(sentence)
    st.caption(
        "The same clip run again with the attention replaced: equal weights (for glimpses an even "
        "grid, for a warp the identity), and where the clip has a ground truth, the true attention at "
        "the model's resolution (the parts that act, each step or segment by its share of the truth "
        "interval, the map's cells holding the acting parts' joints), each kind alone as well."
    )
    table(what_if_table(rows), file_name, key=key)
