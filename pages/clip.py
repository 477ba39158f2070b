"""Clip and prediction: the clip playing in the browser, a frame slider, the model's top-k scores
with the ground truth marked, and the "Groundtruth: ... - Prediction: ... (0.825)" caption. For the
two baselines with an attention of their own, what it is and what it is compared with: the STN's
warp outlined on the frames (against the identity, and how much it moves over the test split),
self-attention's weight received per step (against equal weights, the middle and the best)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_support import state, ui, uploads
from app_support.models import metrics, predictions
from app_support.navigation import through_router
from app_support.sources import describe
from core_models.attention_scores import (
    grid_box,
    received_scores,
    received_weights,
    temporal_scores,
    warp_boxes,
)
from core_models.checkpoint import CheckpointError
from core_models.results import eval_dir
from viz.baselines import draw_warp, matrix_figure, nonlocal_sentence, received_sentences, warp_sentence
from viz.charts import topk_figure, topk_rows
from viz.checks import worth_sentence
from viz.export import html_bytes
from viz.fusion import fusion_table, fusion_text
from viz.heatmap import temporal_curve_figure
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

grid = insp.attention.get("grid") if insp is not None and insp.view_boxes is not None else None
if clip.frames is None:
    st.info("This clip has no video.")
else:
    frames, drawn_as = clip.frames, None
    pose = clip.meta.get("pose")  # estimated joints: their own look, coloured by confidence
    with_skeleton = show_skeleton and clip.joints2d is not None
    if with_skeleton or grid is not None:

        def overlay():  # on enlarged frames: thin lines, small joints
            big, scale = enlarge(clip.frames)
            if with_skeleton and pose:
                big = draw_estimated(big, clip.joints2d * scale, pose["confidence"], clip.layout,
                                     min_confidence=pose["min_confidence"])  # fmt: skip
            elif with_skeleton:
                big = draw_skeleton(big, clip.joints2d * scale, clip.layout)
            if grid is not None:  # what the spatial transformer reads
                big = draw_warp(big, grid, insp.view_boxes, scale)
            return big

        model = entry if grid is not None else None  # the skeleton alone does not depend on it
        options = (bool(pose), with_skeleton, model is not None)
        frames, drawn_as = state.drawn("clip", model, clip, options, overlay)
        if with_skeleton and pose:
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


# The two baselines with an attention of their own: where the STN's warp reads, when
# self-attention's steps look; each figure beside what plain reading would give.
@st.cache_data(show_spinner=False, max_entries=8)
def split_figures(path: str, stamp: float, _entry, size: int = 0) -> dict:
    """The test split's warp spread (``grid_box``; ``size``: the warp's output side) or received
    weights' shares (``self_attention``) of the model at ``path``, from its evaluation table as
    of ``stamp``."""
    table = predictions(_entry)
    out = {}
    if table is not None and "grid_box" in table and size > 1:
        out["warp"] = warp_boxes(np.stack(table["grid_box"].to_numpy()), size)
    if table is not None and "self_attention" in table and "truth_interval" in table:
        mats = np.stack([np.stack(m) for m in table["self_attention"]])
        out["received"] = received_scores(mats, np.stack(table["truth_interval"].to_numpy()))
    return out


self_weights = insp.attention.get("self") if insp is not None else None  # (heads, T, T), last block
if grid is not None or self_weights is not None:
    evaluated = eval_dir(entry.path) / "predictions.parquet"
    side = grid.shape[0] if grid is not None else 0
    stamp = evaluated.stat().st_mtime if evaluated.is_file() else None
    split = split_figures(str(entry.path), stamp, entry, side) if stamp else {}
if grid is not None:
    crop = getattr(state.loaded_model(entry).model.config, "person_crop", False)
    here = warp_boxes(np.array([grid_box(grid)]), grid.shape[0])
    st.markdown(warp_sentence(here, split.get("warp"), crop, metrics(entry)))
if self_weights is not None:
    received = received_weights(self_weights)
    left, right = st.columns(2)
    with left:
        heads, steps = self_weights.shape[:2]
        st.markdown(
            f"**The weight each step receives** (self-attention's last block, the mean over its {heads} "
            f"heads and {steps} reading steps)"
        )
        band = clip.truth.interval if clip.truth is not None else None
        at = t if clip.frames is not None else None
        fig = temporal_curve_figure(received, clip.num_frames, at, band, name="weight received")
        ui.figure(fig, f"{clip.name}-{entry.name}-received", key="clip_received")
        here = None
        if band is not None:
            here = temporal_scores(received, (band[0] / clip.num_frames, band[1] / clip.num_frames))
        for line in received_sentences(here, band, split.get("received"), steps):
            st.markdown(line)
    with right:
        st.markdown("**Who reads whom** (rows read from columns; the mean over heads)")
        fig = matrix_figure(self_weights, insp.frame_index)
        ui.figure(fig, f"{clip.name}-{entry.name}-self", key="clip_self")
nonlocal_maps = insp.attention.get("nonlocal") if insp is not None else None  # {block: (N, M)}
if nonlocal_maps:
    st.markdown(nonlocal_sentence(nonlocal_maps))
if self_weights is not None or nonlocal_maps:  # what that attention is worth over the test split
    worth = worth_sentence(metrics(entry), fused=entry.pose_classifier)
    if worth:
        st.markdown(worth)
if insp is not None:  # any model whose attention can be steered: what this clip owes to it
    replays = state.what_if_rows(entry, clip)
    ui.what_if(replays, f"{clip.name}-{entry.name}-what-if", key="clip_what_if", fused=entry.pose_classifier)
