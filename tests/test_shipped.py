"""The shipped checkpoints: present, loadable without code, reproducible, and in the README."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core_models import results
from core_models.checkpoint import build_from_checkpoint, load_checkpoint
from core_models.cli import main
from core_models.reproduce import SHIPPED, read_manifest, results_table, sha256
from core_models.targets import markdown_table, still_rising

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"
MANIFEST = read_manifest(CHECKPOINTS)
ROWS = {r["name"]: r for r in MANIFEST["checkpoints"]}


def test_every_entry_is_shipped_with_its_command_and_figures():
    assert sorted(ROWS) == sorted(e.name for e in SHIPPED)
    for row in ROWS.values():
        assert row["commands"] and all(c.startswith("python -m core_models train ") for c in row["commands"])
        for key in ("commit", "epochs", "train_seconds", "wall_seconds", "machine", "parameters", "sha256"):
            assert row[key], key
        assert 0 <= row["metrics"]["top1"] <= 1
        # evaluated on the data the README describes; what it scored on its own data is kept
        assert row.get("evaluated_on", row["data_version"]) == 2 and row["data_version"] in (1, 2)
        if row["data_version"] != row.get("evaluated_on", row["data_version"]):
            assert 0 <= row["metrics_at_training"]["top1"] <= 1


@pytest.mark.parametrize("name", sorted(ROWS))
def test_a_shipped_checkpoint_loads_without_code_and_matches_its_results(name):
    row = ROWS[name]
    path = ROOT / row["checkpoint"]
    assert path.stat().st_size == row["size_bytes"] < 8 * 2**20  # a few MB each
    assert sha256(path) == row["sha256"]
    ck = load_checkpoint(path)  # weights_only=True inside
    model = build_from_checkpoint(ck, path)
    assert sum(p.numel() for p in model.parameters()) == row["parameters"]
    table, metrics = results.read_eval(path.parent, "test")
    assert metrics["top1"] == row["metrics"]["top1"] and len(table) == metrics["clips"]
    assert np.mean(table["correct"]) == pytest.approx(metrics["top1"])


def test_the_readme_results_table_is_the_manifest():
    readme = (ROOT / "README.md").read_text()
    assert results_table(MANIFEST) in readme


def test_the_readme_targets_table_and_curves_are_the_manifest():
    """The retraining targets as measured from the manifest, and the retrained runs' curves."""
    readme = (ROOT / "README.md").read_text()
    assert markdown_table(MANIFEST) in readme
    assert "docs/training_curves.png" in readme
    curves = ROOT / "docs" / "training_curves.png"
    assert curves.read_bytes()[:4] == b"\x89PNG"
    for row in MANIFEST["checkpoints"]:
        if row["data_version"] == 2:  # retrained: its curve and where it stopped are on record
            history = results.read_history(CHECKPOINTS / row["name"])
            assert len(history) == row["epochs"] and all("val_top1" in h for h in history)
            # the shipped weights are the best validation epoch's
            best = max(h["val_top1"] for h in history)
            assert history[row["best_epoch"]]["val_top1"] == best
            # still rising: the best was first reached at the last epoch (a later tie is a plateau)
            first_best = next(i for i, h in enumerate(history) if h["val_top1"] == best)
            assert still_rising(row) == (first_best == len(history) - 1)
            for stage in row.get("stages", []):  # a staged schedule's earlier stages, as recorded
                run = CHECKPOINTS / row["name"] / "stages" / f"step{stage['step']}"
                history = results.read_history(run)
                best = pytest.approx(stage["best_val_top1"], abs=1e-4)
                assert len(history) == stage["epochs"]
                assert max(h["val_top1"] for h in history) == best
                assert history[stage["best_epoch"]]["val_top1"] == best


