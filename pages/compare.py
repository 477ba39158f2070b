"""Compare models: a summary table, one confusion matrix per model in a grid, a focus pair (their
difference, largest changes and flipped clips), per-class / view / subject accuracy, and the
clips behind any cell as a gallery that opens them in the inspector."""

from __future__ import annotations

import streamlit as st

from app_support import comparing, state, ui
from app_support.gallery import gallery, notes_of
from app_support.navigation import open_clip, through_router
from viz import confusion as cf
from viz import gallery as vg
from viz.checks import checks_figure, checks_table, class_code_table, shares_table

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

URL = "query-params"
ORDER_LABELS = {
    "index": "Index",
    "name": "Name",
    "accuracy": "Accuracy (worst first)",
    "cluster": "Clustered",
}
NORM_LABELS = {"true": "By true class (recall)", "pred": "By prediction (precision)", "none": "Counts"}
PER_ROW = 2  # matrices side by side: more would shrink the cells below their numbers

st.title("Compare models")
entries = comparing.evaluated(state.models())
if not entries:
    st.info(
        "No model has an evaluation yet. Evaluate one with `python -m core_models evaluate --run DIR` "
        "(DIR is a folder under `checkpoints/` or `runs/` holding `model.pt`), then reload this page."
    )
    st.stop()
by_name = {e.name: e for e in entries}
side = st.session_state.get(state.MODEL) or state.DEFAULT_MODEL
chosen = st.multiselect("Models", list(by_name), default=comparing.default_models(entries, side),
                        key="compare_models", bind=URL)  # fmt: skip
if len(chosen) < 2:
    st.info("Choose two or more models to compare.")
    st.stop()

evals = {n: comparing.evaluation(by_name[n]) for n in chosen}
classes = evals[chosen[0]][0]["class_names"]
models = [n for n in chosen if evals[n][0]["class_names"] == classes]
if others := [n for n in chosen if n not in models]:
    st.warning(
        f"{', '.join(others)} {'was' if len(others) == 1 else 'were'} evaluated on a different set of "
        f"classes than {chosen[0]}: their matrices cannot be laid over or subtracted, so only the models "
        "that share its classes are compared below. Compare those models with each other separately."
    )
if len(models) < 2:
    st.stop()
if len({by_name[n].protocol for n in models}) > 1:
    st.caption("These models were tested on different splits: accuracies compare different clips, and "
               "flipped clips are counted only over clips both test sets share.")  # fmt: skip
metrics_by = {n: evals[n][0] for n in models}
tables = {n: evals[n][1] for n in models}
counts = {n: cf.confusion_from_table(tables[n], len(classes)) for n in models}

st.header("Summary")
three = st.column_config.NumberColumn(format="%.3f")
ui.table(cf.summary_frame(metrics_by), "summary", key="compare_summary",
         column_config={c: three for c in ("top-1", "top-5", "mean class")})  # fmt: skip

c1, c2, c3 = st.columns([1, 1, 2])
how = c1.selectbox("Class order", cf.ORDERS, format_func=ORDER_LABELS.get, key="compare_order", bind=URL)
mode = c2.radio("Normalisation", cf.NORMALISATIONS, format_func=NORM_LABELS.get, key="compare_norm", bind=URL)
picked = c3.multiselect("Classes shown (all when empty)", range(len(classes)),
                        format_func=lambda i: classes[i], key="compare_classes", bind=URL)  # fmt: skip
order = cf.class_order(sum(counts.values()), classes, how)  # one order for every matrix
shown = [i for i in order if not picked or i in picked]
names = [classes[i] for i in shown]
rates = {n: cf.normalise(counts[n], mode) for n in models}

st.header("Confusion matrices")
unit = (
    "clips"
    if mode == "none"
    else "% of the row's clips"
    if mode == "true"
    else "% of the column's predictions"
)
st.caption(
    f"Rows are the true class, columns the prediction; cells in {unit}. Click a cell to see its clips below."
)
matrices = tuple((n, cf.subset(rates[n], shown)) for n in models)
fig = comparing.grid_figure(matrices, tuple(names), tuple(shown), PER_ROW)
event = ui.figure(fig, "confusion-matrices", "cm_grid", on_select="rerun", selection_mode=("points",))
comparing.clicked_cell(event, models)

st.header("Focus pair")
f1, f2 = st.columns(2)
a = f1.selectbox("Model A", models, index=0, key="compare_a", bind=URL)
b = f2.selectbox("Model B", [n for n in models if n != a], key="compare_b", bind=URL)
diff = cf.difference(rates[a], rates[b])
st.caption(f"B − A: blue where {b} puts more of a class's clips in the cell than {a}, red where fewer; on "
           f"the diagonal, blue means {b} is more accurate on that class.")  # fmt: skip
left, right = st.columns(2)
with left:
    fig = comparing.difference_figure(cf.subset(diff, shown), tuple(names), tuple(shown), f"{b} − {a}")
    ui.figure(fig, "confusion-difference", "cm_difference")
with right:
    st.markdown("**Largest changes off the diagonal**")
    ui.table(cf.largest_changes(cf.subset(diff, shown), names), "confusion-changes", key="compare_changes")
