"""Out-of-distribution scores: the statistics on known data, their place in checkpoints, the `ood`
command, the shipped checkpoints on clips the tests make (noise, an empty room, real photographs
from scikit-image's wheel, shuffled and frozen clips), and what the app says about them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core_models.checkpoint import load_checkpoint
from core_models.cli import main
from core_models.inspect import inspect_clip, load_model
from core_models.ood.inputs import OOD_KINDS, film, noise_clip, ood_clips, photo, shuffled_clip, still_clip
from core_models.ood.stats import SCORES, OODStats, auroc, calibrate, fit, ledoit_wolf, score, scores
from core_models.synth.generate import dataset_clip

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"


def test_auroc_is_the_probability_an_outside_clip_scores_higher():
    rng = np.random.default_rng(0)
    inside, outside = rng.integers(0, 5, 40).astype(float), rng.integers(2, 8, 30).astype(float)
    pairs = (outside[:, None] > inside[None]).mean() + 0.5 * (outside[:, None] == inside[None]).mean()
    assert auroc(inside, outside) == pytest.approx(pairs)
    assert auroc([0, 1], [2, 3]) == 1.0 and auroc([2, 3], [0, 1]) == 0.0 and auroc([1, 1], [1]) == 0.5


def test_ledoit_wolf_shrinks_an_ill_conditioned_covariance():
    x = np.random.default_rng(0).normal(size=(20, 50))  # fewer samples than dimensions
    cov, shrink = ledoit_wolf(x - x.mean(axis=0))
    assert 0 < shrink <= 1 and np.linalg.eigvalsh(cov).min() > 0
    big = np.random.default_rng(1).normal(size=(5000, 3)) * [1.0, 5.0, 20.0]
    assert ledoit_wolf(big - big.mean(axis=0))[1] < 0.05  # plenty of data, far from isotropic: barely shrunk
    iso = np.random.default_rng(2).normal(size=(5000, 3))
    assert ledoit_wolf(iso - iso.mean(axis=0))[1] > 0.5  # isotropic: the target is the truth


def clusters(n: int, rng, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 3, n)
    centres = np.array([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]]) + offset
    return centres[labels] + rng.normal(size=(n, 4)), labels


def test_features_far_from_the_training_classes_score_higher_and_calibration_keeps_95_percent():
    rng = np.random.default_rng(0)
    f, y = clusters(600, rng)
    stats = fit(f, y, 3)
    logits = lambda x: -np.linalg.norm(x[:, None] - stats.means[None], axis=-1)  # noqa: E731
    held, _ = clusters(400, rng)
    calibrate(stats, held, logits(held))
    for name in SCORES:
        assert np.mean(score(stats, held, logits(held), name) <= stats.thresholds[name]) >= 0.95
    near, _ = clusters(200, rng)
    far = rng.normal(size=(200, 4)) * 3 + np.array([0, 0, 0, 8.0])  # a direction no class uses
    for name in ("mahalanobis", "knn"):
        a = auroc(score(stats, near, logits(near), name), score(stats, far, logits(far), name))
        assert a > 0.95, name
    both = scores(stats, far, logits(far))
    assert set(both) == set(SCORES) and all(v.shape == (200,) for v in both.values())


def test_stats_travel_in_a_weights_only_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    f, y = clusters(100, rng)
    stats = calibrate(fit(f, y, 3), f, f[:, :3])
    torch.save({"ood": stats.to_checkpoint()}, tmp_path / "c.pt")
    back = OODStats.from_checkpoint(torch.load(tmp_path / "c.pt", weights_only=True)["ood"])
    np.testing.assert_allclose(back.means, stats.means, rtol=1e-6)
    assert back.thresholds == pytest.approx(stats.thresholds) and back.score == stats.score
    x = rng.normal(size=(5, 4))
    for name in SCORES:
        np.testing.assert_allclose(score(back, x, x[:, :3], name), score(stats, x, x[:, :3], name), rtol=1e-3)


def test_the_made_inputs_are_what_they_say():
    clip = dataset_clip("S003C001P003R001A010")  # clapping, a test subject
    still, shuffled = still_clip(clip), shuffled_clip(clip)
    assert (still.frames == still.frames[0]).all() and still.num_frames == clip.num_frames
    assert sorted(map(bytes, shuffled.frames)) == sorted(map(bytes, clip.frames))
    assert not np.array_equal(shuffled.joints3d, clip.joints3d)
    assert noise_clip(0).frames.std() > 60
    image = photo("astronaut")  # skimage.data, shipped in the scikit-image wheel
    frames = film(image, frames=10)
    assert frames.shape == (10, 120, 160, 3) and not np.array_equal(frames[0], frames[-1])
    made = ood_clips([clip], per_kind=1, estimate_pose=False)
    assert set(made) == set(OOD_KINDS) and all(len(v) == 1 for v in made.values())


def test_train_stores_the_statistics_and_the_ood_command_refits_them(tiny_synth, tmp_path):
    from core_models.train import TrainSettings, train

    settings = TrainSettings(model="skeleton_lstm", out=str(tmp_path / "run"), root=str(tiny_synth), epochs=1,
                             batch_size=8, workers=0, cache_dir="", evaluate=False)  # fmt: skip
    run = train(settings)
    ck = load_checkpoint(run / "model.pt")
    stats = OODStats.from_checkpoint(ck["ood"])
    assert stats.train_clips == 56 and stats.calibration_clips == 28  # subjects 1, 2 / subject 4
    assert set(stats.thresholds) == set(SCORES) and stats.means.shape[0] == 14
    # as a shipped checkpoint with a manifest: the command refits and records the new file
    shipped = tmp_path / "checkpoints"
    shutil.copytree(run, shipped / "run")
    del ck["ood"]
    torch.save(ck, shipped / "run" / "model.pt")
    (shipped / "manifest.json").write_text(json.dumps({"checkpoints": [{"name": "run", "sha256": "x"}]}))
    assert main(["ood", "--run", str(shipped / "run"), "--cache-dir", ""]) == 0
    again = load_checkpoint(shipped / "run" / "model.pt")
    assert OODStats.from_checkpoint(again["ood"]).thresholds == pytest.approx(stats.thresholds, rel=1e-5)
    row = json.loads((shipped / "manifest.json").read_text())["checkpoints"][0]
    from core_models.reproduce import sha256

    assert row["sha256"] == sha256(shipped / "run" / "model.pt")
    assert row["size_bytes"] == (shipped / "run" / "model.pt").stat().st_size


SHIPPED = sorted(p.parent.name for p in CHECKPOINTS.glob("*/model.pt"))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_checkpoint_carries_its_statistics(name):
    ck = torch.load(CHECKPOINTS / name / "model.pt", map_location="cpu", weights_only=True)
    stats = OODStats.from_checkpoint(ck["ood"])
    assert stats.train_clips >= 280 and stats.calibration_clips >= 100  # CS 168, CV 112 held-out clips
    assert set(stats.thresholds) == set(SCORES) and np.isfinite(list(stats.thresholds.values())).all()
    assert stats.means.shape == (14, stats.precision.shape[0])


@pytest.fixture(scope="module")
def skeleton_model():
    return load_model(CHECKPOINTS / "skeleton_lstm-cs" / "model.pt", "skeleton_lstm-cs")


def test_a_test_clip_is_familiar_and_noise_is_not(skeleton_model):
    # a whole-frame model that learnt its classes (a model that learnt nothing, as the first v2
    # I3D at chance, has no notion of familiar, and its statistics do not set noise apart)
    i3d = load_model(CHECKPOINTS / "i3d-cs" / "model.pt", "i3d-cs")
    familiar = [
        inspect_clip(skeleton_model, dataset_clip(n))
        for n in ("S003C001P003R001A001", "S006C002P006R002A023")
    ]
    assert all(i.ood.score == skeleton_model.ood.score for i in familiar)
    from core_models.synth.actions import DATA_VERSION

    trained = (skeleton_model.info.get("settings") or {}).get("data_version", 1)
    if trained == DATA_VERSION:  # clips like its training data are familiar (an older version's
        assert not any(i.outside for i in familiar)  # model meets faults it never saw)
    noisy = inspect_clip(i3d, noise_clip(0))
    assert noisy.outside and noisy.ood.value > noisy.ood.threshold
    assert noisy.trained_on["data"] == "synth" and len(noisy.trained_on["classes"]) == 14