@pytest.fixture(scope="module")
def subject3(tmp_path_factory) -> Path:
    """The 14 clips of subject 3, camera 1, repetition 1: written again, byte for byte the same."""
    from core_models.synth import write_dataset

    root = tmp_path_factory.mktemp("subject3")
    write_dataset(root, workers=1, progress=False, subjects=(3,), cameras=(1,), repetitions=(1,))
    return root


@pytest.mark.parametrize("name", sorted(n for n in ROWS if n.endswith("-cs")))
def test_evaluate_reproduces_the_shipped_predictions(name, subject3, tmp_path):
    path = ROOT / ROWS[name]["checkpoint"]
    clips = sorted(p.name.split(".")[0] for p in subject3.glob("*.skeleton"))
    assert len(clips) == 14
    code = main(["evaluate", "--checkpoint", str(path), "--out", str(tmp_path), "--root", str(subject3),
                 "--cache-dir", "", "--no-interventions", "--clips", *clips])  # fmt: skip
    assert code == 0
    again, _ = results.read_eval(tmp_path, "test")
    shipped, _ = results.read_eval(path.parent, "test")
    shipped = shipped.set_index("clip").loc[again["clip"]]
    assert list(again["pred"]) == list(shipped["pred"])
    np.testing.assert_allclose(np.stack(again["probs"]), np.stack(shipped["probs"]), atol=2e-4)
    json.loads((tmp_path / "eval" / "test" / "metrics.json").read_text())


def test_the_shipped_glimpses_land_on_the_person():
    """Glimpse Clouds' glimpses put more of their area on the person's box than glimpses spread
    evenly would (0.10 / 0.17 while the diversity term outweighed the attraction to the joints)."""
    for name in ("glimpse_clouds-cs", "glimpse_clouds-cv"):
        glimpses = ROWS[name]["metrics"]["attention_scores"]["glimpses"]
        assert glimpses["share"] > glimpses["uniform"] + 0.15, (name, glimpses)


def test_reevaluating_keeps_the_attention_checks_a_row_has():
    from core_models.reproduce import checked

    assert checked({"protocol": "cs", "metrics": {}})
    assert checked({"protocol": "cv", "metrics": {"top1": 0.5, "attention_checks": {}}})
    assert not checked({"protocol": "cv", "metrics": {"top1": 0.5}})
    assert checked(ROWS["separable_sta-cv"]) and not checked(ROWS["i3d-cv"])


def test_reevaluating_keeps_the_figures_at_training_and_resumes(tiny_synth, tmp_path):
    """`reproduce --evaluate` after a data change: new figures, the old kept, done rows skipped."""
    import shutil

    from core_models.reproduce import reevaluate

    row = dict(ROWS["skeleton_lstm-cs"])
    at_training = row.get("metrics_at_training", row["metrics"])
    row.update(metrics=at_training, data_version=1)
    row.pop("evaluated_on", None), row.pop("metrics_at_training", None)
    shutil.copytree(CHECKPOINTS / "skeleton_lstm-cs", tmp_path / "skeleton_lstm-cs",
                    ignore=shutil.ignore_patterns("eval"))  # fmt: skip
    results.write_json(tmp_path / "manifest.json", {"checkpoints": [row]})
    done = reevaluate(root=str(tiny_synth), checkpoints=tmp_path)["checkpoints"][0]
    assert done["evaluated_on"] == 2 and done["metrics_at_training"] == at_training
    table, metrics = results.read_eval(tmp_path / "skeleton_lstm-cs", "test")
    assert done["metrics"]["top1"] == metrics["top1"] and set(table["subject"]) == {"3"}
    stamp = (tmp_path / "skeleton_lstm-cs" / "eval" / "test" / "metrics.json").stat().st_mtime_ns
    again = reevaluate(root=str(tiny_synth), checkpoints=tmp_path)["checkpoints"][0]
    assert again == done  # already evaluated on version 2: skipped
    assert (tmp_path / "skeleton_lstm-cs" / "eval" / "test" / "metrics.json").stat().st_mtime_ns == stamp
