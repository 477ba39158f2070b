"""Separable spatio-temporal attention driven by pose (Das et al., "Toyota Smarthome", ICCV 2019).

Paper: S. Das, R. Dai, M. Koperski, L. Minciullo, L. Garattoni, F. Bremond, G. Francesca,
"Toyota Smarthome: Real-world activities of daily living", ICCV 2019. The 3D ConvNet reads the RGB
clip; a skeleton LSTM reads the pose and steers two attentions over the ConvNet's feature map, one
over space and one over time, that are applied *separately* (each pools the map on its own) rather
than multiplied into one coupled space-time mask.

What is implemented (``joint=True``, the ``cpu`` and ``paper`` presets)::

    rgb (B, 3, T, S, S) --I3D trunk up to feature_endpoint--> F (B, C, T', H', W')
    skeleton (B, Ts, M, J, 3) --LSTM x3--> h (B, Hp)   (the query of both attentions)

    s_t = softmax over H'W' of score_s(F_t,hw, h)       -> s (B, T', H', W')   one map per step
    g_t = sum_hw s_t,hw F_t,hw                          (B, T', C)   each step, spatially attended
    a   = softmax over T' of score_t(g_t, h)            -> a (B, T')
    f   = sum_t a_t g_t = sum_t,hw a_t s_t,hw F_t,hw    (B, C)       the two masks applied jointly

    f (B, C) -> dropout -> linear -> logits (B, K)

Neither mask is computed after averaging away the other axis: the spatial score reads every cell
of every step, the temporal score reads each step as the spatial mask sees it, and the pooled
feature is the map weighted by the product of the two masks (a separable space-time mask).

The earlier variant (``joint=False``, which the checkpoints trained before it rebuild through
``LEGACY``) pooled the map over time before the spatial score and over space before the temporal
score, and classified ``[f_s ; f_t]`` (B, 2C)::

        F --mean over t--> cells (B, H'W', C)        F --mean over h w--> steps (B, T', C)
    s = softmax over H'W' of score_s(cells, h)      a = softmax over T' of score_t(steps, h)
    [sum_hw s_hw cells_hw ; sum_t a_t steps_t] (B, 2C) -> dropout -> linear -> logits (B, K)

Room to localise: at 16 x 64^2 the I3D trunk's Mixed_5c map is 2 x 2 cells by 2 steps, so a
cell reads the whole frame and a step half of the clip; the ``cpu`` preset takes the map at
Mixed_3c instead (``feature_endpoint``), 8 x 8 cells by 8 steps (time / 2, space / 8; the
checkpoints trained before it read Mixed_4f, 4 x 4 x 4, and keep that in their saved config). The
``paper`` preset keeps Mixed_5c (8 x 7 x 7 for 64 x 224^2).

Each score is additive (Bahdanau) attention with the pose code as the query and the pooled
feature cells / steps as the keys: ``score_n = v . tanh(W_f x_n + W_h h)``.

Departures and choices, with reasons:

* The attention equations, feature-map sizes and the loss weights of the paper are not public and
  no official code exists (``shared/reference/seed-systems.md`` §2). The group's later VPN
  predicts a fixed 7 x 7 map from the pose alone (``Dense(49)``). Here the score also reads the
  feature cell, so the same weights work at any H' x W' and T' (the I3D trunk is size-agnostic
  and the cpu preset and the tests run at small frame sizes).
* The pose LSTM is trained end to end (the group's code pre-trained and froze it).
* I3D's own dropout and classifier are replaced by identities: the fused head classifies.
* Regularisers (weights in the config, 0 switches a term off, so an ablation is a config change):

  - ``spatial_focus`` = ``lambda_spatial * H(s) / log(H'W')``, the normalised entropy of the
    spatial map: 1 for uniform, 0 for one cell. Pose-driven spatial attention is meant to pick
    the region of the person and the objects they handle; a small weight pushes the map to focus
    without forcing a single cell (the cross-entropy still decides where).
  - ``temporal_spread`` = ``lambda_temporal * (1 - H(a) / log T')``: 0 for uniform, 1 for one step.
    T' is short (4 to 8 steps) and an activity spans the clip, so the temporal
    attention should re-weight steps, not collapse onto one; this plays the role of Sharma et
    al.'s doubly stochastic penalty (every location gets attended) for a single distribution,
    where the group's ``(1 - sum w)^2`` form is identically 0 after a softmax.

  Both are bounded in [0, 1], so their weights are comparable across presets and input sizes.
* Where the spatial map lands (``python -m core_models where``, :mod:`core_models.where`): at
  the frames of the truth interval, the share of each step's map on the cells that hold the
  joints of the parts carrying the action. The ``cpu`` checkpoints of 52bd228 (Mixed_3c, 8 x 8
  cells) put 0.110 (CS) and 0.106 (CV) there, against 0.059 / 0.060 for equal weights and
  0.229 / 0.257 for "always the centre": 0.28-0.32 on reading, writing and typing (equal weights
  0.06, beaten on every clip) and 0.18 on clapping, but at or under equal weights on the
  head-level classes (drink, eat, phone, waving) and the leg classes. The maps find the hands
  when the hands are in front of the body; the centre prior still wins on average. The shipped
  ones (``uniform_steps``, below) put 0.096 (CS) and 0.062 (CV) there: the CS maps still find
  the hands on reading, writing and typing (0.31-0.33), the CV maps no longer (0.03-0.06).
* What came before (the checkpoints before 52bd228 read Mixed_4f, 4 x 4 cells by 4 steps, and
  trained with patience 6): 0.514 CS / 0.561 CV top-1, uniform attention cost 0.056, 0.51 of the
  steps' weight on the truth interval (best possible 0.86), and the maps put 0.18 on the parts'
  cells against 0.15 for equal weights and 0.38 for the centre: near-uniform. Tried on it and not
  kept: a ten times stronger focus term (``--set lambda_spatial=0.1``) made the maps one-hot and
  uniform attention cost 0.208 (0.495 top-1), but every map of every clip sat on the same
  bottom-left cell, 0.005 of the weight on the parts: at Mixed_4f each cell's feature reads the
  whole 64 px crop, so one fixed cell serves as well as any. An intervention alone cannot tell a
  needed place from a needed constant; ``where`` can. Weight decay 0.05 with ``jitter`` lowered
  top-1 to 0.446.
* Mixed_3c (this preset before ``uniform_steps``, checkpoints of 52bd228, seeds 0 and 1,
  6.4-6.7 min each, no patience): CS 0.600 / 0.575, CV 0.630 / 0.632. Uniform attention costs
  0.369 / 0.320 on CS (uniform temporal weights alone 0.374 / 0.320, uniform maps alone 0.057 /
  0.029), and CV 0.305 / 0.398; another class's attention costs 0.314 / 0.274 on CS (less than
  uniform: the "costs more" check fails) and 0.332 / 0.328 on CV (more on seed 0 only). 0.81-0.85
  of the steps' weight lies on the truth interval (uniform 0.33, middle 0.37, best 1.00 at 8
  steps). The temporal weights name the class at 0.08-0.14 against 0.06-0.08 for the true
  interval, and with the maps at 0.20-0.32: still in part a class code. Patience is off because
  validation on 168 clips is noisy (a second seed with patience 6 stopped at epoch 20 at 0.561, as
  part attention's recipe found).
* ``uniform_steps`` (0.25 in the ``cpu`` preset since a16df25; off in ``paper``, which follows
  the paper): a quarter of the training clips, drawn anew for each clip and step, are pooled with equal step
  weights instead of the mask (the mask, its regulariser and the maps are unchanged). Why: the
  head of the checkpoints above had never been given an evenly pooled feature, so making the
  attention uniform cost them more (0.369) than lending them another class's attention (0.314),
  which is still a sharp timing; the intervention measured the head's surprise, not what the
  timing told it. Trained with it (``reproduce --only separable_sta-cs separable_sta-cv``, then
  ``--seed 1``): CS 0.604 / 0.554, CV 0.636 / 0.611 (seed 0 remade at 7fb99b2, 5.7 / 5.8 min; CV
  with the same weights as the a16df25 run, CS another draw of the same recipe, which scored
  0.582). Uniform attention costs 0.133 / 0.124 on CS (seed 0: maps alone 0.083, steps alone
  0.032) and 0.171 / 0.191 on CV; another class's attention costs more on every run, 0.230 /
  0.163 and 0.229 / 0.221, and a clip of the same class's 0.184 (CS) and 0.195 (CV) on seed 0:
  each clip's own attention is what the model needs. The figures below are seed 0's. The steps
  put 0.65 (CS) / 0.65 (CV) of their weight on the truth interval (uniform 0.33, middle
  0.37-0.38, was 0.82), and the weights name the class at 0.28 / 0.32, against 0.22 / 0.30 for
  the ground truth at their resolution (the true maps, the cells of the acting parts' joints per
  step, with the true interval): the maps alone 0.05 above the truth on CS and level with it on
  CV (0.28 / 0.31 against 0.23 / 0.31), the steps above it (0.13 / 0.13 against 0.06 / 0.08).
* ``key_centre`` (off in both presets): the scores read each cell minus its step's mean cell and
  each attended step minus the mean step, as temporal granularity's centred segment keys, so that
  what the clip looks like as a whole cannot steer the masks. Tried once on CS (``train --model
  separable_sta --protocol cs --set key_centre=true`` on 4985fda with this option, 3.7 min of
  training): 0.594 top-1 (shipped 0.604), the steps' weight 0.74 on the truth interval (0.65),
  uniform attention costs 0.128, another class's 0.218; but the class code did not move (maps
  0.29, steps 0.12, all 0.29 against the truth's 0.23 / 0.06 / 0.22) and neither did the maps'
  place (``where``: 0.097 of their weight on the acting parts' cells, 0.096 shipped). Not shipped.
* ``temporal_query`` (``"pose"`` in both presets): the temporal mask's query is the pose
  LSTM's last state, a code of the whole clip that alone names the class at 0.68 (the skeleton
  LSTM), a likely source of the steps' class code. Tried with this option (2026-12-06, CS, one seed
  each, ``train --model separable_sta --protocol cs --set temporal_query=...``, 3.4-3.7 min of
  training): a query per step made of how fast each joint moves in it, relative to the clip.
  ``motion_only`` (scored from that query alone): 0.561 top-1, 0.47 of the steps' weight on the
  truth interval (0.65 shipped), uniform steps cost 0.018; the steps still name the class at
  0.10 against 0.06 for the true interval (0.13 shipped): which joints move when is itself
  class-typical. ``motion`` (the query beside the attended step, as the paper's score reads
  both): 0.568, 0.68 on the truth interval, steps 0.09 against 0.06, all the attention 0.28
  against 0.22 as shipped, but uniform attention costs 0.066, under the 0.08 of "attention
  matters", and another class's attention 0.194. Neither is shipped.
* ``spatial_query`` (``"pose"`` in both presets): the maps are asked by the pose LSTM's code of
  the whole clip, which names the class by itself, the likely source of the maps' class code.
  ``"motion"`` asks each step's map by how fast each joint moves in that step (:func:`step_motion`,
  as ``temporal_query`` does). Tried once (2026-12-06, ``train --model separable_sta --protocol cs
  --set spatial_query=motion``, 3.3 min of training): 0.595 top-1, uniform attention costs 0.132
  and another class's 0.234 (as shipped: 0.133, 0.230), 0.66 of the steps' weight on the truth
  interval; the class code shrinks (the maps alone 0.24 against the true maps' 0.23, shipped 0.28;
  the steps 0.09, shipped 0.13; all of it 0.25 against 0.22, shipped 0.28), but the maps leave the
  parts that act: ``where`` puts 0.053 of their weight on the acting parts' cells, under equal
  weights' 0.059 (shipped 0.096). Less of a class code, and no longer on the evidence: not shipped.
  With ``key_centre=true`` as well (3.5 min): 0.556 top-1, the maps 0.069 on the acting parts,
  the class code back up (all of it 0.27, the steps 0.15).
* An ordered read-out (tried once, 2026-12-06, the code not kept): the attended steps summed in
  two halves of the clip and the head reading the halves in order (a Linear over 2C), as the
  released P-I3D head flattens its 7 time positions before its Dense layer, since the weighted
  sum over steps is the same whatever their order and three of the most confused pairs are time
  reversals of each other (wear / take off a shoe, pick up / drop). CS, one seed, 4.1 min of
  training: 0.514 top-1 (0.604 shipped), best validation 0.518 (0.506); the reversal pairs were
  confused as often as before (take off a shoe 0.26, wear 0.43, pick up 0.31, drop 0.57; shipped
  0.38 / 0.52 / 0.64 / 0.48): the steps' features at Mixed_3c do not carry the state a head would
  need to order. Not shipped.
* Regularisers against learning the training subjects (2026-12-07, CS, seed 0, one run each,
  not shipped): squeezed training clips as two-stream's and STN's recipes use (``train --model
  separable_sta --protocol cs --squeeze 0.3``, 4.6 min of training): 0.571 (0.604 / 0.575 on
  the shipped recipe's two seeds), best validation 0.506 as before. An exponential moving
  average of the weights (decay 0.998, validated and saved in place of the weights; a patch
  tried outside the code, not kept): 0.583, its validation smoother but no higher (0.500).
* ``class_code_weight`` (0 in both presets): the adversary of ``core_models.models.class_code``,
  linear readers that learn to name the class from the maps, the mask and both, their gradient
  reversed into the attention. Tried on CS (2026-12-06, ``train --model separable_sta --protocol
  cs --set class_code_weight=W``, one seed each, 5.3 and 6.2 min of training):

  ======  =====  ==============  ==============  =============  =====  =====
  W       top-1  uniform costs   other's costs   class: all     steps  where
  ======  =====  ==============  ==============  =============  =====  =====
  0       0.604  0.133           0.230           0.28 (0.22)    0.65   0.096
  0.3     0.549  0.078           0.153           0.216 (0.219)  0.73   0.077
  1.0     0.498  0.049           0.154           0.202 (0.219)  0.70   (not run)
  ======  =====  ==============  ==============  =============  =====  =====

  (class: all = the class named from the maps and mask together, the true attention's in
  brackets; steps: the mask's share on the truth interval, uniform 0.33; where: the maps' weight
  on the acting parts' cells, equal weights 0.059.) The adversary takes the class code down to
  the truth's (the maps alone 0.21 / 0.20 against the true maps' 0.23; the mask 0.10 / 0.15
  against 0.06) and the mask stays on the action's time, but the attention is then needed less:
  at 0.3 equal weights cost 0.078, under the 0.08 of "attention matters", and top-1 falls by
  0.055 (the two shipped seeds differ by 0.050); the maps stay on the acting parts more than
  equal weights but less than shipped (reading, writing, typing 0.16-0.19 against 0.31-0.33;
  drinking, eating, phoning 0.05-0.07 against 0.04-0.05). Not shipped: it trades a met row for
  one this model alone cannot meet (the row needs all three attention models, and temporal
  granularity's adversary run did not take its class code down).
* 96-pixel frames (tried once, 2026-12-06, ``train --model separable_sta --protocol cs --set
  frame_size=96``, 9.5 min of training): the trunk's Mixed_3c map grows to 12 x 12 cells, and
  validation rose higher than the shipped run's (best 0.589 against 0.506) but the test clips
  scored 0.597 (0.604 shipped; seeds 0.604 / 0.575). Whole-frame I3D gains 0.09 from the same
  change (its ``cpu`` preset reads 96 pixels since 9e07074); this model, whose maps already pick
  the cells to pool, does not. Not shipped.
* ``true_attention`` (empty in both presets; an experiment, 2026-12-07): ``["temporal"]`` pools
  each clip's steps with the ground truth (each step by its share of the truth interval) in
  training and test alike, so the test top-1 is what this model gets from a temporal mask that
  is exactly right. ``train --model separable_sta --protocol cs --set
  'true_attention=["temporal"]'`` (4.6 min of training): 0.646 top-1, best validation 0.661
  (the shipped run's 0.506); the recipe with its own mask scores 0.604 / 0.554 (seeds 0 / 1) and
  0.643 in a plain run of seed 0 the same day (best validation 0.536). The reversal pairs stay
  where they were (0.659 two-way; those plain runs 0.690 / 0.714). So a perfect mask is worth
  0.00-0.09 on the test clips, not the 0.25 the 0.85 target asks: what the maps pool and what the
  features carry set the ceiling, not when the mask looks. The shipped model's own figure is in
  its evaluation's ``truth:temporal`` (0.629, without training on it).
* ``pose_scores`` (off in both presets, as in the paper where pose only steers the attention):
  a linear classifier on the pose code adds its logits to the RGB logits
  (``core_models.models.pose_scores``); results with it are labelled "+ pose classifier".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import nn

from core_models import losses
from core_models.backbones.i3d import I3DConfig, i3d_trunk
from core_models.data.layouts import NTU25, SkeletonLayout
from core_models.models.class_code import AttentionAdversary
from core_models.models.inputs import clip_key, clip_spec, read_clip
from core_models.models.output import ModelOutput, attend_truth, check_true_kinds, reused, steer, steer_key
from core_models.models.pose_scores import PoseScores, fuse, stream_loss
from core_models.models.skeleton_lstm import PoseLSTM, SkeletonLSTMConfig

# ---------------------------------------------------------------------------------------------
# regularisers


def spatial_focus(spatial: torch.Tensor) -> torch.Tensor:
    """Penalty on (B, H', W') maps, or (B, T', H', W') one per step, that is low when each map is
    focused (1 uniform, 0 one-hot; the mean over maps)."""
    if spatial.dim() not in (3, 4):
        raise ValueError(f"spatial must be (B, H', W') or (B, T', H', W'), got {tuple(spatial.shape)}")
    return losses.normalized_entropy(spatial.flatten(-2).flatten(0, -2))  # (B*T', H'W')


def temporal_spread(temporal: torch.Tensor) -> torch.Tensor:
    """Penalty on a (B, T') vector that is low when it is spread over time (0 uniform, 1 one-hot)."""
    if temporal.dim() != 2:
        raise ValueError(f"temporal must be (B, T'), got {tuple(temporal.shape)}")
    if temporal.shape[-1] <= 1:
        return temporal.sum() * 0.0
    return 1.0 - losses.normalized_entropy(temporal)


# ---------------------------------------------------------------------------------------------
# blocks


TEMPORAL_QUERIES = ("pose", "motion", "motion_only")


def step_motion(skeleton: torch.Tensor, steps: int) -> torch.Tensor:
    """How fast each joint moves within each of ``steps`` equal stretches of the skeleton sequence,
    relative to the clip's mean: (B, Ts, M, J, 3) -> (B, steps, M*J). A stretch with no movement
    reads 0, one with the clip's mean movement 1, whatever the class or the camera distance."""
    speed = (skeleton[:, 1:] - skeleton[:, :-1]).norm(dim=-1).flatten(2)  # (B, Ts-1, M*J)
    ts = speed.shape[1]
    owner = torch.div(torch.arange(1, ts + 1, device=speed.device) * steps, ts + 1, rounding_mode="floor")
    onehot = torch.nn.functional.one_hot(owner, steps).to(speed.dtype)  # (Ts-1, steps)
    per_step = torch.einsum("bin,is->bsn", speed, onehot) / onehot.sum(0).clamp_min(1)[None, :, None]
    return per_step / per_step.mean(dim=1, keepdim=True).clamp_min(1e-6)


class PoseQueryAttention(nn.Module):
    """Additive attention of a pose code over a set of feature vectors.

    ``score_n = v . tanh(W_f x_n + W_h h)``, softmax over n. Input keys (B, N, C) and query (B, Hp);
    returns ``(weights (B, N), pooled (B, C))``.
    """

    def __init__(self, in_channels: int, query_dim: int, hidden: int):
        super().__init__()
        self.key = nn.Linear(in_channels, hidden)
        self.query = nn.Linear(query_dim, hidden, bias=False)
        self.score = nn.Linear(hidden, 1)
        self.attend = nn.Softmax(dim=-1)  # a named module, so a hook can capture the weights

    def forward(
        self, keys: torch.Tensor, query: torch.Tensor, *, read_keys: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``query`` (B, Hp) steers every key alike; (B, N, Hp) gives each key its own query.
        ``read_keys=False`` scores from the queries alone (the keys are only pooled)."""
        q = self.query(query) if query.dim() == 3 else self.query(query)[:, None]  # (B, N or 1, D)
        e = torch.tanh(self.key(keys) + q if read_keys else q)  # (B, N, D)
        weights = self.attend(self.score(e).squeeze(-1))  # (B, N)
        pooled = torch.einsum("bn,bnc->bc", weights, keys)  # (B, C)
        return weights, pooled


# ---------------------------------------------------------------------------------------------
# config and model


@dataclass(frozen=True)
class SeparableSTAConfig:
    """A preset of the separable spatio-temporal attention model.

    Attributes:
        num_classes: output classes.
        num_joints: joints of the skeleton layout.
        num_persons: persons per frame in the skeleton input.
        width: I3D channel multiplier.
        num_frames: RGB frames per clip.
        frame_size: side of the square frames.
        pose_hidden: width of the pose LSTM.
        pose_layers: stacked pose LSTM layers.
        timesteps: skeleton steps per clip.
        attention_hidden: width of the additive attention scores.
        dropout: before the classifier (and between pose LSTM layers).
        lambda_spatial: weight of :func:`spatial_focus`.
        lambda_temporal: weight of :func:`temporal_spread`.
        person_crop: read the person-centred full-body crop instead of the whole frame
            (``core_models.models.inputs``); the spatial map then lies on the crop.
        pose_scores: add a linear classifier on the pose code to the RGB logits
            (``core_models.models.pose_scores``; a departure from the paper, off in the presets).
        stream_weight: weight of each stream's own cross-entropy when ``pose_scores`` is on.
        feature_endpoint: the I3D endpoint whose map the attention pools.
        joint: per-step spatial maps and a temporal mask applied jointly (see the module
            docstring); False is the earlier variant that averaged the other axis away first.
        uniform_steps: share of training clips whose steps are pooled with equal weights instead
            of the temporal mask (drawn per clip; the mask and its regulariser are unchanged), so
            that equal weights are an input the head knows, not one it never saw (``joint`` only).
        spatial_query: what steers the spatial maps: ``"pose"`` the pose LSTM's code of the whole
            clip (the paper), ``"motion"`` each step's own :func:`step_motion` (``joint`` only).
        key_centre: the scores read each cell's feature minus the mean of its step's cells, and
            each attended step's feature minus the mean of the steps (the pooled values are
            unchanged), so a score says how a cell or step differs from the rest of the clip
            rather than what the clip looks like as a whole (``joint`` only; see the module
            docstring).
        temporal_query: what steers the temporal mask: ``"pose"`` the pose LSTM's code of the
            whole clip (the paper), ``"motion"`` each step's own query, how fast each joint
            moves in it relative to the clip (:func:`step_motion`), read with the step's
            attended feature, ``"motion_only"`` that query alone (``joint`` only; see the module
            docstring).
        class_code_weight: when above 0, an adversary tries to name the class from the spatial
            maps, the temporal mask and both together, and its gradient reaches them reversed and
            scaled by this weight (``core_models.models.class_code``; off in both presets).
        true_attention: kinds of attention replaced by the ground truth whenever the batch carries
            it (synthetic clips), in training and evaluation alike, of
            ``"temporal"``, with ``joint``;
            empty in both presets. An experiment that measures what this architecture scores when
            its attention is right, the ceiling of learning where to look (see the module
            docstring). The model's own weights for those kinds then learn nothing; a clip without
            a ground truth uses them.
    """

    # What a checkpoint saved before a field existed was trained as (``checkpoint.restore_config``).
    LEGACY: ClassVar[dict] = {
        "feature_endpoint": "Mixed_5c", "joint": False, "uniform_steps": 0.0, "key_centre": False,
        "temporal_query": "pose",
    }  # fmt: skip

    num_classes: int
    num_joints: int = 25
    num_persons: int = 2
    width: float = 1.0
    num_frames: int = 64
    frame_size: int = 224
    pose_hidden: int = 512
    pose_layers: int = 3
    timesteps: int = 20
    attention_hidden: int = 256
    dropout: float = 0.5
    lambda_spatial: float = 1e-2
    lambda_temporal: float = 1e-2
    person_crop: bool = True
    pose_scores: bool = False
    stream_weight: float = 0.5
    feature_endpoint: str = "Mixed_5c"
    joint: bool = True
    uniform_steps: float = 0.0
    key_centre: bool = False
    temporal_query: str = "pose"
    spatial_query: str = "pose"
    class_code_weight: float = 0.0
    true_attention: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(
            self, "true_attention", check_true_kinds(self.true_attention, ("temporal",), "separable_sta")
        )
        if self.true_attention and not self.joint:
            raise ValueError("true_attention needs joint=True")
        if self.temporal_query not in TEMPORAL_QUERIES:
            raise ValueError(f"temporal_query must be one of {TEMPORAL_QUERIES}, got {self.temporal_query!r}")
        if self.spatial_query not in ("pose", "motion"):
            raise ValueError(f"spatial_query must be 'pose' or 'motion', got {self.spatial_query!r}")
        if self.spatial_query == "motion" and not self.joint:
            raise ValueError("spatial_query='motion' needs joint=True (a map per step)")


PRESETS = {
    "paper": SeparableSTAConfig(num_classes=60),
    "cpu": SeparableSTAConfig(
        num_classes=60, width=0.25, num_frames=16, frame_size=64, pose_hidden=128, attention_hidden=64,
        dropout=0.3, feature_endpoint="Mixed_3c", uniform_steps=0.25,
    ),
}  # fmt: skip


class SeparableSTA(nn.Module):
    """I3D features pooled by pose-driven spatial maps and a pose-driven temporal mask, jointly."""

    attention_kinds = ("spatial", "temporal")
    steerable = ("spatial", "temporal")

    def __init__(self, config: SeparableSTAConfig):
        super().__init__()
        self.config = c = config
        # The head below classifies: the trunk drops I3D's own dropout and classifier.
        self.backbone = i3d_trunk(
            I3DConfig(width=c.width, input_frames=c.num_frames, input_size=c.frame_size), c.feature_endpoint
        )
        channels = self.backbone.feature_channels(c.feature_endpoint)
        self.pose = PoseLSTM(
            SkeletonLSTMConfig(
                num_classes=c.num_classes, num_joints=c.num_joints, num_persons=c.num_persons,
                hidden=c.pose_hidden, num_layers=c.pose_layers, dropout=c.dropout, timesteps=c.timesteps,
            )
        )  # fmt: skip
        spatial_dim = c.num_persons * c.num_joints if c.spatial_query == "motion" else c.pose_hidden
        self.spatial_attention = PoseQueryAttention(channels, spatial_dim, c.attention_hidden)
        motion = c.temporal_query != "pose"  # each step's query from its own joints' movement
        query_dim = c.num_persons * c.num_joints if motion else c.pose_hidden
        self.temporal_attention = PoseQueryAttention(channels, query_dim, c.attention_hidden)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear((1 if c.joint else 2) * channels, c.num_classes)
        self.pose_scores = PoseScores(c.pose_hidden, c.num_classes, c.dropout) if c.pose_scores else None
        if c.class_code_weight > 0:  # the readers' sizes: the feature map's
            t, h, w = self.backbone.feature_shape(c.num_frames, c.frame_size, c.feature_endpoint)
            sizes = {"spatial": (t if c.joint else 1) * h * w, "temporal": t}
            self.class_code = AttentionAdversary(sizes, c.num_classes, c.class_code_weight)
        self.inputs = (clip_key(c.person_crop), "skeleton")
        self.input_spec = clip_spec(
            c.num_frames, c.frame_size, c.person_crop, skeleton_frames=c.timesteps,
            num_persons=c.num_persons, cache_frames=max(64, c.num_frames),
        )  # fmt: skip

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        rgb = read_clip(batch, self.config.person_crop)
        feat = reused(
            batch,
            "feature_map",
            lambda: self.backbone.forward_features(rgb, until=self.config.feature_endpoint),
        )  # (B, C, T', H', W')
        _, code = self.pose(batch["skeleton"])  # (B, Hp)
        if self.config.joint:
            spatial, temporal, rgb_feat = self._joint(feat, code, batch)
        else:
            spatial, temporal, rgb_feat = self._separate(feat, code, batch)
        rgb_logits = self.head(self.drop(rgb_feat))  # (B, K)
        logits, aux = fuse(rgb_logits, self.pose_scores(code) if self.pose_scores is not None else None)
        return ModelOutput(
            logits=logits,
            attention={"spatial": spatial, "temporal": temporal},
            aux=aux,
            features=rgb_feat if self.pose_scores is None else torch.cat([rgb_feat, code], dim=1),
            reusable={} if self.training else {"feature_map": feat},
        )

    def _joint(self, feat: torch.Tensor, code: torch.Tensor, batch: dict):
        """Per-step spatial maps, then a temporal mask on the attended steps; their product pools."""
        b, c, t, h, w = feat.shape
        cells = feat.flatten(3).permute(0, 2, 3, 1)  # (B, T', H'W', C)
        if self.config.spatial_query == "motion":  # each step's map asked by how its joints move
            query = step_motion(batch["skeleton"], t).reshape(b * t, -1)  # (B*T', M*J)
        else:
            query = code[:, None].expand(b, t, code.shape[-1]).reshape(b * t, -1)  # (B*T', Hp)
        centre = self.config.key_centre
        keys = cells - cells.mean(dim=2, keepdim=True) if centre else cells
        spatial, _ = self.spatial_attention(keys.reshape(b * t, h * w, c), query)  # (B*T', H'W')
        spatial = steer(batch, "spatial", spatial.view(b, t, h, w))  # (B, T', H', W')
        steps = torch.einsum("btn,btnc->btc", spatial.flatten(2), cells)  # (B, T', C)
        step_keys = steps - steps.mean(dim=1, keepdim=True) if centre else steps
        if self.config.temporal_query == "pose":
            temporal, _ = self.temporal_attention(step_keys, code)  # (B, T')
        else:  # the query of step t: how the joints move in it (B, T', M*J)
            query = step_motion(batch["skeleton"], t)
            temporal, _ = self.temporal_attention(
                step_keys, query, read_keys=self.config.temporal_query == "motion"
            )
        temporal = steer(
            batch, "temporal", attend_truth(batch, "temporal", temporal, self.config.true_attention)
        )
        weights = temporal
        if self.training and self.config.uniform_steps > 0:
            flat = torch.rand(b, 1, device=feat.device) < self.config.uniform_steps  # (B, 1)
            weights = torch.where(flat, torch.full_like(temporal, 1.0 / t), temporal)
        pooled = torch.einsum("bt,btc->bc", weights, steps)  # (B, C)
        return spatial, temporal, pooled

    def _separate(self, feat: torch.Tensor, code: torch.Tensor, batch: dict):
        """The earlier variant: each mask on the map averaged over the other axis."""
        b, _, _, h, w = feat.shape
        cells = feat.mean(dim=2).flatten(2).transpose(1, 2)  # (B, H'W', C)
        steps = feat.mean(dim=(3, 4)).transpose(1, 2)  # (B, T', C)
        spatial, f_s = self.spatial_attention(cells, code)  # (B, H'W'), (B, C)
        temporal, f_t = self.temporal_attention(steps, code)  # (B, T'), (B, C)
        if steer_key("spatial") in batch or steer_key("temporal") in batch:  # an intervention
            spatial = steer(batch, "spatial", spatial.view(b, h, w)).flatten(1)
            temporal = steer(batch, "temporal", temporal)
            f_s = torch.einsum("bn,bnc->bc", spatial, cells)
            f_t = torch.einsum("bt,btc->bc", temporal, steps)
        return spatial.view(b, h, w), temporal, torch.cat([f_s, f_t], dim=1)  # (B, 2C)

    def loss(self, out: ModelOutput, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        ce = losses.classification(out.logits, batch["label"])
        focus = spatial_focus(out.attention["spatial"])
        spread = temporal_spread(out.attention["temporal"])
        total = ce + c.lambda_spatial * focus + c.lambda_temporal * spread
        streams, stream_terms = stream_loss(out.aux, batch["label"], c.stream_weight)
        if streams is not None:
            total = total + streams
        terms = {"ce": float(ce.detach()), "spatial_focus": float(focus.detach()), **stream_terms}
        terms["temporal_spread"] = float(spread.detach())
        if c.class_code_weight > 0:
            adversary = self.class_code(
                {n: out.attention[n] for n in ("spatial", "temporal")}, batch["label"]
            )
            total = total + adversary
            terms["class_code"] = float(adversary.detach())
        return total, terms


def separable_sta(preset: str = "cpu", *, num_classes: int, layout: SkeletonLayout = NTU25) -> SeparableSTA:
    """Separable STA (``paper``: I3D 64 x 224^2, LSTM 3 x 512; ``cpu``: width 0.25, 16 x 64^2 read at
    Mixed_3c (8 steps x 8 x 8 cells), LSTM 3 x 128, a quarter of the training clips pooled with
    equal step weights)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return SeparableSTA(replace(PRESETS[preset], num_classes=num_classes, num_joints=layout.num_joints))
