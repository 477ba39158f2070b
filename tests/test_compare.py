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
    assert heat.text[0][0] == "+40" and heat.text[0][1] == ""  # percentage points, at most four characters
    assert [list(c[:2]) for c in cells.customdata] == [[7, 7], [7, 3], [3, 7], [3, 3]]
    changes = cf.largest_changes(np.array([[0, -0.5, 0.1], [0, 0, 0], [0.2, 0, 0]]), list("xyz"))
    assert changes.values.tolist() == [["x", "y", -0.5], ["z", "x", 0.2], ["x", "z", 0.1]]


def test_the_grid_has_one_clickable_matrix_per_model_on_shared_axes():
    a, b, c = np.eye(3), np.full((3, 3), 1 / 3), np.diag([0.5, 1.0, 0.25])
    fig = cf.confusion_grid({"m1": a, "m2": b, "m3": c}, ["x", "y", "a long class name"], class_ids=[4, 0, 2])
    heats = [t for t in fig.data if t.type == "heatmap"]
    cells = [t for t in fig.data if t.type == "scatter"]
    assert len(heats) == len(cells) == 3 and [x.text for x in fig.layout.annotations] == ["m1", "m2", "m3"]
    np.testing.assert_allclose(heats[2].z, c)
    assert heats[1].text[0][0] == "33" and heats[0].text[0][1] == ""  # whole percentages, empty zeros
    assert {h.zmax for h in heats} == {1.0} and not any(h.showscale for h in heats)  # one scale for all
    assert [list(d) for d in cells[2].customdata[:2]] == [[4, 4, 0.5, 2], [4, 0, 0.0, 2]]  # ids, value, model
    assert heats[2].xaxis != heats[0].xaxis and fig.layout.height > 2 * 30 * 3  # two rows of cells
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        cf.confusion_grid({"m": np.eye(2)}, ["x", "y", "z"])


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
def test_class_code_table_puts_each_kind_beside_its_truth():
    from viz.checks import class_code_table

    metrics = {
        "tg": {"attention_checks": {"class_code": {
            "chance": 1 / 14, "segments:2": {"attention": 0.12, "truth": 0.08},
            "granularity": {"attention": 0.45}, "all": {"attention": 0.35, "truth": 0.06},
        }}},
        "i3d": {"top1": 0.4},  # no attention checks: no rows
    }  # fmt: skip
    t = class_code_table(metrics).set_index("attention")
    assert list(t.index) == ["segments:2", "granularity", "all"] and set(t["model"]) == {"tg"}
    assert t.loc["segments:2", "excess"] == pytest.approx(0.04)
    assert np.isnan(t.loc["granularity", "class from the true weights"]) and np.isnan(
        t.loc["granularity", "excess"]
    )
    assert t.loc["granularity", "compared with"].startswith("nothing")
    assert class_code_table({"i3d": {"top1": 0.4}}).empty


def test_the_checks_put_the_true_attention_beside_the_uniform_and_borrowed():
    from viz.checks import checks_figure, checks_table

    inter = {"uniform": {"top1": 0.3}, "swap_same": {"top1": 0.4}, "swap_other": {"top1": 0.2},
             "truth": {"top1": 0.45, "kinds": ["spatial", "temporal"]}}  # fmt: skip
    warp = {"interventions": {"uniform": {"top1": 0.4}}}
    metrics = {"sta": {"top1": 0.6, "attention_checks": {"interventions": inter}},
               "stn": {"top1": 0.4, "attention_checks": warp}}  # fmt: skip
    t = checks_table(metrics)
    assert t.loc["sta", "top-1, the true attention"] == 0.45
    assert np.isnan(t.loc["stn", "top-1, the true attention"])  # no ground truth for a warp
    bars = {b.name: list(b.y) for b in checks_figure(metrics).data}
    assert bars["the true attention"] == [0.45, None]


