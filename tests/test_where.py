"""`where`: the share of separable STA's spatial maps on the body parts carrying the action, on
the shipped checkpoint and a small synthetic dataset, through the command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core_models import where
from core_models.cli import main
from core_models.synth.generate import SYNTH_CLASSES

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def test_where_scores_the_shipped_maps_per_clip_and_per_class(tiny_synth, tmp_path, capsys):
    out = tmp_path / "where.csv"
    assert main(["where", "--run", str(SHIPPED / "separable_sta-cs"), "--root", str(tiny_synth),
                 "--limit", "6", "--csv", str(out)]) == 0  # fmt: skip
    table = pd.read_csv(out)
    assert 0 < len(table) <= 6
    assert ((table["share"] >= 0) & (table["share"] <= 1 + 1e-6)).all()
    assert ((table["uniform"] > 0) & (table["uniform"] < 1)).all() and (table["best"] == 1).all()
    printed = capsys.readouterr().out
    assert "| all |" in printed and "beats uniform" in printed
    summ = where.summary(table, list(SYNTH_CLASSES))
    assert summ.iloc[-1]["clips"] == len(table)
    assert summ.iloc[-1]["share"] == pytest.approx(table["share"].mean())


def test_where_refuses_a_model_without_spatial_maps(tiny_synth):
    with pytest.raises(SystemExit, match="no spatial attention map"):
        where.spatial_table(SHIPPED / "skeleton_lstm-cs", root=tiny_synth, limit=1)


def _predictions(run: Path, weights: list[list[float]], intervals, labels, subjects) -> None:
    """A saved test-predictions table as `evaluate` writes it, with hand-made temporal weights."""
    from core_models.attention_scores import bin_coverage

    rows = []
    for w, iv, y, s in zip(weights, intervals, labels, subjects):
        cover = bin_coverage(len(w), iv)
        rows.append({"clip": f"c{len(rows)}", "label": y, "subject": s, "temporal": w,
                     "truth_interval": list(iv), "temporal_truth_share": float((cover * w).sum()),
                     "temporal_uniform": iv[1] - iv[0], "temporal_middle": 0.0,
                     "temporal_best": float(cover.max())})  # fmt: skip
    (run / "eval" / "test").mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(run / "eval" / "test" / "predictions.parquet")


def test_when_sets_own_weights_against_weights_lent_by_other_clips(tmp_path, capsys):
    """Four clips of two classes, each weighting one of 4 steps: the first class acts in the
    first quarter, the second in the last. Own weights sit on the truth (share 1); a clip of the
    same class lends weights on the same quarter (1), a clip of the other class weights on the
    other quarter (0)."""
    first, last = [1.0, 0, 0, 0], [0, 0, 0, 1.0]
    _predictions(tmp_path, [first, first, last, last], [(0, 0.25), (0, 0.25), (0.75, 1), (0.75, 1)],
                 [0, 0, 1, 1], [1, 2, 1, 2])  # fmt: skip
    table = where.when_table(tmp_path)
    row = table.set_index("kind").loc["temporal"]
    assert row["clips"] == 4 and row["share"] == pytest.approx(1.0) and row["uniform"] == pytest.approx(0.25)
    assert row["lent, same class"] == pytest.approx(1.0) and row["lent, other class"] == pytest.approx(0.0)
    assert main(["where", "--run", str(tmp_path), "--when"]) == 0
    assert "| temporal | 4 |" in capsys.readouterr().out


def test_when_says_what_is_missing(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no saved predictions"):
        where.when_table(tmp_path)
    _predictions(tmp_path, [[0.5, 0.5]], [(0, 0.5)], [0], [1])
    table = pd.read_parquet(tmp_path / "eval" / "test" / "predictions.parquet")
    table.drop(columns=["temporal"]).to_parquet(tmp_path / "eval" / "test" / "predictions.parquet")
    assert main(["where", "--run", str(tmp_path), "--when"]) == 1
    assert "no temporal weights" in capsys.readouterr().err


def test_when_on_the_shipped_separable_sta():
    """The shipped model's weights find the time (0.82 on the truth); weights lent by another
    class's clip land there more often than uniform ones, because the actions sit at similar times."""
    row = where.when_table(SHIPPED / "separable_sta-cs").set_index("kind").loc["temporal"]
    assert row["share"] > row["uniform"] + 0.3
    assert row["uniform"] < row["lent, other class"] < row["share"]
