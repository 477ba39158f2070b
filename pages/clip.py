"""Clip and prediction: the clip playing in the browser, a frame slider, the model's top-k scores
with the ground truth marked, and the "Groundtruth: ... - Prediction: ... (0.825)" caption."""

from __future__ import annotations

import streamlit as st

from app_support import state, ui, uploads
from app_support.navigation import through_router
from app_support.sources import describe
from core_models.checkpoint import CheckpointError
from viz.charts import topk_figure, topk_rows
from viz.export import html_bytes
from viz.fusion import fusion_table, fusion_text
from viz.parts import enlarge
from viz.skeleton import draw_estimated, draw_skeleton

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

clip = state.current_clip()
entry = state.current_entry()
show_skeleton = st.session_state.get("show_skeleton", True)

insp = None
problem = None
if entry is None:
    problem = "No trained model: checkpoints/ is empty."
else:
    try:
        insp = state.inspection(entry, clip)
    except CheckpointError as err:
        problem = f"Could not load {entry.name}: {err}"
    except ValueError as err:
        problem = state.cannot_read(entry, clip, err)

st.title(clip.label_name.capitalize() if clip.label >= 0 else clip.name)
st.caption(describe(clip))
if insp is not None:
    ui.prediction_header(insp)
else:
    st.warning(problem)
    source = state.clip_source()
    pose_missing = source.get("kind") == "upload" and clip.joints3d is None and clip.frames is not None
    if pose_missing and uploads.pose_panel(source, clip.num_frames, key="clip_page"):
        st.rerun()  # the sidebar picks the cached estimate up
for w in clip.meta.get("warnings", []):
    st.info(w)

if clip.frames is None:
    st.info("This clip has no video.")
else:
    frames, drawn_as = clip.frames, None
    pose = clip.meta.get("pose")  # estimated joints: their own look, coloured by confidence
    if show_skeleton and clip.joints2d is not None:

        def skeleton():  # on enlarged frames: thin lines, small joints
            big, scale = enlarge(clip.frames)
            if pose:
                return draw_estimated(big, clip.joints2d * scale, pose["confidence"], clip.layout,
                                      min_confidence=pose["min_confidence"])  # fmt: skip
            return draw_skeleton(big, clip.joints2d * scale, clip.layout)

        frames, drawn_as = state.drawn("clip", None, clip, (bool(pose),), skeleton)
        if pose:
            st.caption(
                "Skeleton estimated by BlazePose: dashed bones, joints red (low) to green (high confidence)."
            )
    left, right = st.columns(2)
    with left:
        ui.video(frames, clip.meta.get("fps", 30.0), f"{clip.name}.webm", key="clip_video", digest=drawn_as)
    with right:
        t = ui.frame_slider(clip.num_frames)
        ui.image(frames[t], f"frame {t}", f"{clip.name}-frame{t}", key="clip_frame")

if insp is not None:
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Top-5 of {entry.name}**")
        # Bars as progress rows, not a plotly chart: the first page then loads no plotly code
        # (4.6 MB, seconds to compile on a busy machine); the chart is in the download.
        for row in topk_rows(insp.probs, insp.class_names, insp.label, k=5):
            mark = f" · :green[ground truth (rank {row['rank']})]" if row["truth"] else ""
            st.progress(row["prob"], text=f"{row['rank']}. **{row['name']}** {row['prob']:.3f}{mark}")
        fig = topk_figure(insp.probs, insp.class_names, insp.label, k=5)
        ui.download("Download chart (HTML)", lambda: html_bytes(fig), f"{clip.name}-{entry.name}-top5.html",
                    "text/html", "clip_topk_html")  # fmt: skip
    with right:
        if insp.streams:
            st.markdown("**How the streams make the prediction**")
            st.markdown(fusion_text(insp.class_names, insp.stream_logits, insp.probs, insp.fusion))
            table = fusion_table(insp.class_names, insp.stream_logits, insp.probs, insp.fusion, insp.label)
            ui.table(table, f"{clip.name}-{entry.name}-fusion", key="clip_fusion")
        st.caption(f"Inference took {insp.seconds * 1000:.0f} ms on this machine (cached afterwards).")

if clip.truth is not None:
    start, end = clip.truth.interval
    st.markdown(
        f"**Ground truth.** The action is carried by **{', '.join(clip.truth.active_parts())}** "
        f"and told apart from *{', '.join(clip.truth.confusers) or 'the other classes'}* in frames "
        f"**{start}–{end - 1}**."
    )
