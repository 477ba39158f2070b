"""Attention playground: soft vs hard attention, a spatial transformer and dot-product attention,
each computed by hand on the sidebar's clip, with its knobs as widgets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from app_support.models import SHIPPED_DIR
from app_support.navigation import through_router
from app_support.sources import describe
from app_support.state import current_clip
from core_models.attention_scores import warp_boxes
from viz import playground as pg
from viz.charts import attention_matrix_figure
from viz.export import html_bytes, png_bytes

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

DEFAULT_TEMPERATURE = 0.25
SCORE_HELP = {
    "motion": "how much each cell changed since the previous frame (mean absolute grey difference)",
    "saliency": "local contrast: the spread of grey levels inside each cell (edges, texture)",
    "position": "a Gaussian around a chosen point; ignores the image content",
}


def png_button(label: str, image, file_name: str, key: str) -> None:
    st.download_button(label, lambda: png_bytes(image), file_name=file_name, mime="image/png", key=key,
                       on_click="ignore")  # fmt: skip


STN_RUN = "stn-cs"


@st.cache_data(show_spinner=False)
def _grid_boxes(path: str, mtime: float) -> np.ndarray | None:
    table = pd.read_parquet(path, columns=["grid_box"])
    return np.stack(table["grid_box"].to_numpy()) if len(table) else None


def shipped_stn_grids() -> dict | None:
    """The shipped STN's grids on its test clips (``evaluate``'s ``grid_box``), or None."""
    path = SHIPPED_DIR / STN_RUN / "eval" / "test" / "predictions.parquet"
    try:
        boxes = _grid_boxes(str(path), path.stat().st_mtime)
        settings = json.loads((SHIPPED_DIR / STN_RUN / "settings.json").read_text())
        size = int(settings["config"]["frame_size"])  # the warp's output side
    except (OSError, KeyError, ValueError, TypeError):  # not shipped, or a table without grids
        return None
    return warp_boxes(boxes, size) if boxes is not None else None


def html_button(label: str, fig, file_name: str, key: str) -> None:
    st.download_button(label, lambda: html_bytes(fig), file_name=file_name, mime="text/html", key=key,
                       on_click="ignore")  # fmt: skip


st.title("Attention playground")
st.markdown(
    "Three kinds of attention, computed by hand on the sidebar's clip. No model is trained here: "
    "each tab does, in a few lines, the operation that a model learns to use, so you can turn its "
    "knobs and see what changes."
)
clip = current_clip()  # the sidebar's clip, as on every page
action = clip.name  # names the downloads
if clip.frames is None or clip.num_frames < 2:
    st.info("The sidebar's clip has no video (or a single frame): the playground works on frames.")
    st.stop()
st.caption(f"On the sidebar's clip: {describe(clip)}")
frames = clip.frames  # (T, H, W, 3)
T = len(frames)

soft_tab, stn_tab, dot_tab = st.tabs(
    ["Soft vs hard attention", "Spatial transformer", "Dot-product attention"]
)

with soft_tab:
    st.markdown(
        "The frame is cut into a grid of cells and each cell gets a **score**. **Soft attention** "
        "turns the scores into weights with a softmax, `w = softmax(score / temperature)`, and "
        "passes on a weighted average of all cells: smooth, so it can be trained by gradient "
        "descent. **Hard attention** keeps only the best cell (an argmax): cheaper to read, but not "
        "differentiable, so models that use it are trained with sampling (REINFORCE). A low "
        "temperature makes the softmax close to the argmax; a high one spreads it evenly."
    )
    c1, c2, c3, c4 = st.columns(4)
    t = c1.slider("Frame", 1, T - 1, min(T - 1, T // 2), key="pg_frame")
    source = c2.selectbox("Score", pg.SCORE_SOURCES, key="pg_source")
    grid = c3.slider("Grid cells per side", 2, 16, 8, key="pg_grid")
    # 0.25 by default: on motion scores soft attention then spreads over a handful of cells while
    # hard attention keeps one (at 0.1 the two look the same; see tests/test_playground.py).
    temperature = c4.slider("Temperature", 0.01, 2.0, DEFAULT_TEMPERATURE, step=0.01, key="pg_temperature")
    st.caption(f"Score: {SCORE_HELP[source]}.")
    point = (0.5, 0.4)
    if source == "position":
        p1, p2 = st.columns(2)
        point = (
            p1.slider("Point x (fraction of width)", 0.0, 1.0, 0.5, key="pg_px"),
            p2.slider("Point y (fraction of height)", 0.0, 1.0, 0.4, key="pg_py"),
        )
    scores = pg.attention_scores(frames[t], source, grid=grid, previous=frames[t - 1], point=point)
    soft = pg.soft_attention(scores, temperature)
    hard = pg.hard_attention(scores)
    soft_img, hard_img = pg.attend_frame(frames[t], soft, "soft"), pg.attend_frame(frames[t], hard, "hard")

    left, right = st.columns(2)
    with left:
        st.image(
            soft_img, caption=f"soft: brightness follows the weight (max {soft.max():.3f})", width="stretch"
        )
        png_button("Soft attention (PNG)", soft_img, f"soft-{action}-{t}.png", "pg_dl_soft")
        fig_soft = pg.weight_grid_figure(soft, "soft weights (sum to 1)")
        st.plotly_chart(fig_soft, key="pg_fig_soft")
        html_button("Soft weights (HTML)", fig_soft, f"soft-weights-{action}-{t}.html", "pg_dl_soft_fig")
    with right:
        st.image(hard_img, caption="hard: only the best cell passes", width="stretch")
        png_button("Hard attention (PNG)", hard_img, f"hard-{action}-{t}.png", "pg_dl_hard")
        fig_hard = pg.weight_grid_figure(hard, "hard weights (one-hot)")
        st.plotly_chart(fig_hard, key="pg_fig_hard")
        html_button("Hard weights (HTML)", fig_hard, f"hard-weights-{action}-{t}.html", "pg_dl_hard_fig")
    st.caption(f"Soft attention is spread over {pg.effective_cells(soft):.1f} cells (exp of its entropy) "
               f"of {grid * grid}; hard attention over 1.")  # fmt: skip
    soft_rgb, hard_rgb = pg.glimpse_of(frames[t], soft), pg.glimpse_of(frames[t], hard)
    st.caption(
        "What is passed on, here the cells' mean colour (a model uses learned features): soft "
        f"RGB {tuple(int(v) for v in soft_rgb.round())}, hard RGB {tuple(int(v) for v in hard_rgb.round())}."
    )

with stn_tab:
    st.markdown(
        "A **spatial transformer** regresses six numbers, an affine transform `theta`, that place a "
        "sampling grid on the image; a bilinear sampler reads the image at the grid's points, and "
        "that crop (zoomed, turned, shifted) is what the rest of the network sees. Because bilinear "
        "sampling is differentiable, the transform is learned from the task loss alone. Here you "
        "set the transform by hand; the trained `stn` model predicts it from the clip (its `cpu` "
        "preset from the person crop)."
    )
    c1, c2, c3, c4 = st.columns(4)
    scale = c1.slider("Scale", 0.2, 1.5, 0.6, step=0.05, key="pg_scale")
    rotation = c2.slider("Rotation (degrees)", -180, 180, 0, key="pg_rotation")
    tx = c3.slider("Shift x", -1.0, 1.0, 0.0, step=0.05, key="pg_tx")
    ty = c4.slider("Shift y", -1.0, 1.0, -0.1, step=0.05, key="pg_ty")
    st_frame = st.slider("Frame", 0, T - 1, T // 2, key="pg_stn_frame")
    theta = pg.theta_from(scale, rotation, tx, ty)
    grid_img = pg.draw_grid(frames[st_frame], theta, lines=8)
    warped = pg.warp(frames[st_frame], theta)
    left, right = st.columns(2)
    with left:
        st.image(grid_img, caption="where the grid samples (red: its outline)", width="stretch")
        png_button("Sampling grid (PNG)", grid_img, f"stn-grid-{action}-{st_frame}.png", "pg_dl_grid")
    with right:
        st.image(warped, caption="the transformer's output (black: outside the image)", width="stretch")
        png_button("Warped output (PNG)", warped, f"stn-warped-{action}-{st_frame}.png", "pg_dl_warp")
    st.code(
        "theta = [[{:+.3f} {:+.3f} {:+.3f}]\n         [{:+.3f} {:+.3f} {:+.3f}]]".format(*theta.ravel()),
        language=None,
    )
    st.caption(
        "theta maps each output pixel (x, y in [-1, 1]) to the input point it reads: scale < 1 zooms "
        "in, the last column moves the box. The model clamps the grid to the image and repeats the "
        "border instead of reading black."
    )
    learned = shipped_stn_grids()
    if learned is not None:
        m, sd = learned["mean"], learned["spread"]
        st.caption(
            f"What the shipped `{STN_RUN}` learnt, over its {learned['clips']} test clips: its grid spans "
            f"x {m[0]:+.2f}..{m[1]:+.2f} and y {m[2]:+.2f}..{m[3]:+.2f} of its input (the person crop, "
            f"in the `cpu` preset) on average (spread across clips up to {sd.max():.2f}), "
            f"{learned['area']:.0%} of the input's area; "
            "the identity spans -1..+1 both ways. A spread near 0 means one learnt crop for every clip, "
            "not a transform that follows the action."
        )

with dot_tab:
    st.markdown(
        "**Scaled dot-product attention**, the core of a transformer, here between the frames of "
        "the clip. Each frame is described by a fixed vector (a small grey thumbnail minus the "
        "clip's average, projected to 32 numbers). Frame *i* attends to frame *j* with weight "
        "`softmax_j(q_i · k_j / (sqrt(d) · temperature))`: frames in a similar pose attend to each "
        "other. Temperature 1 is the transformer's formula; lower sharpens each row towards its "
        "best match, higher flattens it towards uniform."
    )
    c1, c2 = st.columns(2)
    dot_temperature = c1.slider("Temperature", 0.05, 5.0, 1.0, step=0.05, key="pg_dot_temperature")
    query = c2.slider("Query frame", 0, T - 1, T // 2, key="pg_query")
    feats = pg.frame_features(frames)  # (T, 32)
    weights = pg.dot_product_attention(feats, feats, dot_temperature)  # (T, T)
    left, right = st.columns(2)
    with left:
        fig_matrix = attention_matrix_figure(weights, query)
        st.plotly_chart(fig_matrix, key="pg_fig_matrix")
        html_button("Attention matrix (HTML)", fig_matrix, f"attention-matrix-{action}.html", "pg_dl_matrix")
    with right:
        fig_row = pg.attention_row_figure(weights[query], query)
        st.plotly_chart(fig_row, key="pg_fig_row")
        html_button("Query row (HTML)", fig_row, f"attention-row-{action}-{query}.html", "pg_dl_row")
    top = pg.top_frames(weights[query], 5)
    st.markdown(f"**Frames that query frame {query} attends to most**")
    cols = st.columns(len(top) + 1)
    with cols[0]:
        st.image(frames[query], caption=f"query: frame {query}", width="stretch")
    for col, j in zip(cols[1:], top):
        with col:
            st.image(frames[j], caption=f"frame {j} · {weights[query, j]:.3f}", width="stretch")
            png_button("PNG", frames[j], f"frame-{action}-{j}.png", f"pg_dl_top_{j}")