@needs_shipped
def test_shares_table_puts_each_share_beside_its_baselines():
    """Every scored attention kind of the shipped checkpoints, Glimpse Clouds' glimpses included."""
    from viz.checks import shares_table

    names = ("part_attention-cs", "temporal_granularity-cs", "glimpse_clouds-cs", "i3d-cs")
    metrics = {
        n: json.loads((SHIPPED.parents[2] / n / "eval" / "test" / "metrics.json").read_text()) for n in names
    }
    t = shares_table(metrics).set_index(["model", "attention"])
    assert ("i3d-cs", "parts") not in t.index and "i3d-cs" not in set(t.index.get_level_values(0))
    assert {"parts", "parts_informative", "temporal"} <= set(t.loc["part_attention-cs"].index)
    informative = metrics["part_attention-cs"]["attention_scores"]["parts_informative"]
    row = t.loc[("part_attention-cs", "parts_informative")]
    assert row["share on truth"] == informative["share"] and row["clips"] == informative["clips"] < 588
    assert {"segments", "segments_2", "segments_3", "segments_4"} <= set(
        t.loc["temporal_granularity-cs"].index
    )
    glimpses = metrics["glimpse_clouds-cs"]["attention_scores"]["glimpses"]
    row = t.loc[("glimpse_clouds-cs", "glimpses")]
    assert row["share on truth"] == glimpses["share"] and row["uniform"] == glimpses["uniform"]
    assert row["best possible"] == glimpses["best"] and row["clips"] == 588


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


def summary_of(at: AppTest) -> pd.DataFrame:
    """The compare page's summary table (the first table with a top-1 column)."""
    return next(d.value for d in at.dataframe if "top-1" in d.value.columns)


def best_other_cs() -> str:
    """The most accurate shipped CS model other than part_attention-cs (the page's default partner)."""
    scores = {}
    for d in sorted((ROOT / "checkpoints").glob("*-cs")):
        if d.name != "part_attention-cs" and (d / "eval" / "test" / "COMPLETE").is_file():
            scores[d.name] = json.loads((d / "eval" / "test" / "metrics.json").read_text())["top1"]
    return max(scores, key=lambda n: (scores[n], -sorted(scores).index(n)))


@needs_shipped
def test_compare_page_lays_out_models_and_lists_the_clips_behind_a_cell_as_a_gallery(switched):
    at = run("pages/compare.py")
    chosen = at.multiselect(key="compare_models").value
    assert chosen == ["part_attention-cs", best_other_cs()]  # the sidebar's model and the best partner
    headers = [h.value for h in at.header]
    assert headers[:4] == ["Summary", "Confusion matrices", "Focus pair", "Clips behind a cell"]
    summary = summary_of(at)
    assert summary["model"].tolist() == chosen and summary["top-1"].between(0, 1).all()
    # the matrices in one grid, their difference, one bar chart, the attention checks
    assert [c.key for c in at.get("plotly_chart")] == [
        "cm_grid",
        "cm_difference",
        "compare_bars",
        "compare_checks_fig",
    ]
    keys = [b.proto.id for b in at.get("download_button")]
    assert len(keys) == len(set(keys)) >= 8
    # the class code kind by kind, each beside its truth (part attention: its parts and its steps)
    code = next(d.value for d in at.dataframe if "class from the true weights" in d.value.columns)
    mine = code[code["model"] == "part_attention-cs"].set_index("attention")
    assert {"parts", "temporal", "all"} <= set(mine.index) and mine["excess"].notna().all()

    t = pd.read_parquet(SHIPPED / "predictions.parquet")
    truth, pred = cf.commonest_mistake(cf.confusion_from_table(t, 14))
    assert (at.selectbox(key="compare_true").value, at.selectbox(key="compare_pred").value) == (truth, pred)
    expected = cf.cell_clips(t, truth, pred)["clip"].tolist()
    assert f"**{len(expected)}** clips" in next(m.value for m in at.markdown if "clips of" in m.value)
    shown = expected[:12]  # the gallery's first page, most confident first
    assert [
        b.key.removeprefix("cell_").removesuffix("_open") for b in at.button if b.key.endswith("_open")
    ] == shown
    assert len(at.get("image")) == len(shown)  # a thumbnail per clip
    at.button(key=f"cell_{shown[-1]}_open").click().run()
    assert (
        at.session_state[PENDING]["name"] == shown[-1]
        and at.session_state[PENDING]["model"] == "part_attention-cs"
    )
    assert switched == [INSPECT_PAGE]


