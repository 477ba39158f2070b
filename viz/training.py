"""Training curves: the running loss and accuracy every few steps, and each epoch's numbers
(rows of ``steps.jsonl`` and ``history.jsonl``, see :mod:`core_models.results`) in, a figure out."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.charts import PRED_COLOUR, TRUTH_COLOUR

EPOCH_CURVES = (  # history.jsonl key, legend, subplot column, colour, dash
    ("train_loss", "train loss (epoch)", 1, PRED_COLOUR, "solid"),
    ("val_loss", "val loss", 1, TRUTH_COLOUR, "solid"),
    ("train_top1", "train acc (epoch)", 2, PRED_COLOUR, "dot"),
    ("val_top1", "val acc", 2, TRUTH_COLOUR, "dot"),
)
STEP_CURVES = (("train_loss", "train loss (steps)", 1), ("train_top1", "train acc (steps)", 2))
STEP_COLOUR = "rgba(99, 110, 250, 0.45)"


def curves_figure(history: list[dict], steps: list[dict] | None = None) -> go.Figure:
    """Loss (left) and top-1 accuracy (right) against epochs.

    ``steps`` rows (``epoch_fraction``, ``train_loss``, ``train_top1``) draw thin lines from the
    first steps on; ``history`` rows (one per finished epoch) are markers at the epoch's end
    (x = epoch + 1), validation included.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "top-1 accuracy"))
    for key, label, col in STEP_CURVES:
        rows = [r for r in steps or () if key in r and "epoch_fraction" in r]
        if rows:
            xs, ys = [r["epoch_fraction"] for r in rows], [r[key] for r in rows]
            line = {"color": STEP_COLOUR, "width": 1}
            fig.add_scatter(x=xs, y=ys, name=label, mode="lines", line=line, row=1, col=col)
    epochs = [r["epoch"] + 1 for r in history]
    for key, label, col, colour, dash in EPOCH_CURVES:
        if any(key in r for r in history):
            fig.add_scatter(x=epochs, y=[r.get(key) for r in history], name=label, mode="lines+markers",
                            line={"color": colour, "dash": dash}, row=1, col=col)  # fmt: skip
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.3, "yanchor": "top"})  # fmt: skip
    return fig
