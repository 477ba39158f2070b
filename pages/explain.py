"""Attributions: what the input says the model used (captum), drawn on the images the model read,
"why X and not Y" beside each class alone, the model's own attention beside it, how well the two
agree, and how fast the score falls when the top parts go."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_support import explaining, state, ui
from app_support.explaining import FAST, LABELS
from app_support.navigation import through_router
from app_support.sources import describe
from core_models.explain import ExplainSettings
from viz.explain import curves_figure, frames_figure, input_attribution_figure, per_frame, shares_figure
from viz.heatmap import overlay_boxed_heatmap
from viz.parts import draw_skeleton_weights

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

st.title("Attributions")
clip = state.current_clip()
entry = state.current_entry()
if entry is None:
    st.info("No trained model: checkpoints/ is empty. Train one on the Train page.")
    st.stop()
try:
    insp = state.inspection(entry, clip)
except ValueError as err:
    st.error(f"{entry.name} cannot read this clip: {err}")
    st.stop()
st.caption(f"{describe(clip)} · model {entry.name} (change it in the sidebar)")
ui.prediction_header(insp)

c1, c2, c3 = st.columns(3)
method = c1.selectbox("Method", explaining.PAGE_METHODS, format_func=LABELS.get, key="explain_method",
                      bind="query-params")  # fmt: skip
asks = explaining.questions(insp)
wrong = insp.label is not None and insp.label != insp.pred
question = c2.radio(
    "Explain", list(asks), index=2 if wrong else 0, format_func=asks.get, key="explain_question"
)
segments = c3.slider("Temporal segments", 2, 16, 8, key="explain_segments", bind="query-params")
extra = {}
if method == "integrated_gradients":
    extra["steps"] = st.slider("Integration steps", 4, 128, 32, step=4, key="explain_steps")
if method == "occlusion":
    o1, o2 = st.columns(2)
    extra["window_frames"] = o1.slider("Window (frames)", 1, 8, 4, key="explain_window_frames")
    extra["window_pixels"] = o2.slider("Window (pixels)", 2, 32, 8, key="explain_window_pixels")
runs = explaining.runs(insp, question, ExplainSettings(method=method, segments=segments, **extra))

done = all(explaining.is_cached(entry, clip, s) for s in runs)
if method not in FAST and not done:  # slow methods: the cost first, then a button
    try:
        cost = explaining.cost(entry, clip, runs[-1])
    except ValueError as err:
        st.warning(f"{LABELS[method]} does not apply to {entry.name}: {err}")
        st.stop()
    times = f" × {len(runs)} explanations" if len(runs) > 1 else ""
    st.caption(f"Cost: {cost.text}{times}")
    if not st.button(f"Run {LABELS[method].split(' (')[0]}", type="primary", key="explain_run"):
        st.stop()

bar = st.progress(0.0, text=f"{LABELS[method]}…")
try:
    expls = explaining.explain_all(entry, clip, runs, bar)
except ValueError as err:  # e.g. Grad-CAM on a model without convolutions
    bar.empty()
    st.warning(f"{LABELS[method]} does not apply to {entry.name}: {err}")
    st.stop()
bar.empty()
expl = expls[-1]  # the explanation asked for (the contrast, with each class alone before it)
took = sum(e.seconds for e in expls)
st.caption(
    f"{LABELS[method]} of *{expl.question}* took {took:.2f} s" + (" (computed earlier)" if done else ".")
)

# -- on the images the model read -----------------------------------------------------------------
frames = clip.frames
t = ui.frame_slider(clip.num_frames) if frames is not None else 0
rows = explaining.input_rows(expls, t, clip.num_frames)
if rows:
    st.subheader("On what the model read")
    fig = input_attribution_figure(rows)
    ui.figure(fig, f"{clip.name}-{method}-inputs-{t}", key="explain_inputs")
    st.caption(
        "Each image is an input exactly as the model read it at the sample nearest this frame (a body-part "
        "crop, the person crop or the square it reads). Red pushes the explained score up, blue pushes it "
        "down; a contrast row's red is evidence for the first class over the second."
    )
boxes = explaining.pixel_boxes(insp, expl)
if frames is not None and expl.pixels is not None and boxes is not None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Where that lies in the frame** (magnitude)")
        overlaid = overlay_boxed_heatmap(frames, expl.pixels, boxes)
        ui.image(overlaid[t], f"frame {t}", f"{clip.name}-{method}-frame{t}", key="explain_pixels")
    with right:
        if "spatial" in insp.attention and insp.view_boxes is not None:
            st.markdown("**The model's own spatial attention**")
            own = overlay_boxed_heatmap(frames, insp.attention["spatial"], insp.view_boxes)
            ui.image(own[t], f"frame {t}", f"{clip.name}-attention-frame{t}", key="explain_attention")
        else:
            st.info(f"{entry.name} has no spatial attention to set beside it.")

# -- body parts and time: each explanation beside the attention ------------------------------------
truth_parts = list(clip.truth.active_parts()) if clip.truth is not None else None
if expl.parts:
    names = list(expl.parts)
    series = {e.question: np.array([e.parts.get(n, 0.0) for n in names]) for e in expls if e.parts}
    if "parts" in insp.attention and tuple(insp.part_names) == tuple(names):
        weights = np.asarray(insp.attention["parts"])
        series["attention"] = weights.mean(axis=0) if weights.ndim == 2 else weights
    source = "joints summed into parts" if expl.parts_source == "skeleton" else "part crops"
    skeleton = expl.parts_source == "skeleton" and frames is not None and clip.joints2d is not None
    left, right = st.columns([3, 2]) if skeleton else (st.container(), None)
    with left:
        ui.figure(shares_figure(names, series, truth_parts, f"Body parts ({source})"),
                  f"{clip.name}-{method}-parts", key="explain_parts")  # fmt: skip
    if right is not None:
        w = series[expl.question]
        drawn = draw_skeleton_weights(frames[t : t + 1], clip.joints2d[t : t + 1], clip.layout, names, w,
                                      vmax=float(w.max()))  # fmt: skip
        with right:
            caption = "joints coloured by their part's attribution"
            ui.image(drawn[0], caption, f"{clip.name}-{method}-skeleton", key="explain_skeleton")
curves = {
    e.question: per_frame(e.frames, e.frame_index, clip.num_frames) for e in expls if e.frames is not None
}
own_time = explaining.temporal_attention(insp, clip.num_frames)
if own_time is not None:
    curves["attention"] = own_time
if curves:
    interval = clip.truth.interval if clip.truth is not None else None
    fig = frames_figure(curves, clip.num_frames, t, interval, "Over the clip's frames")
    ui.figure(fig, f"{clip.name}-{method}-time", key="explain_time")

# -- agreement, faithfulness, ground truth ---------------------------------------------------------
st.header("Agreement and faithfulness")
shown = explaining.metrics(insp, expl, clip)
for col, (label, value) in zip(st.columns(max(len(shown), 1)), shown):
    col.metric(label, value)
if shown:
    st.caption("Rank agreement is Spearman's ρ between the learned attention and the attribution of "
               f"*{expl.question}* (1: same order). Shares on the truth count how much of each falls on the "
               "parts and frames that carry the action.")  # fmt: skip
units = ("parts", "segments") if expl.parts else ("segments",)
over = st.radio("Remove", units, horizontal=True, key="explain_over",
                format_func={"parts": "body parts", "segments": "temporal segments"}.get)  # fmt: skip
try:
    curve_sets = explaining.curves(entry, clip, runs[-1], expl, insp, over)
except ValueError as err:
    st.info(str(err))
else:
    fig = curves_figure(curve_sets, f"Deletion and insertion over {over} (probability of {expl.target_name})")
    ui.figure(fig, f"{clip.name}-{method}-{over}-curves", key="explain_curves")
    st.caption(
        "Deletion: the most important units are blanked first; a faithful ranking makes the score fall "
        "fast (low AUC). Insertion: they are restored first onto a blank clip; it should rise fast "
        "(high AUC)."
    )
