"""Failures: one model's misclassified clips, filtered by true class, view and subject, the most
confident mistakes first; a chosen clip opens in the clip inspector with that model."""

from __future__ import annotations

import streamlit as st

from app_support.models import list_models, metrics, predictions
from app_support.navigation import open_clip, through_router
from viz import confusion as cf
from viz.export import csv_bytes

through_router()  # a deep link on a fresh server still gets the sidebar and the menu

ORDER_LABELS = {"confidence": "Most confident mistakes first", "prob_true": "Truth least likely first"}
SHOWN = {"clip": "clip", "label_name": "truth", "pred_name": "prediction", "confidence": "confidence",
         "prob_true": "prob. of truth", "subject": "subject", "view": "view"}  # fmt: skip
PREFERRED = "part_attention-cs"


def _numeric_sorted(values) -> list[str]:
    return sorted({str(v) for v in values}, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))


st.title("Failures")
entries = {e.name: e for e in list_models() if metrics(e) is not None}
if not entries:
    st.info(
        "No model has an evaluation yet. Evaluate one with `python -m core_models evaluate --run DIR` "
        "(DIR is a folder under `checkpoints/` or `runs/` holding `model.pt`), then reload this page."
    )
    st.stop()

if st.session_state.get("failures_model") not in entries:
    wanted = st.session_state.get("model_name")  # the model the inspector shows, when it has one
    st.session_state["failures_model"] = next(
        (n for n in (wanted, PREFERRED) if n in entries), next(iter(entries))
    )
name = st.selectbox("Model", list(entries), format_func=lambda n: entries[n].label(), key="failures_model")
entry = entries[name]
table = predictions(entry)
if table is None:
    st.warning(f"{name}'s predictions table could not be read; evaluate it again.")
    st.stop()
class_names = metrics(entry)["class_names"]

wrong_total = int((~table["correct"]).sum())
top = cf.top_confusions(table, n=10)
commonest = (
    f"; most common confusion: {top.truth[0]} → {top.prediction[0]} ({top.clips[0]})" if len(top) else ""
)
st.markdown(f"**{wrong_total} of {len(table)} clips wrong**{commonest}.")

c1, c2, c3, c4 = st.columns(4)
label = c1.selectbox(
    "True class",
    [None, *range(len(class_names))],
    format_func=lambda i: "All" if i is None else class_names[i],
    key="failures_class",
)
view = c2.selectbox(
    "View", [None, *_numeric_sorted(table["view"])], format_func=lambda v: v or "All", key="failures_view"
)
subject = c3.selectbox(
    "Subject",
    [None, *_numeric_sorted(table["subject"])],
    format_func=lambda s: "All" if s is None else f"P{int(s):03d}" if s.isdigit() else s,
    key="failures_subject",
)
order = c4.radio("Sort", tuple(ORDER_LABELS), format_func=ORDER_LABELS.get, key="failures_order")

wrong = cf.failures(table, label=label, view=view, subject=subject, order=order)
shown = wrong[[c for c in SHOWN if c in wrong]].rename(columns=SHOWN)
st.caption(
    f"{len(shown)} mistakes match these filters. Select a row (or a clip below) to open it with {name}."
)
event = st.dataframe(
    shown,
    key="failures_table",
    on_select="rerun",
    selection_mode="single-row",
    hide_index=True,
    column_config={
        "confidence": st.column_config.ProgressColumn(
            "confidence", min_value=0.0, max_value=1.0, format="%.3f"
        ),
        "prob. of truth": st.column_config.NumberColumn(format="%.3f"),
    },
)
if event and event.selection.rows:
    open_clip(shown["clip"].iloc[event.selection.rows[0]], model=name)
st.download_button(
    "Download CSV", csv_bytes(wrong), f"failures-{name.replace('/', '_')}.csv", "text/csv",
    key="failures_csv",
)  # fmt: skip

if len(shown):
    left, mid, right = st.columns([3, 1, 1], vertical_alignment="bottom")
    clip = left.selectbox("Clip", shown["clip"].tolist(), key="failures_clip")
    if mid.button("Open in Clip", key="failures_open"):
        open_clip(clip, model=name)
    if right.button("Explain it", key="failures_explain", help="Attributions of this mistake"):
        open_clip(clip, model=name, page="pages/explain.py")

st.subheader("Most common confusions")
st.dataframe(top, hide_index=True)
st.download_button("Download CSV", csv_bytes(top), "top-confusions.csv", "text/csv",
                   key="failures_top_csv")  # fmt: skip
