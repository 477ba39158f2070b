"""The lesson export: one self-contained HTML file with every view of a clip, for a lecture offline.

One page holds the clip in the teaching player (:mod:`viz.player`), each attention view a model
offers (body parts, spatio-temporal, the granularity slide, glimpses), the attributions on what the
model read ("why X and not Y" beside each class alone) and a caption under each that says how to
read it. plotly.js is inlined once, frames are JPEG data URIs and images PNG data URIs: the file
opens in any browser with no network and makes no request.

:func:`lesson_plan` picks, for each view, the model that draws it (the chosen model first);
:func:`lesson_html` lays the page out from the clip, the models' inspections and the
explanations. Arrays and dataclasses in, a string out.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import plotly.graph_objects as go

from core_models.attention_scores import segment_scores, temporal_scores
from core_models.where import clip_spatial_scores
from viz.charts import prediction_caption, topk_figure
from viz.explain import frames_figure, input_attribution_figure, nearest_step, per_frame
from viz.export import png_bytes
from viz.fusion import fusion_table, fusion_text
from viz.glimpses import draw_glimpses, glimpses_in_frame, person_share, trajectory_figure
from viz.granularity import granularity_image, granularity_rows, granularity_table, with_truth
from viz.heatmap import overlay_boxed_heatmap, temporal_curve_figure
from viz.parts import draw_parts_overlay, enlarge, part_weights_figure, part_weights_table, truth_weight
from viz.player import PLAYER_CSS, PLAYER_JS, player_fragment
from viz.skeleton import draw_skeleton

if TYPE_CHECKING:
    from core_models.data.clip import Clip
    from core_models.explain import Explanation
    from core_models.inspect import Inspection

# view -> (the attention kinds that draw it, its title)
VIEWS = {
    "parts": (("parts",), "Body-part attention"),
    "spatiotemporal": (("spatial", "temporal"), "Spatio-temporal attention"),
    "granularity": (("segments",), "Temporal granularity"),
    "glimpses": (("glimpses",), "Glimpse Clouds"),
}
PLAYER_HEIGHT = 270  # frames in the lesson are at most this tall (keeps the file small)

PAGE_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}
h1{margin-bottom:4px} h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
.caption{color:#555;font-size:14px} .row{display:flex;flex-wrap:wrap;gap:24px}
.row>div{flex:1 1 420px;min-width:300px} table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right} img.still{max-width:100%}
"""


@dataclass(frozen=True)
class Section:
    """One part of the lesson: a heading, HTML and the caption that says how to read it."""

    title: str
    body: str
    caption: str = ""


def lesson_plan(models: Sequence[tuple[str, Sequence[str]]]) -> dict[str, str]:
    """Which model draws each view: the first of ``models`` (name, attention kinds) that has it.

    Pass the chosen model first, then the others in order of preference; a model with every kind
    of a view comes before one with some (the spatio-temporal view goes to a model with spatial
    maps before one with temporal weights alone, such as part attention); a view none of them has
    is left out.
    """
    plan = {}
    for view, (kinds, _) in VIEWS.items():
        full = [name for name, have in models if set(kinds) <= set(have)]
        some = [name for name, have in models if set(kinds) & set(have)]
        if full or some:
            plan[view] = (full or some)[0]
    return plan


def _figure(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})  # fmt: skip


