"""Body-part attention: the part crops on every frame and the skeleton coloured by the weight the
model gives each part, the weights as bars (and over time when they change per step), and on
synthetic clips the parts that really carry the action."""

from __future__ import annotations

import streamlit as st

from app_support import state, ui
from app_support.models import metrics
from app_support.navigation import through_router
from viz.charts import frame_steps
from viz.checks import worth_sentence
from viz.parts import (
    draw_parts_overlay,
    enlarge,
    part_weights_figure,
    part_weights_over_time_figure,
    part_weights_table,
    parts_split_sentence,
    truth_weight,
)

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

st.title("Body-part attention")
clip, entry, insp = state.page_context(("parts",), "body-part attention")
show_skeleton = st.session_state.get("show_skeleton", True)

ui.prediction_header(insp)
st.caption(
    "Each box is a body-part crop the model reads; its colour (dark purple = light, yellow = the "
    "heaviest part) and its thickness show the weight the model gives that part when it pools the "
    "parts' features. The weights sum to one; the dashed line is the uniform weight 1/P."
)

weights = insp.attention["parts"]  # (P,) or (T', P)
names = list(insp.part_names)
per_step = weights.ndim == 2
vmax = max(float(weights.max()), 1e-9)
name = f"{clip.name}-{entry.name}-parts"

SHOW = {"boxes": "part boxes", "bones": "bones", "joints": "joints"}
default = list(SHOW) if show_skeleton else ["boxes"]
show = st.pills("Draw", list(SHOW), selection_mode="multi", default=default, format_func=SHOW.get,
                key="parts_show", bind="query-params")  # fmt: skip


def overlay():
    frames, scale = enlarge(clip.frames)  # small frames are enlarged so the box labels stay legible
    boxes = insp.part_boxes * scale if insp.part_boxes is not None else None
    # The crops are cut around the first person, so only that skeleton takes the part colours.
    joints = clip.joints2d[:, :1] * scale if clip.joints2d is not None else None
    return draw_parts_overlay(frames, boxes, weights, names, joints2d=joints, layout=clip.layout,
                              show=tuple(show or ()), vmax=vmax)  # fmt: skip


frames, drawn_as = state.drawn("parts", entry, clip, tuple(show or ()), overlay)

left, right = st.columns(2)
with left:
    ui.video(frames, clip.meta.get("fps", 30.0), f"{name}.webm", key="parts_video", digest=drawn_as)
with right:
    t = ui.frame_slider(clip.num_frames)
    ui.image(frames[t], f"frame {t}", f"{name}-frame{t}", key="parts_frame")

step = int(frame_steps(clip.num_frames, len(weights))[t]) if per_step else None
now = weights[step] if per_step else weights  # (P,)
table = part_weights_table(names, weights, clip.truth)
left, right = st.columns(2)
with left:
    st.markdown(f"**Part weights at frame {t} (step {step})**" if per_step else "**Part weights**")
    active = list(clip.truth.active_parts()) if clip.truth is not None else None
    ui.figure(part_weights_figure(names, now, active), name, key="parts_bars")
with right:
    if clip.truth is None:
        st.markdown("**Part weights**")
        st.caption("This clip has no ground truth (only synthetic clips know which parts act).")
    else:
        start, end = clip.truth.interval
        st.markdown(
            f"**Ground truth.** The action is carried by **{', '.join(clip.truth.active_parts())}** "
            f"in frames {start}–{end - 1} (hatched bars)."
        )
        on_truth = truth_weight(table)
        if on_truth is not None and on_truth[1] >= 1.0:
            st.markdown(
                "Every one of the model's parts carries this action, so any weights put all of their "
                "weight on the ground truth: this clip cannot tell where the weights go."
            )
        elif on_truth is not None:
            st.markdown(
                f"Weight on the ground-truth parts: **{on_truth[0]:.2f}** (uniform: {on_truth[1]:.2f})."
            )
        else:
            st.markdown("None of the model's parts is a ground-truth part of this clip.")
    ui.table(table, f"{name}-table", key="parts_table")

if per_step:
    st.markdown("**Part weights over time** (the red line is the frame slider)")
    fig = part_weights_over_time_figure(names, weights, clip.num_frames, t)
    ui.figure(fig, f"{name}-over-time", key="parts_time")

split_parts = parts_split_sentence((metrics(entry) or {}).get("attention_scores"))
if split_parts:
    st.markdown(split_parts)
worth = worth_sentence(metrics(entry), fused=entry.pose_classifier)
if worth:
    st.markdown(worth)

replays = state.what_if_rows(entry, clip)
ui.what_if(replays, f"{clip.name}-{entry.name}-what-if", key="parts_what_if", fused=entry.pose_classifier)
