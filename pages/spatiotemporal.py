"""Spatio-temporal attention: where in each frame the model looked (its spatial map over the square
it read) and when (its temporal weights along the clip), with the ground-truth interval of
synthetic clips."""

from __future__ import annotations

import streamlit as st

from app_support import state, ui
from app_support.models import metrics
from app_support.navigation import through_router
from core_models.where import clip_spatial_scores
from viz.charts import frame_steps
from viz.checks import worth_sentence
from viz.heatmap import interval_mass, overlay_boxed_heatmap, spatial_map_figure, temporal_curve_figure
from viz.parts import enlarge
from viz.skeleton import draw_skeleton

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

st.title("Spatio-temporal attention")
clip, entry, insp = state.page_context(("spatial", "temporal"), "spatial or temporal attention")
show_skeleton = st.session_state.get("show_skeleton", True)

ui.prediction_header(insp)
st.caption(
    "The heatmap is the spatial attention (red = where the model's features weigh most, relative "
    "to the map's own peak), laid over the square the model read; the darkened rest of the frame is "
    "outside its input. The curve is the temporal attention: the weight of each feature step, "
    "spread over the frames that step covers."
)

spatial = insp.attention.get("spatial")  # (h, w) or (T', h, w)
temporal = insp.attention.get("temporal")  # (T',)
name = f"{clip.name}-{entry.name}"

alpha = None
if spatial is not None and insp.view_boxes is not None:
    alpha = st.slider("Heatmap opacity", 0.0, 1.0, 0.5, 0.05, key="sta_alpha", bind="query-params")
else:
    st.info(f"{entry.name} has no spatial attention map; the frames are shown as they are.")
skeleton = show_skeleton and clip.joints2d is not None


def overlay():
    frames = clip.frames
    if alpha is not None:
        frames = overlay_boxed_heatmap(frames, spatial, insp.view_boxes, alpha=alpha)
    if skeleton:  # on enlarged frames: thin lines, small joints
        frames, scale = enlarge(frames)
        frames = draw_skeleton(frames, clip.joints2d * scale, clip.layout)
    return frames


frames, drawn_as = clip.frames, None  # nothing drawn on them: the clip's own frames
if alpha is not None or skeleton:
    frames, drawn_as = state.drawn("spatiotemporal", entry, clip, (alpha, skeleton), overlay)

left, right = st.columns(2)
with left:
    ui.video(frames, clip.meta.get("fps", 30.0), f"{name}-spatial.webm", key="sta_video", digest=drawn_as)
with right:
    t = ui.frame_slider(clip.num_frames)
    ui.image(frames[t], f"frame {t}", f"{name}-spatial-frame{t}", key="sta_frame")

interval = clip.truth.interval if clip.truth is not None else None
left, right = st.columns(2)
with left:
    if temporal is None:
        st.info(f"{entry.name} has no temporal attention.")
    else:
        st.markdown("**Temporal attention** (the red line is the frame slider)")
        fig = temporal_curve_figure(temporal, clip.num_frames, t, interval)
        ui.figure(fig, f"{name}-temporal", key="sta_temporal")
        if interval is not None:
            start, end = interval
            mass = interval_mass(temporal, clip.num_frames, interval)
            st.markdown(
                f"The shaded band is the ground-truth interval, frames {start}–{end - 1}, which tells "
                f"the action apart. It holds **{mass:.2f}** of the temporal attention "
                f"(uniform attention: {(end - start) / clip.num_frames:.2f})."
            )
with right:
    if spatial is not None:
        steps = len(spatial) if spatial.ndim == 3 else 1
        step = int(frame_steps(clip.num_frames, steps)[t])
        shown = spatial[step] if spatial.ndim == 3 else spatial
        title = f"step {step} of {steps} (frame {t})" if spatial.ndim == 3 else "one map for the whole clip"
        st.markdown(f"**Spatial map on the feature grid**: {title}")
        ui.figure(spatial_map_figure(shown), f"{name}-spatial-step{step}", key="sta_map")
        place = clip_spatial_scores(insp, clip)
        if place is not None:
            parts = ", ".join(p.replace("_", " ") for p in clip.truth.active_parts())
            st.markdown(
                f"At the frames of the ground-truth interval, **{place['share']:.2f}** of the map's "
                f"weight lies on the cells that hold the parts carrying the action ({parts}); equal "
                f"weights would put {place['uniform']:.2f} there, always the centre "
                f"{place['centre']:.2f}, and the best map 1.00."
            )
        elif clip.truth is not None:
            st.caption("This action is carried by the whole body: no one place of the map to score.")

worth = worth_sentence(metrics(entry), fused=entry.pose_classifier)
if worth:
    st.markdown(worth)

replays = state.what_if_rows(entry, clip)
ui.what_if(replays, f"{clip.name}-{entry.name}-what-if", key="st_what_if", fused=entry.pose_classifier)
