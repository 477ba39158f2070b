"""The "time and attention matter" experiment on the written synthetic dataset.

Three small classifiers are trained on the training side of a protocol (train + validation
subjects) and scored on its test side:

* ``frame_skeleton``: an MLP on the skeleton of the single middle frame, centred on its
  spine-middle joint.
* ``frame_rgb``: a small CNN on the single middle RGB frame, downsampled to 40 x 30.
* ``frame_rgb_crop``: the same CNN on a 48 x 48 crop around the person in the middle frame (the
  box of its 2D joints), which resolves the body that is a few pixels tall in the whole frame.
* ``sequence_skeleton``: a GRU over 16 evenly sampled skeleton frames (centred on the clip's
  mean spine-middle position, so the body's own motion stays visible).

Because each opposite pair (sit down / stand up, wear / take off a shoe, pick up / drop) is an
exact time reversal of the other, the two single-frame models should be at chance *within* each
pair (about 50 %), while the sequence model separates them. ``run_probe`` reports overall test
accuracy and, on the clips of the three pairs, the accuracy, the within-pair confusion rate (a
clip predicted as its partner) and the two-way within-pair accuracy (argmax over the pair's
two logits only).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from core_models.data.video import read_video
from core_models.synth.actions import OPPOSITE_PAIRS, SYNTH_ACTIONS
from core_models.synth.generate import synth_reader

NUM_SEQ_FRAMES = 16
RGB_SIZE = (30, 40)  # (H, W)
CROP_SIZE = 48


def _features(reader, ref) -> tuple[np.ndarray, ...]:
    clip = reader.load(ref, with_video=False)
    j = clip.joints3d[:, 0]  # (T, 25, 3)
    T = len(j)
    mid = T // 2
    frame_skel = (j[mid] - j[mid, 1]).reshape(-1)  # (75,)
    idx = np.linspace(0, T - 1, NUM_SEQ_FRAMES).round().astype(int)
    seq = j[idx] - j[idx, 1].mean(0)  # (16, 25, 3)
    rgb = read_video(ref.video, indices=[mid])[0][0]  # (H, W, 3)
    small = cv2.resize(rgb, (RGB_SIZE[1], RGB_SIZE[0]), interpolation=cv2.INTER_AREA)
    return (
        frame_skel,
        small.transpose(2, 0, 1),
        seq.reshape(NUM_SEQ_FRAMES, -1),
        _crop(rgb, clip.joints2d[mid, 0]),
    )


def _crop(rgb: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(3, CROP_SIZE, CROP_SIZE) square crop around the 2D joints ``uv`` (J, 2), 15% margin."""
    lo, hi = np.nanmin(uv, 0), np.nanmax(uv, 0)
    c, half = (lo + hi) / 2, 0.5 * 1.3 * max(hi - lo) + 2
    H, W = rgb.shape[:2]
    # An affine warp samples outside the frame as border pixels, so crops near edges keep their size.
    s = CROP_SIZE / (2 * half)
    M = np.array([[s, 0, -s * (c[0] - half)], [0, s, -s * (c[1] - half)]], np.float32)
    out = cv2.warpAffine(
        rgb, M, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out.transpose(2, 0, 1)


def _load(root: str | Path, protocol: str) -> dict[str, dict[str, np.ndarray]]:
    reader = synth_reader(root)
    out = {}
    for subset in ("trainval", "test"):
        refs = reader.split(protocol, subset)
        if not refs:
            raise ValueError(f"the {protocol} {subset} side of {root} holds no clip")
        feats = [_features(reader, r) for r in refs]
        out[subset] = {
            "frame_skeleton": np.stack([f[0] for f in feats]).astype(np.float32),  # (N, 75)
            "frame_rgb": (np.stack([f[1] for f in feats]).astype(np.float32) / 255.0),  # (N, 3, H, W)
            "sequence_skeleton": np.stack([f[2] for f in feats]).astype(np.float32),  # (N, 16, 75)
            "frame_rgb_crop": (np.stack([f[3] for f in feats]).astype(np.float32) / 255.0),  # (N, 3, 48, 48)
            "label": np.array([r.label for r in refs]),
        }
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
    if kind in ("frame_rgb", "frame_rgb_crop"):

        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

        return nn.Sequential(*block(3, 24), *block(24, 48), *block(48, 64), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, num_classes))  # fmt: skip
    return _GRUHead(75, num_classes)


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axes = tuple(range(train.ndim - 1)) if train.ndim == 3 else (0,)
    if train.ndim == 4:  # images: per channel
        axes = (0, 2, 3)
    mean = train.mean(axes, keepdims=True)
    std = train.std(axes, keepdims=True) + 1e-6
    return (train - mean) / std, (test - mean) / std


