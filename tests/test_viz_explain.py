"""The attribution page's charts, checked by their data."""

from __future__ import annotations

import numpy as np
import pytest

from viz.explain import curves_figure, frames_figure, per_frame, shares_figure


def test_per_frame_takes_the_nearest_sample():
    values = np.array([1.0, 2.0, 3.0])
    out = per_frame(values, np.array([0, 5, 9]), 10)
    assert out.tolist() == [1, 1, 1, 2, 2, 2, 2, 2, 3, 3]  # a tie goes to the earlier sample
    even = per_frame(values, None, 6)  # samples at 1, 3, 5
    assert even.tolist() == [1, 1, 1, 2, 2, 3]
    with pytest.raises(ValueError, match="entries"):
        per_frame(values, np.array([0, 1]), 10)


def test_shares_figure_groups_series_and_shades_the_truth():
    fig = shares_figure(["left_hand", "right_hand"], {"attribution": [0.8, 0.2], "attention": [0.6, 0.4]},
                        truth=["left_hand"])  # fmt: skip
    assert [t.name for t in fig.data] == ["attribution", "attention"]
    assert list(fig.data[0].y) == [0.8, 0.2] and list(fig.data[0].x) == ["left_hand", "right_hand"]
    (shade,) = fig.layout.shapes
    assert (shade.x0, shade.x1) == (-0.5, 0.5)  # around the first bar group
    with pytest.raises(ValueError, match="values for 2 names"):
        shares_figure(["a", "b"], {"x": [1.0]})


def test_frames_figure_normalises_and_marks():
    fig = frames_figure({"attribution": np.array([0, 1, 3, 0.0])}, 4, frame=2, truth_interval=(1, 3))
    np.testing.assert_allclose(fig.data[0].y, [0, 0.25, 0.75, 0])
    xs = sorted((s.x0, s.x1) for s in fig.layout.shapes)
    assert (0.5, 2.5) in xs and (2, 2) in xs  # the truth band and the frame marker


def test_curves_figure_reports_the_area_under_each_curve():
    f = np.linspace(0, 1, 5)
    fig = curves_figure({"by attribution": (f, 1 - f, f)})
    deletion, insertion = fig.data
    assert "AUC 0.50" in deletion.name and deletion.name.startswith("deletion")
    assert insertion.line.dash == "dash" and "AUC 0.50" in insertion.name
    with pytest.raises(ValueError, match="fractions"):
        curves_figure({"x": (f, f[:3], f)})


def test_input_attribution_figure_keeps_the_sign_on_one_scale_per_row():
    from viz.explain import input_attribution_figure, nearest_step

    views = {"left_hand": np.zeros((4, 4, 3), np.uint8), "rgb": np.full((8, 8, 3), 128, np.uint8)}
    maps = {"left_hand": np.full((4, 4), 2.0), "rgb": -np.eye(8) * 4}
    fig = input_attribution_figure(
        {"a": (views, maps), "a and not b": (views, {k: -m for k, m in maps.items()})}
    )
    images = [d for d in fig.data if d.type == "image"]
    heat = [d for d in fig.data if d.type == "heatmap"]
    assert len(images) == len(heat) == 4 and [h.name for h in heat] == ["left_hand", "rgb"] * 2
    np.testing.assert_allclose(heat[0].z, 0.5)  # 2 / the row's largest magnitude, 4
    assert np.min(heat[1].z) == -1.0 and np.min(heat[2].z) == -0.5 and np.max(heat[3].z) == 1.0
    axis = fig.layout.coloraxis
    assert (axis.cmin, axis.cmid, axis.cmax) == (-1.0, 0.0, 1.0) and axis.colorscale[0][1] != axis.colorscale[
        -1
    ][1]
    assert [a.text for a in fig.layout.annotations] == ["left hand crop", "input square"]
    assert fig.layout.yaxis.title.text == "a" and fig.layout.yaxis3.title.text == "a and not b"
    with pytest.raises(ValueError, match="map rgb"):
        input_attribution_figure({"a": (views, {"left_hand": maps["left_hand"], "rgb": np.ones((4, 4))})})
    assert nearest_step(np.array([0, 10, 20]), 3, 14, 30) == 1 and nearest_step(None, 4, 29, 30) == 3
