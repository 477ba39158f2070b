"""Temporal self-attention over per-frame features (a small Transformer encoder on a clip).

The baseline that lets every time step look at every other: frames become feature vectors, a
positional encoding says where each sits in the clip, multi-head scaled dot-product attention
(Vaswani et al. 2017) mixes them, and the pooled result is classified.

What is implemented::

    rgb (B, 3, T, S, S) --2D CNN per frame--> (B, C, T, H', W') --mean h w--> (B, T, C)
        --linear--> x (B, T, D)  + PE (B, T, D)         PE sinusoidal, any T
    L blocks (pre-norm):
        x = x + W_o MHSA(LN(x))          MHSA per head: A = softmax(Q K^T / sqrt(d)), out = A V
        x = x + MLP(LN(x))               D -> 4D -> D, GELU
    LN(x) --mean over t--> dropout --> linear --> logits (B, K)

    attention "self" (B, heads, T, T): A of the last block (rows sum to 1)

The attention is written out by hand (``MultiHeadSelfAttention.attend``) so the weights can be
returned; a test checks it against ``torch.nn.functional.scaled_dot_product_attention``.

Choices, with reasons (no seed paper fixes this model; it is the project's baseline):

* Per-frame 2D features rather than I3D's Mixed_5c steps: I3D divides T by 8, leaving 2 to 8
  steps, too few for a temporal attention worth drawing; a frame CNN keeps T' = T, so the
  attention matrix maps one to one onto the sampled frames. ``paper`` uses the Xception-style
  net (:data:`~core_models.backbones.cnn2d.XCEPTION`, 2048 features) on 16 frames of 224^2,
  D = 512, 8 heads, 2 blocks; ``cpu`` a three-conv plain stack (depthwise convolutions are
  slow on CPU) on 16 frames of 64^2, D = 64, 4 heads, 2 blocks.
* No dropout on the attention weights, so the returned matrix is the one that was applied and its
  rows sum to one in training too.
* Mean pooling over time instead of a class token: no extra parameter, and every step counts.
* The frame embedding is layer-normalised before the positional encoding is added
  (``embed_norm``). Without it, at initialisation on the synthetic clips the projected frame
  features varied between clips with a standard deviation of about 0.03 against 0.55 for the
  sinusoidal encoding, so every clip reached the encoder as nearly the same sequence and the
  ``cpu`` model stayed at chance (loss ln 14) through training; a lower learning rate (3e-4) did
  not change that.
* ``cpu`` reads the person-centred crop (``person_crop``, as the pose-driven models do): in the
  whole 64^2 frame the person covers a small part of the plain CNN's 8 x 8 map, which the mean
  over space dilutes. ``paper`` reads whole frames. Checkpoints from before these two fields
  rebuild the whole-frame model without the normalisation (``LEGACY``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import nn

from core_models import losses
from core_models.backbones.cnn2d import SMALL_PLAIN, XCEPTION, FrameCNN, FrameCNNConfig, Layer
from core_models.data.layouts import NTU25, SkeletonLayout
from core_models.models.inputs import clip_key, clip_spec, read_clip
from core_models.models.output import ModelOutput, reused, steer_key

# ---------------------------------------------------------------------------------------------
# helpers


def sinusoidal_encoding(num_steps: int, dim: int, *, device=None, dtype=None) -> torch.Tensor:
    """Vaswani et al.'s positional encoding: (T, D), sin on even and cos on odd channels."""
    pos = torch.arange(num_steps, device=device, dtype=torch.float32)[:, None]  # (T, 1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(num_steps, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe.to(dtype) if dtype is not None else pe


# ---------------------------------------------------------------------------------------------
# blocks


class MultiHeadSelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention, written out.

    Input (B, T, D); returns ``(out (B, T, D), weights (B, heads, T, T))``.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)  # a named module, so a hook can capture the weights

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, D) -> q, k, v each (B, heads, T, d) with d = D / heads."""
        b, t, dim = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.heads, dim // self.heads)  # (B, T, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, h, T, d)
        return q, k, v

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, override: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``A = softmax(Q K^T / sqrt(d))`` over the keys, and ``A V``.

        Args:
            q, k, v: (B, h, T, d).

        Returns:
            ``(out (B, h, T, d), A (B, h, T, T))``.
        """
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, h, T, T)
        weights = self.softmax(scores)
        if override is not None:  # an intervention (see models.output.steer)
            if override.shape != weights.shape:
                raise ValueError(f"the self attention override must be {tuple(weights.shape)}, "
                                 f"got {tuple(override.shape)}")  # fmt: skip
            weights = override.to(weights.dtype)
        return weights @ v, weights

    def forward(
        self, x: torch.Tensor, override: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, dim = x.shape
        out, weights = self.attend(*self.project(x), override)  # (B, h, T, d), (B, h, T, T)
        return self.proj(out.transpose(1, 2).reshape(b, t, dim)), weights


class EncoderBlock(nn.Module):
    """Pre-norm Transformer encoder block: x + MHSA(LN x), then x + MLP(LN x)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = MultiHeadSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(4 * dim, dim),
            nn.Dropout(dropout),
        )

    def forward(
        self, x: torch.Tensor, override: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        y, weights = self.attention(self.norm1(x), override)
        x = x + y
        return x + self.mlp(self.norm2(x)), weights


# ---------------------------------------------------------------------------------------------
# config and model


@dataclass(frozen=True)
class SelfAttentionConfig:
    """A preset of the temporal self-attention model.

    Attributes:
        num_classes: output classes.
        layers: layout of the per-frame CNN (``core_models.backbones.cnn2d``).
        num_frames: frames per clip (= attention steps).
        frame_size: side of the square frames.
        dim: model width D.
        heads: attention heads.
        depth: encoder blocks.
        dropout: in the MLPs, after the input projection and before the classifier.
        embed_norm: LayerNorm on the projected frame features before the positional encoding.
        position_scale: factor on the sinusoidal encoding.
        person_crop: read the person-centred full-body crop instead of the whole frame
            (``core_models.models.inputs``).
    """

    # What a checkpoint saved before a field existed was trained as (``checkpoint.restore_config``).
    LEGACY: ClassVar[dict] = {"embed_norm": False, "position_scale": 1.0, "person_crop": False}

    num_classes: int
    layers: tuple[Layer, ...] = XCEPTION
    num_frames: int = 16
    frame_size: int = 224
    dim: int = 512
    heads: int = 8
    depth: int = 2
    dropout: float = 0.1
    embed_norm: bool = True
    position_scale: float = 1.0
    person_crop: bool = False


PRESETS = {
    "paper": SelfAttentionConfig(num_classes=60),
    "cpu": SelfAttentionConfig(
        num_classes=60, layers=SMALL_PLAIN, num_frames=16, frame_size=64, dim=64, heads=4, depth=2,
        person_crop=True,
    ),
}  # fmt: skip


class TemporalSelfAttention(nn.Module):
    """Per-frame CNN features + positional encoding + Transformer encoder over time."""

    attention_kinds = ("self",)
    steerable = ("self",)

    def __init__(self, config: SelfAttentionConfig) -> None:
        super().__init__()
        self.config = c = config
        self.backbone = FrameCNN(FrameCNNConfig(layers=c.layers))
        self.embed = nn.Linear(self.backbone.num_features, c.dim)
        self.embed_norm = nn.LayerNorm(c.dim) if c.embed_norm else nn.Identity()
        self.drop_in = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(EncoderBlock(c.dim, c.heads, c.dropout) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.dim, c.num_classes)
        self.inputs = (clip_key(c.person_crop),)
        self.input_spec = clip_spec(c.num_frames, c.frame_size, c.person_crop, skeleton_frames=0)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        rgb = read_clip(batch, self.config.person_crop)  # (B, 3, T, S, S), shape checked
        feat = reused(
            batch, "frame_features", lambda: self.backbone.forward_clip(rgb).mean(dim=(3, 4)).transpose(1, 2)
        )  # (B, T, C)
        x = self.embed_norm(self.embed(feat))  # (B, T, D)
        pe = sinusoidal_encoding(x.shape[1], x.shape[2], device=x.device, dtype=x.dtype)  # (T, D)
        x = self.drop_in(x + self.config.position_scale * pe)
        weights = None
        forced = batch.get(steer_key("self"))  # an intervention: (B, h, T, T) in every block
        for block in self.blocks:
            x, weights = block(x, forced)  # (B, T, D), (B, h, T, T)
        pooled = self.norm(x).mean(dim=1)  # (B, D)
        reusable = {} if self.training else {"frame_features": feat}
        return ModelOutput(logits=self.head(self.drop(pooled)), attention={"self": weights}, features=pooled,
                           reusable=reusable)  # fmt: skip

    def loss(self, out: ModelOutput, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        ce = losses.classification(out.logits, batch["label"])
        return ce, {"ce": float(ce.detach())}


def self_attention(
    preset: str = "cpu", *, num_classes: int, layout: SkeletonLayout = NTU25
) -> TemporalSelfAttention:
    """Temporal self-attention (``paper``: Xception frames 16 x 224^2, D 512, 8 heads; ``cpu``: D 64)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return TemporalSelfAttention(replace(PRESETS[preset], num_classes=num_classes))
