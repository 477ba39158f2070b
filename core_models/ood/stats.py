"""Out-of-distribution scores from a model's own features, against its training set's statistics.

A model trained on 14 synthetic classes gives a probability over those 14 for anything it is
shown: a tree, a street, noise. To say plainly when a clip is nothing like its training data, the
checkpoint keeps statistics of the features (``ModelOutput.features``, what the classifier reads)
of its training clips, and a threshold calibrated on held-out in-distribution clips. Four scores,
each larger for "less like the training data":

==============  ================================================================================
``msp``         1 - the largest softmax probability (Hendrycks and Gimpel, 2017)
``energy``      -logsumexp(logits) (Liu et al., 2020); constant for models whose logits are
                log-probabilities (two-stream and late fusion average softmaxes)
``mahalanobis`` the smallest Mahalanobis distance to a class mean, with one covariance shared by
                the classes, shrunk towards a multiple of the identity (Ledoit-Wolf) since
                features have hundreds of dimensions and classes about a hundred clips
                (Lee et al., 2018, on the penultimate features)
``knn``         distance of the L2-normalised features to the k-th nearest of up to 512 training
                clips' (Sun et al., 2022)
==============  ================================================================================

The threshold of each score is its value that :data:`TPR` (95%) of the held-out in-distribution
clips stay under; a clip above it is "none of the classes this model knows". Which score the app
uses (:data:`DEFAULT_SCORE`) was chosen by the AUROCs that ``python -m core_models bench ood``
measures (README, "Your own video").

:class:`OODStats` converts to and from plain tensors and values, so the checkpoint that carries
it still loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

SCORES = ("msp", "energy", "mahalanobis", "knn")
DEFAULT_SCORE = "mahalanobis"
TPR = 0.95
KNN_K = 5
BANK_SIZE = 512


@dataclass
class OODStats:
    """Training-set statistics of a model's features, and the calibrated thresholds.

    Attributes:
        means: (K, D) class means of the training features.
        precision: (D, D) inverse of the shrunk shared covariance.
        bank: (N, D) L2-normalised training features (at most :data:`BANK_SIZE`, spread over classes).
        thresholds: score name -> the value :data:`TPR` of held-out in-distribution clips stay under.
        score: the score the app shows.
        train_clips, calibration_clips: clips behind the statistics and the thresholds.
        shrinkage: the Ledoit-Wolf shrinkage that was applied (0..1).
        auroc: score name -> AUROC against the test-made out-of-distribution inputs, when measured.
    """

    means: np.ndarray
    precision: np.ndarray
    bank: np.ndarray
    thresholds: dict[str, float] = field(default_factory=dict)
    score: str = DEFAULT_SCORE
    train_clips: int = 0
    calibration_clips: int = 0
    shrinkage: float = 0.0
    auroc: dict[str, float] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return self.thresholds[self.score]

    def to_checkpoint(self) -> dict:
        """Plain tensors and values (``weights_only=True`` loads them)."""
        return {
            "means": torch.from_numpy(self.means.astype(np.float32)),
            "precision": torch.from_numpy(self.precision.astype(np.float32)),
            "bank": torch.from_numpy(self.bank.astype(np.float16)),
            "thresholds": {k: float(v) for k, v in self.thresholds.items()},
            "score": self.score,
            "train_clips": int(self.train_clips),
            "calibration_clips": int(self.calibration_clips),
            "shrinkage": float(self.shrinkage),
            "auroc": {k: float(v) for k, v in self.auroc.items()},
        }

    @classmethod
    def from_checkpoint(cls, d: dict) -> OODStats:
        """The inverse of :meth:`to_checkpoint`."""
        return cls(
            means=d["means"].float().numpy(), precision=d["precision"].float().numpy(),
            bank=d["bank"].float().numpy(), thresholds=dict(d.get("thresholds", {})),
            score=d.get("score", DEFAULT_SCORE), train_clips=int(d.get("train_clips", 0)),
            calibration_clips=int(d.get("calibration_clips", 0)), shrinkage=float(d.get("shrinkage", 0.0)),
            auroc=dict(d.get("auroc", {})),
        )  # fmt: skip


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrunk covariance of centred rows ``x`` (N, D): ``(1 - s) S + s mu I``, and ``s``.

    The shrinkage ``s`` is Ledoit and Wolf's (2004) estimate of the one that minimises the
    expected squared error.
    """
    n, d = x.shape
    x = x.astype(np.float64)
    x2 = x**2
    trace_mean = x2.sum() / n / d  # mu = trace(S) / D
    s_f2 = ((x.T @ x) ** 2).sum() / n**2  # ||S||_F^2
    beta = ((x2.T @ x2).sum() / n - s_f2) / (d * n)
    delta = (s_f2 - 2 * trace_mean * x2.sum() / n + d * trace_mean**2) / d
    shrink = 0.0 if delta <= 0 else float(min(beta, delta) / delta)
    cov = (1 - shrink) * (x.T @ x) / n + shrink * trace_mean * np.eye(d)
    return cov, shrink


