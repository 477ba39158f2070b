"""The experiment that proves the synthetic data's design, on a written dataset.

Small classifiers are trained on the training side of a protocol (train + validation subjects)
and scored on its test side, each reading one thing:

* ``frame_skeleton``: an MLP on the skeleton file's joints at the clip's middle frame (centred
  on spine-middle), as a skeleton model would see a single frame.
* ``sequence_skeleton``: a GRU over 16 evenly sampled frames of the skeleton file.
* ``frame_rgb``: a small CNN on the middle RGB frame's central square (64 x 64), what a
  whole-frame model reads at one instant.
* ``hands_middle``: the CNN on the two hand crops (cut around the skeleton file's hand joints,
  side by side) of the clip's middle frame.
* ``hands_interval``: the same on four frames spread inside the ground-truth interval (an oracle
  of *when*; each frame is a training sample, a test clip averages its four frames' scores): what
  a model that attends to the right time and the right part could see.

Scores, on the test side: top-1 over all classes; on the three opposite pairs, the two-way
accuracy (argmax over the pair's two classes; 0.5 is chance); inside each object group (drink /
eat; reading / writing / typing), the in-group accuracy (argmax over the group's classes; chance
0.5 and 0.33) and the two-way accuracy averaged over the group's pairs. The design asks: a single
skeleton frame at most 0.50 overall, the skeleton sequence near chance inside the object groups
(two-way at most 0.60) while the interval's hand crops reach 0.80 there, and single frames at
chance inside the opposite pairs.

Temporal priors: the ground-truth interval's share under fixed attention rules, on the same test
clips, at 3, 8 and 16 equal steps: uniform weights, "always the middle" (all weight on the middle
step), and the best fixed step (the one step that gets the most, in hindsight). The design asks
the middle rule for at most uniform + 0.10.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from core_models.data.crops import CropSpec, crop_parts
from core_models.data.skeleton import fill_missing
from core_models.synth.actions import OBJECT_GROUPS, OPPOSITE_PAIRS, SYNTH_ACTIONS
from core_models.synth.generate import synth_reader

NUM_SEQ_FRAMES = 16
FRAME_SIZE = 64
HAND_CROPS = CropSpec(parts=("left_hand", "right_hand"), size=32, hand_ratio=0.15)
PRIOR_STEPS = (3, 8, 16)
INTERVAL_FRAMES = 4
KINDS = ("frame_skeleton", "sequence_skeleton", "frame_rgb", "hands_middle", "hands_interval")


def _square(rgb: np.ndarray) -> np.ndarray:
    H, W = rgb.shape[:2]
    side = min(H, W)
    y0, x0 = (H - side) // 2, (W - side) // 2
    return cv2.resize(
        rgb[y0 : y0 + side, x0 : x0 + side], (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_AREA
    )


def _hands(clip, t: int) -> np.ndarray:
    """(3, 32, 64): left and right hand crops of frame ``t``, side by side."""
    lo, hi = max(0, t - 2), min(clip.num_frames, t + 3)  # a few frames, so the box smoothing applies
    crops, _ = crop_parts(clip.frames[lo:hi], clip.joints2d[lo:hi, 0], clip.layout, HAND_CROPS)
    k = t - lo
    return np.concatenate([crops[0, k], crops[1, k]], axis=1).transpose(2, 0, 1)


def _features(reader, ref) -> dict[str, Any]:
    clip = reader.load(ref)
    j = fill_missing(clip.joints3d[:, 0])  # (T, 25, 3), 0 where the sensor lost the body
    T = len(j)
    mid = T // 2
    s, e = clip.truth.interval
    idx = np.linspace(0, T - 1, NUM_SEQ_FRAMES).round().astype(int)
    seq = j[idx] - j[idx, 1].mean(0)  # (16, 25, 3)
    return {
        "frame_skeleton": (j[mid] - j[mid, 1]).reshape(-1),  # (75,)
        "sequence_skeleton": seq.reshape(NUM_SEQ_FRAMES, -1),  # (16, 75)
        "frame_rgb": _square(clip.frames[mid]).transpose(2, 0, 1),  # (3, 64, 64)
        "hands_middle": _hands(clip, mid),
        "hands_interval": np.stack(
            [_hands(clip, int(t)) for t in np.linspace(s, e - 1, INTERVAL_FRAMES + 2).round()[1:-1]]
        ),  # (4, 3, 32, 64)
        "interval": (s / T, e / T),
    }


def _load(root: str | Path, protocol: str) -> dict[str, dict[str, np.ndarray]]:
    reader = synth_reader(root)
    out = {}
    for subset in ("trainval", "test"):
        refs = reader.split(protocol, subset)
        if not refs:
            raise ValueError(f"the {protocol} {subset} side of {root} holds no clip")
        feats = [_features(reader, r) for r in refs]
        side = {k: np.stack([f[k] for f in feats]).astype(np.float32) for k in KINDS}
        for k in ("frame_rgb", "hands_middle", "hands_interval"):
            side[k] /= 255.0
        side["label"] = np.array([r.label for r in refs])
        side["interval"] = np.array([f["interval"] for f in feats])
        out[subset] = side
    return out


class _GRUHead(nn.Module):
    def __init__(self, in_dim: int, num_classes: int, hidden: int = 128):
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        out, _ = self.gru(x)
        return self.head(out.mean(1))


def _model(kind: str, num_classes: int) -> nn.Module:
    if kind == "frame_skeleton":
        return nn.Sequential(nn.Linear(75, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, num_classes))  # fmt: skip
    if kind == "sequence_skeleton":
        return _GRUHead(75, num_classes)

    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 96), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(0.3), nn.Linear(96, num_classes))  # fmt: skip


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axes = {2: (0,), 3: (0, 1), 4: (0, 2, 3), 5: (0, 1, 3, 4)}[train.ndim]
    mean = train.mean(axes, keepdims=True)
    std = train.std(axes, keepdims=True) + 1e-6
    return (train - mean) / std, (test - mean) / std


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and 2-pixel shifts of image batches (B, 3, H, W)."""
    if x.dim() != 4:
        return x
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def _train(kind: str, x_tr, y_tr, x_te, num_classes: int, *, epochs: int, seed: int) -> np.ndarray:
    """Train on (N, ...) and return test logits; (N, F, ...) inputs are F views of each clip
    (trained as F samples, scored as the mean of the F views' logits)."""
    if kind == "hands_interval":
        f = x_tr.shape[1]
        logits = _train("hands", x_tr.reshape(-1, *x_tr.shape[2:]), np.repeat(y_tr, f),
                        x_te.reshape(-1, *x_te.shape[2:]), num_classes, epochs=epochs, seed=seed)  # fmt: skip
        return logits.reshape(len(x_te), f, -1).mean(1)
    torch.manual_seed(seed)
    model = _model(kind, num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr).long()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            loss = nn.functional.cross_entropy(model(_augment(xt[idx], gen)), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        return torch.cat([model(b) for b in torch.from_numpy(x_te).split(256)]).numpy()  # (N, K)


def _restricted(logits: np.ndarray, labels: np.ndarray, classes: tuple[int, ...]) -> tuple[float, int]:
    """Accuracy of the argmax over ``classes`` (NTU ids) on the clips of those classes."""
    cols = [SYNTH_ACTIONS.index(a) for a in classes]
    mask = np.isin(labels, cols)
    if not mask.any():
        return float("nan"), 0
    pred = np.array(cols)[logits[mask][:, cols].argmax(1)]
    return float((pred == labels[mask]).mean()), int(mask.sum())


def _mean(values: list[float]) -> float:
    """Mean of the finite values (NaN when a test side holds none of the classes)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _scores(logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"accuracy": float((logits.argmax(1) == labels).mean())}
    per_pair = {f"A{a:03d}/A{b:03d}": _restricted(logits, labels, (a, b))[0] for a, b in OPPOSITE_PAIRS}
    out["per_pair_two_way_accuracy"] = per_pair
    out["pairs_two_way_accuracy"] = _mean(list(per_pair.values()))
    groups = {}
    for g in OBJECT_GROUPS:
        in_group, _ = _restricted(logits, labels, g)
        pairs = [_restricted(logits, labels, (a, b))[0] for i, a in enumerate(g) for b in g[i + 1 :]]
        groups["/".join(f"A{a:03d}" for a in g)] = {"in_group": in_group, "two_way": _mean(pairs)}
    out["groups"] = groups
    out["groups_in_group_accuracy"] = _mean([v["in_group"] for v in groups.values()])
    out["groups_two_way_accuracy"] = _mean([v["two_way"] for v in groups.values()])
    return out


def temporal_priors(intervals: np.ndarray, steps=PRIOR_STEPS) -> dict[str, dict[str, float]]:
    """Mean share of the truth interval under fixed rules, at ``n`` equal steps.

    Args:
        intervals: (N, 2) truth intervals as fractions of the clip.

    Returns:
        ``{n: {"uniform", "middle", "best_fixed"}}``.
    """
    from core_models.attention_scores import bin_coverage

    out = {}
    for n in steps:
        cover = np.stack([bin_coverage(n, tuple(iv)) for iv in intervals])  # (N, n)
        out[str(n)] = {
            "uniform": float(cover.mean()),
            "middle": float(cover[:, n // 2].mean())
            if n % 2
            else float(cover[:, n // 2 - 1 : n // 2 + 1].mean()),
            "best_fixed": float(cover.mean(0).max()),
        }
    return out


def run_probe(root: str | Path, protocol: str = "cs", seed: int = 0, epochs: int = 40) -> dict[str, Any]:
    """Train the probes on ``root`` and score them on the test side of ``protocol``.

    Returns:
        ``{"protocol", "num_train", "num_test", "load_seconds", "seconds", "models", "priors"}``;
        ``models`` maps each of :data:`KINDS` to its scores (see :func:`_scores`).
    """
    start = time.perf_counter()
    data = _load(root, protocol)
    load_s = time.perf_counter() - start
    tr, te = data["trainval"], data["test"]
    k = len(SYNTH_ACTIONS)
    models = {}
    for kind in KINDS:
        x_tr, x_te = _standardise(tr[kind], te[kind])
        logits = _train(kind, x_tr, tr["label"], x_te, k, epochs=epochs, seed=seed)
        models[kind] = _scores(logits, te["label"])
    return {
        "protocol": protocol,
        "num_train": int(len(tr["label"])),
        "num_test": int(len(te["label"])),
        "load_seconds": round(load_s, 1),
        "seconds": round(time.perf_counter() - start, 1),
        "models": models,
        "priors": temporal_priors(te["interval"]),
    }


PROBE_NAMES = {
    "frame_skeleton": "MLP on the middle frame's skeleton",
    "sequence_skeleton": "GRU on 16 frames of skeleton",
    "frame_rgb": "CNN on the middle RGB frame (64x64)",
    "hands_middle": "CNN on the middle frame's hand crops",
    "hands_interval": "CNN on the hand crops, 4 frames of the interval",
}


def format_probe(results: dict[str, Any]) -> str:
    """The probe's results as a plain-text table (what ``python -m core_models probe`` prints)."""
    groups = list(next(iter(results["models"].values()))["groups"])
    lines = [
        f"protocol {results['protocol']}: {results['num_train']} training clips, "
        f"{results['num_test']} test clips, {results['seconds']} s",
        f"{'probe':48s} {'all':>6s} {'pairs 2-way':>11s} "
        + " ".join(f"{g + ' in-group / 2-way':>30s}" for g in groups),
    ]
    for kind, sc in results["models"].items():
        cells = " ".join(
            f"{sc['groups'][g]['in_group']:>20.3f} / {sc['groups'][g]['two_way']:.3f}" for g in groups
        )
        name = PROBE_NAMES.get(kind, kind)
        lines.append(f"{name:48s} {sc['accuracy']:6.3f} {sc['pairs_two_way_accuracy']:11.3f} {cells}")
    lines.append("truth interval share under fixed temporal attention (test clips):")
    for n, p in results["priors"].items():
        lines.append(
            f"  {n:>2s} steps: uniform {p['uniform']:.3f}, always the middle {p['middle']:.3f}, "
            f"best fixed step {p['best_fixed']:.3f}"
        )
    return "\n".join(lines)


def markdown_table(by_protocol: dict[str, dict[str, Any]]) -> str:
    """The README's table of probe results, one row per probe and protocol.

    ``by_protocol`` maps ``"cs"`` / ``"cv"`` to what :func:`run_probe` returned (the ``--json``
    files under ``docs/probe/``); a test checks the README holds exactly this table.
    """
    first = next(iter(by_protocol.values()))
    groups = list(next(iter(first["models"].values()))["groups"])
    head = "| probe | protocol | top-1, 14 classes | opposite pairs, 2-way | "
    head += " | ".join(f"{g}: in group / 2-way" for g in groups) + " |"
    lines = [head, "|---|---|---:|---:|" + "---:|" * len(groups)]
    for kind in first["models"]:
        for proto, res in by_protocol.items():
            sc = res["models"][kind]
            cells = " | ".join(
                f"{sc['groups'][g]['in_group']:.3f} / {sc['groups'][g]['two_way']:.3f}" for g in groups
            )
            name = PROBE_NAMES.get(kind, kind)
            acc, pairs = sc["accuracy"], sc["pairs_two_way_accuracy"]
            lines.append(f"| {name} | {proto.upper()} | {acc:.3f} | {pairs:.3f} | {cells} |")
    lines += ["", "| share of the truth interval under fixed temporal attention | protocol | uniform | "
              "always the middle | best fixed step |", "|---|---|---:|---:|---:|"]  # fmt: skip
    for proto, res in by_protocol.items():
        for n, p in res["priors"].items():
            row = f"{p['uniform']:.3f} | {p['middle']:.3f} | {p['best_fixed']:.3f}"
            lines.append(f"| {n} steps | {proto.upper()} | {row} |")
    return "\n".join(lines)
