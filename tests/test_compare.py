"""Model comparison and failure analysis: ``viz.confusion`` on hand-made tables, and the Compare and
Failures pages through AppTest on the shipped checkpoints.

AppTest runs a page outside ``st.navigation``, where ``st.switch_page`` cannot find the clip page;
the tests replace it and check that the open-clip request lands in the session state.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app_support.navigation import INSPECT_PAGE, PENDING
from viz import confusion as cf

ROOT = Path(__file__).parents[1]
SHIPPED = ROOT / "checkpoints" / "part_attention-cs" / "eval" / "test"
needs_shipped = pytest.mark.skipif(not (SHIPPED / "COMPLETE").is_file(), reason="no shipped evaluation")


def table(rows) -> pd.DataFrame:
    """A predictions table from (clip, label, pred, confidence, prob_true, subject, view) rows."""
    t = pd.DataFrame(rows, columns=["clip", "label", "pred", "confidence", "prob_true", "subject", "view"])
    t["correct"] = t["label"] == t["pred"]
    t["label_name"] = "c" + t["label"].astype(str)
    t["pred_name"] = "c" + t["pred"].astype(str)
    return t


A = table([
    ("x1", 0, 0, 0.9, 0.9, "1", "1"),
    ("x2", 0, 1, 0.8, 0.1, "1", "2"),
    ("x3", 1, 0, 0.7, 0.2, "2", "1"),
    ("x4", 1, 1, 0.6, 0.6, "2", "2"),
    ("x5", 2, 1, 0.95, 0.01, "2", "1"),
    ("x6", 2, 2, 0.5, 0.5, "1", "2"),
])  # fmt: skip
B = table([
    ("x1", 0, 1, 0.6, 0.3, "1", "1"),
    ("x2", 0, 0, 0.7, 0.7, "1", "2"),
    ("x3", 1, 0, 0.9, 0.05, "2", "1"),
    ("x4", 1, 1, 0.8, 0.8, "2", "2"),
    ("x5", 2, 2, 0.6, 0.6, "2", "1"),
    ("x6", 2, 2, 0.5, 0.5, "1", "2"),
    ("x7", 2, 2, 0.5, 0.5, "1", "2"),  # only in B
])  # fmt: skip


# ------------------------------------------------------------------------------------------ viz.confusion


def test_normalise_rows_columns_and_empty_rows():
    c = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    r = cf.normalise(c)
    np.testing.assert_allclose(r.sum(1), [1, 0, 1])
    np.testing.assert_allclose(r[0], [0.75, 0.25, 0])
    p = cf.normalise(c, "pred")
    np.testing.assert_allclose(p.sum(0), [1, 1, 1])
    np.testing.assert_array_equal(cf.normalise(c, "none"), c)
    with pytest.raises(ValueError, match="square"):
        cf.normalise(np.zeros((2, 3)))


def test_cluster_order_puts_mutually_confused_classes_together():
    # classes 0 and 3 are mistaken for each other, 1 and 4 too; 2 and 5 stand alone
    c = np.eye(6) * 10
    c[0, 3] = c[3, 0] = 6
    c[1, 4] = c[4, 1] = 5
    names = list("abcdef")
    order = cf.class_order(c, names, "cluster")
    assert sorted(order) == list(range(6))
    assert abs(order.index(0) - order.index(3)) == 1 and abs(order.index(1) - order.index(4)) == 1
    assert order == cf.class_order(c, names, "cluster")  # deterministic
    assert cf.class_order(c, ["b", "a", "c", "f", "e", "d"], "name") == [1, 0, 2, 5, 4, 3]
    c[2, 2], c[2, 5] = 2, 8  # class 2 is now the worst
    assert cf.class_order(c, names, "accuracy")[0] == 2


def test_subset_difference_and_figure():
    m = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(cf.subset(m, [2, 0]), [[8, 6], [2, 0]])
    a, b = np.diag([0.5, 0.5]), np.diag([0.9, 0.2])
    d = cf.difference(a, b)
    assert d[0, 0] == pytest.approx(0.4) and d[1, 1] == pytest.approx(-0.3)  # b - a
    fig = cf.confusion_figure(d, ["p", "q"], "diff", diverging=True, class_ids=[7, 3])
    heat, cells = fig.data
    np.testing.assert_allclose(heat.z, d)
    assert heat.zmid == 0 and heat.zmin == -heat.zmax and list(heat.y) == ["p", "q"]
    assert tuple(fig.layout.yaxis.range) == (1.5, -0.5)  # the first class on top
    assert fig.layout.xaxis.title.text == "prediction"
    assert heat.text[0][0] == "0.40" and heat.text[0][1] == ""  # values written in the cells
    assert [list(c[:2]) for c in cells.customdata] == [[7, 7], [7, 3], [3, 7], [3, 3]]
    changes = cf.largest_changes(np.array([[0, -0.5, 0.1], [0, 0, 0], [0.2, 0, 0]]), list("xyz"))
    assert changes.values.tolist() == [["x", "y", -0.5], ["z", "x", 0.2], ["x", "z", 0.1]]


def test_confusion_from_table_and_cell_clips():
    c = cf.confusion_from_table(A, 3)
    np.testing.assert_array_equal(c, [[1, 1, 0], [1, 1, 0], [0, 1, 1]])
    assert cf.commonest_mistake(c) == (0, 1)
    cell = cf.cell_clips(pd.concat([A, B]), 1, 0)
    assert cell["clip"].tolist() == ["x3", "x3"] and cell["confidence"].tolist() == [0.9, 0.7]
    assert cf.cell_clips(A, 2, 0).empty


def test_flipped_clips_lists_who_got_it_right():
    flips = cf.flipped_clips(A, B, names=("A", "B"))
    assert set(flips["clip"]) == {"x1", "x2", "x5"}  # x7 is only in B; x3 is wrong in both
    right = dict(zip(flips["clip"], flips["right"]))
    assert right == {"x1": "A", "x2": "B", "x5": "B"}
    assert flips["clip"].iloc[0] == "x1"  # B's mistakes first
    row = flips.set_index("clip").loc["x5"]
    assert row["pred_a"] == 1 and row["pred_b"] == 2 and row["confidence_a"] == 0.95


def test_failures_filters_and_sort():
    wrong = cf.failures(A)
    assert wrong["clip"].tolist() == ["x5", "x2", "x3"]  # most confident mistakes first
    assert cf.failures(A, order="prob_true")["clip"].tolist() == ["x5", "x2", "x3"]
    assert cf.failures(B, order="prob_true")["clip"].tolist() == ["x3", "x1"]
    assert cf.failures(A, label=0)["clip"].tolist() == ["x2"]
    assert cf.failures(A, view=1)["clip"].tolist() == ["x5", "x3"]  # ints match text views
    assert cf.failures(A, subject="2", view="1", label=[1, 2])["clip"].tolist() == ["x5", "x3"]
    assert cf.failures(A, subject="1", view="1").empty


def test_accuracy_frames():
    per_view = cf.per_group_frame({"A": A, "B": B}, "view")
    assert per_view.loc["1", "A"] == pytest.approx(1 / 3) and per_view.loc["2", "B"] == pytest.approx(1.0)
    metrics = {"A": {"class_names": ["x", "y"], "per_class": {"x": 0.5, "y": 1.0}},
               "B": {"class_names": ["x", "y"], "per_class": {"x": 0.7, "y": 0.1}}}  # fmt: skip
    frame = cf.per_class_frame(metrics)
    assert frame.index.tolist() == ["x", "y"] and frame.loc["y", "B"] == 0.1
    assert len(cf.grouped_bars(frame, "t").data) == 2
    top = cf.top_confusions(A)
    assert top.iloc[0].tolist() == ["c0", "c1", 1] and top["clips"].sum() == 3


@needs_shipped
def test_confusion_from_table_matches_the_shipped_metrics():
    m = json.loads((SHIPPED / "metrics.json").read_text())
    t = pd.read_parquet(SHIPPED / "predictions.parquet")
    c = cf.confusion_from_table(t, len(m["class_names"]))
    np.testing.assert_array_equal(c, m["confusion"])
    np.testing.assert_allclose(np.diag(cf.normalise(c)), [m["per_class"][n] for n in m["class_names"]])


# ------------------------------------------------------------------------------------------ pages


@pytest.fixture
def switched(monkeypatch):
    """Record st.switch_page calls instead of switching (there is no st.navigation in AppTest)."""
    calls: list[str] = []
    monkeypatch.setattr(st, "switch_page", lambda page: calls.append(str(page)))
    return calls


def run(script: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


@needs_shipped
def test_compare_page_lists_the_clips_behind_a_cell_and_opens_one(switched):
    at = run("pages/compare.py")
    assert at.multiselect(key="compare_models").value == ["part_attention-cs", "i3d-cs"]
    headers = [h.value for h in at.header]
    assert "Confusion matrices" in headers and any(h.startswith("Flipped clips") for h in headers)
    assert len(at.get("plotly_chart")) == 6  # two matrices, difference, three bar charts
    keys = [b.proto.id for b in at.get("download_button")]
    assert len(keys) == len(set(keys)) >= 12

    t = pd.read_parquet(SHIPPED / "predictions.parquet")
    truth, pred = cf.commonest_mistake(cf.confusion_from_table(t, 14))
    assert (at.selectbox(key="compare_true").value, at.selectbox(key="compare_pred").value) == (truth, pred)
    at.selectbox(key="compare_true").set_value(pred).run()  # a diagonal cell, then back to a mistake
    at.selectbox(key="compare_true").set_value(truth).run()
    expected = cf.cell_clips(t, truth, pred)["clip"].tolist()
    assert at.selectbox(key="cell_clips_clip").options == expected
    assert f"**{len(expected)}** clips" in at.markdown[0].value

    at.selectbox(key="cell_clips_clip").set_value(expected[-1])
    at.button(key="cell_clips_open").click().run()
    assert at.session_state[PENDING] == {"name": expected[-1], "model": "part_attention-cs"}
    assert switched == [INSPECT_PAGE]


@needs_shipped
def test_compare_page_explains_models_with_other_classes(monkeypatch):
    import app_support.models as models

    real = models.metrics

    def renamed(entry, split="test"):  # pretend i3d-cs was trained on other classes
        m = real(entry, split)
        if m and entry.name == "i3d-cs":
            m = {**m, "class_names": [f"other {c}" for c in m["class_names"]]}
        return m

    monkeypatch.setattr(models, "metrics", renamed)
    st.cache_data.clear()  # the page caches evaluations across runs
    at = AppTest.from_file(str(ROOT / "pages/compare.py"), default_timeout=120)
    at.session_state["compare_models"] = ["part_attention-cs", "i3d-cs", "part_attention-cv"]
    at.run()
    assert not at.exception, at.exception
    assert "different set of classes" in at.warning[0].value and "i3d-cs" in at.warning[0].value
    assert any("different splits" in c.value for c in at.caption)
    assert any(h.value == "Flipped clips: part_attention-cs vs part_attention-cv" for h in at.header)
    st.cache_data.clear()


@needs_shipped
def test_failures_page_filters_and_opens_a_clip(switched):
    at = run("pages/failures.py")
    assert at.selectbox(key="failures_model").value == "part_attention-cs"
    assert "of 588 clips wrong" in at.markdown[0].value and "most common confusion" in at.markdown[0].value

    at.selectbox(key="failures_view").set_value("2").run()
    at.selectbox(key="failures_subject").set_value("6").run()
    shown = at.dataframe(key="failures_table").value
    assert len(shown) > 0 and set(shown["view"]) == {"2"} and set(shown["subject"]) == {"6"}
    assert shown["confidence"].is_monotonic_decreasing

    assert len(at.selectbox(key="failures_class").options) == 15  # "All" and 14 classes
    t = pd.read_parquet(SHIPPED / "predictions.parquet")
    label = int(t[(~t.correct) & (t.view == "2") & (t.subject == "6")].label.mode()[0])
    at.selectbox(key="failures_class").set_value(label).run()
    shown = at.dataframe(key="failures_table").value
    assert len(shown) > 0 and set(shown["truth"]) == {t.label_name[t.label == label].iloc[0]}

    at.button(key="failures_open").click().run()
    assert at.session_state[PENDING] == {"name": shown["clip"].iloc[0], "model": "part_attention-cs"}
    assert switched == [INSPECT_PAGE]


@pytest.mark.parametrize("script", ["pages/compare.py", "pages/failures.py"])
def test_pages_say_how_to_evaluate_when_no_model_has_an_evaluation(monkeypatch, script):
    import app_support.models as models

    monkeypatch.setattr(models, "list_models", lambda *a, **k: [])
    at = run(script)
    assert "python -m core_models evaluate --run DIR" in at.info[0].value
