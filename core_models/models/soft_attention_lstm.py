"""Soft-attention LSTM (Sharma, Kiros, Salakhutdinov, "Action recognition using visual attention", 2015).

A 2D ConvNet turns every frame into a K x K grid of feature vectors; an LSTM runs over the frames
and, at every step, looks at the grid through a soft attention computed from its previous state.
The attended feature is the LSTM's input. Per-step class scores are averaged.

What is implemented::

    rgb (B, 3, T, S, S) --2D CNN per frame--> X (B, T, N = H'W', C)
    x_bar = mean_{t, i} X_{t, i};   h_0 = tanh(W_h x_bar),   c_0 = tanh(W_c x_bar)
    for t = 1..T:
        e_{t, i} = u . tanh(W_x X_{t, i} + W_d h_{t-1})          (B, N)
        a_t = softmax_i(e_t)                                     -> attention "spatial" (B, T, H', W')
        ctx_t = sum_i a_{t, i} X_{t, i}                          (B, C)
        h_t, c_t = LSTMCell(ctx_t, (h_{t-1}, c_{t-1}))
        logits_t = W_o dropout(tanh(W_l h_t))                    (B, K)
    logits = mean_t logits_t

    loss = mean_t CE(logits_t, y) + lambda_ds * DS(a) + lambda_entropy * mean_t H(a_t)

with DS the doubly stochastic penalty of :func:`core_models.losses.doubly_stochastic`,
``sum_i (1 - (N / T) sum_t a_{t, i})^2``: every location should be looked at for its share of the
time, instead of one location taking all the weight from the first step on.

Departures and choices, with reasons:

* Sharma et al. ran a frozen GoogLeNet (7 x 7 x 1024 cube per frame, extracted offline); here the
  frame CNN is trained end to end with the rest (no pretrained weights can be fetched). The
  ``paper`` preset uses :data:`~core_models.backbones.cnn2d.XCEPTION_1024`, a separable 2D net
  that gives the same 7 x 7 x 1024 cube at 224^2; ``cpu`` a three-conv stack (8 x 8 x 64 at 64^2).
* The released code's penalty is ``sum_i (1 - sum_t a_ti)^2``, which is 0 only when T equals the
  number of locations N; the shared helper scales the column sums by N / T so the term is 0 for
  attention that gives each location its share whatever T and N are (the two agree when T = N).
  The released scripts set the weight to 0; the paper compares 0, 1 and 10; ``paper`` uses 1,
  ``cpu`` 0 as the released scripts: with 8 steps over 64 cells, weight 1 held the maps exactly
  uniform and the loss at chance (ln K) from the first epoch, the cross-entropy never moving them.
* The prediction averages logits over all steps (the released code sums probabilities over the
  last ``last_n`` steps); averaging logits keeps the output a single (B, K) score for the shared
  contract and its cross-entropy.
* The optional entropy term (weight 0 by default) asks for peaked maps when positive.
* ``cpu`` reads 16 frames of the person-centred crop (``person_crop``, as self-attention and the
  pose-driven models do), so its 8 x 8 map lies over the body instead of a room where the
  subject, 15-20 pixels tall in a 64^2 frame, covers a few cells. On the synthetic CS test the
  model trained on 8 whole frames scored 0.163, on 16 person crops 0.359. ``paper`` reads whole
  frames, as Sharma et al. did. Checkpoints from before the field rebuild the whole-frame model
  (``LEGACY``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from core_models import losses
from core_models.backbones.cnn2d import SMALL_PLAIN, XCEPTION_1024, FrameCNN, FrameCNNConfig, Layer
from core_models.data.layouts import NTU25, SkeletonLayout
from core_models.models.inputs import clip_key, clip_spec, read_clip
from core_models.models.output import ModelOutput, reused, steer_key

# ---------------------------------------------------------------------------------------------
# blocks


class LocationAttention(nn.Module):
    """Additive attention of an LSTM state over the N locations of one frame.

    ``e_i = u . tanh(W_x x_i + W_d h)``; the keys' projection ``W_x x`` is computed once per clip
    and passed in. Returns ``(weights (B, N), context (B, C))``.
    """

    def __init__(self, in_channels: int, state_dim: int, hidden: int) -> None:
        super().__init__()
        self.key = nn.Linear(in_channels, hidden)
        self.query = nn.Linear(state_dim, hidden, bias=False)
        self.score = nn.Linear(hidden, 1)
        self.attend = nn.Softmax(dim=-1)  # a named module, so a hook can capture the weights

    def forward(
        self,
        values: torch.Tensor,
        keys: torch.Tensor,
        state: torch.Tensor,
        override: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.score(torch.tanh(keys + self.query(state)[:, None])).squeeze(-1)  # (B, N)
        weights = self.attend(e) if override is None else override  # (B, N)
        return weights, torch.einsum("bn,bnc->bc", weights, values)  # (B, N), (B, C)


# ---------------------------------------------------------------------------------------------
# config and model


@dataclass(frozen=True)
class SoftAttentionLSTMConfig:
    """A preset of the soft-attention LSTM.

    Attributes:
        num_classes: output classes.
        layers: layout of the per-frame CNN (``core_models.backbones.cnn2d``).
        num_frames: frames per clip (LSTM steps).
        frame_size: side of the square frames.
        hidden: LSTM width.
        attention_hidden: width of the attention scores.
        dropout: before the output layer.
        lambda_ds: weight of the doubly stochastic penalty.
        lambda_entropy: weight of the mean attention entropy (0: off).
        person_crop: read the person-centred full-body crop instead of the whole frame
            (``core_models.models.inputs``).
    """

    # What a checkpoint saved before a field existed was trained as (``checkpoint.restore_config``).
    LEGACY: ClassVar[dict] = {"person_crop": False}

    num_classes: int
    layers: tuple[Layer, ...] = XCEPTION_1024
    num_frames: int = 30
    frame_size: int = 224
    hidden: int = 512
    attention_hidden: int = 1024
    dropout: float = 0.5
    lambda_ds: float = 1.0
    lambda_entropy: float = 0.0
    person_crop: bool = False


PRESETS = {
    "paper": SoftAttentionLSTMConfig(num_classes=60),
    "cpu": SoftAttentionLSTMConfig(
        num_classes=60, layers=SMALL_PLAIN, num_frames=16, frame_size=64, hidden=128, attention_hidden=64,
        dropout=0.3, lambda_ds=0.0, person_crop=True,
    ),
}  # fmt: skip


class SoftAttentionLSTM(nn.Module):
    """Frame CNN grid + LSTM that attends over the grid at every step (Sharma et al. 2015)."""

    attention_kinds = ("spatial",)
    steerable = ("spatial",)

    def __init__(self, config: SoftAttentionLSTMConfig) -> None:
        super().__init__()
        self.config = c = config
        self.inputs = (clip_key(c.person_crop),)
        self.backbone = FrameCNN(FrameCNNConfig(layers=c.layers))
        channels = self.backbone.num_features
        self.init_h = nn.Linear(channels, c.hidden)
        self.init_c = nn.Linear(channels, c.hidden)
        self.attention = LocationAttention(channels, c.hidden, c.attention_hidden)
        self.cell = nn.LSTMCell(channels, c.hidden)
        self.out_hidden = nn.Linear(c.hidden, c.hidden)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.num_classes)
        self.input_spec = clip_spec(
            c.num_frames, c.frame_size, c.person_crop, skeleton_frames=0, cache_frames=max(64, c.num_frames)
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        rgb = read_clip(batch, self.config.person_crop)  # (B, 3, T, S, S), shape checked
        feat = reused(batch, "feature_map", lambda: self.backbone.forward_clip(rgb))  # (B, C, T, H', W')
        b, _, t, h, w = feat.shape
        values = feat.flatten(3).permute(0, 2, 3, 1)  # (B, T, N, C)
        keys = self.attention.key(values)  # (B, T, N, D), projected once for all steps
        mean = values.mean(dim=(1, 2))  # (B, C)
        state = (torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean)))  # (B, Hd) x 2
        weights, step_logits, step_feats = [], [], []
        forced = batch.get(steer_key("spatial"))  # an intervention: (B, T, H', W')
        if forced is not None and tuple(forced.shape) != (b, t, h, w):
            raise ValueError(
                f"the spatial attention override must be {(b, t, h, w)}, got {tuple(forced.shape)}"
            )
        for i in range(t):
            over = None if forced is None else forced[:, i].flatten(1).to(values.dtype)
            a, ctx = self.attention(values[:, i], keys[:, i], state[0], over)  # (B, N), (B, C)
            state = self.cell(ctx, state)
            step_feats.append(torch.tanh(self.out_hidden(state[0])))  # (B, Ho)
            step_logits.append(self.head(self.drop(step_feats[-1])))  # (B, K)
            weights.append(a)
        att = torch.stack(weights, dim=1)  # (B, T, N)
        per_step = torch.stack(step_logits, dim=1)  # (B, T, K)
        return ModelOutput(
            logits=per_step.mean(dim=1),
            features=torch.stack(step_feats, dim=1).mean(dim=1),  # (B, Ho)
            attention={"spatial": att.view(b, t, h, w)},
            aux={"step_logits": per_step},
            reusable={} if self.training else {"feature_map": feat},
        )

    def loss(self, out: ModelOutput, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        per_step = out.aux["step_logits"]  # (B, T, K)
        b, t, k = per_step.shape
        ce = F.cross_entropy(per_step.reshape(b * t, k), batch["label"].repeat_interleave(t))
        att = out.attention["spatial"].flatten(2)  # (B, T, N)
        ds = losses.doubly_stochastic(att)
        ent = losses.entropy(att)
        total = ce + c.lambda_ds * ds + c.lambda_entropy * ent
        terms = {
            "ce": float(ce.detach()),
            "doubly_stochastic": float(ds.detach()),
            "entropy": float(ent.detach()),
        }
        return total, terms


def soft_attention_lstm(
    preset: str = "cpu", *, num_classes: int, layout: SkeletonLayout = NTU25
) -> SoftAttentionLSTM:
    """Soft-attention LSTM (``paper``: 7x7x1024 grid, 30 x 224^2, LSTM 512; ``cpu``: 16 x 64^2 person
    crops, LSTM 128)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return SoftAttentionLSTM(replace(PRESETS[preset], num_classes=num_classes))
