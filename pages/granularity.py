"""Temporal granularity: the WACV 2020 slide for the chosen clip. One row per granularity G with its
TG-att, a thumbnail of each of its G segments with the segment's TS-att, the most attended segment
of each row and the most attended row marked; the same numbers as a table; on synthetic clips, how
much of each segment lies in the ground-truth discriminative interval."""

from __future__ import annotations

import streamlit as st

from app_support import state, ui
from app_support.models import metrics
from app_support.navigation import through_router
from app_support.sources import describe
from core_models.attention_scores import segment_scores
from core_models.models import POSE_CLASSIFIER_LABEL
from viz.granularity import (
    granularity_image,
    granularity_rows,
    granularity_table,
    with_truth,
)

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

st.title("Temporal granularity")
clip, entry, insp = state.page_context(("segments", "granularity"), "temporal granularity attention")
st.caption(describe(clip))

ui.prediction_header(insp)
st.markdown(
    "The clip is cut into G equal segments for each granularity G. Pose decides how much each "
    "segment counts within its row (**TS-att**, sums to 100% per row) and how much each row counts "
    "(**TG-att**, sums to 100% over rows). :orange[Orange]: the row's most attended segment; "
    ":red[red]: the most attended granularity"
    + ("; :green[green bar]: the part of a segment inside the ground-truth interval." if clip.truth else ".")
)

rows = granularity_rows(insp.attention["segments"], insp.attention["granularity"], clip.num_frames)
if clip.truth is not None:
    rows = with_truth(rows, clip.truth.interval)
best = next(r for r in rows if r["best"])
seg_no, seg = next((k, s) for k, s in enumerate(best["segments"], 1) if s["best"])
st.markdown(
    f"Most attended granularity: **G={best['G']}** (TG-att {best['tg']:.1f}%); within it "
    f"**segment {seg_no}**, frames {seg['start']}–{seg['end'] - 1} (TS-att {seg['ts']:.1f}%)."
)
scores = metrics(entry) or {}
if clip.truth is not None:
    start, end = clip.truth.interval
    fields = getattr(state.loaded_model(entry).model, "attention_fields", None)
    _, here = segment_scores(
        insp.attention["segments"], (start / clip.num_frames, end / clip.num_frames), fields
    )
    if here is not None:
        text = (
            f"On this clip the segment weights put **{here['share']:.2f}** of each row's weight on the "
            f"ground-truth interval (mean over the rows with G > 1; equal weights: {here['uniform']:.2f}, "
            f"always the middle segment: {here['middle']:.2f}, the best segment: {here['best']:.2f})."
        )
        split = (scores.get("attention_scores") or {}).get("segments")
        if split:
            text += (
                f" Over its test split: {split['share']:.2f} (equal {split['uniform']:.2f}, middle "
                f"{split['middle']:.2f}, best {split['best']:.2f})."
            )
        st.markdown(text)
checks = (scores.get("attention_checks") or {}).get("interventions") or {}
rows_flat = [v["top1"] for k, v in checks.items() if k.startswith("uniform:segments:")]
fused = f" ({POSE_CLASSIFIER_LABEL})" if entry.pose_classifier else ""
if rows_flat and "uniform:granularity" in checks:
    st.markdown(
        f"What the weights are worth to the model{fused}, over its test split: top-1 {scores['top1']:.3f} "
        f"with its own weights, {min(rows_flat):.3f}–{max(rows_flat):.3f} with equal segment weights "
        f"in one row, {checks['uniform:granularity']['top1']:.3f} with equal granularity weights"
        + (
            f", {checks['truth']['top1']:.3f} with the ground-truth segment weights in every row (each "
            "segment weighted by its share of the truth interval; its own granularity weights kept)."
            if "truth" in checks
            else "."
        )
    )

thumb = st.slider(
    "Thumbnail height (pixels)", 64, 160, 96, step=16, key="granularity_thumb", bind="query-params"
)
slide = granularity_image(clip.frames, rows, thumb=thumb)  # the model reads RGB, so frames exist
ui.image(
    slide, f"{entry.name} on {clip.name}", f"{clip.name}-{entry.name}-granularity", key="granularity_slide"
)

st.markdown("**Segment and granularity attention**")
ui.table(granularity_table(rows), f"{clip.name}-{entry.name}-granularity", key="granularity_table")
if clip.truth is not None:
    start, end = clip.truth.interval
    st.caption(
        f"Ground truth: frames {start}–{end - 1} tell *{clip.label_name}* apart from "
        f"*{', '.join(clip.truth.confusers) or 'the other classes'}*."
    )

replays = state.what_if_rows(entry, clip)
ui.what_if(
    replays, f"{clip.name}-{entry.name}-what-if", key="granularity_what_if", fused=entry.pose_classifier
)
