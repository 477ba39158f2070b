"""Temporal-segment and temporal-granularity attention (Das, Bremond, Thonnat, WACV 2020).

Paper: S. Das, F. Bremond, M. Thonnat, "Looking deeper into time for activities of daily living
recognition", WACV 2020. A clip is cut into G equal segments for several granularities G; a 3D
ConvNet describes every segment; pose decides which segment matters within a granularity
(temporal-segment attention, TS-att) and which granularity matters (temporal-granularity
attention, TG-att). Follows the authors' released ``temporal_model/scripts/models.py``
(``shared/reference/seed-systems.md`` §3).

What is implemented, for granularities (2, 3, 4) (configurable; 1 is allowed)::

    rgb (B, 3, T, S, S) --for each G: G equal segments (segment_bounds), L frames from each-->
        (B * sum_G G, 3, L, S, S) --shared I3D trunk, mean over t h w--> v (B, sum_G G, C)
    skeleton (B, Ts, M, J, 3) --for each G: the same G segments--> (B, G, Ts/G, M*J*3)

    per G:
      pose:  segment k --GRU_{G,k}--> s_{G,k} (B, Hp)        [G RNNs, weights not shared]
             [s_{G,1..G}] --GRU_G--> m_G (B, Hp)             [1 RNN]
             beta_G = softmax(W_G m_G) (B, G)                [TS-att; ones when G = 1]
      rgb:   h_{G,k} = relu(W^rgb_G (v_{G,k} + e_{G,k}))  (B, G, Hr)  [per segment, e: position]
             f_G = sum_k beta_{G,k} h_{G,k} (B, Hr)
    gamma = softmax(W_gamma [m_G for all G]) (B, n_G)        [TG-att]
    z = [gamma_1 f_G1 ; ... ; gamma_n f_Gn] (B, n_G * Hr) -> linear -> logits (B, K)

Departures and choices, with reasons:

* Segment weights act on per-segment features (``mixing="none"``, both presets). The released
  code weights the outputs of a forward GRU over the segment features, so the k-th weight picks
  a state that has read segments 1..k, and a weight on "the last segment" is a weight on the
  whole clip: the segment attention cannot say *when*. Here every segment feature is mapped on its
  own (a linear layer shared by the segments of a granularity, plus a learned embedding of the
  segment's position, so the order of the segments still reaches the classifier), and
  ``beta_{G,k}`` weights segment k's feature only; ``evaluate`` then scores each weight against
  its own segment. ``mixing="gru"`` is the released order (a forward GRU, then the weights),
  which the checkpoints trained before this field rebuild (``LEGACY``); its weights are scored
  against the segments each state has read (``attention_fields``).
* Segment features and scores (``feature_endpoint``, ``segment_scoring``). The released code
  pools Mixed_5c over a segment and scores the G segments with a linear map of the granularity's
  pose code (``"summary"``; the ``paper`` preset keeps both). The ``cpu`` preset pools Mixed_3c and
  scores each segment's own feature with the pose code as the query (``"rgb"``), since 79d5f90.
  Why: on the checkpoints before it (Mixed_5c, ``"summary"``; 0.485 CS, a second seed 0.386) the
  segment weights stayed at uniform (0.33 of the weight on the truth interval's segments; uniform
  0.33, "always the middle" 0.37, best 0.74) and making them uniform cost 0.00-0.01: the
  granularity weights carried the attention. Scoring each segment from its own key alone did not
  move them (``train --model temporal_granularity --protocol cs --set segment_scoring=additive``,
  each segment's pose code: 0.434 top-1, share 0.35; ``=rgb``: 0.483, 0.32; 10 min each). A
  Mixed_5c vector averaged over a segment is so high-level that any segment overlapping the action
  shows it, so the mean of the segments loses little and the weights get no reason to move; at
  Mixed_3c the same score finds the truth: CS 0.531 / 0.568 top-1 (seeds 0 / 1), 0.45 of the
  segment weight on the truth interval on both (uniform 0.33, middle 0.37), CV 0.586 / 0.600 and
  0.50 (uniform 0.34, middle 0.39), and training takes 7.1-7.6 min instead of 14-20. Uniform segment
  weights still cost little (0.00-0.05): the granularity weights remain what the model needs, and
  they name the class (0.43-0.46), while the segment weights alone name it at 0.07-0.14 against
  0.06-0.08 for the true interval.
* Centred segment keys (``segment_key_centre``, an addition; the ``cpu`` preset since 2026-12-06):
  each segment's RGB key is its pooled Mixed_3c feature minus the mean of its granularity's
  segments, so the score reads how a segment differs from the rest of its clip. Outside the
  action the subject idles (fidgets, scratches, turns), so the segments outside the truth look
  alike and the one holding the action stands out; uncentred, the part every segment shares
  (who the subject is, where the camera stands) dominates the key. Measured (``train --model
  temporal_granularity --protocol cs --set segment_key_centre=true``, 4.9-5.2 min of training on
  an Intel Xeon 2-core machine; the RGB read, no pose classifier): seed 0 0.566 top-1, 0.50 of
  the segment weight on the truth (G = 2 / 3 / 4: 0.49 / 0.52 / 0.50; uniform 0.33, middle 0.37,
  best possible 0.74), seed 1 0.551, 0.45 (0.45 / 0.41 / 0.50); before, 0.531 /
  0.568 and 0.45 / 0.45. The segment weights alone name the class at 0.08-0.12 (0.12-0.14 before).
  Uniform segment weights still cost only 0.00-0.05, and the granularity weights still name the
  class (0.43-0.45).
* What else was tried for the segment weights, and not shipped (``train --model
  temporal_granularity --protocol cs --set ...``, the ``cpu`` recipe, one seed each, 4.2-7.5 min of
  training; the preset before centring: 0.531 top-1, 0.45 of the segment weight on the truth
  interval, G = 2 / 3 / 4 0.46 / 0.48 / 0.41, uniform 0.33; the target asks 0.48)::

      --set                                           top-1  share  G=2   G=3   G=4
      segment_scoring=rgb_pose                        0.480  0.44   0.38  0.46  0.49
      lambda_segments=-0.2                            0.573  0.46   0.46  0.41  0.51
      lambda_segments=-0.2 segment_scoring=rgb_pose   0.434  0.30   0.34  0.29  0.27
      lambda_segments=-0.2 segment_key_pool=max       0.537  0.40   0.54  0.55  0.12
      segment_key_pool=max                            0.536  0.47   0.48  0.46  0.47
      segment_key_pool=max (--seed 1, at 3715b46)     0.537  0.39   0.46  0.32  0.40
      segment_scoring=additive (at Mixed_3c)          0.464  0.35   0.36  0.35  0.34
      (--jitter --weight-decay 0.05)                  0.439  0.47   0.51  0.44  0.46
      (--jitter --weight-decay 0.05) key_pool=max     0.573  0.41   0.39  0.38  0.45
      lambda_granularity=1.0                          0.560  0.45   0.49  0.42  0.43
      segment_target=evidence                         0.468  0.39   0.39  0.38  0.39
      segment_target=evidence evidence_temperature=0  0.410  0.41   0.41  0.40  0.42
      class_code_weight=1.0                           0.425  0.34   0.33  0.34  0.36
      segment_key_centre=true lambda_segments=-0.2    0.495  0.29   0.17  0.54  0.17
      segment_key_centre=true segment_key_pool=max    0.440  0.46   0.51  0.42  0.46
      granularity_scoring=confidence (centred keys)   0.366  0.41   0.37  0.39  0.46

  Adding each segment's pose code to its key (``rgb_pose``) lets the segment weights name the
  class (0.15 for G = 4 against 0.06 from the true interval) instead of the time. Rewarding a
  choice (a negative ``lambda_segments``; the collapse term reached 0.89, nearly one segment per
  granularity) sharpens whatever each granularity prefers: with mean-pooled keys G = 4 gains and
  G = 3 loses; with max-pooled keys G = 2 and G = 3 come close to their best placements (0.62 and
  0.75) while G = 4, whose granularity weight is still 0.37 on average, settles on the segments
  away from the action (why was not examined). Max-pooled keys alone give the most even weights
  (0.46-0.48 at every granularity), 0.01 short of the target, within the spread of one seed; a
  second seed of them lands at 0.39 (G = 3 at uniform), so their mean, 0.43, is below the
  shipped preset's 0.45 on both of its seeds. In
  every run uniform segment weights cost 0.00-0.06: the model still leans on its granularity
  weights, so none of these changes made the segment weights needed, and the shipped preset
  stays. Three more (2026-12-05, 6.5-7.6 min each): scoring each Mixed_3c segment from its own
  pose code (``additive``, the paper's cue for *when*) leaves the weights at uniform (0.35): the
  pose of a segment does not say whether it shows the class. Part attention's regularisation
  (jitter, weight decay 0.05; recipe flags, not ``--set``) holds the training split down (train
  top-1 0.63 at its 15th epoch against 0.67) but neither lifts the share past 0.47 nor top-1
  above the spread of one seed (0.439, and 0.573 with max-pooled keys at 0.41 on the truth).
  Penalising a confident granularity choice (``lambda_granularity=1.0``, at 3fd9d5d, 10.1 min), to
  stop the granularity weights acting as a class code, does neither: the weights still name the
  class (0.40 against 0.43 shipped; all the attention together 0.38 against 0.26 and 0.06 for the truth),
  uniform segment weights still cost 0.01-0.02, and the share stays at 0.45.
  Five more (2026-12-06, at the code of the centred keys; the fifth, centred max-pooled keys, is
  in the table only): the segment weights taught where the segments' own reads find the class
  (``segment_target="evidence"``: a linear head per granularity classifies each segment's feature,
  and the weights match, by cross-entropy, the share of the label's probability each read holds)
  move away from the truth: a segment's read alone is weak (top-1 0.18-0.23, 0.29-0.36 on the
  segment that holds the action), so its target is nearly flat (0.40 on the truth), and a one-hot
  target on the best read (temperature 0) makes the model pool one weak segment (0.410 top-1). An
  adversary that tries to name the class from the weights, whose gradient reaches them reversed
  (``class_code_weight``, ``core_models.models.class_code``), makes the weights neither class-free
  (all the attention together names the class at 0.33 against 0.26) nor placed (0.34). Centred
  keys with a reward for a choice (``lambda_segments=-0.2``) pick the segment that differs most,
  which for G = 2 and 4 is the wrong one (0.17).
  One more (2026-12-06, 4.4 min): the granularity weights read the granularities' pose codes, so
  they can pass the pose branch's idea of the class to the head, which is what "pose steers, RGB
  classifies" rules out; taking them from how sure each granularity's segment weights are
  (``granularity_scoring="confidence"``: a learned scale and one bias per granularity, nothing
  else) closes that path. Top-1 falls to 0.366 (validation 0.43 at its best, against 0.565): the
  pose path through the granularity weights was carrying about a third of the accuracy. It does
  not remove the class code either: the granularity weights still name the class at 0.28 and the
  segment weights, now what the choice is read from, at 0.14-0.16 (0.07-0.12 before; 0.06-0.08
  for the true interval), all of it together 0.29 against 0.06. Not shipped.
* End to end: the authors extracted the per-segment I3D features offline with a fine-tuned,
  frozen I3D; here one shared trunk runs on all segments of all granularities in one batched
  call and trains with the heads.
* Segment clips: the authors took one 64-frame clip per segment from the full-rate video. Here
  the model receives one clip of ``num_frames`` frames (divisible by 2, 3 and 4), cuts it with
  :func:`~core_models.data.sampling.segment_bounds` and takes ``segment_frames`` evenly spaced
  frames from each segment (all of them, in order, when the segment has exactly that many), so
  every segment clip has the same length and all go through the trunk in one batch. ``paper``:
  a 96-frame clip at 224^2, 24 frames per segment (G=4 segments are read whole, G=2 and G=3 are
  subsampled), i.e. 9 x 24 = 216 frames through I3D, 3.4x one 64-frame pass, where the authors'
  9 x 64 would be 9x. ``cpu``: 24 frames at 64^2, 4 per segment (9 x 4 = 36 frames through I3D).
* Segment feature: global average pooling of Mixed_5c to a C-vector; the authors' AvgPool3D(2, 7, 7)
  with stride 1 kept the 7 temporal positions (7168-d). The pooled vector keeps the model
  size-agnostic and the RGB GRU small.
* Pose per segment: the skeleton input (``skeleton_frames`` steps, divisible by every G) is cut
  into the same G segments and each segment's steps are read whole (Ts/G steps); the authors
  re-sampled 5 steps per segment from the raw sequence. ``paper`` and ``cpu`` use 24 steps.
* Loss: the released model trains with cross-entropy only. Two optional terms are provided, both
  off by default (weight 0): ``segment_collapse`` = mean over G > 1 of ``1 - H(beta_G) / log G`` and
  ``granularity_collapse`` = ``1 - H(gamma) / log n_G``. Each is 0 for uniform and 1 for one-hot
  attention, so a small weight discourages one segment or one granularity taking all the weight
  early in training, which is the concern the Sharma-style penalties of this family address.
* ``true_attention`` (empty in both presets; an experiment, 2026-12-07): ``["segments"]`` weights
  each granularity's segments with the ground truth (each by its share of the truth interval) in
  training and test alike, the granularity weights still the model's own, so the test top-1 is
  what this model gets from segment weights that are exactly right. ``train --model
  temporal_granularity --protocol cs --set 'true_attention=["segments"]'`` (4.3 min of
  training): 0.536 top-1, best validation 0.571 (the shipped model 0.566 / 0.551 over two
  seeds). The granularity weights still name the class (all of the attention 0.20 against the
  truth's 0.06) and equal granularity weights cost 0.24: the segment weights were never what
  held it back. The shipped model's own figure is in its evaluation's ``truth`` (0.522, without
  training on it).
* ``pose_scores`` (off in both presets: pose only places the attention, as in the paper): a
  linear classifier on the granularity pose codes (concatenated) adds its logits to the RGB
  logits (``core_models.models.pose_scores``); results with it are labelled "+ pose classifier".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from core_models import losses
from core_models.backbones.i3d import I3DConfig, i3d_trunk
from core_models.data.layouts import NTU25, SkeletonLayout
from core_models.data.sampling import segment_bounds
from core_models.models.class_code import AttentionAdversary
from core_models.models.inputs import clip_key, clip_spec, read_clip
from core_models.models.output import ModelOutput, attend_truth, check_true_kinds, reused, steer
from core_models.models.pose_scores import PoseScores, fuse, stream_loss

# ---------------------------------------------------------------------------------------------
# helpers


def segment_frame_index(num_frames: int, granularity: int, per_segment: int) -> torch.Tensor:
    """Indices of ``per_segment`` evenly spaced frames inside each of the G equal segments.

    The segments are :func:`~core_models.data.sampling.segment_bounds`; when a segment holds exactly
    ``per_segment`` frames, its indices are those frames in order. Returns a (G, L) long tensor.
    """
    rows = []
    for start, end in segment_bounds(num_frames, granularity):
        n = end - start
        offsets = [(2 * i + 1) * n // (2 * per_segment) for i in range(per_segment)]
        rows.append([start + o for o in offsets])
    return torch.tensor(rows, dtype=torch.long)  # (G, L)


def split_segments(x: torch.Tensor, granularity: int, per_segment: int, dim: int) -> torch.Tensor:
    """Cut ``x`` along its time axis ``dim`` into G segments of L frames each.

    The new segment axis is put right after the batch axis: e.g. rgb (B, 3, T, S, S) with dim 2
    gives (B, G, 3, L, S, S); a skeleton (B, T, D) with dim 1 gives (B, G, L, D).
    """
    index = segment_frame_index(x.shape[dim], granularity, per_segment).to(x.device)  # (G, L)
    picked = x.index_select(dim, index.flatten())  # time axis now G*L
    shape = list(x.shape)
    shape[dim : dim + 1] = [granularity, per_segment]
    return picked.reshape(shape).movedim(dim, 1)


def _last_state(rnn: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    _, h = rnn(x)  # (layers, B, H)
    return h[-1]  # (B, H)


# ---------------------------------------------------------------------------------------------
# config and model


@dataclass(frozen=True)
class TemporalGranularityConfig:
    """A preset of the temporal granularity model.

    Attributes:
        num_classes: output classes.
        num_joints: joints of the skeleton layout.
        num_persons: persons per frame in the skeleton input.
        granularities: the numbers of segments G the clip is cut into.
        width: I3D channel multiplier.
        num_frames: RGB frames per clip (divisible by every G).
        frame_size: side of the square frames.
        segment_frames: frames per segment clip fed to I3D.
        skeleton_frames: skeleton steps per clip (divisible by every G).
        rgb_hidden: width of the per-granularity RGB GRUs.
        person_crop: read the person-centred full-body crop instead of the whole frame
            (``core_models.models.inputs``).
        pose_hidden: width of the pose GRUs.
        dropout: after every GRU.
        lambda_segments: weight of the segment collapse term (0 as in the released code); a
            negative weight rewards a confident choice of segment instead of penalising it.
        lambda_granularity: weight of the granularity collapse term (0 as in the released code).
        pose_scores: add a linear classifier on the granularity pose codes to the RGB logits
            (``core_models.models.pose_scores``; a departure from the paper, off in the presets).
        stream_weight: weight of each stream's own cross-entropy when ``pose_scores`` is on.
        mixing: ``"none"``: segment weights on per-segment features; ``"gru"``: on the states
            of a forward GRU over the segments (the released code's order).
        segment_scoring: ``"summary"``: the G segment logits are a linear map of the
            granularity's pose code (the released code); ``"additive"``: each segment is scored
            from its own pose code with the granularity's code as the query,
            ``v . tanh(W_s s_k + W_m m)``; ``"rgb"``: the same with the segment's pooled I3D
            feature as the key (separable STA's temporal score), ``v . tanh(W_v v_k + W_m m)``;
            ``"rgb_pose"``: both, the key is ``[v_k ; s_k]``.
        feature_endpoint: the I3D endpoint whose map, averaged over a segment's frames and cells,
            is the segment's feature (``paper``: Mixed_5c; ``cpu``: Mixed_3c).
        segment_key_pool: how a segment's RGB key (``"rgb"``, ``"rgb_pose"``) pools that map:
            ``"mean"``, as the feature the weights pool, or ``"max"`` over its steps and cells.
        segment_target: ``"none"`` (the released code): the segment weights learn from the
            class loss alone; ``"evidence"`` (an addition): every segment's own feature is also
            classified by a head of its granularity, and the weights learn to match, by cross
            entropy, the share of the label's probability each segment's read holds,
            ``p_k(y) / sum_j p_j(y)`` (detached), so they learn *where* the class shows.
        evidence_weight: weight of the segment reads' cross-entropy and of the weights' match
            to their evidence (``segment_target="evidence"``).
        evidence_temperature: the target is ``softmax_k(-CE_k / temperature)``; 0 puts it all on
            the segment whose read gives the label the highest probability.
        segment_key_centre: subtract the mean over the granularity's segments from every
            segment's key (``"rgb"`` / ``"rgb_pose"`` scoring), so a segment is scored by how it
            differs from the rest of its clip.
        class_code_weight: when above 0, an adversary tries to name the class from the segment
            and granularity weights and the attention learns, through its reversed gradient
            scaled by this weight, to give it nothing (``core_models.models.class_code``).
        granularity_scoring: ``"pose"`` (the released code): the granularity weights are a
            linear map of the granularities' pose codes; ``"confidence"`` (an addition): each
            granularity's logit is ``a * (1 - H(beta_G) / log G) + b_G``, how sure its segment
            weights are, with a learned scale ``a`` and one learned bias per granularity, so the
            choice of granularity cannot carry more of the class than the segment weights do.
        true_attention: kinds of attention replaced by the ground truth whenever the batch carries
            it (synthetic clips), in training and evaluation alike, of
            ``"segments"`` (every granularity above 1), with ``mixing="none"``;
            empty in both presets. An experiment that measures what this architecture scores when
            its attention is right, the ceiling of learning where to look (see the module
            docstring). The model's own weights for those kinds then learn nothing; a clip without
            a ground truth uses them.
    """

    # What a checkpoint saved before a field existed was trained as (``checkpoint.restore_config``).
    LEGACY: ClassVar[dict] = {
        "mixing": "gru", "segment_scoring": "summary", "feature_endpoint": "Mixed_5c",
        "segment_key_centre": False,
    }  # fmt: skip

    num_classes: int
    num_joints: int = 25
    num_persons: int = 2
    granularities: tuple[int, ...] = (2, 3, 4)
    width: float = 1.0
    num_frames: int = 96
    frame_size: int = 224
    segment_frames: int = 24
    skeleton_frames: int = 24
    rgb_hidden: int = 512
    pose_hidden: int = 150
    dropout: float = 0.6
    lambda_segments: float = 0.0
    lambda_granularity: float = 0.0
    person_crop: bool = True
    pose_scores: bool = False
    stream_weight: float = 0.5
    mixing: str = "none"
    segment_scoring: str = "summary"
    feature_endpoint: str = "Mixed_5c"
    segment_key_pool: str = "mean"
    segment_target: str = "none"
    evidence_weight: float = 1.0
    evidence_temperature: float = 1.0
    segment_key_centre: bool = False
    class_code_weight: float = 0.0
    granularity_scoring: str = "pose"
    true_attention: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(
            self,
            "true_attention",
            check_true_kinds(self.true_attention, ("segments",), "temporal_granularity"),
        )
        if self.true_attention and self.mixing != "none":
            raise ValueError("true_attention needs mixing='none' (each weight on its own segment)")
        if self.granularity_scoring not in ("pose", "confidence"):
            raise ValueError(
                f"granularity_scoring must be 'pose' or 'confidence', got {self.granularity_scoring!r}"
            )
        if self.segment_target not in ("none", "evidence"):
            raise ValueError(f"segment_target must be 'none' or 'evidence', got {self.segment_target!r}")
        if self.evidence_temperature < 0:
            raise ValueError(f"evidence_temperature must be >= 0, got {self.evidence_temperature}")
        if self.segment_key_pool not in ("mean", "max"):
            raise ValueError(f"segment_key_pool must be 'mean' or 'max', got {self.segment_key_pool!r}")
        if self.mixing not in ("none", "gru"):
            raise ValueError(f"mixing must be 'none' or 'gru', got {self.mixing!r}")
        if self.segment_scoring not in ("summary", "additive", "rgb", "rgb_pose"):
            raise ValueError(
                "segment_scoring must be 'summary', 'additive', 'rgb' or 'rgb_pose', "
                f"got {self.segment_scoring!r}"
            )
        if (
            not self.granularities
            or min(self.granularities) < 1
            or len(set(self.granularities)) != len(self.granularities)
        ):
            raise ValueError(f"granularities must be distinct positive integers, got {self.granularities}")
        for g in self.granularities:
            if self.skeleton_frames % g or self.num_frames % g:
                raise ValueError(
                    f"num_frames ({self.num_frames}) and skeleton_frames ({self.skeleton_frames}) must be "
                    f"divisible by every granularity {self.granularities}"
                )


PRESETS = {
    "paper": TemporalGranularityConfig(num_classes=60),
    "cpu": TemporalGranularityConfig(
        num_classes=60, width=0.25, num_frames=24, frame_size=64, segment_frames=4, rgb_hidden=128,
        pose_hidden=64, dropout=0.3, segment_scoring="rgb", feature_endpoint="Mixed_3c",
        segment_key_centre=True,
    ),
}  # fmt: skip


class TemporalGranularity(nn.Module):
    """Per-segment I3D features weighted by pose-driven segment and granularity attention."""

    attention_kinds = ("segments", "granularity")

    def attention_fields(self, kind: str, n: int):
        """The clip each unit's feature summarises: its own segment (``mixing="none"``, None: equal
        bins); after a forward GRU (``"gru"``) segment k's feature summarises segments 1..k."""
        from core_models.attention_scores import cumulative_fields

        return cumulative_fields(n) if kind == "segments" and self.config.mixing == "gru" else None

    @property
    def steerable(self) -> tuple[str, ...]:
        return tuple(f"segments:{g}" for g in self.config.granularities if g > 1) + ("granularity",)

    def __init__(self, config: TemporalGranularityConfig):
        super().__init__()
        self.config = c = config
        # The head below classifies: the trunk drops I3D's own dropout and classifier.
        self.backbone = i3d_trunk(
            I3DConfig(width=c.width, input_frames=c.segment_frames, input_size=c.frame_size),
            c.feature_endpoint,
        )
        channels = self.backbone.feature_channels(c.feature_endpoint)
        pose_in = c.num_persons * c.num_joints * 3
        keys = [str(g) for g in c.granularities]
        # G segment-level pose GRUs per granularity (weights not shared, as the authors).
        self.segment_pose = nn.ModuleDict(
            {
                k: nn.ModuleList(nn.GRU(pose_in, c.pose_hidden, batch_first=True) for _ in range(int(k)))
                for k in keys
            }
        )
        self.granularity_pose = nn.ModuleDict(
            {k: nn.GRU(c.pose_hidden, c.pose_hidden, batch_first=True) for k in keys}
        )
        multi = [k for k in keys if int(k) > 1]
        if c.segment_scoring == "summary":
            self.segment_score = nn.ModuleDict({k: nn.Linear(c.pose_hidden, int(k)) for k in multi})
        else:  # keys: each segment's pose code, pooled RGB feature or both; query: m
            hp = c.pose_hidden
            key_in = {"additive": hp, "rgb": channels, "rgb_pose": channels + hp}[c.segment_scoring]
            self.segment_key = nn.ModuleDict({k: nn.Linear(key_in, hp) for k in multi})
            self.segment_query = nn.ModuleDict({k: nn.Linear(hp, hp, bias=False) for k in multi})
            self.segment_score = nn.ModuleDict({k: nn.Linear(hp, 1, bias=False) for k in multi})
        if c.mixing == "gru":
            self.rgb_rnn = nn.ModuleDict({k: nn.GRU(channels, c.rgb_hidden, batch_first=True) for k in keys})
        else:
            self.segment_rgb = nn.ModuleDict({k: nn.Linear(channels, c.rgb_hidden) for k in keys})
            self.segment_position = nn.ParameterDict(
                {k: nn.Parameter(torch.randn(int(k), channels) * 0.02) for k in keys}
            )
        if c.segment_target == "evidence":  # each segment's own read, one head per granularity
            self.segment_head = nn.ModuleDict({k: nn.Linear(c.rgb_hidden, c.num_classes) for k in multi})
        if c.granularity_scoring == "confidence":
            self.granularity_scale = nn.Parameter(torch.tensor(1.0))
            self.granularity_bias = nn.Parameter(torch.zeros(len(keys)))
        else:
            self.granularity_score = nn.Linear(len(keys) * c.pose_hidden, len(keys))
        if c.class_code_weight > 0:
            sizes = {f"segments:{g}": g for g in c.granularities if g > 1}
            sizes = {**sizes, **({"granularity": len(keys)} if len(keys) > 1 else {})}
            self.class_code = AttentionAdversary(sizes, c.num_classes, c.class_code_weight)
        self.attend = nn.Softmax(dim=-1)  # named, so a hook can capture every attention
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(len(keys) * c.rgb_hidden, c.num_classes)
        self.pose_scores = (
            PoseScores(len(keys) * c.pose_hidden, c.num_classes, c.dropout) if c.pose_scores else None
        )
        self.inputs = (clip_key(c.person_crop), "skeleton")
        self.input_spec = clip_spec(
            c.num_frames, c.frame_size, c.person_crop, skeleton_frames=c.skeleton_frames,
            num_persons=c.num_persons, cache_frames=max(64, c.num_frames),
        )  # fmt: skip

    def segment_maps(self, rgb: torch.Tensor) -> torch.Tensor:
        """Every segment's I3D map, in one trunk pass: rgb (B, 3, T, S, S) -> (B, sum G, C, t, h, w)."""
        c = self.config
        clips = [
            split_segments(rgb, g, c.segment_frames, dim=2) for g in c.granularities
        ]  # (B, G, 3, L, S, S)
        clips = torch.cat(clips, dim=1).flatten(0, 1)  # (B * sum G, 3, L, S, S)
        maps = self.backbone.forward_features(clips, until=c.feature_endpoint)  # (B * sum G, C, t, h, w)
        return maps.view(rgb.shape[0], -1, *maps.shape[1:])

    def by_granularity(self, pooled: torch.Tensor) -> dict[int, torch.Tensor]:
        """(B, sum G, C) pooled segment maps -> {G: (B, G, C)}."""
        return dict(zip(self.config.granularities, pooled.split(list(self.config.granularities), dim=1)))

    def segment_features(self, rgb: torch.Tensor) -> dict[int, torch.Tensor]:
        """One pooled I3D feature per segment, the mean of its map: rgb (B, 3, T, S, S) -> {G: (B, G, C)}."""
        return self.by_granularity(self.segment_maps(rgb).mean(dim=(3, 4, 5)))

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        c = self.config
        rgb, skeleton = read_clip(batch, self.config.person_crop), batch["skeleton"]
        if skeleton.dim() != 5 or skeleton.shape[2:] != (c.num_persons, c.num_joints, 3):
            raise ValueError(
                f"skeleton must be (B, Ts, {c.num_persons}, {c.num_joints}, 3), got {tuple(skeleton.shape)}"
            )
        maps = reused(batch, "segment_maps", lambda: self.segment_maps(rgb))  # (B, sum G, C, t, h, w)
        vectors = self.by_granularity(maps.mean(dim=(3, 4, 5)))  # {G: (B, G, C)}: what the weights pool
        # the segments' RGB keys: the same means, or each map's maximum over steps and cells
        peaks = self.by_granularity(maps.amax(dim=(3, 4, 5))) if c.segment_key_pool == "max" else vectors
        pose = skeleton.flatten(2)  # (B, Ts, M*J*3)
        codes, feats, segments, reads = [], [], {}, {}
        for g in c.granularities:
            key = str(g)
            steps = split_segments(pose, g, max(1, pose.shape[1] // g), dim=1)  # (B, G, Ts/G, M*J*3)
            s = torch.stack(
                [self.drop(_last_state(rnn, steps[:, k])) for k, rnn in enumerate(self.segment_pose[key])],
                dim=1,
            )  # (B, G, Hp)
            m = self.drop(_last_state(self.granularity_pose[key], s))  # (B, Hp)
            rgb_keys = peaks[g] - peaks[g].mean(dim=1, keepdim=True) if c.segment_key_centre else peaks[g]
            if c.segment_scoring == "rgb_pose":
                keys_in = torch.cat([rgb_keys, s], dim=-1)  # (B, G, C + Hp)
            else:
                keys_in = rgb_keys if c.segment_scoring == "rgb" else s  # (B, G, C) or (B, G, Hp)
            # (B, G); a single segment (G = 1) gets weight 1
            beta = self.attend(self._segment_logits(key, keys_in, m)) if g > 1 else m.new_ones(m.shape[0], 1)
            if g > 1:
                own = attend_truth(batch, f"segments:{g}", beta, self.config.true_attention)
                beta = steer(batch, f"segments:{g}", own)
            h = self.drop(self._segment_states(key, vectors[g]))  # (B, G, Hr)
            feats.append(torch.einsum("bg,bgh->bh", beta, h))  # (B, Hr)
            if c.segment_target == "evidence" and g > 1:
                reads[g] = self.segment_head[key](h)  # (B, G, K): each segment read alone
            codes.append(m)
            segments[g] = beta
        if c.granularity_scoring == "confidence":
            sure = torch.stack([segment_confidence(segments[g]) for g in c.granularities], dim=1)  # (B, n_G)
            gamma_logits = self.granularity_scale * sure + self.granularity_bias
        else:
            gamma_logits = self.granularity_score(torch.cat(codes, dim=1))
        gamma = steer(batch, "granularity", self.attend(gamma_logits))  # (B, n_G)
        z = torch.cat([gamma[:, i : i + 1] * f for i, f in enumerate(feats)], dim=1)  # (B, n_G * Hr)
        code = torch.cat(codes, dim=1)  # (B, n_G * Hp)
        logits, aux = fuse(self.head(z), self.pose_scores(code) if self.pose_scores is not None else None)
        features = z if self.pose_scores is None else torch.cat([z, code], dim=1)  # (B, D)
        for g, r in reads.items():
            aux[f"segment_reads_{g}"] = r
        return ModelOutput(
            logits=logits,
            attention={"segments": segments, "granularity": gamma},
            aux=aux,
            features=features,
            reusable={} if self.training else {"segment_maps": maps},
        )

    def _segment_logits(self, key: str, s: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """One score per segment of granularity ``key``: s (B, G, D) the segments' keys (see
        ``segment_scoring``), m (B, Hp) the granularity's pose code -> (B, G)."""
        if self.config.segment_scoring == "summary":
            return self.segment_score[key](m)
        hidden = torch.tanh(self.segment_key[key](s) + self.segment_query[key](m).unsqueeze(1))  # (B, G, Hp)
        return self.segment_score[key](hidden).squeeze(-1)  # separable STA's additive score

    def _segment_states(self, key: str, v: torch.Tensor) -> torch.Tensor:
        """What the segment weights of granularity ``key`` pool: v (B, G, C) -> (B, G, Hr)."""
        if self.config.mixing == "gru":
            return self.rgb_rnn[key](v)[0]  # state k has read segments 1..k
        return torch.relu(self.segment_rgb[key](v + self.segment_position[key]))  # segment k alone

    def loss(self, out: ModelOutput, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        ce = losses.classification(out.logits, batch["label"])
        seg = segment_collapse(out.attention["segments"])
        gran = granularity_collapse(out.attention["granularity"])
        total = ce + c.lambda_segments * seg + c.lambda_granularity * gran
        streams, stream_terms = stream_loss(out.aux, batch["label"], c.stream_weight)
        if streams is not None:
            total = total + streams
        terms = {"ce": float(ce.detach()), "segment_collapse": float(seg.detach()), **stream_terms}
        if c.segment_target == "evidence":
            reads, match = segment_evidence(
                out.aux, out.attention["segments"], batch["label"], c.evidence_temperature
            )
            total = total + c.evidence_weight * (reads + match)
            terms.update(segment_reads=float(reads.detach()), segment_match=float(match.detach()))
        terms["granularity_collapse"] = float(gran.detach())
        if c.class_code_weight > 0:
            weights = {f"segments:{g}": b for g, b in out.attention["segments"].items() if int(g) > 1}
            weights["granularity"] = out.attention["granularity"]
            adversary = self.class_code({n: weights[n] for n in self.class_code.names}, batch["label"])
            total = total + adversary
            terms["class_code"] = float(adversary.detach())
        return total, terms


# ---------------------------------------------------------------------------------------------
# regularisers (off by default)


def segment_confidence(beta: torch.Tensor) -> torch.Tensor:
    """Per clip ``1 - H(beta) / log G`` of (B, G) segment weights: 0 when equal (and for G = 1),
    1 when one segment holds all the weight -> (B,)."""
    g = beta.shape[1]
    if g <= 1:
        return beta.new_zeros(beta.shape[0])
    h = -(beta * (beta + 1e-8).log()).sum(dim=1)
    return 1.0 - h / math.log(g)


def segment_collapse(segments: dict[int, torch.Tensor]) -> torch.Tensor:
    """Mean over G > 1 of ``1 - H(beta_G) / log G``: 0 for uniform, 1 for one-hot segment attention."""
    terms = [1.0 - losses.normalized_entropy(beta) for g, beta in segments.items() if int(g) > 1]
    if not terms:
        return next(iter(segments.values())).sum() * 0.0
    return torch.stack(terms).mean()


def segment_evidence(
    aux: dict[str, torch.Tensor],
    segments: dict[int, torch.Tensor],
    labels: torch.Tensor,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The segment reads' loss and the segment weights' match to them, each a mean over G > 1.

    ``aux["segment_reads_G"]`` (B, G, K) classifies every segment alone; its cross-entropy is
    averaged over the segments. The target of the weights beta_G (B, G) is the share of the
    label's probability each read holds, ``softmax_k(-CE_k / temperature)`` (detached; temperature
    0: all on the best read): the weights learn where the reads find the class, and no gradient
    reaches the reads through that match.
    """
    read_terms, match_terms = [], []
    for g, beta in segments.items():
        if int(g) <= 1:
            continue
        logits = aux[f"segment_reads_{g}"]  # (B, G, K)
        each = F.cross_entropy(
            logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]), reduction="none"
        ).view(logits.shape[:2])  # (B, G)
        read_terms.append(each.mean())
        if temperature > 0:
            target = torch.softmax(-each.detach() / temperature, dim=1)  # (B, G)
        else:
            target = F.one_hot(each.detach().argmin(dim=1), logits.shape[1]).to(beta.dtype)
        match_terms.append(-(target * beta.clamp_min(1e-8).log()).sum(dim=1).mean())
    return torch.stack(read_terms).mean(), torch.stack(match_terms).mean()


def granularity_collapse(granularity: torch.Tensor) -> torch.Tensor:
    """``1 - H(gamma) / log n_G`` of (B, n_G) attention: 0 for uniform, 1 for one-hot."""
    if granularity.shape[-1] <= 1:
        return granularity.sum() * 0.0
    return 1.0 - losses.normalized_entropy(granularity)


def temporal_granularity(
    preset: str = "cpu", *, num_classes: int, layout: SkeletonLayout = NTU25
) -> TemporalGranularity:
    """Temporal granularity model (``paper``: I3D 96 x 224^2, G = 2, 3, 4; ``cpu``: width 0.25, 24 x 64^2)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return TemporalGranularity(
        replace(PRESETS[preset], num_classes=num_classes, num_joints=layout.num_joints)
    )