flips = cf.flips_table(tables[a], tables[b], a, b)
right_b = int((flips["right model"] == b).sum())
st.markdown(
    f"**Flipped clips: {len(flips)}** change correctness; {b} fixes **{right_b}** and breaks "
    f"**{len(flips) - right_b}** of {a}'s predictions. Select a row to open it with {b}."
)
event = ui.table(flips, "flipped-clips", key="flip_clips", on_select="rerun", selection_mode="single-row")
if event and event.selection.rows:
    where = {k: str(metrics_by[b].get(k, "")) for k in ("data", "root")}
    open_clip(flips["clip"].iloc[event.selection.rows[0]], model=b, **where)

st.header("Clips behind a cell")
comparing.default_cell(models, counts)
k1, k2, k3, k4 = st.columns(4)
cell_model = k1.selectbox("Model", models, key=comparing.CELL[0], bind=URL)
truth = k2.selectbox(
    "True class", range(len(classes)), format_func=lambda i: classes[i], key=comparing.CELL[1], bind=URL
)
pred = k3.selectbox(
    "Predicted class", range(len(classes)), format_func=lambda i: classes[i], key=comparing.CELL[2], bind=URL
)
order_by = k4.selectbox(
    "Sort", tuple(vg.ORDERS), format_func=vg.ORDERS.get, key="compare_cell_order", bind=URL
)
cell_entry = by_name[cell_model]
clips = vg.select_clips(
    vg.with_notes(tables[cell_model], notes_of(cell_entry)), truth=truth, pred=pred, order=order_by
)
st.markdown(f"**{len(clips)}** clip{'s' if len(clips) != 1 else ''} of *{classes[truth]}* predicted as "
            f"*{classes[pred]}* by {cell_model}.")  # fmt: skip
gallery(clips, cell_entry, "cell")

st.header("Accuracy per class, view or subject")
BY = {"class": "Class", "view": "View (camera)", "subject": "Subject"}
by = st.segmented_control("Per", tuple(BY), format_func=BY.get, default="class", key="compare_by", bind=URL)
by = by or "class"
frame = cf.per_class_frame(metrics_by) if by == "class" else cf.per_group_frame(tables, by)
ui.figure(cf.grouped_bars(frame, f"Accuracy per {BY[by].lower()}"), f"accuracy-per-{by}", "compare_bars")
with st.expander("As a table"):
    ui.table(frame.reset_index().round(3), f"accuracy-per-{by}", key="compare_accuracy")

st.header("Faithfulness of their attributions")
faith = comparing.faithfulness(tuple((n, str(by_name[n].path)) for n in models))
if faith.empty:
    st.info(
        "No attribution summaries yet. Write them with `python -m core_models explain --run DIR --method "
        "saliency --limit 60` (DIR: a folder under `checkpoints/` or `runs/`), then reload this page."
    )
else:
    st.caption("Means over the explained clips (`python -m core_models explain`), most faithful first. "
               "Faithfulness: (insertion AUC − deletion AUC) / the target's probability on the whole clip; "
               "agreement: Spearman's ρ between the model's attention and the attribution.")  # fmt: skip
    ui.table(faith.round(3), "faithfulness", key="compare_faithfulness")

st.header("Does the attention do the work?")
checks = checks_table(metrics_by)
if checks.empty:
    st.info(
        "None of these models has attention checks: they have no attention that can be steered, or were "
        "evaluated before the checks existed (`python -m core_models evaluate --run DIR` adds them)."
    )
else:
    st.caption(
        "Before trusting an attention picture: does the prediction change when the attention is replaced by "
        "uniform weights, or by the attention of another clip of the same or of another class? A model that "
        "loses nothing ignores its attention. What would it score if its attention landed on the evidence "
        "(the ground-truth attention at its resolution, where a kind has one)? Gaining says the attention "
        "is what holds it back; losing says it reads its own weights, not only where they land. And is the "
        "attention a place or a class code? If the weights "
        "alone predict the class (cross-validated over subjects) better than the ground-truth attention at "
        'the same resolution would, they say *which class*, not *where*. "Uniform" is equal weights; for '
        "glimpses, an even grid of them; for the STN's warp, the identity (the whole input as it is)."
    )
    figure = checks_figure({n: metrics_by[n] for n in checks.index})
    ui.figure(figure, "attention-checks", "compare_checks_fig")
    ui.table(checks.reset_index().round(3), "attention-checks", key="compare_checks")
    code = class_code_table(metrics_by)
    if not code.empty:
        st.caption(
            "Which weights carry the class, kind by kind: each kind alone and all together, beside the "
            "ground-truth attention at the same resolution (the true parts; the truth interval's share of "
            "each step or segment; for a spatial map, the cells holding the joints of the parts that act). "
            "A positive excess is class information the truth does not hold; a kind without a ground truth "
            "(temporal granularity's granularity weights, the STN's grid) has nothing to be compared with."
        )
        ui.table(code.round(3), "attention-class-code", key="compare_class_code")
    shares = shares_table(metrics_by)
    if not shares.empty:
        st.caption("Share of attention on the ground truth (for glimpses, of their area on the person's "
                   "box), next to what uniform weights, the best weighting at the model's resolution, and "
                   "\"always the middle\" get on the same clips. `parts_informative`: the parts' share on "
                   "the clips whose truth holds some of the model's parts but not all, the only ones where "
                   "part weights can miss.")  # fmt: skip
        ui.table(shares.round(3), "attention-shares", key="compare_shares")