def _train(kind: str, x_tr, y_tr, x_te, num_classes: int, *, epochs: int, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    model = _model(kind, num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr).long()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        return torch.cat([model(b) for b in torch.from_numpy(x_te).split(256)]).numpy()  # (N, K)


def _scores(logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    pred = logits.argmax(1)
    out: dict[str, Any] = {"accuracy": float((pred == labels).mean())}
    pair_idx = [(SYNTH_ACTIONS.index(a), SYNTH_ACTIONS.index(b)) for a, b in OPPOSITE_PAIRS]
    in_pair, correct, confused, two_way = 0, 0, 0, 0
    per_pair = {}
    for a, b in pair_idx:
        mask = (labels == a) | (labels == b)
        if not mask.any():
            continue
        partner = np.where(labels[mask] == a, b, a)
        p, y = pred[mask], labels[mask]
        # Two-way decision between the pair's own classes only.
        two = np.where(logits[mask, a] >= logits[mask, b], a, b)
        per_pair[f"A{SYNTH_ACTIONS[a]:03d}/A{SYNTH_ACTIONS[b]:03d}"] = float((two == y).mean())
        in_pair += int(mask.sum())
        correct += int((p == y).sum())
        confused += int((p == partner).sum())
        two_way += int((two == y).sum())
    out["pairs_accuracy"] = correct / max(in_pair, 1)
    out["pairs_confusion"] = confused / max(in_pair, 1)
    out["pairs_two_way_accuracy"] = two_way / max(in_pair, 1)
    out["per_pair_two_way_accuracy"] = per_pair
    return out


def run_probe(root: str | Path, protocol: str = "cs", seed: int = 0, epochs: int = 60) -> dict[str, Any]:
    """Train the four probes on ``root`` and score them on the test side of ``protocol``.

    Args:
        root: a dataset written by :func:`core_models.synth.write_dataset`.
        protocol: ``"cs"`` or ``"cv"``.
        seed: seed of initialisation and batching.
        epochs: training epochs of every probe.

    Returns:
        ``{"protocol", "num_train", "num_test", "load_seconds", "seconds", "models"}``;
        ``models`` maps ``frame_skeleton``, ``frame_rgb``, ``frame_rgb_crop`` and
        ``sequence_skeleton`` to their scores: ``accuracy`` (all test clips), and on the clips of
        the three opposite pairs ``pairs_accuracy``, ``pairs_confusion`` (predicted as the
        partner), ``pairs_two_way_accuracy`` and ``per_pair_two_way_accuracy`` (argmax over the
        pair's two classes only; 0.5 is chance).
    """
    start = time.perf_counter()
    data = _load(root, protocol)
    load_s = time.perf_counter() - start
    tr, te = data["trainval"], data["test"]
    k = len(SYNTH_ACTIONS)
    models = {}
    for kind in ("frame_skeleton", "frame_rgb", "frame_rgb_crop", "sequence_skeleton"):
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
    }


PROBE_NAMES = {
    "frame_skeleton": "(a) MLP on the middle frame's skeleton",
    "frame_rgb": "(b) CNN on the middle RGB frame (40x30)",
    "frame_rgb_crop": "(b') CNN on a 48x48 person crop of the middle frame",
    "sequence_skeleton": "(c) GRU on 16 frames of skeleton",
}


def format_probe(results: dict[str, Any]) -> str:
    """The probe's results as a plain-text table (what ``python -m core_models probe`` prints)."""
    lines = [
        f"protocol {results['protocol']}: {results['num_train']} training clips, "
        f"{results['num_test']} test clips, {results['seconds']} s",
        f"{'probe':52s} {'all':>6s} {'pairs':>6s} {'pair-2way':>9s}  per pair (2-way; 0.5 is chance)",
    ]
    for kind, scores in results["models"].items():
        per = "  ".join(f"{k} {v:.2f}" for k, v in scores["per_pair_two_way_accuracy"].items())
        lines.append(
            f"{PROBE_NAMES.get(kind, kind):52s} {scores['accuracy']:6.3f} {scores['pairs_accuracy']:6.3f} "
            f"{scores['pairs_two_way_accuracy']:9.3f}  {per}"
        )
    return "\n".join(lines)