def evaluated(suffix: str = "-cs") -> list[str]:
    """Shipped models with a complete test evaluation, of one split, by name."""
    return [
        d.name
        for d in sorted((ROOT / "checkpoints").glob(f"*{suffix}"))
        if (d / "eval/test/COMPLETE").is_file()
    ]


@needs_shipped
def test_compare_page_stays_legible_with_six_models():
    names = evaluated()[:6]
    if len(names) < 3:
        pytest.skip("fewer than three evaluated models")
    classes = json.loads((SHIPPED / "metrics.json").read_text())["class_names"]
    at = AppTest.from_file(str(ROOT / "pages/compare.py"), default_timeout=120)
    at.session_state["compare_models"] = names
    at.run()
    assert not at.exception, at.exception
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 4  # the grid of matrices, the focus pair's difference, one bar chart, the checks
    grid = charts[0]
    heats = [t for t in grid["data"] if t["type"] == "heatmap"]
    assert [a["text"] for a in grid["layout"]["annotations"]] == names  # one matrix per model, titled
    assert len(heats) == len(names)
    for heat in heats:
        assert heat["x"] == heat["y"] and max(classes, key=len) in heat["x"]  # full names, never cut
        assert all(len(text) <= 4 for row in heat["text"] for text in row)  # nothing overprints
    rows = -(-len(names) // 2)
    assert grid["layout"]["height"] >= rows * 30 * len(classes)  # cells keep their size
    assert summary_of(at)["model"].tolist() == names


@needs_shipped
def test_compare_page_explains_models_with_other_classes(monkeypatch):
    import app_support.models as models

    real = models.metrics

    def renamed(entry, split="test"):  # pretend i3d-cs was trained on other classes
        m = real(entry, split)
        if m and entry.name == "i3d-cs":
            m = {**m, "class_names": [f"other {c}" for c in m["class_names"]]}
        return m

    import app_support.comparing as comparing

    monkeypatch.setattr(models, "metrics", renamed)
    monkeypatch.setattr(comparing, "metrics", renamed)
    st.cache_resource.clear()  # the page caches evaluations across runs
    at = AppTest.from_file(str(ROOT / "pages/compare.py"), default_timeout=120)
    at.session_state["compare_models"] = ["part_attention-cs", "i3d-cs", "part_attention-cv"]
    at.run()
    assert not at.exception, at.exception
    assert "different set of classes" in at.warning[0].value and "i3d-cs" in at.warning[0].value
    assert any("different splits" in c.value for c in at.caption)
    assert summary_of(at)["model"].tolist() == [
        "part_attention-cs",
        "part_attention-cv",
    ]
    st.cache_resource.clear()


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """checkpoints/ with part_attention-cs and i3d-cs copied (notes are written into a run)."""
    import shutil

    import app_support.models as models

    for name in ("part_attention-cs", "i3d-cs"):
        src, dst = ROOT / "checkpoints" / name, tmp_path / "checkpoints" / name
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("explain-*"))
    import app_support.state as state

    listed = models.list_models(tmp_path / "checkpoints", tmp_path / "runs")
    monkeypatch.setattr(state, "list_models", lambda *a, **k: listed)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path / "checkpoints"
    st.cache_data.clear()
    st.cache_resource.clear()


