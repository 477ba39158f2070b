"""Overlays that show what they annotate, checked by their data: the skeleton leaves the held object
visible, part labels overlap neither each other nor the skeleton, joints can be hidden while the
part boxes stay, legends stay off the axes, and curves that coincide both stay visible."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from core_models.data.ntu import parse_name
from core_models.inspect import inspect_clip, load_model
from core_models.synth import generate, render
from viz.charts import LEGEND_ABOVE, topk_figure
from viz.explain import curves_figure, frames_figure, shares_figure
from viz.heatmap import temporal_curve_figure
from viz.parts import draw_part_boxes, draw_parts_overlay, enlarge, part_labels, part_weights_figure
from viz.skeleton import draw_skeleton, skeleton_mask

ROOT = Path(__file__).resolve().parents[1]


def object_mask(name: str):
    """The clip and bool (T, H, W): the pixels of the objects it holds (rendered again without them)."""
    clip = generate.render_clip(name)
    m = parse_name(name)
    perf, subject, stage = generate.perform(m["setup"], m["subject"], m["repetition"], m["action"])
    cam = render.make_camera(m["setup"], m["camera"], clip.frames.shape[1:3])
    bare = render.render_frames(cam, m["setup"], m["camera"], stage, dataclasses.replace(perf, objects=[]),
                                subject, render.setup_of(m["setup"]).desk)  # fmt: skip
    return clip, np.abs(clip.frames.astype(int) - bare.astype(int)).sum(-1) > 30


@pytest.mark.parametrize("name", ["S001C001P001R001A001", "S002C002P003R002A001"])  # drink water
def test_the_skeleton_leaves_the_cup_visible(name):
    clip, mask = object_mask(name)
    big, scale = enlarge(clip.frames)  # what the clip page draws on
    for joints_only in (False, True):
        drawn = draw_skeleton(big, clip.joints2d * scale, clip.layout, bones=not joints_only)
        covered = []
        for t in np.flatnonzero(mask.sum((1, 2)) >= 10):
            cup = cv2.resize(mask[t].astype(np.uint8), big.shape[2:0:-1], interpolation=cv2.INTER_NEAREST) > 0
            changed = (drawn[t] != big[t]).any(-1)
            covered.append((changed & cup).sum() / cup.sum())
        assert covered and max(covered) < (0.2 if joints_only else 0.3), (joints_only, max(covered))


@pytest.fixture(scope="module")
def part_clip():
    clip = generate.render_clip("S001C001P001R001A001")
    insp = inspect_clip(load_model(ROOT / "checkpoints/part_attention-cs/model.pt"), clip)
    big, scale = enlarge(clip.frames)
    return clip, insp, big, insp.part_boxes * scale, clip.joints2d[:, :1] * scale


def test_part_labels_overlap_neither_each_other_nor_the_skeleton(part_clip):
    clip, insp, big, boxes, joints = part_clip
    H, W = big.shape[1:3]
    blocked = skeleton_mask(joints, clip.layout, (H, W))  # the skeleton's pixels, 2 px around them
    for t in range(len(big)):
        labels = part_labels(boxes, insp.attention["parts"], insp.part_names, t, (H, W), blocked[t])
        assert len(labels) == len(insp.part_names)
        rects = [label.rect for label in labels]
        for i, (x0, y0, x1, y1) in enumerate(rects):
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
            assert not blocked[t, y0:y1, x0:x1].any(), (t, labels[i].text)
            for other in rects[i + 1 :]:
                assert not (x0 < other[2] and other[0] < x1 and y0 < other[3] and other[1] < y1), t


def test_joints_can_be_hidden_while_the_part_boxes_stay(part_clip):
    clip, insp, big, boxes, joints = part_clip
    one = slice(20, 21)
    args = (big[one], boxes[one], insp.attention["parts"], insp.part_names)
    full = draw_parts_overlay(*args, joints2d=joints[one], layout=clip.layout)
    no_joints = draw_parts_overlay(*args, joints2d=joints[one], layout=clip.layout, show=("boxes", "bones"))
    boxes_only = draw_parts_overlay(*args, joints2d=joints[one], layout=clip.layout, show=("boxes",))
    dots = np.zeros(big.shape[1:3], bool)
    for x, y in joints[20, 0]:
        dots[int(round(y)), int(round(x))] = True
    assert (full[0][dots] != no_joints[0][dots]).any()  # the joint dots are what went
    box_pixels = (draw_part_boxes(*args, labels=False)[0] != big[20]).any(-1)  # the boxes' outlines
    for drawn in (no_joints, boxes_only):  # still there (a label or a bone may cross one here and there)
        assert box_pixels.sum() > 100 and (drawn[0][box_pixels] != big[20][box_pixels]).any(-1).mean() > 0.9
    assert np.array_equal(boxes_only, draw_part_boxes(*args))  # no skeleton at all


def test_legends_sit_above_the_plot_area():
    f = np.linspace(0, 1, 4)
    figures = {
        "top-5": topk_figure(np.array([0.5, 0.3, 0.2]), ["a", "b", "c"], truth=2, k=2),
        "part weights": part_weights_figure(["l", "r"], np.array([0.7, 0.3]), ["l"]),
        "temporal curve": temporal_curve_figure(np.array([0.2, 0.8]), 10, 3, (2, 6)),
        "shares": shares_figure(["l", "r"], {"a": [0.6, 0.4], "b": [0.5, 0.5]}, ["l"], "title"),
        "frames": frames_figure({"a": np.ones(5), "b": np.ones(5)}, 5, 2, (1, 3), "title"),
        "curves": curves_figure({"x": (f, 1 - f, f), "y": (f, 1 - f, f)}, "title"),
    }
    for name, fig in figures.items():
        legend = fig.layout.legend
        assert (legend.yanchor, legend.y, legend.orientation) == (LEGEND_ABOVE["yanchor"], 1.02, "h"), name
        assert fig.layout.margin.t >= 40 + (35 if fig.layout.title.text else 0), name  # room above the axes


def test_curves_that_coincide_stay_visible():
    same = np.array([0.1, 0.3, 0.6])
    fig = frames_figure({"attribution": same, "attention": same}, 3)
    first, second = fig.data
    assert np.allclose(first.y, second.y)
    assert first.line.width > second.line.width  # the wider one shows around the narrower one
    assert first.line.dash != second.line.dash and first.marker.symbol != second.marker.symbol
    f = np.linspace(0, 1, 3)
    curves = curves_figure({"by attribution": (f, 1 - f, f), "by attention": (f, 1 - f, f)})
    widths = [t.line.width for t in curves.data]
    assert widths[0] > widths[2] and curves.data[0].marker.symbol != curves.data[2].marker.symbol


def test_the_parts_page_offers_the_joints_off_and_keeps_the_boxes():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages/parts.py"), default_timeout=120)
    at.session_state["model_name"] = "part_attention-cs"
    at.run()
    (pills,) = at.get("button_group")
    assert [o.content for o in pills.proto.options] == ["part boxes", "bones", "joints"]
    assert list(pills.proto.default) == [0, 1, 2]
    at.session_state["parts_show"] = ["boxes", "bones"]  # the joints off, the boxes kept
    at.run()
    assert not at.exception and len(at.get("iframe")) == 1
