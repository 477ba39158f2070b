"""LSTM on 3D joints: the skeleton-only baseline, and the pose branch the attention models share.

Follows the Das et al. skeleton LSTM (the network their attention models use to read pose): three
stacked LSTM layers over the per-frame vector of all joints of up to two persons
(``M * J * 3`` values; 150 for NTU), normalised to the body centre of the first frame (done by
the dataset), sampled to a fixed number of steps (20 for NTU in their code).

    skeleton (B, Ts, M, J, 3) -> flatten (B, Ts, M*J*3) -> LSTM x3 -> states (B, Ts, H)
                                                                    -> last (B, H) -> dropout -> linear (B, K)

Departures: none in the architecture. The released code pre-trained this LSTM and then froze it
inside the attention model; here it trains end to end with whatever uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from core_models import losses
from core_models.data.datasets import InputSpec
from core_models.data.layouts import NTU25, SkeletonLayout
from core_models.models.output import ModelOutput


@dataclass(frozen=True)
class SkeletonLSTMConfig:
    """Settings of the skeleton LSTM (and of the pose branch of the attention models).

    Attributes:
        num_classes: output classes.
        num_joints: joints of the layout.
        num_persons: persons per frame in the input.
        hidden: LSTM width.
        num_layers: stacked LSTM layers.
        dropout: dropout before the classifier (and between LSTM layers).
        timesteps: skeleton steps sampled per clip.
    """

    num_classes: int
    num_joints: int = 25
    num_persons: int = 2
    hidden: int = 512
    num_layers: int = 3
    dropout: float = 0.5
    timesteps: int = 20


PRESETS = {
    "paper": SkeletonLSTMConfig(num_classes=60, hidden=512, dropout=0.5, timesteps=20),
    "cpu": SkeletonLSTMConfig(num_classes=60, hidden=128, dropout=0.3, timesteps=20),
}


class PoseLSTM(nn.Module):
    """Stacked LSTMs over flattened joints.

    Input (B, Ts, M, J, 3); returns ``(states (B, Ts, H), last (B, H))``.
    """

    def __init__(self, config: SkeletonLSTMConfig):
        super().__init__()
        self.config = config
        in_dim = config.num_persons * config.num_joints * 3
        self.lstm = nn.LSTM(
            in_dim, config.hidden, num_layers=config.num_layers, batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )  # fmt: skip

    def forward(self, skeleton: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        if skeleton.dim() != 5 or skeleton.shape[2:] != (c.num_persons, c.num_joints, 3):
            raise ValueError(
                f"skeleton must be (B, T, {c.num_persons}, {c.num_joints}, 3), got {tuple(skeleton.shape)}"
            )
        x = skeleton.flatten(2)  # (B, Ts, M*J*3)
        states, _ = self.lstm(x)  # (B, Ts, H)
        return states, states[:, -1]


class SkeletonLSTM(nn.Module):
    """The skeleton-only baseline: pose LSTM, dropout, linear classifier. No attention."""

    inputs = ("skeleton",)
    attention_kinds: tuple[str, ...] = ()

    def __init__(self, config: SkeletonLSTMConfig):
        super().__init__()
        self.config = config
        self.pose = PoseLSTM(config)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.num_classes)
        self.input_spec = InputSpec(
            num_frames=0, crops=None, skeleton_frames=config.timesteps, num_persons=config.num_persons
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        _, last = self.pose(batch["skeleton"])  # (B, H)
        return ModelOutput(logits=self.head(self.drop(last)), features=last)  # features (B, H)

    def loss(self, out: ModelOutput, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        ce = losses.classification(out.logits, batch["label"])
        return ce, {"ce": float(ce.detach())}


def skeleton_lstm(preset: str = "cpu", *, num_classes: int, layout: SkeletonLayout = NTU25) -> SkeletonLSTM:
    """The skeleton LSTM with a named preset (``paper``: 3 x 512; ``cpu``: 3 x 128)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return SkeletonLSTM(replace(PRESETS[preset], num_classes=num_classes, num_joints=layout.num_joints))