def _image(image: np.ndarray, alt: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
    return f'<img class="still" alt="{html.escape(alt)}" src="{uri}">'


def _player(frames: np.ndarray, fps: float, pid: str, caption: str = "") -> str:
    small = frames
    if frames.shape[1] > PLAYER_HEIGHT:  # shrink: the lesson plays several clips
        w = int(round(frames.shape[2] * PLAYER_HEIGHT / frames.shape[1]))
        small = np.stack([cv2.resize(f, (w, PLAYER_HEIGHT), interpolation=cv2.INTER_AREA) for f in frames])
    return player_fragment(small, fps, player_id=pid, caption=caption)


def _row(*cells: str) -> str:
    return '<div class="row">' + "".join(f"<div>{c}</div>" for c in cells) + "</div>"


def _prediction(insp: Inspection) -> str:
    truth = insp.class_names[insp.label] if insp.label is not None else None
    return prediction_caption(truth, insp.class_names[insp.pred], insp.confidence)


def clip_section(clip: Clip, insp: Inspection, model: str) -> Section:
    """The clip in the player with its skeleton, the model's top-5, and how fused streams combine."""
    fps = _fps(clip)
    frames, scale = enlarge(clip.frames)
    if clip.joints2d is not None:
        frames = draw_skeleton(frames, clip.joints2d * scale, clip.layout)
    right = f"<p><b>{html.escape(model)}</b>: {html.escape(_prediction(insp))}</p>"
    right += _figure(topk_figure(insp.probs, insp.class_names, insp.label, k=5), "lesson-top5")
    if insp.streams:
        text = fusion_text(insp.class_names, insp.stream_logits, insp.probs, insp.fusion)
        table = fusion_table(insp.class_names, insp.stream_logits, insp.probs, insp.fusion, insp.label)
        right += f"<p>{_markdown(text)}</p>" + table.to_html(index=False)
    caption = (
        "Play it slowly (0.1×–0.25×) or step frame by frame (arrow keys): the skeleton is the pose the "
        "models read. The bars are the model's probabilities, the ground truth in green."
    )
    if clip.truth is not None:
        start, end = clip.truth.interval
        caption += (
            f" Ground truth: the action is carried by {', '.join(clip.truth.active_parts())} and told apart "
            f"from {', '.join(clip.truth.confusers) or 'the other classes'} in frames {start}–{end - 1}."
        )
    return Section("The clip and the prediction", _row(_player(frames, fps, "lesson-clip"), right), caption)


def _fractions(clip: Clip) -> tuple[float, float]:
    """The clip's truth interval as fractions of the clip (what ``attention_scores`` reads)."""
    start, end = clip.truth.interval
    return start / clip.num_frames, end / clip.num_frames


def parts_section(clip: Clip, insp: Inspection, model: str) -> Section:
    weights = np.asarray(insp.attention["parts"])  # (P,) or (T', P)
    names = list(insp.part_names)
    frames, scale = enlarge(clip.frames)
    boxes = insp.part_boxes * scale if insp.part_boxes is not None else None
    joints = clip.joints2d[:, :1] * scale if clip.joints2d is not None else None
    drawn = draw_parts_overlay(frames, boxes, weights, names, joints2d=joints, layout=clip.layout,
                               vmax=max(float(weights.max()), 1e-9))  # fmt: skip
    mean = weights.mean(axis=0) if weights.ndim == 2 else weights
    truth = list(clip.truth.active_parts()) if clip.truth is not None else None
    fig = _figure(part_weights_figure(names, mean, truth), "lesson-parts")
    caption = (
        f"{model}: each box is a body-part crop the model reads; its colour (dark purple light, yellow "
        "heavy) and thickness are the weight the pose gives that part when the parts' features are "
        "pooled. The bars are the weights (hatched: the parts that carry the action); dashed, the "
        "uniform 1/P."
    )
    if clip.truth is not None:
        on_truth = truth_weight(part_weights_table(names, weights, clip.truth))
        if on_truth is not None:
            caption += (
                f" On this clip the parts that carry the action get {on_truth[0]:.2f} of the weight (equal "
                f"weights: {on_truth[1]:.2f}; the best possible: 1.00)."
            )
        else:
            caption += " None of the model's parts carries this clip's action, so there is no share to score."
    return Section(VIEWS["parts"][1], _row(_player(drawn, _fps(clip), "lesson-parts-player"), fig), caption)


def spatiotemporal_section(clip: Clip, insp: Inspection, model: str) -> Section:
    att = insp.attention
    cells = []
    if "spatial" in att and insp.view_boxes is not None:
        frames = overlay_boxed_heatmap(clip.frames, att["spatial"], insp.view_boxes)
        cells.append(_player(frames, _fps(clip), "lesson-spatial-player"))
    if "temporal" in att:
        interval = clip.truth.interval if clip.truth is not None else None
        cells.append(_figure(temporal_curve_figure(att["temporal"], clip.num_frames, None, interval),
                             "lesson-temporal"))  # fmt: skip
    caption = (
        f"{model}: the spatial map is laid over the square the model read (darkened outside it), "
        "red where it looks most; the curve is how much each time step counts (dashed: uniform), "
        "the ground-truth interval shaded."
    )
    if "temporal" in att and clip.truth is not None:
        here = temporal_scores(att["temporal"], _fractions(clip))
        caption += (
            f" The interval holds {here['share']:.2f} of the step weights (equal weights: "
            f"{here['uniform']:.2f}; always the middle step: {here['middle']:.2f}; the best step: "
            f"{here['best']:.2f})."
        )
    place = clip_spatial_scores(insp, clip)
    if place is not None:
        caption += (
            f" At the frames of that interval, {place['share']:.2f} of the map's weight lies on the "
            "cells holding the parts that carry the action (equal weights: "
            f"{place['uniform']:.2f}; always the centre: {place['centre']:.2f})."
        )
    return Section(VIEWS["spatiotemporal"][1], _row(*cells), caption)


def granularity_section(clip: Clip, insp: Inspection, model: str) -> Section:
    rows = granularity_rows(insp.attention["segments"], insp.attention["granularity"], clip.num_frames)
    if clip.truth is not None:
        rows = with_truth(rows, clip.truth.interval)
    body = _image(granularity_image(clip.frames, rows, thumb=80), "granularity slide")
    body += granularity_table(rows).to_html(index=False, float_format=lambda v: f"{v:.1f}")
    caption = (
        f"{model}: the clip cut into G equal segments for each granularity G. TS-att is how much each "
        "segment counts within its row, TG-att how much each row counts; the orange frame marks a row's "
        "most attended segment, red the most attended granularity, green the ground-truth interval."
    )
    if clip.truth is not None:
        _, here = segment_scores(insp.attention["segments"], _fractions(clip), insp.fields)
        if here is not None:
            caption += (
                f" On this clip the segment weights put {here['share']:.2f} of each row's weight on the "
                f"interval (mean over the rows with G > 1; equal weights: {here['uniform']:.2f}, always the "
                f"middle segment: {here['middle']:.2f}, the best segment: {here['best']:.2f})."
            )
    return Section(VIEWS["granularity"][1], body, caption)


def glimpses_section(clip: Clip, insp: Inspection, model: str) -> Section:
    H, W = clip.frames.shape[1:3]
    glimpses = glimpses_in_frame(insp.attention["glimpses"], insp.view_boxes, insp.frame_index, (H, W))
    drawn = draw_glimpses(clip.frames, glimpses, trail=len(glimpses), view_boxes=insp.view_boxes)
    fig = _figure(trajectory_figure(glimpses, (H, W)), "lesson-glimpses")
    caption = (
        f"{model}: at each step the model places N glimpses on its feature map, each with its colour and "
        "number and the path behind it; the plot is their trajectories over the clip."
    )
    on_person = person_share(insp.attention["glimpses"], clip.joints2d, insp.view_boxes, insp.frame_index)
    if on_person is not None:
        caption += (
            f" {on_person['share']:.2f} of the glimpse area lies on the person's box (glimpses placed at "
            f"random: {on_person['uniform']:.2f}; the best place for glimpses of these sizes: "
            f"{on_person['best']:.2f})."
        )
    return Section(
        VIEWS["glimpses"][1], _row(_player(drawn, _fps(clip), "lesson-glimpses-player"), fig), caption
    )


def attribution_section(clip: Clip, insp: Inspection, expls: Sequence[Explanation], model: str) -> Section:
    """Signed attributions on the images the model read, at the middle of the ground-truth interval
    (or of the clip), one row per explanation, and their weight over the clip's frames."""
    frame = (sum(clip.truth.interval) // 2) if clip.truth is not None else clip.num_frames // 2
    rows = {}
    for e in expls:
        if e.maps:
            step = nearest_step(e.frame_index, len(next(iter(e.maps.values()))), frame, clip.num_frames)
            rows[e.question] = (
                {k: v[step] for k, v in e.views.items()},
                {k: m[step] for k, m in e.maps.items()},
            )
    cells = []
    if rows:
        cells.append(_figure(input_attribution_figure(rows, f"At frame {frame}"), "lesson-inputs"))
    curves = {
        e.question: per_frame(e.frames, e.frame_index, clip.num_frames) for e in expls if e.frames is not None
    }
    if curves:
        interval = clip.truth.interval if clip.truth is not None else None
        fig = frames_figure(curves, clip.num_frames, frame, interval, "Over the clip's frames")
        cells.append(_figure(fig, "lesson-attribution-time"))
    method = expls[-1].method.replace("_", " ") if expls else ""
    caption = (
        f"{model}, {method}: each image is an input exactly as the model read it (a body-part crop, the "
        "person crop or the square it reads). Red pushes the explained score up, blue down. The last row "
        f"explains the difference of two scores: why *{expls[-1].question if expls else ''}*."
    )
    return Section("Attributions: why this answer", "".join(cells), _markdown(caption))


def lesson_html(
    clip: Clip,
    models: Sequence[tuple[str, Inspection]],
    explanations: Sequence[Explanation] = (),
    title: str | None = None,
) -> str:
    """The whole lesson as one HTML document (see the module docstring).

    Args:
        clip: the clip (frames, joints, truth).
        models: ``(name, inspection)`` pairs: the chosen model first, then one per extra view
            (see :func:`lesson_plan`); each view is drawn by the first model that has it.
        explanations: the chosen model's explanations, the one asked for last.
        title: the page title (default: the clip's class).
    """
    if not models:
        raise ValueError("a lesson needs at least one model's inspection")
    if clip.frames is None:
        raise ValueError(f"clip {clip.name} has no video to show")
    main_name, main = models[0]
    plan = lesson_plan([(n, tuple(i.attention)) for n, i in models])
    by_name = dict(models)
    draw = {"parts": parts_section, "spatiotemporal": spatiotemporal_section,
            "granularity": granularity_section, "glimpses": glimpses_section}  # fmt: skip
    sections = [clip_section(clip, main, main_name)]
    for view, name in plan.items():
        sections.append(draw[view](clip, by_name[name], name))
    if explanations:
        sections.append(attribution_section(clip, main, explanations, main_name))
    title = title or (clip.label_name.capitalize() if clip.label >= 0 else clip.name)
    missing = [VIEWS[v][1] for v in VIEWS if v not in plan]
    intro = (
        f"Clip <b>{html.escape(clip.name)}</b>, {clip.num_frames} frames. Models: "
        + ", ".join(html.escape(n) for n, _ in models)
        + "."
        + (f" No model here draws: {', '.join(missing)}." if missing else "")
    )
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)} — ADL attention lab lesson</title>",
        f"<style>{PAGE_CSS}{PLAYER_CSS}</style>",
        f"<script>{_plotly_js()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{intro}</p>",
    ]
    for s in sections:
        parts.append(f"<section><h2>{html.escape(s.title)}</h2>{s.body}")
        parts.append(f'<p class="caption">{s.caption}</p></section>' if s.caption else "</section>")
    parts.append(f"<script>{PLAYER_JS}</script></body></html>")
    return "".join(parts)


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _fps(clip: Clip) -> float:
    return float(clip.meta.get("fps", 30.0) or 30.0)


def _markdown(text: str) -> str:
    """The little Markdown the captions use (``**bold**``, ``*italic*``) as HTML, the rest escaped."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"\*(.+?)\*", r"<i>\1</i>", out)