@needs_shipped
def test_failures_gallery_filters_sorts_opens_and_keeps_a_tag(switched, shipped_copy):
    at = run("pages/failures.py")
    assert "part_attention-cs" in at.markdown[0].value and "of 588 test clips wrong" in at.markdown[0].value
    assert not any(s.key == "failures_model" for s in at.selectbox)  # the sidebar's model: no picker

    t = pd.read_parquet(SHIPPED / "predictions.parquet")
    at.selectbox(key="failures_view").set_value("2").run()
    at.selectbox(key="failures_subject").set_value("6").run()
    want = t[(~t.correct) & (t.view == "2") & (t.subject == "6")].sort_values(
        ["confidence", "clip"], ascending=[False, True]
    )
    opened = [
        b.key.removeprefix("failures_").removesuffix("_open") for b in at.button if b.key.endswith("_open")
    ]
    assert opened == want["clip"].tolist()[:12] and len(at.get("image")) == len(opened)
    label = int(want.label.mode()[0])
    at.selectbox(key="failures_class").set_value(label).run()
    at.selectbox(key="failures_order").set_value("prob_true").run()
    want = want[want.label == label].sort_values(["prob_true", "clip"])
    opened = [
        b.key.removeprefix("failures_").removesuffix("_open") for b in at.button if b.key.endswith("_open")
    ]
    assert opened == want["clip"].tolist()[:12]

    clip = opened[0]  # tag it: the note goes to the model's results store
    at.selectbox(key="failures_note_clip").set_value(clip)
    at.selectbox(key="failures_note_tag").set_value("similar motion")
    at.text_input(key="failures_note_text").input("the hand never reaches the head")
    at.button(key="FormSubmitter:failures_tagging-Save").click().run()
    assert not at.exception, at.exception
    from core_models.results import read_notes

    notes = read_notes(shipped_copy / "part_attention-cs")
    assert notes[["clip", "tag", "note"]].values.tolist() == [
        [clip, "similar motion", "the hand never reaches the head"]
    ]
    at.selectbox(key="failures_tag").set_value("similar motion").run()  # the filter of that tag
    opened = [
        b.key.removeprefix("failures_").removesuffix("_open") for b in at.button if b.key.endswith("_open")
    ]
    assert opened == [clip]

    at.button(key=f"failures_{clip}_explain").click().run()
    assert at.session_state[PENDING]["name"] == clip and switched == ["pages/explain.py"]


@needs_shipped
def test_failures_split_by_what_the_true_attention_would_have_done(switched, shipped_copy):
    at = run("pages/failures.py")
    t = pd.read_parquet(SHIPPED / "predictions.parquet")
    wrong = t[~t.correct]
    rescued = wrong[wrong.truth_pred == wrong.label]
    assert 0 < len(rescued) < len(wrong)
    assert any(f"{len(rescued)} of these {len(wrong)} mistakes come right" in c.value for c in at.caption)
    at.selectbox(key="failures_lost_by").set_value("attention").run()
    assert not at.exception, at.exception
    assert any(c.value == f"{len(rescued)} mistakes match these filters." for c in at.caption)
    at.selectbox(key="failures_lost_by").set_value("features").run()
    assert any(c.value == f"{len(wrong) - len(rescued)} mistakes match these filters." for c in at.caption)


@needs_shipped
def test_failures_page_offers_evaluated_models_for_one_without_an_evaluation(monkeypatch, shipped_copy):
    import shutil

    shutil.rmtree(shipped_copy / "i3d-cs" / "eval")  # i3d-cs was never evaluated
    at = AppTest.from_file(str(ROOT / "pages/failures.py"), default_timeout=120)
    at.session_state["model_name"] = "i3d-cs"
    at.run()
    assert not at.exception, at.exception
    assert "i3d-cs" in at.info[0].value and "has no evaluation" in at.info[0].value
    assert [b.label for b in at.button] == ["Use part_attention-cs"]


@pytest.mark.parametrize("script", ["pages/compare.py", "pages/failures.py"])
def test_pages_say_how_to_evaluate_when_no_model_has_an_evaluation(monkeypatch, script):
    import app_support.state as state

    monkeypatch.setattr(state, "list_models", lambda *a, **k: [])
    st.cache_data.clear()  # the model list is cached for 30 s
    at = run(script)
    assert "python -m core_models evaluate --run DIR" in at.info[0].value
    st.cache_data.clear()


def test_a_click_on_the_grid_chooses_that_models_cell(monkeypatch):
    import app_support.comparing as comparing

    state: dict = {}
    monkeypatch.setattr(comparing.st, "session_state", state)
    event = {"selection": {"points": [{"customdata": [3, 5, 0.25, 1]}]}}
    comparing.clicked_cell(event, ["a", "b"])
    assert [state[k] for k in comparing.CELL] == ["b", 3, 5]
    state[comparing.CELL[1]] = (
        0  # then changed in the selectboxes: the same (stale) selection must not undo it
    )
    comparing.clicked_cell(event, ["a", "b"])
    assert state[comparing.CELL[1]] == 0
    comparing.clicked_cell(
        {"selection": {"points": [{"customdata": [1, 1, 0.5, 7]}]}}, ["a", "b"]
    )  # no model 7
    comparing.clicked_cell(None, ["a", "b"])
    assert state[comparing.CELL[1]] == 0