def _normalise(f: np.ndarray) -> np.ndarray:
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def fit(features: np.ndarray, labels: np.ndarray, num_classes: int, *, seed: int = 0) -> OODStats:
    """Statistics of training features (N, D) with their labels (N,) (no thresholds yet)."""
    features = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    if features.ndim != 2 or len(features) != len(labels) or len(features) < 2:
        raise ValueError(
            f"need (N, D) features and (N,) labels with N >= 2, got {features.shape}, {labels.shape}"
        )
    d = features.shape[1]
    means = np.zeros((num_classes, d))
    present = np.zeros(num_classes, bool)
    for k in range(num_classes):
        rows = features[labels == k]
        if len(rows):
            means[k], present[k] = rows.mean(axis=0), True
    means[~present] = np.nan  # a class with no training clip is never the nearest
    centred = features - means[labels]
    cov, shrink = ledoit_wolf(centred)
    precision = np.linalg.pinv(cov, hermitian=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(features))[: min(BANK_SIZE, len(features))]
    bank = _normalise(features[order])
    return OODStats(means, precision, bank, train_clips=len(features), shrinkage=shrink)


def score(stats: OODStats, features: np.ndarray, logits: np.ndarray, name: str) -> np.ndarray:
    """Score ``name`` of clips with ``features`` (N, D) and ``logits`` (N, K); larger is less familiar."""
    features = np.asarray(features, np.float64)
    logits = np.asarray(logits, np.float64)
    if name == "msp":
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return 1.0 - p.max(axis=1)
    if name == "energy":
        m = logits.max(axis=1)
        return -(m + np.log(np.exp(logits - m[:, None]).sum(axis=1)))
    if name == "mahalanobis":
        ok = np.isfinite(stats.means).all(axis=1)
        diff = features[:, None, :] - stats.means[None, ok]  # (N, K', D)
        d2 = np.einsum("nkd,de,nke->nk", diff, stats.precision, diff)
        return np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    if name == "knn":
        sim = _normalise(features) @ stats.bank.T  # (N, M) cosine similarity
        k = min(KNN_K, sim.shape[1])
        kth = -np.sort(-sim, axis=1)[:, k - 1]
        return np.sqrt(np.maximum(2.0 - 2.0 * kth, 0.0))  # distance between unit vectors
    raise ValueError(f"unknown OOD score {name!r}; choose one of {SCORES}")


def scores(stats: OODStats, features: np.ndarray, logits: np.ndarray) -> dict[str, np.ndarray]:
    """Every score of :data:`SCORES` for the clips."""
    return {name: score(stats, features, logits, name) for name in SCORES}


def calibrate(stats: OODStats, features: np.ndarray, logits: np.ndarray, tpr: float = TPR) -> OODStats:
    """Set each score's threshold so that ``tpr`` of these held-out in-distribution clips stay under it."""
    if len(features) == 0:
        raise ValueError("calibration needs at least one held-out in-distribution clip")
    for name, values in scores(stats, features, logits).items():
        stats.thresholds[name] = float(np.quantile(values, tpr, method="higher"))
    stats.calibration_clips = len(features)
    return stats


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """Area under the ROC curve of telling ``outside`` (positive) from ``inside`` by a larger score.

    The probability that a random outside clip scores above a random inside one (ties count half):
    1.0 separates perfectly, 0.5 is chance.
    """
    inside, outside = np.asarray(inside, np.float64), np.asarray(outside, np.float64)
    if len(inside) == 0 or len(outside) == 0:
        return float("nan")
    both = np.concatenate([inside, outside])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    sorted_vals = both[order]
    i = 0
    while i < len(both):  # average ranks over ties
        j = i
        while j + 1 < len(both) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r_out = ranks[len(inside) :].sum()
    n_in, n_out = len(inside), len(outside)
    return float((r_out - n_out * (n_out + 1) / 2) / (n_in * n_out))


@dataclass(frozen=True)
class Verdict:
    """One clip's out-of-distribution reading, for the app."""

    score: str
    value: float
    threshold: float
    outside: bool
    all_scores: dict[str, float]


def judge(stats: OODStats, features: np.ndarray, logits: np.ndarray) -> Verdict:
    """The verdict of the stats' chosen score for one clip's ``features`` (D,) and ``logits`` (K,)."""
    all_scores = {k: float(v[0]) for k, v in scores(stats, features[None], logits[None]).items()}
    value = all_scores[stats.score]
    return Verdict(stats.score, value, stats.threshold, bool(value > stats.threshold), all_scores)
