"""Does the attention do the work? Tables and a chart of the attention checks of several models.

Inputs are the ``metrics.json`` dicts ``evaluate`` writes (``attention_checks``, ``streams``,
``attention_scores``); outputs are a table and a plotly figure. Pure: no streamlit, no I/O.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

PLANS = {  # intervention -> column label
    "top1": "as learned",
    "uniform": "uniform attention",
    "swap_same": "another clip's (same class)",
    "swap_other": "another clip's (other class)",
    "truth": "the true attention",
}
PLAN_COLORS = {
    "as learned": "#1f77b4",
    "uniform attention": "#ff7f0e",
    "another clip's (same class)": "#2ca02c",
    "another clip's (other class)": "#d62728",
    "the true attention": "#9467bd",
}
# glimpses: their area on the person's box; parts_informative: the parts on the clips where part
# weights can miss (the truth holds some of the model's parts, not all)
SCORE_KINDS = ("parts", "parts_informative", "temporal", "segments", "glimpses")


KIND_WORDS = {"parts": "part", "temporal": "time-step", "spatial": "map", "granularity": "granularity",
              "glimpses": "glimpse", "segments": "segment"}  # fmt: skip
NEEDED = 0.02  # a uniform kind within this of the model's own top-1 is not needed


def worth_sentence(metrics: dict[str, Any] | None, fused: bool = False) -> str | None:
    """What a model's attention is worth to it over its test split, from its interventions, in
    one markdown sentence: top-1 with its own attention, with all of it and each kind alone made
    uniform, and with another clip's; a kind whose equal weights do as well (within
    :data:`NEEDED`) is named as one the model does not need, and so is the whole attention when
    equal weights everywhere do as well. Where the evaluation has it, a second sentence gives
    top-1 with the ground-truth attention (all the kinds that have one, then each alone) and
    says whether the model gains or loses by it. ``fused``: the model adds a pose
    classifier to its scores, and the sentence says so. None without interventions."""
    inter = ((metrics or {}).get("attention_checks") or {}).get("interventions") or {}
    if "uniform" not in inter or metrics.get("top1") is None:
        return None
    own = metrics["top1"]
    if fused:
        from core_models.models import POSE_CLASSIFIER_LABEL  # torch: only when it is needed
    pose = f" ({POSE_CLASSIFIER_LABEL})" if fused else ""
    bits = [f"all of it uniform {inter['uniform']['top1']:.3f}"]
    idle = []
    for key, value in inter.items():
        if key.startswith("uniform:") and not key.startswith(("uniform:segments:", "uniform:nonlocal:")):
            kind = key.split(":", 1)[1]
            word = KIND_WORDS.get(kind, kind)
            bits.append(f"uniform {word} weights alone {value['top1']:.3f}")
            if value["top1"] >= own - NEEDED:
                idle.append(word)
    swaps = {"swap_other": "another class's clip's attention", "swap_same": "a same-class clip's"}
    bits += [f"{words} {inter[plan]['top1']:.3f}" for plan, words in swaps.items() if plan in inter]
    text = (
        f"Over its test split this model{pose} scores top-1 "
        f"**{own:.3f}** with its own attention; " + ", ".join(bits) + "."
    )
    if inter["uniform"]["top1"] >= own - NEEDED:
        text += " Equal weights everywhere do as well: the model does not rely on where its attention goes."
    elif idle:
        text += (
            f" Equal {' and '.join(idle)} weights do as well: that part of the picture is not what the "
            "model relies on."
        )
    truth = truth_sentence(inter, own)
    return f"{text} {truth}" if truth else text


def truth_sentence(inter: dict[str, Any], own: float) -> str | None:
    """Top-1 with the ground-truth attention at the model's resolution (``truth``, and
    ``truth:<kind>`` one kind at a time), against the model's own top-1: whether getting the
    attention right would raise the accuracy, or whether the model has learnt to read its own
    weights rather than the evidence (it scores less with the truth). None without the pass."""
    if "truth" not in inter:
        return None
    kinds = [k.split(":", 1)[0] for k in inter["truth"].get("kinds") or []]
    words = " and ".join(dict.fromkeys(KIND_WORDS.get(k, k) for k in kinds))
    value = inter["truth"]["top1"]
    alone = [
        f"true {KIND_WORDS.get(k.split(':', 1)[1], k.split(':', 1)[1])} weights alone {v['top1']:.3f}"
        for k, v in inter.items()
        if k.startswith("truth:") and not k.startswith("truth:segments:")
    ]
    kept = dict.fromkeys(
        KIND_WORDS.get(k.split(":")[1], k.split(":")[1])
        for k in inter
        if k.startswith("uniform:") and k.split(":")[1] not in kinds
    )
    own_rest = f", its own {' and '.join(kept)} weights kept" if kept else ""
    text = (
        f"With the ground-truth {words or 'attention'} weights at its resolution (on the parts, times or "
        f"places that carry the action{own_rest}) it scores **{value:.3f}**"
        + (f" ({', '.join(alone)})" if alone else "")
        + ": "
    )
    if value > own + NEEDED:
        text += "attention that found the evidence would raise its accuracy."
    elif value < own - NEEDED:
        text += "less than with its own, so the model reads its own weights, not only where they land."
    else:
        text += "about what it scores with its own."
    return text


def checks_table(models: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per model with attention checks: accuracy as learned and under each intervention,
    each stream alone, and how well the attention (and the ground truth) predicts the class.

    Args:
        models: model name -> its ``metrics.json`` dict.

    Returns:
        A frame indexed by model (empty when no model has checks).
    """
    rows = []
    for name, m in models.items():
        checks = m.get("attention_checks")
        if not checks:
            continue
        inter = checks.get("interventions", {})
        row: dict[str, Any] = {"model": name, "top-1 as learned": m.get("top1")}
        for s, acc in (m.get("streams") or {}).items():
            row[f"{s} stream alone"] = acc
        for plan in ("uniform", "swap_same", "swap_other", "truth"):
            if plan in inter:
                row[f"top-1, {PLANS[plan]}"] = inter[plan]["top1"]
                if "rgb_top1" in inter[plan]:
                    row[f"RGB alone, {PLANS[plan]}"] = inter[plan]["rgb_top1"]
        code = checks.get("class_code", {})
        key = "all" if "all" in code else next((k for k in code if k != "chance"), None)
        if key:
            row["class from attention alone"] = code[key].get("attention")
            row["class from true attention"] = code[key].get("truth")
            row["chance"] = code.get("chance")
        rows.append(row)
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()


