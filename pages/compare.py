"""Compare models: confusion matrices side by side, their difference, per-class / view / subject
accuracy, and the clips whose prediction flipped; any cell or clip opens in the clip inspector."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_support.models import ModelEntry, faithfulness_frame, list_models, metrics, predictions
from app_support.navigation import open_clip, through_router
from viz import confusion as cf
from viz.export import csv_bytes, html_bytes

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

ORDER_LABELS = {
    "index": "Index",
    "name": "Name",
    "accuracy": "Accuracy (worst first)",
    "cluster": "Clustered",
}
NORM_LABELS = {"true": "By true class (recall)", "pred": "By prediction (precision)", "none": "Counts"}
PREFERRED = ("part_attention-cs", "i3d-cs")


@st.cache_data(show_spinner=False, max_entries=64)
def _evaluation(entry: ModelEntry, stamp: float) -> tuple[dict, pd.DataFrame] | None:
    """Metrics and predictions of a model directory; ``stamp`` (COMPLETE's mtime) renews the cache."""
    m, t = metrics(entry), predictions(entry)
    return (m, t) if m is not None and t is not None else None


def evaluation(entry: ModelEntry) -> tuple[dict, pd.DataFrame] | None:
    complete = entry.path / "eval" / "test" / "COMPLETE"
    return _evaluation(entry, complete.stat().st_mtime) if complete.is_file() else None


def default_models(entries: list[ModelEntry]) -> list[str]:
    """Two shipped models of the same protocol (part_attention-cs and i3d-cs when present)."""
    names = [e.name for e in entries]
    if all(p in names for p in PREFERRED):
        return list(PREFERRED)
    for e in entries:
        same = [f.name for f in entries if f.shipped and f.protocol == e.protocol and f.data == e.data]
        if e.shipped and len(same) >= 2:
            return same[:2]
    return names[:2]


def download_table(frame: pd.DataFrame, file_name: str, key: str) -> None:
    data = csv_bytes(frame.reset_index() if frame.index.name else frame)  # keep a named index (class, view)
    st.download_button("Download CSV", data, file_name, "text/csv", key=key)


def show_figure(fig, file_name: str, key: str, selectable: bool = False):
    """Draw a figure with an HTML download under it; returns the chart's selection when selectable."""
    event = (
        st.plotly_chart(fig, key=key, on_select="rerun", selection_mode=("points",))
        if selectable
        else st.plotly_chart(fig, key=key)
    )
    st.download_button("Download figure (HTML)", html_bytes(fig), file_name, "text/html", key=f"{key}_html")
    return event


def clicked_cell(event, chart: str) -> None:
    """Mirror a new click on a confusion cell into the fallback selectboxes (drawn further down)."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if not points or "customdata" not in points[0]:
        return
    truth, pred = (int(v) for v in points[0]["customdata"][:2])
    click = (chart, truth, pred)
    if st.session_state.get("_compare_last_click") != click:  # a stale selection must not undo the boxes
        st.session_state["_compare_last_click"] = click
        st.session_state["compare_cell_model"] = chart
        st.session_state["compare_true"] = truth
        st.session_state["compare_pred"] = pred


def clip_picker(frame: pd.DataFrame, model: str, key: str) -> None:
    """A table of clips whose selected row opens in the clip inspector, plus a selectbox and button."""
    event = st.dataframe(frame, key=key, on_select="rerun", selection_mode="single-row", hide_index=True)
    rows = event.selection.rows if event else []
    if rows:
        open_clip(frame["clip"].iloc[rows[0]], model=model)
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    clip = left.selectbox("Clip", frame["clip"].tolist(), key=f"{key}_clip")
    if right.button("Open in Clip", key=f"{key}_open", disabled=clip is None):
        open_clip(clip, model=model)


st.title("Compare models")
entries = [e for e in list_models() if evaluation(e) is not None]
if not entries:
    st.info(
        "No model has an evaluation yet. Evaluate one with `python -m core_models evaluate --run DIR` "
        "(DIR is a folder under `checkpoints/` or `runs/` holding `model.pt`), then reload this page."
    )
    st.stop()

by_name = {e.name: e for e in entries}
chosen = st.multiselect(
    "Models",
    list(by_name),
    default=default_models(entries),
    format_func=lambda n: by_name[n].label(),
    key="compare_models",
)
if len(chosen) < 2:
    st.info("Choose two or more models to compare.")
    st.stop()

evals = {n: evaluation(by_name[n]) for n in chosen}
first_classes = evals[chosen[0]][0]["class_names"]
models = [n for n in chosen if evals[n][0]["class_names"] == first_classes]
others = [n for n in chosen if n not in models]
if others:
    st.warning(
        f"{', '.join(others)} {'was' if len(others) == 1 else 'were'} evaluated on a different set of "
        f"classes than {chosen[0]} (data {', '.join(sorted({by_name[n].data for n in others}))} vs "
        f"{by_name[chosen[0]].data}): their confusion matrices cannot be laid over or subtracted, so only "
        "the models that share its classes are compared below. Compare those models with each other "
        "separately."
    )
if len(models) < 2:
    st.stop()
protocols = sorted({by_name[n].protocol for n in models})
if len(protocols) > 1:
    st.caption(
        f"These models were tested on different splits ({' vs '.join(p.upper() for p in protocols)}): "
        "accuracies compare different clips, and flipped clips are counted only over clips both test sets "
        "share."
    )

metrics_by = {n: evals[n][0] for n in models}
tables = {n: evals[n][1] for n in models}
num_classes = len(first_classes)
counts = {n: cf.confusion_from_table(tables[n], num_classes) for n in models}

# Controls
c1, c2, c3 = st.columns([1, 1, 2])
how = c1.selectbox("Class order", cf.ORDERS, format_func=ORDER_LABELS.get, key="compare_order")
mode = c2.radio("Normalisation", cf.NORMALISATIONS, format_func=NORM_LABELS.get, key="compare_norm")
picked = c3.multiselect(
    "Classes shown (all when empty)",
    range(num_classes),
    format_func=lambda i: first_classes[i],
    key="compare_classes",
)
order = cf.class_order(sum(counts.values()), first_classes, how)  # one order for every matrix
shown = [i for i in order if not picked or i in picked]
shown_names = [first_classes[i] for i in shown]
rates = {n: cf.normalise(counts[n], mode) for n in models}

st.header("Confusion matrices")
st.caption("Rows are the true class, columns the prediction. Click a cell to list its clips below.")
per_row = min(len(models), 3)
for start in range(0, len(models), per_row):
    for col, n in zip(st.columns(per_row), models[start : start + per_row]):
        with col:
            fig = cf.confusion_figure(cf.subset(rates[n], shown), shown_names, n, class_ids=shown)
            event = show_figure(fig, f"confusion-{n.replace('/', '_')}.html", f"cm_{n}", selectable=True)
            clicked_cell(event, n)

a, b = models[:2]
diff = cf.difference(rates[a], rates[b])
st.header(f"Difference: {b} − {a}")
st.caption(
    f"Blue: {b} puts more of the class's clips in this cell than {a}; red: fewer. "
    f"On the diagonal, blue means {b} is more accurate on that class."
)
show_figure(
    cf.confusion_figure(cf.subset(diff, shown), shown_names, f"{b} − {a}", diverging=True, class_ids=shown),
    "confusion-difference.html",
    "cm_difference",
)
changes = cf.largest_changes(cf.subset(diff, shown), shown_names)
st.subheader("Largest changes off the diagonal")
st.dataframe(changes, hide_index=True)
download_table(changes, "confusion-changes.csv", "csv_changes")

st.header("Clips behind a cell")
if st.session_state.get("compare_cell_model") not in models:
    st.session_state["compare_cell_model"] = models[0]
if {st.session_state.get("compare_true"), st.session_state.get("compare_pred")} - set(range(num_classes)):
    # start on the commonest mistake
    st.session_state["compare_true"], st.session_state["compare_pred"] = cf.commonest_mistake(
        counts[models[0]]
    )
k1, k2, k3 = st.columns(3)
cell_model = k1.selectbox("Model", models, key="compare_cell_model")
truth = k2.selectbox(
    "True class", range(num_classes), format_func=lambda i: first_classes[i], key="compare_true"
)
pred = k3.selectbox(
    "Predicted class", range(num_classes), format_func=lambda i: first_classes[i], key="compare_pred"
)
cell = cf.cell_clips(tables[cell_model], truth, pred).drop(columns=["label", "pred"])
st.markdown(
    f"**{len(cell)}** clip{'s' if len(cell) != 1 else ''} of *{first_classes[truth]}* predicted as "
    f"*{first_classes[pred]}* by {cell_model}."
)
if len(cell):
    clip_picker(cell, cell_model, "cell_clips")
    download_table(cell, "cell-clips.csv", "csv_cell")

st.header("Per-class accuracy")
per_class = cf.per_class_frame(metrics_by)
st.dataframe(per_class.style.format("{:.3f}"))
download_table(per_class, "per-class-accuracy.csv", "csv_per_class")
show_figure(cf.grouped_bars(per_class, "Accuracy per class"), "per-class-accuracy.html", "bars_per_class")

for column, title in (("view", "Accuracy per view (camera)"), ("subject", "Accuracy per subject")):
    st.header(title)
    frame = cf.per_group_frame(tables, column)
    st.dataframe(frame.style.format("{:.3f}", na_rep="–"))
    download_table(frame, f"accuracy-per-{column}.csv", f"csv_{column}")
    show_figure(cf.grouped_bars(frame, title), f"accuracy-per-{column}.html", f"bars_{column}")

st.header(f"Flipped clips: {a} vs {b}")
flips = cf.flipped_clips(tables[a], tables[b], names=(a, b))
flips = flips.drop(columns=["label", "pred_a", "pred_b"]).rename(
    columns={"pred_name_a": f"{a} prediction", "confidence_a": f"{a} confidence",
             "pred_name_b": f"{b} prediction", "confidence_b": f"{b} confidence", "right": "right model"}
)  # fmt: skip
right_b = int((flips["right model"] == b).sum())
st.markdown(
    f"**{len(flips)}** clips change correctness: {b} fixes **{right_b}** and breaks "
    f"**{len(flips) - right_b}** of {a}'s predictions."
)
if len(flips):
    flip_model = st.radio("Open flipped clips with", (a, b), horizontal=True, key="compare_flip_model")
    clip_picker(flips, flip_model, "flip_clips")
    download_table(flips, "flipped-clips.csv", "csv_flips")

st.header("Faithfulness of their attributions")
faith = faithfulness_frame({n: by_name[n].path for n in models})
if faith.empty:
    st.info(
        "No attribution summaries yet. Write them with `python -m core_models explain --run DIR --method "
        "saliency --limit 60` (DIR: a folder under `checkpoints/` or `runs/`), then reload this page."
    )
else:
    st.caption(
        "Means over the explained clips (`python -m core_models explain`), most faithful first. "
        "Faithfulness: (insertion AUC − deletion AUC) / the target's probability on the whole clip, so "
        "1 would mean the top-ranked units carry all of the score; deletion AUC: lower is more faithful, "
        "insertion AUC: higher is; agreement: Spearman's ρ between the model's attention and the "
        "attribution; shares on the ground truth."
    )
    st.dataframe(faith.style.format("{:.3f}", subset=faith.select_dtypes("number").columns, na_rep="–"),
                 hide_index=True)  # fmt: skip
    download_table(faith, "faithfulness.csv", "csv_faithfulness")
