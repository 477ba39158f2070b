"""How a fused model's streams make its prediction, in numbers (arrays in, a table and text out).

A model that fuses streams (RGB and pose, RGB and optical flow, a 3D and a 2D ConvNet) reports
each stream's logits beside its own; :func:`core_models.inspect.fusion_rule` says which rule
combines them. Here the rule is written out for the classes that matter: the fused prediction,
the ground truth and each stream's own choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def _check(class_names: Sequence[str], streams: Mapping[str, np.ndarray]) -> None:
    if len(streams) < 2:
        raise ValueError(f"a fusion needs at least two streams, got {list(streams)}")
    for name, z in streams.items():
        if np.shape(z) != (len(class_names),):
            raise ValueError(
                f"stream {name!r} logits must be (K,) = ({len(class_names)},), got {np.shape(z)}"
            )


def fusion_classes(streams: Mapping[str, np.ndarray], probs: np.ndarray, truth: int | None) -> list[int]:
    """The classes worth a row: the fused prediction, the ground truth, each stream's own top class."""
    order = [int(np.argmax(probs))]
    if truth is not None:
        order.append(int(truth))
    order += [int(np.argmax(z)) for z in streams.values()]
    return list(dict.fromkeys(order))


def fusion_table(
    class_names: Sequence[str],
    streams: Mapping[str, np.ndarray],
    probs: np.ndarray,
    rule: str | None,
    truth: int | None = None,
) -> pd.DataFrame:
    """One row per class of :func:`fusion_classes`: each stream's logit and probability, then the
    rule's fused score and the model's fused probability.

    Args:
        class_names: K names.
        streams: stream name -> (K,) logits (``Inspection.stream_logits``).
        probs: (K,) the model's fused probabilities.
        rule: one of ``core_models.inspect.FUSION_RULES`` or None (no fused-score column).
        truth: the true class, or None.

    Returns:
        Columns ``class``, then per stream ``<S> logit`` and ``<S> prob``, then (with a rule)
        ``sum of logits`` / ``mean of logits`` / ``mean of probs``, and ``fused prob``.
    """
    _check(class_names, streams)
    probs = np.asarray(probs, dtype=np.float64)
    stream_probs = {s: _softmax(z) for s, z in streams.items()}
    rows = []
    for k in fusion_classes(streams, probs, truth):
        row: dict[str, object] = {"class": class_names[k] + (" (truth)" if k == truth else "")}
        for s, z in streams.items():
            row[f"{s.upper()} logit"] = round(float(z[k]), 3)
            row[f"{s.upper()} prob"] = round(float(stream_probs[s][k]), 3)
        if rule == "sum of logits":
            row["sum of logits"] = round(float(sum(z[k] for z in streams.values())), 3)
        elif rule == "mean of logits":
            row["mean of logits"] = round(float(np.mean([z[k] for z in streams.values()])), 3)
        elif rule == "mean of probabilities":
            row["mean of probs"] = round(float(np.mean([p[k] for p in stream_probs.values()])), 3)
        row["fused prob"] = round(float(probs[k]), 3)
        rows.append(row)
    return pd.DataFrame(rows)


def fusion_text(
    class_names: Sequence[str],
    streams: Mapping[str, np.ndarray],
    probs: np.ndarray,
    rule: str | None,
) -> str:
    """The fusion rule's arithmetic for the fused prediction, as Markdown.

    ``sum of logits`` is written both ways: the logits added, and (the same thing) the streams'
    probabilities multiplied and renormalised over all K classes, which is why two lukewarm
    streams that agree give a confident fused answer.
    """
    _check(class_names, streams)
    probs = np.asarray(probs, dtype=np.float64)
    k = int(np.argmax(probs))
    name, K = class_names[k], len(class_names)
    labels = [s.upper() for s in streams]
    zs = [np.asarray(z, dtype=np.float64) for z in streams.values()]
    ps = [_softmax(z) for z in zs]
    own = ", ".join(
        f"{label} alone says *{class_names[int(np.argmax(p))]}* ({p.max():.3f})"
        for label, p in zip(labels, ps)
    )
    head = f"{own}. "
    if rule == "sum of logits":
        terms = " + ".join(f"{z[k]:.2f} ({label})" for z, label in zip(zs, labels))
        product = np.prod(ps, axis=0)  # (K,)
        factors = " × ".join(f"{p[k]:.3f}" for p in ps)
        total = sum(z[k] for z in zs)
        return head + (
            f"The model **adds the streams' logits**: for *{name}* {terms} = **{total:.2f}**, "
            f"and the softmax over the {K} classes gives **{probs[k]:.3f}**. Adding logits multiplies "
            f"the streams' probabilities and renormalises them: {factors} = {product[k]:.4f} for *{name}*, "
            f"out of {product.sum():.4f} summed over all classes, so {product[k]:.4f} / {product.sum():.4f} "
            f"= **{product[k] / product.sum():.3f}**. A class both streams find plausible wins over one "
            "that only one stream likes."
        )
    if rule == "mean of probabilities":
        terms = " + ".join(f"{p[k]:.3f} ({label})" for p, label in zip(ps, labels))
        return head + (
            f"The model **averages the streams' probabilities**: for *{name}* ({terms}) / {len(ps)} "
            f"= **{np.mean([p[k] for p in ps]):.3f}**."
        )
    if rule == "mean of logits":
        terms = " + ".join(f"{z[k]:.2f} ({label})" for z, label in zip(zs, labels))
        return head + (
            f"The model **averages the streams' logits**: for *{name}* ({terms}) / {len(zs)} "
            f"= {np.mean([z[k] for z in zs]):.2f}, and the softmax over the {K} classes gives "
            f"**{probs[k]:.3f}**."
        )
    return head + (
        f"The model's fused answer, *{name}* ({probs[k]:.3f}), is not a sum or an average of these "
        "streams: it combines them in a way that its outputs do not show."
    )