def class_code_table(models: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per (model, kind of attention, and ``all`` of them together): how well those
    weights alone predict the class, next to the ground-truth attention at the same resolution
    and chance, and by how much they exceed the truth (``excess``). A kind with no ground truth
    (temporal granularity's granularity weights, the STN's grid) has no comparison: ``truth`` and
    ``excess`` are empty and ``compared with`` says so."""
    rows = []
    for name, m in models.items():
        code = (m.get("attention_checks") or {}).get("class_code") or {}
        for kind, entry in code.items():
            if kind == "chance" or not isinstance(entry, dict):
                continue
            truth = entry.get("truth")
            missing = truth is None
            rows.append({
                "model": name, "attention": kind, "class from these weights": entry.get("attention"),
                "class from the true weights": float("nan") if missing else truth,
                "chance": code.get("chance"),
                "excess": float("nan") if missing else entry.get("attention") - truth,
                "compared with": "nothing: no ground truth for this kind" if missing
                else "the ground truth at this resolution",
            })  # fmt: skip
    return pd.DataFrame(rows)


def shares_table(models: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per (model, attention kind): the share on the ground truth and its baselines."""
    rows = []
    for name, m in models.items():
        for kind, sc in (m.get("attention_scores") or {}).items():
            if kind not in SCORE_KINDS and not kind.startswith("segments_"):
                continue
            rows.append({
                "model": name, "attention": kind, "share on truth": sc.get("share"),
                "uniform": sc.get("uniform"), "best possible": sc.get("best"),
                "always the middle": sc.get("middle"), "acting hand wins": sc.get("acting_wins"),
                "clips": sc.get("clips"),
            })  # fmt: skip
    return pd.DataFrame(rows)


def checks_figure(models: dict[str, dict[str, Any]]) -> go.Figure:
    """Grouped bars per model: top-1 as learned, with uniform attention, with borrowed attention,
    and with the ground-truth attention (models without that pass have no bar there)."""
    fig = go.Figure()
    names = [n for n, m in models.items() if m.get("attention_checks")]
    for plan, label in PLANS.items():
        values = []
        for n in names:
            m = models[n]
            inter = m["attention_checks"].get("interventions", {})
            values.append(m.get("top1") if plan == "top1" else inter.get(plan, {}).get("top1"))
        labels = [f"{v:.2f}" if v is not None else "" for v in values]
        fig.add_bar(
            name=label,
            x=names,
            y=values,
            marker_color=PLAN_COLORS[label],
            text=labels,
            textposition="outside",
        )
    fig.update_layout(
        barmode="group", yaxis=dict(title="top-1", range=[0, 1.08]), height=360,
        margin=dict(l=50, r=10, t=30, b=40), legend=dict(orientation="h", y=-0.2),
        title="Top-1 with the attention as learned, uniform, borrowed from another clip, and true",
    )  # fmt: skip
    return fig


def what_if_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-clip rows of ``core_models.inspect.what_if`` as a table (confidences rounded)."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for col in ("confidence", "true class"):
        if col in frame:
            frame[col] = frame[col].round(3)
    return frame


def what_if_sentence(rows: list[dict[str, Any]], fused: bool = False) -> str | None:
    """What one clip's prediction owes to the attention, in one sentence, from the ``what_if``
    rows: right or wrong with its own attention, with equal weights, and with the ground-truth
    attention where the clip has one; which of them lost or kept the clip. ``fused``: the model
    adds a pose classifier to its scores, and the sentence says so. None when the clip's class is
    not one the model knows (nothing to be right about) or there are no rows."""
    if not rows or "right" not in rows[0]:
        return None
    own = rows[0]
    flat = next((r for r in rows if r["attention"] == "uniform" and r["replaced"] == "all"), None)
    true = next(
        (r for r in rows if r["attention"] == "ground truth" and r["replaced"].startswith("all")), None
    )

    def said(r: dict[str, Any]) -> str:
        return (
            f"right ({r['confidence']:.2f})"
            if r["right"]
            else f"wrong (*{r['prediction']}*, {r['confidence']:.2f})"
        )

    if fused:
        from core_models.models import POSE_CLASSIFIER_LABEL  # torch: only when it is needed
    who = f"the model ({POSE_CLASSIFIER_LABEL})" if fused else "the model"
    text = f"On this clip {who} is {said(own)} with its own attention"
    if flat is not None:
        text += f", {said(flat)} with equal weights"
    if true is not None:
        text += f", and {said(true)} with the ground-truth attention at its resolution"
    text += ". "
    if true is not None and not own["right"] and true["right"]:
        text += "Where the attention went lost this clip: on the evidence it comes right."
    elif true is not None and not own["right"]:
        text += "The attention is not what lost this clip: even on the evidence the model gets it wrong."
    elif true is not None and not true["right"]:
        text += "It is right only with its own weights: here it reads them, not only where they land."
    elif flat is not None and own["right"] and flat["right"]:
        text += "Equal weights keep it right: this clip does not need the attention."
    elif flat is not None and own["right"]:
        text += "Equal weights lose it: this clip needs the attention."
    elif flat is not None and flat["right"]:
        text += "Equal weights would get it right: the attention misled the model here."
    else:
        text += "Neither attention gets it right."
    return text
