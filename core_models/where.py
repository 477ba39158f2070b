"""Where a spatial attention map lands: its share on the body parts that carry the action.

Separable STA weighs the cells of its feature map (4 x 4 over the person crop in the ``cpu``
preset) at every feature step. On a synthetic clip the ground truth says which body parts carry
the action in each frame; :func:`core_models.attention_scores.spatial_part_scores` lays the map
over the square the model read and measures the weight on the cells that hold those parts'
joints, next to what equal weights and "always the centre" get there. This module runs a
checkpoint over a split's clips, as the app inspects one clip (:func:`core_models.inspect.inspect_clip`),
and tabulates the scores per class and overall.

``python -m core_models where --run checkpoints/separable_sta-cs`` prints the table.

*When* the temporal weights land needs no model run: :func:`when_table` reads the test
predictions that ``evaluate`` saved and sets each kind of temporal weights (separable STA's and
part attention's ``temporal``, temporal granularity's ``segments_G``) against its baselines and
against the weights the interventions lend each clip (``core_models.evaluate.partners``: a clip of
the same class, another subject's, and a clip of another class). A sharp weighting lent from
another clip still lands on the truth more often than uniform weights when the actions of the
clips sit at similar times, which is why "another class's attention costs more" can fail for an
attention that finds the time (``where --run checkpoints/separable_sta-cs --when``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from core_models.attention_scores import bin_coverage, spatial_part_scores


def clip_spatial_scores(insp, clip) -> dict[str, float] | None:
    """The spatial-map scores of one inspected clip (None without a map, a truth or a place)."""
    spatial = insp.attention.get("spatial")
    if (
        spatial is None
        or clip.truth is None
        or clip.joints2d is None
        or insp.view_boxes is None
        or insp.frame_index is None
    ):
        return None
    names = list(clip.truth.part_names)
    joints = [clip.layout.part(n).joints for n in names]
    return spatial_part_scores(
        spatial, insp.view_boxes, insp.frame_index, clip.joints2d[:, 0], clip.truth.parts, joints,
        clip.truth.interval,
    )  # fmt: skip


def spatial_table(run: str | Path, *, root: str | Path, split: str = "test", limit: int = 0) -> pd.DataFrame:
    """One row per clip of ``split`` whose action has a place: label, prediction, and the scores.

    Args:
        run: a run or shipped checkpoint directory (``model.pt`` and ``settings.json`` inside) of
            a model with a ``spatial`` attention map.
        root: the synthetic dataset (its clips carry the ground truth).
        limit: at most this many clips, taken evenly over the split (0: all).
    """
    from core_models.data import open_reader
    from core_models.inspect import inspect_clip, load_model
    from core_models.train import _spread

    run = Path(run)
    loaded = load_model(run / "model.pt")
    if "spatial" not in getattr(loaded.model, "attention_kinds", ()):
        raise SystemExit(f"{run}: {type(loaded.model).__name__} has no spatial attention map")
    try:
        settings = json.loads((run / "settings.json").read_text())
    except (OSError, ValueError):
        settings = {}
    reader = open_reader(settings.get("data", "synth"), Path(root))
    refs = reader.split(settings.get("protocol", "cs"), split)
    if limit:
        refs = _spread(refs, limit)
    rows = []
    for ref in refs:
        clip = reader.load(ref)
        insp = inspect_clip(loaded, clip)
        sc = clip_spatial_scores(insp, clip)
        if sc is None:
            continue
        rows.append({"clip": clip.name, "label": clip.label, "predicted": int(np.argmax(insp.probs)),
                     "parts": "+".join(clip.truth.active_parts()), **sc})  # fmt: skip
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """Per class and ``all``: clips, the mean share on the true cells and its baselines, and how
    often the map beats equal weights and the centre on a clip."""

    def one(df: pd.DataFrame, name: str) -> dict:
        return {
            "class": name, "clips": len(df),
            "share": float(df["share"].mean()), "uniform": float(df["uniform"].mean()),
            "centre": float(df["centre"].mean()),
            "beats uniform": float((df["share"] > df["uniform"]).mean()),
            "beats centre": float((df["share"] > df["centre"]).mean()),
        }  # fmt: skip

    if table.empty:
        return pd.DataFrame()
    named = [
        (class_names[k] if 0 <= k < len(class_names) else str(k), df) for k, df in table.groupby("label")
    ]
    rows = [one(df, name) for name, df in named]
    rows.append(one(table, "all"))
    return pd.DataFrame(rows)


def when_table(run: str | Path, split: str = "test") -> pd.DataFrame:
    """Per kind of temporal weights in a run's saved ``split`` predictions: the mean share on the
    truth interval of the clip's own weights, of uniform, "always the middle" and the best single
    unit (as ``evaluate`` scored them), and of the weights lent by a clip of the same class and of
    another class (the pairs of ``evaluate``'s ``swap_same`` / ``swap_other`` interventions).

    Kinds whose units are not equal consecutive bins of the clip (a GRU's cumulative states) are
    left out: the lent share would not be comparable.
    """
    from core_models.evaluate import partners

    path = Path(run) / "eval" / split / "predictions.parquet"
    if not path.is_file():
        raise SystemExit(f"{path}: no saved predictions (run `python -m core_models evaluate --run {run}`)")
    table = pd.read_parquet(path)
    table = table[table["truth_interval"].notna()] if "truth_interval" in table else table.iloc[:0]
    labels = table["label"].to_numpy()
    groups = (
        table["subject"].astype(str).to_numpy() if "subject" in table else np.arange(len(table)).astype(str)
    )
    lent = {
        name: partners(labels, groups, same=same)
        for name, same in (("same class", True), ("other class", False))
    }
    rows = []
    for kind in [c for c in table.columns if c == "temporal" or c.startswith("segments_")]:
        if f"{kind}_truth_share" not in table or table[kind].isna().any():
            continue
        weights = np.stack(table[kind].to_numpy()).astype(float)  # (N, n)
        cover = np.stack([bin_coverage(weights.shape[1], tuple(iv)) for iv in table["truth_interval"]])
        own = (weights * cover).sum(1)
        if not np.allclose(own, table[f"{kind}_truth_share"].to_numpy(), atol=1e-3):
            continue  # scored over other fields than equal bins
        row = {"kind": kind, "clips": len(table), "share": float(own.mean())}
        for base in ("uniform", "middle", "best"):
            row[base] = float(table[f"{kind}_{base}"].mean())
        for name, order in lent.items():
            row[f"lent, {name}"] = float((weights[order] * cover).sum(1).mean())
        rows.append(row)
    return pd.DataFrame(rows)
