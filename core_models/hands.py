"""Which hand's crop tells the class: a part-attention checkpoint's hand heads, clip by clip.

Part attention keeps a classifier on each part stream (``part_logits``; the streams' own loss).
On a synthetic clip where one hand does the action (``truth.info["acting_hand"]``) this module
reads, for each clip, what the acting hand's head says from the acting hand's crop, what the
other hand's head says from the idle hand's crop, and what the whole model says. If the idle
crop is right more often than the acting one, the streams learnt the class from something other
than the held object.

Each clip is also classified twice more with every step's hand weight moved onto one hand
(:func:`on_one_hand`; the other hand 0, the body unchanged): if the model does better with all of
it on the idle hand than on the acting one, the attention has no reason to pick the acting hand.

The clips are rendered again by name (:func:`core_models.synth.generate.dataset_clip`: written and
read back as the dataset holds them), so the desk can be changed, as a counterfactual, without
changing anything else of the clip (the same subject, motion, camera and colours):

* ``as-rendered``: the clip as in the dataset; the taken object's slot is empty while it is held.
* ``full``: a copy of the taken object also stays on the desk, so the pile never shows a gap
  (the frames before the grasp and after the release are the dataset's).
* ``empty``: no objects on the desk at all; only the held object is drawn, while held.

``python -m core_models hands --run checkpoints/part_attention-cs --classes A001 A002 A028``
prints the per-class table (and ``--desk full`` / ``--desk empty`` the same clips changed).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch

DESKS = ("as-rendered", "full", "empty")
HAND_PARTS = {"left": "left_hand", "right": "right_hand"}


@contextlib.contextmanager
def desk(kind: str) -> Iterator[None]:
    """Render clips with the desk ``kind`` (see the module docstring) inside the block."""
    from core_models.synth import objects

    if kind not in DESKS:
        raise ValueError(f"unknown desk {kind!r}; choose one of {', '.join(DESKS)}")
    original = objects.pile

    def full(*args, **kwargs):
        prims, looks = original(*args, **kwargs)
        # A second copy of the taken object that never leaves its slot, drawn with the static desk
        # under the body: while the object is on the desk the original copy covers it exactly (so
        # those frames are the dataset's), while it is in the hand the slot is no longer empty.
        stays = [dataclasses.replace(p, visible=None) for p in prims if p.visible is not None]
        return stays + prims, looks

    def empty(*args, **kwargs):
        _, looks = original(*args, **kwargs)  # the same random draws, so the clip is otherwise the same
        return [], looks

    objects.pile = {"as-rendered": original, "full": full, "empty": empty}[kind]
    try:
        yield
    finally:
        objects.pile = original


def hand_heads(
    run: str | Path,
    *,
    root: str | Path,
    split: str = "test",
    desk_kind: str = "as-rendered",
    classes: list[str] | None = None,
    limit: int = 0,
) -> pd.DataFrame:
    """One row per one-hand clip of ``split``: the label, the acting hand, and the predictions of
    the whole model, of the acting hand's head (on its crop) and of the idle hand's head.

    Args:
        run: a part-attention run or shipped checkpoint directory (``model.pt`` inside).
        root: the synthetic dataset (its split lists, seed and frame size).
        classes: NTU action codes (``A001``) to keep; all when empty.
        limit: at most this many clips (0: all).
    """
    from core_models.checkpoint import build_from_checkpoint, load_checkpoint
    from core_models.models.output import reuse_keys, steer_key
    from core_models.ood.fit import clip_items
    from core_models.synth.generate import dataset_clip
    from core_models.train import TrainSettings, open_data

    path = Path(run) / "model.pt"
    model = build_from_checkpoint(load_checkpoint(path), path).eval()
    parts = list(getattr(model.config, "parts", ()))
    if not set(HAND_PARTS.values()) <= set(parts):
        raise SystemExit(f"{run}: {type(model).__name__} has no left and right hand streams "
                         f"(parts {parts or 'none'}); this reads part attention's hand heads")  # fmt: skip
    seed, size = _dataset_seed_size(root)
    settings = TrainSettings(model="part_attention", out=str(run), root=str(root),
                             protocol=_protocol(run))  # fmt: skip
    _, splits = open_data(settings)
    wanted = {c.upper() for c in classes or []}
    names = [r.name for r in splits[split] if not wanted or r.name[-4:] in wanted]
    rows = []
    with desk(desk_kind):
        for name in names:
            clip = dataset_clip(name, seed=seed, size=size)
            hand = clip.truth.info.get("acting_hand") if clip.truth is not None else None
            if hand not in HAND_PARTS:
                continue
            idle = "left" if hand == "right" else "right"
            (item,) = clip_items([clip], model.input_spec)  # as evaluation prepares a clip
            batch = {k: v.unsqueeze(0) for k, v in item.items() if torch.is_tensor(v)}
            with torch.no_grad():
                out = model(batch)
                # The same clip with every step's hand weight given to one hand (the other hand 0).
                only = {}
                for who, h in (("acting", hand), ("idle", idle)):
                    one = on_one_hand(out.attention["parts"], parts, h)
                    steered = {**batch, **reuse_keys(out), steer_key("parts"): one}
                    only[who] = int(model(steered).logits[0].argmax())
            heads = out.aux["part_logits"][0]
            weights = out.attention["parts"][0].reshape(-1, len(parts)).mean(0)
            rows.append({
                "clip": name, "label": clip.label, "acting_hand": hand,
                "model": int(out.logits[0].argmax()),
                "model_acting_only": only["acting"], "model_idle_only": only["idle"],
                "acting_head": int(heads[parts.index(HAND_PARTS[hand])].argmax()),
                "idle_head": int(heads[parts.index(HAND_PARTS[idle])].argmax()),
                "acting_weight": float(weights[parts.index(HAND_PARTS[hand])]),
                "idle_weight": float(weights[parts.index(HAND_PARTS[idle])]),
            })  # fmt: skip
            if limit and len(rows) >= limit:
                break
    return pd.DataFrame(rows)


def on_one_hand(weights: torch.Tensor, parts: list[str], hand: str) -> torch.Tensor:
    """Part weights (..., P) with both hands' weight moved onto ``hand`` (``"left"`` / ``"right"``).

    The other hand gets 0 and every other part keeps its weight, so each step still sums to what
    it did: the model reads the same amount of hand, all of it from one hand.
    """
    from core_models.models.part_attention import hands_onto

    keep, drop = parts.index(HAND_PARTS[hand]), parts.index(HAND_PARTS["right" if hand == "left" else "left"])
    return hands_onto(weights, keep, drop, 1.0)


def summary(table: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """Per class (and ``all``): clips, how often the model is right (as it is, and with all its
    hand weight on the acting or on the idle hand), how often the acting and the idle head are
    right, the acting hand's mean weight, and each head's most common answer."""

    def one(df: pd.DataFrame, name: str) -> dict:
        def top(col: str) -> str:
            (k, n), *_ = Counter(df[col]).most_common(1)
            return f"{class_names[k]} ({n / len(df):.2f})"

        return {
            "class": name, "clips": len(df),
            "model right": float((df["model"] == df["label"]).mean()),
            "model right, acting hand only": float((df["model_acting_only"] == df["label"]).mean()),
            "model right, idle hand only": float((df["model_idle_only"] == df["label"]).mean()),
            "acting crop right": float((df["acting_head"] == df["label"]).mean()),
            "idle crop right": float((df["idle_head"] == df["label"]).mean()),
            "acting hand weight": float(df["acting_weight"].mean()),
            "acting head says": top("acting_head"), "idle head says": top("idle_head"),
        }  # fmt: skip

    if table.empty:
        return pd.DataFrame()
    rows = [one(df, class_names[k]) for k, df in table.groupby("label")]
    rows.append(one(table, "all"))
    return pd.DataFrame(rows)


def markdown(summary_table: pd.DataFrame) -> str:
    """The summary as a markdown table (fractions with three decimals)."""
    cols = list(summary_table.columns)
    numeric = [pd.api.types.is_numeric_dtype(summary_table[c]) for c in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "".join("---:|" if n else "---|" for n in numeric)]
    for _, r in summary_table.iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _protocol(run: str | Path) -> str:
    import json

    try:
        return json.loads((Path(run) / "settings.json").read_text()).get("protocol", "cs")
    except (OSError, ValueError):
        return "cs"


def _dataset_seed_size(root: str | Path) -> tuple[int, tuple[int, int]]:
    import json

    try:
        info = json.loads((Path(root) / "synth.json").read_text())
    except (OSError, ValueError):
        raise SystemExit(f"{root}: no synth.json; `hands` renders a synthetic dataset's clips") from None
    return int(info.get("seed", 0)), tuple(int(v) for v in info.get("size", (120, 160)))
