"""Failures: the sidebar model's misclassified clips as a gallery (thumbnail, truth, prediction,
confidence), filtered by true and predicted class, view, subject and tag, sorted; each opens in
the inspector or in Attributions, and each can be tagged with a note kept in the model's run."""

from __future__ import annotations

import streamlit as st

from app_support import comparing, state, ui
from app_support.gallery import gallery, notes_of
from app_support.navigation import through_router
from viz import confusion as cf
from viz import gallery as vg
from viz.export import csv_bytes

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

URL = "query-params"
SHOWN = ["clip", "label_name", "pred_name", "confidence", "prob_true", "subject", "view", "tag", "note"]


def _numeric_sorted(values) -> list[str]:
    return sorted({str(v) for v in values}, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))


st.title("Failures")
entry = state.current_entry()
evaluated = comparing.evaluated(state.models())
if not evaluated:
    st.info(
        "No model has an evaluation yet. Evaluate one with `python -m core_models evaluate --run DIR` "
        "(DIR is a folder under `checkpoints/` or `runs/` holding `model.pt`), then reload this page."
    )
    st.stop()
if entry not in evaluated:
    name = getattr(entry, "name", "?")
    state.offer_models(
        evaluated, f"**{name}** (the sidebar's model) has no evaluation. These models have one:"
    )
    st.stop()
found = comparing.evaluation(entry)
if found is None:
    st.warning(f"{entry.name}'s evaluation could not be read; evaluate it again.")
    st.stop()
class_names, table = found[0]["class_names"], found[1]
clips = vg.with_notes(table, notes_of(entry))

wrong_all = clips[~clips["correct"].astype(bool)]
top = cf.top_confusions(table, n=10)
commonest = (
    f"; most common confusion: {top.truth[0]} → {top.prediction[0]} ({top.clips[0]})" if len(top) else ""
)
wrong_text = f"{len(wrong_all)} of {len(table)} test clips wrong"
st.markdown(f"**{entry.name}** (the sidebar's model): **{wrong_text}**{commonest}.")

c1, c2, c3, c4, c5, c6 = st.columns(6)
every = [None, *range(len(class_names))]
name_of = lambda i: "All" if i is None else class_names[i]  # noqa: E731
truth = c1.selectbox("True class", every, format_func=name_of, key="failures_class", bind=URL)
pred = c2.selectbox("Predicted class", every, format_func=name_of, key="failures_pred", bind=URL)
view = c3.selectbox("View", [None, *_numeric_sorted(table["view"])], format_func=lambda v: v or "All",
                    key="failures_view", bind=URL)  # fmt: skip
subject = c4.selectbox(
    "Subject", [None, *_numeric_sorted(table["subject"])], key="failures_subject", bind=URL,
    format_func=lambda s: "All" if s is None else f"P{int(s):03d}" if s.isdigit() else s,
)  # fmt: skip
tags = [None, vg.ANY_TAG, vg.UNTAGGED, *sorted({t for t in wrong_all["tag"] if t})]
tag = c5.selectbox("Tag", tags, format_func=lambda t: t or "All", key="failures_tag", bind=URL)
order = c6.selectbox("Sort", tuple(vg.ORDERS), format_func=vg.ORDERS.get, key="failures_order", bind=URL)

lost_by = None
if "truth_pred" in wrong_all and wrong_all["truth_pred"].notna().any():
    st.caption(vg.lost_by_sentence(wrong_all))
    lost_by = st.selectbox(
        "Lost by", [None, *vg.LOST_BY], format_func=lambda k: "All" if k is None else vg.LOST_BY[k],
        key="failures_lost_by", bind=URL,
    )  # fmt: skip
wrong = vg.select_clips(
    wrong_all, truth=truth, pred=pred, view=view, subject=subject, tag=tag, order=order, lost_by=lost_by
)
st.caption(f"{len(wrong)} mistakes match these filters.")
gallery(wrong, entry, "failures")
st.download_button(
    "Download these failures (CSV)", lambda: csv_bytes(wrong[[c for c in SHOWN if c in wrong]]),
    f"failures-{entry.name.replace('/', '_')}.csv", "text/csv", key="failures_csv", on_click="ignore",
)  # fmt: skip

st.subheader("Most common confusions")
ui.table(top, "top-confusions", key="failures_top")
