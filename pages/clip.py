"""Clip: the chosen clip playing in the browser, a frame slider, and its label and ground truth."""

from __future__ import annotations

import streamlit as st

from app_support.clips import synthetic_clip, webm_bytes
from viz.skeleton import draw_skeleton

name = st.session_state["clip_name"]
show_skeleton = st.session_state["show_skeleton"]
clip = synthetic_clip(name)
frames = draw_skeleton(clip.frames, clip.joints2d, clip.layout) if show_skeleton else clip.frames

st.title(clip.label_name.capitalize())
st.caption(
    f"{clip.name} · synthetic, NTU RGB+D format · subject P{clip.meta['subject']:03d}, "
    f"camera C{clip.meta['camera']:03d}, setup S{clip.meta['setup']:03d} · {clip.num_frames} frames"
)

left, right = st.columns(2)
with left:
    st.video(webm_bytes(f"{name}-{show_skeleton}", frames, clip.meta.get("fps", 30.0)), format="video/webm")
with right:
    t = st.slider("Frame", 0, clip.num_frames - 1, clip.num_frames // 2)
    st.image(frames[t], caption=f"frame {t}", width="stretch")

if clip.truth is not None:
    start, end = clip.truth.interval
    st.markdown(
        f"**Ground truth.** The action is carried by **{', '.join(clip.truth.active_parts())}** "
        f"and told apart from *{', '.join(clip.truth.confusers) or 'the other classes'}* in frames "
        f"**{start}–{end - 1}**."
    )
