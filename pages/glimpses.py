"""Glimpse Clouds: where the model's glimpses went. The clip with every glimpse's box and path in
its own colour, the frame at the slider, the glimpse centres' trajectories over the clip, and the
soft assignment of glimpses to workers at the slider's step, plus every glimpse as a table."""

from __future__ import annotations

import streamlit as st

from app_support import state, ui
from app_support.models import metrics
from app_support.navigation import through_router
from app_support.sources import describe
from viz.charts import frame_steps
from viz.glimpses import (
    assignment_figure,
    draw_glimpses,
    glimpse_table,
    glimpses_in_frame,
    person_share,
    trajectory_figure,
)

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

st.title("Glimpse Clouds")
clip, entry, insp = state.page_context(("glimpses", "assignment"), "glimpses")
st.caption(describe(clip))

ui.prediction_header(insp)
scores = metrics(entry)
if scores:
    split = f"{scores.get('data')}, {scores.get('protocol')}"
    weak = " A weak model: its glimpses show what it does, not what Glimpse Clouds can do."
    note = weak if scores["top1"] < 0.5 else ""
    st.caption(f"{entry.name}: top-1 {scores['top1']:.1%} on its test split ({split}).{note}")
st.markdown(
    "At each of its time steps the model places N glimpses, one after another, on its feature map "
    "and shares them out among C recurrent workers. Each glimpse keeps its colour and number; the "
    "line behind it is its path over earlier steps; the thin white square is the model's input."
)

H, W = clip.frames.shape[1:3]  # the model reads RGB, so frames exist
glimpses = glimpses_in_frame(insp.attention["glimpses"], insp.view_boxes, insp.frame_index, (H, W))
assignment = insp.attention["assignment"]  # (T', C, N)
overlaid = draw_glimpses(clip.frames, glimpses, trail=len(glimpses), view_boxes=insp.view_boxes)
name = f"{clip.name}-{entry.name}"

left, right = st.columns(2)
with left:
    ui.video(overlaid, clip.meta.get("fps", 30.0), f"{name}-glimpses.webm", key="glimpses_video")
with right:
    t = ui.frame_slider(clip.num_frames)
    step = int(frame_steps(clip.num_frames, len(glimpses))[t])
    ui.image(overlaid[t], f"frame {t} (step {step})", f"{name}-glimpses-frame{t}", key="glimpses_frame")

on_person = person_share(insp.attention["glimpses"], clip.joints2d, insp.view_boxes, insp.frame_index)
split_scores = ((scores or {}).get("attention_scores") or {}).get("glimpses")
uniform = (((scores or {}).get("attention_checks") or {}).get("interventions") or {}).get("uniform")
if on_person is None:
    st.caption(
        "This clip has no 2D joints, so how much of the glimpse area lies on the person is not measured."
    )
else:
    text = (
        f"On this clip **{on_person['share']:.2f}** of the glimpse area lies on the person's box "
        f"(glimpses placed at random: {on_person['uniform']:.2f}; the best place for glimpses of "
        f"these sizes: {on_person['best']:.2f})."
    )
    if split_scores:
        text += (
            f" Over its test split: {split_scores['share']:.2f} ({split_scores['uniform']:.2f}, "
            f"{split_scores['best']:.2f})."
        )
    if uniform and scores:
        cost = scores["top1"] - uniform["top1"]
        need = "it needs them there" if cost >= 0.08 else "where they land does not yet decide the class"
        text += (
            f" With every glimpse given the same weight it scores top-1 {uniform['top1']:.3f} against "
            f"{scores['top1']:.3f} with its own: {need}."
        )
    st.markdown(text)

left, right = st.columns(2)
with left:
    st.markdown("**Glimpse trajectories** (markers grow with time; the ring is the slider's step)")
    ui.figure(trajectory_figure(glimpses, (H, W), step=step), f"{name}-trajectories", key="glimpses_paths")
with right:
    st.markdown(f"**Glimpses shared out among workers** at step {step} (each row sums to 1)")
    ui.figure(assignment_figure(assignment, step=step), f"{name}-assignment", key="glimpses_assignment")

st.markdown("**Every glimpse** (pixels of the clip frame)")
table = glimpse_table(glimpses, insp.frame_index, (H, W))
if table["width"].max() < 1 and table["height"].max() < 1:
    st.info("This model's glimpses have shrunk to points (under a pixel wide): only their positions tell.")
ui.table(table, f"{name}-glimpses", key="glimpses_table")
