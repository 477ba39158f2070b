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
