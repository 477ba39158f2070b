"""Late fusion of a pose classifier into the pose-driven attention models (an option).

The published pose-driven models (P-I3D, separable STA, temporal granularity) use the pose stream
only to *place* attention; the class comes from the attended RGB features alone. With the
``cpu`` preset (16 frames of 32-64 px, a quarter-width I3D trained from scratch in minutes) the
RGB features stay weak, and a model that ignores what its own pose LSTM already knows about the
action ends below the skeleton-only baseline. With ``pose_scores=True`` a linear classifier on the
pose code the model computes anyway adds its logits to the RGB logits (a product of the two
softmaxes, as in two-stream late fusion).

Each stream keeps its own cross-entropy (``stream_weight`` each) besides the fused one, so the RGB
path, and with it the attention, must still learn to classify by itself; both are reported in
``aux`` (``rgb_logits``, ``pose_logits``) so the app can show which stream decided a clip.
"""

from __future__ import annotations

import torch
from torch import nn

from core_models import losses


class PoseScores(nn.Module):
    """Dropout then a linear classifier on a pose code (B, D) -> logits (B, K)."""

    def __init__(self, dim: int, num_classes: int, dropout: float):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(code))


def fuse(rgb_logits: torch.Tensor, pose_logits: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
    """``(logits, aux)``: the sum of the two streams' logits, and both streams for the loss and the app."""
    if pose_logits is None:
        return rgb_logits, {}
    return rgb_logits + pose_logits, {"rgb_logits": rgb_logits, "pose_logits": pose_logits}


def stream_loss(
    aux: dict, labels: torch.Tensor, weight: float
) -> tuple[torch.Tensor | None, dict[str, float]]:
    """``weight * (CE(rgb) + CE(pose))`` when the model fused a pose classifier, else ``(None, {})``."""
    if "pose_logits" not in aux:
        return None, {}
    rgb = losses.classification(aux["rgb_logits"], labels)
    pose = losses.classification(aux["pose_logits"], labels)
    return weight * (rgb + pose), {"rgb_ce": float(rgb.detach()), "pose_ce": float(pose.detach())}
