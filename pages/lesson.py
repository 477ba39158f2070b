"""Lesson export: one self-contained HTML file with every view of the clip, to teach offline."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_support import lesson, state
from app_support.navigation import through_router
from app_support.sources import describe

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

st.title("Lesson export")
clip = state.current_clip()
entry = state.current_entry()
if entry is None:
    st.info("No trained model: checkpoints/ is empty. Train one on the Train page.")
    st.stop()
st.caption(f"{describe(clip)} · model {entry.name} (change both in the sidebar)")
st.markdown(
    "One HTML file that opens in any browser with no network: the clip in a player (slow motion, loop, "
    "frame by frame), the prediction and how fused streams combine, every attention view, and *why "
    "the model answered as it did* on the images it read, each with a caption saying how to read it. "
    "Views the sidebar's model does not draw are borrowed from the models below."
)
if clip.frames is None:
    st.warning("This clip has no video: a lesson needs one.")
    st.stop()

chosen = lesson.plan(entry, state.models())
titles = lesson.view_titles()
table = pd.DataFrame(
    [{"view": titles[v], "drawn by": chosen[v].name if v in chosen else "no model here"} for v in titles]
)
st.dataframe(table, hide_index=True, key="lesson_plan")
method = st.radio("Attributions", lesson.METHODS, horizontal=True, key="lesson_method",
                  format_func={"grad_cam": "Grad-CAM", "saliency": "saliency"}.get)  # fmt: skip

if st.button("Build the lesson", type="primary", key="lesson_build") or st.session_state.get("lesson_built"):
    st.session_state["lesson_built"] = True
    with st.spinner("Running the models and drawing every view…"):
        try:
            page = lesson.lesson(entry, clip, chosen, method)
        except ValueError as err:
            st.error(f"{entry.name} cannot read this clip: {err}")
            st.stop()
    data = page.encode("utf-8")
    label = f"Download the lesson (HTML, {len(data) / 2**20:.1f} MiB)"
    file_name = f"lesson-{clip.name}-{entry.name}.html"
    st.download_button(
        label, data, file_name, "text/html", key="lesson_download", on_click="ignore", type="primary"
    )
    st.caption("Open it in any browser, offline: plotly.js and every frame are inside the file.")
