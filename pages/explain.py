"""Attributions: what the input says the model used (captum), beside what the model's own attention
says it used, how well the two agree, and how fast the score falls when the top parts go."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_support import explaining, state, ui
from app_support.navigation import through_router
from app_support.sources import describe
from core_models.explain import METHODS, ExplainSettings
from viz.explain import curves_figure, frames_figure, per_frame, shares_figure
from viz.heatmap import overlay_boxed_heatmap
from viz.parts import draw_skeleton_weights

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

LABELS = {
    "integrated_gradients": "Integrated Gradients",
    "saliency": "Saliency (input gradients)",
    "occlusion": "Occlusion",
    "grad_cam": "Grad-CAM (last conv layer)",
    "segment_ablation": "Temporal segment ablation",
}

TRUTH_LABELS = {
    "parts_truth_share": "attribution on the true parts",
    "attention_parts_truth_share": "attention on the true parts",
    "interval_truth_share": "attribution in the true interval",
    "attention_interval_truth_share": "attention in the true interval",
    "interval_fraction": "uniform share in the interval",
}

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
method = c1.selectbox("Method", METHODS, format_func=LABELS.get, key="explain_method")
targets = ("pred", "label") if insp.label is not None else ("pred",)
target = c2.radio(
    "Explain the score of", targets, horizontal=True, key="explain_target",
    format_func={"pred": "the prediction", "label": "the ground truth"}.get,
)  # fmt: skip
segments = c3.slider("Temporal segments", 2, 16, 8, key="explain_segments")
extra = {}
if method == "integrated_gradients":
    extra["steps"] = st.slider("Integration steps", 4, 128, 32, step=4, key="explain_steps")
if method == "occlusion":
    o1, o2 = st.columns(2)
    extra["window_frames"] = o1.slider("Window (frames)", 1, 8, 4, key="explain_window_frames")
    extra["window_pixels"] = o2.slider("Window (pixels)", 2, 32, 8, key="explain_window_pixels")
settings = ExplainSettings(method=method, target=target, segments=segments, **extra)

try:
    cost = explaining.cost(entry, clip, settings)
except ValueError as err:  # e.g. Grad-CAM on a model without convolutions
    st.warning(f"{LABELS[method]} does not apply to {entry.name}: {err}")
    st.stop()
done = explaining.is_cached(entry, clip, settings)
st.caption(f"Cost: {cost.text}" + (" · already computed" if done else ""))
if not done and not st.button(f"Run {LABELS[method]}", type="primary", key="explain_run"):
    st.stop()

bar = st.progress(0.0, text=f"{LABELS[method]}…")
expl = explaining.explanation(entry, clip, settings, progress=lambda i, n: bar.progress(i / max(n, 1)))
bar.empty()
st.caption(f"{LABELS[method]} of class *{expl.target_name}* took {expl.seconds:.2f} s.")

# -- spatial: attribution on the frames beside the model's own map -------------------------------
frames = clip.frames
t = ui.frame_slider(clip.num_frames) if frames is not None else None
boxes = explaining.pixel_boxes(insp, expl)
if frames is not None and expl.pixels is not None and boxes is not None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Attribution on the pixels the model read**")
        overlaid = overlay_boxed_heatmap(frames, expl.pixels, boxes)
        ui.image(overlaid[t], f"frame {t}", f"{clip.name}-{method}-frame{t}", key="explain_pixels")
        ui.video(overlaid, clip.meta.get("fps", 30.0), f"{clip.name}-{method}.webm", key="explain_video")
    with right:
        if "spatial" in insp.attention and insp.view_boxes is not None:
            st.markdown("**The model's own spatial attention**")
            own = overlay_boxed_heatmap(frames, insp.attention["spatial"], insp.view_boxes)
            ui.image(own[t], f"frame {t}", f"{clip.name}-attention-frame{t}", key="explain_attention")
        else:
            st.info(f"{entry.name} has no spatial attention to set beside it.")

# -- body parts -----------------------------------------------------------------------------------
truth_parts = list(clip.truth.active_parts()) if clip.truth is not None else None
if expl.parts:
    names = list(expl.parts)
    series = {"attribution": np.array([expl.parts[n] for n in names])}
    if "parts" in insp.attention and tuple(insp.part_names) == tuple(names):
        weights = np.asarray(insp.attention["parts"])
        series["attention"] = weights.mean(axis=0) if weights.ndim == 2 else weights
    left, right = st.columns(2)
    with left:
        title = (
            f"Body parts ({'joints summed into parts' if expl.parts_source == 'skeleton' else 'part crops'})"
        )
        ui.figure(
            shares_figure(names, series, truth_parts, title),
            f"{clip.name}-{method}-parts",
            key="explain_parts",
        )
    with right:
        if expl.parts_source == "skeleton" and frames is not None and clip.joints2d is not None:
            weights = series["attribution"]
            one = slice(t, t + 1)
            drawn = draw_skeleton_weights(
                frames[one], clip.joints2d[one], clip.layout, names, weights, vmax=float(weights.max())
            )
            caption = "joints coloured by their part's attribution"
            ui.image(drawn[0], caption, f"{clip.name}-{method}-skeleton", key="explain_skeleton")

# -- time ------------------------------------------------------------------------------------------
interval = clip.truth.interval if clip.truth is not None else None
curves = {}
if expl.frames is not None:
    curves["attribution"] = per_frame(expl.frames, expl.frame_index, clip.num_frames)
own_time = explaining.temporal_attention(insp, clip.num_frames)
if own_time is not None:
    curves["attention"] = own_time
if curves:
    ui.figure(frames_figure(curves, clip.num_frames, t, interval, "Over the clip's frames"),
              f"{clip.name}-{method}-time", key="explain_time")  # fmt: skip

# -- agreement, faithfulness, ground truth ---------------------------------------------------------
st.header("Agreement and faithfulness")
agree = explaining.agreement(insp, expl)
truth = explaining.truth_scores(clip, expl, insp)
if agree or truth:
    cols = st.columns(max(len(agree) + len(truth), 1))
    for col, (kind, value) in zip(cols, list(agree.items()) + list(truth.items())):
        if kind in agree:
            col.metric(f"rank agreement, {kind}", f"{value:+.2f}")
        else:
            col.metric(TRUTH_LABELS.get(kind, kind.replace("_", " ")), f"{value:.2f}")
    st.caption("Rank agreement is Spearman's ρ between the learned attention and the attribution (1: same "
               "order). Shares on the truth count how much of each falls on the parts and frames that carry "
               "the action.")  # fmt: skip
units = ("parts", "segments") if expl.parts else ("segments",)
over = st.radio(
    "Remove", units, horizontal=True, key="explain_over",
    format_func={"parts": "body parts", "segments": "temporal segments"}.get,
)  # fmt: skip
try:
    curve_sets = explaining.curves(entry, clip, settings, expl, insp, over)
except ValueError as err:
    st.info(str(err))
else:
    fig = curves_figure(curve_sets, f"Deletion and insertion over {over}")
    ui.figure(fig, f"{clip.name}-{method}-{over}-curves", key="explain_curves")
    st.caption(
        "Deletion: the most important units are blanked first; a faithful ranking makes the score fall "
        "fast (low AUC). Insertion: they are restored first onto a blank clip; it should rise fast "
        "(high AUC)."
    )
