"""Glimpse Clouds: human activity recognition from unstructured feature points (Baradel et al.).

Paper: F. Baradel, C. Wolf, J. Mille, G. W. Taylor, "Glimpse Clouds: Human Activity Recognition
from Unstructured Feature Points", CVPR 2018. The network sees RGB only at test time. Per frame a
recurrent location network places N glimpses on the inflated-ResNet feature map; the glimpse
features are a cloud of points without order or track, which C recurrent workers share out
among themselves through a soft assignment driven by a memory of earlier glimpses. The pose is
used only during training: an auxiliary 2D pose regression shapes the backbone and a loss pulls
the glimpses onto the joints.

What is implemented (D = features of layer4, C3 = of layer3; T' = T, the backbone keeps time)::

    rgb (B, 3, T, S, S) --ResNet3D, 2D stem--> layer3 (B, C3, T, H3, W3) --> layer4 F (B, D, T, H', W')
        global model:   mean over (T, H', W') of F -> linear          -> aux["global_logits"] (B, K)
        frame context:  c_t = mean over (H3, W3) of layer3             (B, T, C3)
        pose head:      tanh(linear(c_t))                              -> aux["pose"] (B, T, M, J, 2)

    for t = 1..T', for g = 1..N   (location network / "zoomer", GRU state h):
        l = W_l [c_t ; h]                       x, y = tanh(l_xy)   sx, sy = sigmoid(l_s + 3)
        Z = grid_sample(F_t, affine_grid([[sx, 0, x], [0, sy, y]]))   (B, D, G, G)
        v_tg = mean_gG(Z) * MLP_where(x, y, sx, sy)                   (B, D)
        h = GRU_zoom([v_tg ; sum_c r_c], h)
    workers c = 1..C (each a GRU with its own state r_c and its own classifier):
        k_tg = W_m LayerNorm(v_tg)                 (the learned distance, see below)
        s_tcg = sum_{t'<t} w_t' sum_n p_t'cn exp(-|k_tg - k_t'n|^2 / d_m) / sum_{t'<t} w_t'
                with w_t' = exp(-(t - t') / tau)   (t = 1: s_1cg = a learned vector per worker)
        p_tc = softmax over g of (s_tcg / temperature)                -> "assignment" (B, T', C, N)
        r_c = GRU_c(sum_g p_tcg v_tg, r_c);  logits_tc = W_c r_c
    logits = mean over (T', C) of logits_tc                           (B, K)

Attention returned: ``glimpses`` (B, T', N, 4) = centre x, y in (-1, 1) and scales sx, sy in
(0, 1) in the grid-sample frame ([-1, 1] corners, x right, y down, the frame of
``joints2d``); ``assignment`` (B, T', C, N), each worker's distribution over the glimpses of a
frame, summing to 1 over N (the released code's softmax over glimpses, and what
``output.check_output`` validates).

Loss (weights are config fields; 0 switches a term off)::

    L = CE(logits) + lambda_global CE(global_logits) + lambda_pose L_pose
        + lambda_attraction L_attract + lambda_diversity L_diverse

* ``L_pose`` (:func:`pose_regression`): squared error between the predicted and the given 2D
  joints (already in [-1, 1], ``ClipDataset`` maps them), averaged over the coordinates that
  are not NaN; with two persons the better of the two person orders is taken per clip, as in
  the released code.
* ``L_attract`` (:func:`glimpse_attraction`): for every glimpse the squared distance from its
  centre to the nearest visible joint of its frame (released code's direction), mean over
  glimpses and over frames that have a joint.
* ``L_diverse`` (:func:`glimpse_diversity`): ``1 / (1 + mean squared distance between the
  centres of the glimpses of a frame)``, mean over frames (1 when they coincide).
* The pose and attraction terms need ``batch["joints2d"]``; without it they are skipped (absent
  from the returned terms). The pose head then still sits in the graph with weight 0, so every
  trainable parameter receives a (zero) gradient, as DDP without ``find_unused_parameters``
  requires.

Staged training (``stages``, :meth:`GlimpseClouds.set_stage`):

* ``"all"`` (the default): everything trains on the whole loss above.
* ``"backbone"`` (the published stage 1): backbone, global head and pose head train on
  ``CE(global_logits) + lambda_pose L_pose``; ``logits`` is the global model's, and the glimpse
  machinery runs without gradient only to fill the attention outputs.
* ``"glimpses"`` (stage 2): the backbone and its heads are frozen and run without gradient; the
  location network, the memory and the workers train on ``CE + L_attract + L_diverse``.
  The frozen backbone is also kept in eval mode (``train()`` is overridden and ``set_stage``
  applies it at once), so its BatchNorm layers use and keep their stage-1 running statistics
  instead of batch statistics; ``requires_grad=False`` alone, as in the released code, leaves
  them drifting with every training batch under the heads that read the features.

Departures and choices, with reasons (facts from ``shared/reference/seed-systems.md`` §4):

* Distance: **learned**, as in the paper (``phi(x, y) = sqrt((x - y)^T D (x - y))`` with D a
  learned matrix), here with D = W_m^T W_m of rank ``memory_dim`` (positive semi-definite by
  construction and 2048 x 128 weights instead of 2048^2), on layer-normalised glimpse features,
  and the similarity ``exp(-phi^2 / d_m)`` in (0, 1]. The released code instead fixes a
  Mahalanobis inverse covariance estimated with numpy from the first training batch and min-max
  normalises the distances over the batch: that makes a prediction depend on the other clips of
  its batch and on which batch came first, and cannot adapt when the features change (stage
  "all"); the learned form trains end to end and keeps evaluation batch-independent.
* Memory weighting: recency decay ``exp(-(t - t')/tau)`` (tau = 4, the released constant)
  normalised by its sum, so the score scale does not grow with t; the released code weights
  by ``exp(-t'/4)`` of the absolute time and the poster's formula is ambiguous.
* Workers: each worker keeps its own GRU state. The released code feeds every worker the first
  worker's hidden state (``list_r[0]``), which the paper does not describe.
* Logits: mean over all T' x C worker outputs, as released. Pose and glimpse losses are means
  over frames and glimpses (the released code sums over t and glimpses), so their weights do not
  depend on T or N.
* ``MLP_where`` reads the squashed glimpse (x, y, sx, sy) that was sampled, not the raw
  location-network output. The global model's classifier is the backbone's own ``fc``; in stage
  "all" its cross-entropy is kept as an auxiliary term so it stays a usable stage-1 model.
* In stage "glimpses" the pose term is off: with the backbone frozen it could only train the
  pose head, which nothing downstream reads (the released code kept it on).
* Size-agnostic (the released code assumes 224^2 and T = 8): every step works at any H' x W'
  (the paper preset's 224^2 gives 7 x 7) and any T >= 1 (the memory needs T >= 2 to be used).
* Room to land on the person (``cpu`` preset): frames of 128^2, so layer4 is 4 x 4 (at 64^2 it
  was 2 x 2, where 3 glimpses could only re-weight four cells that each read a quarter of the
  frame), and ``scale_bias`` -1, so a glimpse starts at about a quarter of the frame's side
  (sigmoid(-1) = 0.27) rather than the whole frame (sigmoid(3) = 0.95, which the paper preset
  keeps): a glimpse of the whole frame is on the person and beside it at once. ``evaluate``
  reports the share of glimpse area on the person's box from the 2D joints
  (``attention_scores.glimpse_person_scores``) next to the box's share of the frame.
* The balance of the glimpse terms: the released code weights attraction and diversity 1 : 1
  but sums the attraction over the 3 glimpses of a frame, so per glimpse it pulls 3 times as
  hard as here, where it is a mean; ``lambda_diversity`` is 1/3 by default (the ``paper``
  preset) to keep the released balance. Until this change both weights were 1, and the
  diversity term won: the shipped checkpoints of 1c4300a spread their glimpses over the frame,
  0.10 of the glimpse area on the person's box (0.23 for glimpses spread evenly, 0.57 for the
  best placement), their centres 1.3 apart on average in a frame 2 wide. From the same CS
  backbone stage (``train --model glimpse_clouds --protocol cs --stage glimpses --init`` that
  run's weights ``--set lambda_diversity=...``, one seed each, 1.5 min each): 1/3 puts 0.36 on
  the person (best 0.64), 0.2 puts 0.62 (best 0.90), 0.1 puts 0.69 (best 0.74), 0 puts 0.66
  (best 0.69), at 0.245, 0.247, 0.243 and 0.243 top-1 (0.250 shipped); where they land still
  does not change top-1 (uniform glimpses: 0.260, 0.243, 0.245, 0.240). The diversity term
  (1 when a frame's glimpses coincide) ends training at 0.48, 0.56 and 0.89: at 0.1 the three
  glimpses nearly fall on one spot. On the synthetic whole frames the person fills
  about a quarter of the frame (NTU's subjects fill more of theirs), so the ``cpu`` preset takes
  0.2: its glimpses stay apart and land on the person.
* The paper's two-stage schedule (backbone with the pose regression first, then the glimpses
  and workers on the frozen backbone) is what ``reproduce`` runs (``--stage backbone``, then
  ``--stage glimpses --init`` the first run's weights).
* The glimpse stage's learning rate (``train.STAGE_RECIPES``, ``cpu``): 1e-3, where the backbone
  stage trains at 3e-4; the location network, memory and workers start from scratch. From one
  stage-1 run (52655cf, CS; its global head 0.184 test top-1): at 3e-4 the glimpse stage ended at
  0.134 (best validation 0.17; run to its whole budget without patience, the same 0.134), at 1e-3
  at 0.156 (best validation 0.23), one seed each. Either way the workers stay near the global
  head they read from (the shipped 900-step runs: CS 0.179 against 0.184, CV 0.157 against
  0.154), and uniform glimpses cost them little (0.163 at 1e-3 with 600 steps; 0.014 and 0.011
  for the shipped runs): on the ``cpu`` preset's 4 x 4 layer4 map where a glimpse lands hardly
  matters yet. Cross-view at 1e-3: 0.188 (0.157 at 3e-4), but validation still rose at a
  600-step budget, so that run is not shipped; with 900 steps the same stage stopped on patience
  at 0.157, and CS at 0.179 (best validation 0.23, 12 epochs): the glimpse stage is noisy. So
  the glimpse stage's budget is 900 steps (the backbone stage keeps 600), which lets patience end
  it on both protocols; those rows were ``reproduce``'s at 36354dc (CS 0.179, CV 0.157).
* The backbone stage's budget (``train.RECIPES``, ``cpu``): 1,200 steps since 1c4300a, 600
  before. At 600 steps the stage-1 validation was still rising (CS 0.19; CV 0.21, 0.24, 0.25,
  0.21 over its last four epochs), which the convergence target could not see: it reads the
  shipped history, the glimpse stage's. Given 1,500 steps (``train --model glimpse_clouds
  --protocol cs --stage backbone --steps 1500 --patience 6`` at 57d10ce, one seed, stopped by
  hand after 24 of its 26 epochs) the CS validation rose to 0.24 by step 570, 0.35 by 850 and stayed at
  0.38-0.40 from 1,100; 1,200 keeps the whole ``reproduce`` inside its time. ``reproduce`` at
  1c4300a: CS stage 1 stops on patience after 1,140 steps (best validation 0.33 at epoch 15;
  global head 0.265 on the test clips, 0.184 before), the glimpse stage after 10 epochs (best
  0.35); the workers score 0.250 (0.179 before), in 9.7 min of training over both stages. CV:
  stage 1 runs its 1,200 steps (best validation 0.35 at epoch 18 of 20), global head 0.212
  (0.154), workers 0.234 (0.157), 11.5 min. Where the glimpses land still does not matter:
  uniform glimpses give 0.255 CS / 0.238 CV, another class's 0.255 / 0.243, and 0.10 / 0.17 of
  the glimpse area is on the person (0.23 / 0.25 spread evenly, 0.57 / 0.67 the best placement).
  With the glimpse terms' balance of c08f004 (above; ``reproduce`` at c08f004, the same backbone
  stage to the last weight): CS 0.247, CV 0.223, 0.62 / 0.46 of the glimpse area on the person
  (0.23 / 0.25 evenly, 0.90 / 0.64 best), 10.1 / 12.3 min of training; uniform glimpses still
  give 0.243 / 0.248: the glimpses are on the person now, but not yet needed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch alias)
from torch import nn

from core_models import losses
from core_models.backbones.resnet3d import ResNet3D, ResNet3DConfig
from core_models.data.datasets import InputSpec
from core_models.data.layouts import NTU25, SkeletonLayout
from core_models.models.inputs import read_clip
from core_models.models.output import REUSE_PREFIX, ModelOutput, steer_key

# ---------------------------------------------------------------------------------------------
# glimpse sampling and the glimpse / pose losses


def sample_glimpse(fmap: torch.Tensor, glimpse: torch.Tensor, size: int) -> torch.Tensor:
    """Cut a glimpse out of a feature map with a differentiable affine grid (a spatial transformer).

    Args:
        fmap: (B, D, H, W) feature map of one frame.
        glimpse: (B, 4) centre x, y in [-1, 1] and scales sx, sy: the glimpse spans a
            fraction sx of the map's width and sy of its height.
        size: side G of the sampled grid.

    Returns:
        (B, D, G, G) bilinear samples; outside the map they are 0.
    """
    x, y, sx, sy = glimpse.unbind(-1)
    zero = torch.zeros_like(x)
    theta = torch.stack([torch.stack([sx, zero, x], -1), torch.stack([zero, sy, y], -1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, [fmap.shape[0], fmap.shape[1], size, size], align_corners=False)
    return F.grid_sample(fmap, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def pose_regression(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Masked squared error of 2D poses, the better person order per clip when M = 2.

    Args:
        pred: (B, T, M, J, 2) predicted joints in [-1, 1].
        target: (B, T, M, J, 2) joints in [-1, 1], NaN where missing.

    Returns:
        Mean squared error over the given coordinates of the clips that have any (0 if none).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pose prediction {tuple(pred.shape)} and joints2d {tuple(target.shape)} differ")
    valid = torch.isfinite(target).all(dim=-1, keepdim=True)  # (B, T, M, J, 1)
    goal = torch.where(valid, target, torch.zeros_like(target))  # NaN * 0 would stay NaN
    count = valid.flatten(1).sum(dim=1) * 2  # (B,) coordinates per clip

    def clip_error(p: torch.Tensor) -> torch.Tensor:
        return (((p - goal) ** 2) * valid).flatten(1).sum(dim=1)  # (B,)

    err = clip_error(pred)
    if pred.shape[2] == 2:
        err = torch.minimum(err, clip_error(pred.flip(2)))
    has = count > 0
    if not has.any():
        return pred.sum() * 0.0
    return (err[has] / count[has]).mean()


def glimpse_attraction(glimpses: torch.Tensor, joints2d: torch.Tensor) -> torch.Tensor:
    """Squared distance of every glimpse centre to the nearest visible joint of its frame.

    Args:
        glimpses: (B, T, N, 4) glimpses (centre x, y first).
        joints2d: (B, T, M, J, 2) joints in [-1, 1], NaN where missing.

    Returns:
        Mean over glimpses and over the frames that have at least one joint (0 if none).
    """
    B, T = glimpses.shape[:2]
    if joints2d.shape[:2] != (B, T):
        raise ValueError(f"joints2d must be (B, T', M, J, 2) = ({B}, {T}, ...), got {tuple(joints2d.shape)}")
    joints = joints2d.reshape(B, T, -1, 2)  # (B, T, MJ, 2)
    valid = torch.isfinite(joints).all(dim=-1)  # (B, T, MJ)
    joints = torch.where(valid[..., None], joints, torch.zeros_like(joints))
    centres = glimpses[..., :2]  # (B, T, N, 2)
    d2 = ((centres[:, :, :, None] - joints[:, :, None]) ** 2).sum(dim=-1)  # (B, T, N, MJ)
    d2 = d2.masked_fill(~valid[:, :, None], float("inf"))
    nearest = d2.min(dim=-1).values.mean(dim=-1)  # (B, T)
    has = valid.any(dim=-1)  # (B, T)
    if not has.any():
        return glimpses.sum() * 0.0
    return nearest[has].mean()


def glimpse_diversity(glimpses: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + mean squared distance between the glimpse centres of a frame)``, mean over frames.

    1 when all glimpses of every frame coincide, towards 0 as they spread; 0 for a single glimpse.
    """
    if glimpses.dim() != 4:
        raise ValueError(f"glimpses must be (B, T, N, 4), got {tuple(glimpses.shape)}")
    N = glimpses.shape[2]
    if N < 2:
        return glimpses.sum() * 0.0
    centres = glimpses[..., :2]  # (B, T, N, 2)
    d2 = ((centres[:, :, :, None] - centres[:, :, None]) ** 2).sum(dim=-1)  # (B, T, N, N)
    mean_d2 = d2.sum(dim=(-2, -1)) / (N * (N - 1))  # (B, T), the diagonal is 0
    return (1.0 / (1.0 + mean_d2)).mean()


# ---------------------------------------------------------------------------------------------
# config and model


@dataclass(frozen=True)
class GlimpseCloudsConfig:
    """A preset of Glimpse Clouds.

    Attributes:
        num_classes: output classes.
        num_joints: joints of the skeleton layout (pose head and attraction targets).
        num_persons: persons in ``joints2d`` and in the pose head's output.
        width: ResNet channel multiplier (1.0 is ResNet-50: D = 2048, C3 = 1024).
        layers: bottlenecks per ResNet stage.
        num_frames: RGB frames per clip (T' = T).
        frame_size: side of the square frames.
        num_glimpses: N glimpses per frame.
        num_workers: C recurrent workers.
        glimpse_size: side of the grid sampled per glimpse (the paper's 7 x 7).
        hidden: GRU width of the location network and of each worker.
        where_hidden: hidden width of the MLP embedding the glimpse location.
        memory_dim: rank of the learned distance (rows of W_m).
        temperature: softmax temperature of the assignment.
        memory_decay: tau of the recency decay of the memory.
        scale_bias: added before the sigmoid of the scales (3: glimpses start near full size).
        lambda_global: weight of the global model's cross-entropy in stage "all".
        lambda_pose: weight of :func:`pose_regression`.
        lambda_attraction: weight of :func:`glimpse_attraction`.
        lambda_diversity: weight of :func:`glimpse_diversity` (1/3 by default: the released
            code sums the attraction over its 3 glimpses, this one averages it; see the module
            docstring for the ``cpu`` preset's 0.2).
    """

    num_classes: int
    num_joints: int = 25
    num_persons: int = 2
    width: float = 1.0
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    num_frames: int = 8
    frame_size: int = 224
    num_glimpses: int = 3
    num_workers: int = 3
    glimpse_size: int = 7
    hidden: int = 512
    where_hidden: int = 256
    memory_dim: int = 128
    temperature: float = 0.5
    memory_decay: float = 4.0
    scale_bias: float = 3.0
    lambda_global: float = 1.0
    lambda_pose: float = 0.1
    lambda_attraction: float = 1.0
    lambda_diversity: float = 1.0 / 3.0


PRESETS = {
    "paper": GlimpseCloudsConfig(num_classes=60),
    "cpu": GlimpseCloudsConfig(
        num_classes=60, width=0.125, frame_size=128, glimpse_size=3, hidden=64, where_hidden=32,
        memory_dim=32, scale_bias=-1.0, lambda_diversity=0.2,
    ),
}  # fmt: skip

# loss terms each stage optimises
STAGE_TERMS = {
    "all": ("ce", "global_ce", "pose", "attraction", "diversity"),
    "backbone": ("ce", "pose"),
    "glimpses": ("ce", "attraction", "diversity"),
}
_BACKBONE_SIDE = ("backbone.", "pose_head.")  # parameter prefixes trained in stage "backbone"


class GlimpseClouds(nn.Module):
    """Glimpses placed by a recurrent location network, shared out among recurrent workers."""

    inputs = ("rgb",)
    attention_kinds = ("glimpses", "assignment")
    steerable = ("glimpses",)
    stages: tuple[str, ...] = ("all", "backbone", "glimpses")
    # Stages whose model answers with other logits than the whole model's: a checkpoint trained in
    # one of them is rebuilt in it (``checkpoint.build_from_checkpoint``), so a stage-1 run's test
    # evaluation scores the global model it trained, not the untrained workers.
    evaluated_stages: tuple[str, ...] = ("backbone",)

    def __init__(self, config: GlimpseCloudsConfig):
        super().__init__()
        self.config = c = config
        self.backbone = ResNet3D(
            ResNet3DConfig(
                num_classes=c.num_classes, layers=c.layers, width=c.width, stem="2d",
                input_frames=c.num_frames, input_size=c.frame_size,
            )
        )  # fmt: skip
        D, C3, H = self.backbone.num_features, self.backbone.feature_channels("layer3"), c.hidden
        self.pose_head = nn.Linear(C3, c.num_persons * c.num_joints * 2)
        self.locator = nn.Linear(C3 + H, 4)
        self.where = nn.Sequential(
            nn.Linear(4, c.where_hidden), nn.ReLU(inplace=True), nn.Linear(c.where_hidden, D)
        )
        self.zoomer = nn.GRUCell(D + H, H)
        self.memory_norm = nn.LayerNorm(D)
        self.memory_key = nn.Linear(D, c.memory_dim, bias=False)
        self.first_assignment = nn.Parameter(torch.randn(c.num_workers, c.num_glimpses).abs())
        self.workers = nn.ModuleList(nn.GRUCell(D, H) for _ in range(c.num_workers))
        self.worker_heads = nn.ModuleList(nn.Linear(H, c.num_classes) for _ in range(c.num_workers))
        self.attend = nn.Softmax(dim=-1)  # a named module, so a hook can capture the assignment
        self.input_spec = InputSpec(
            num_frames=c.num_frames, frame_size=c.frame_size, skeleton_frames=0,
            num_persons=c.num_persons, cache_frames=max(64, c.num_frames),
        )  # fmt: skip
        self.set_stage("all")

    # -- stages -----------------------------------------------------------------------------
    def set_stage(self, name: str) -> None:
        """Choose what trains: ``"all"``, ``"backbone"`` (stage 1) or ``"glimpses"`` (stage 2).

        Sets ``requires_grad`` of every parameter and the loss terms :meth:`loss` computes
        (``active_terms``); in ``"glimpses"`` the frozen backbone is put in eval mode.
        """
        if name not in self.stages:
            raise ValueError(f"unknown stage {name!r}; choose one of {self.stages}")
        self.stage = name
        self.active_terms = STAGE_TERMS[name]
        for pname, p in self.named_parameters():
            backbone_side = pname.startswith(_BACKBONE_SIDE)
            p.requires_grad_(name == "all" or (name == "backbone") == backbone_side)
        self.train(self.training)

    def train(self, mode: bool = True) -> GlimpseClouds:
        """``nn.Module.train``, except that a backbone frozen by stage ``"glimpses"`` stays in eval."""
        super().train(mode)
        if mode and getattr(self, "stage", "all") == "glimpses":
            self.backbone.eval()
        return self

    # -- forward ----------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        rgb = read_clip(batch, person_crop=False)  # (B, 3, T, S, S), shape checked
        c = self.config
        frozen_backbone = torch.no_grad() if self.stage == "glimpses" else contextlib.nullcontext()
        trunk = ("fmap", "global_logits", "context", "pose")  # what no glimpse changes
        if all(REUSE_PREFIX + k in batch for k in trunk):  # a pass before this one left them
            fmap, global_logits, context, pose = (batch[REUSE_PREFIX + k] for k in trunk)
        else:
            with frozen_backbone:
                f3 = self.backbone.forward_features(rgb, until="layer3")  # (B, C3, T, H3, W3)
                fmap = self.backbone.layer4(f3)  # (B, D, T, H', W')
                global_logits = self.backbone.forward_head(fmap)  # (B, K)
                context = f3.mean(dim=(3, 4)).transpose(1, 2)  # (B, T, C3)
                B, T = context.shape[:2]
                pose = torch.tanh(self.pose_head(context)).view(B, T, c.num_persons, c.num_joints, 2)
        frozen_glimpses = torch.no_grad() if self.stage == "backbone" else contextlib.nullcontext()
        with frozen_glimpses:
            forced = batch.get(steer_key("glimpses"))  # an intervention: (B, T, N, 4)
            glimpses, assignment, worker_logits, states = self._glimpse_clouds(fmap, context, forced)
        logits = global_logits if self.stage == "backbone" else worker_logits.mean(dim=(1, 2))
        kept = dict(zip(trunk, (fmap, global_logits, context, pose), strict=True))
        # the workers' states over time, side by side (B, C*H); the pooled map in the backbone stage
        features = fmap.mean(dim=(2, 3, 4)) if self.stage == "backbone" else states.mean(dim=1).flatten(1)
        return ModelOutput(
            logits=logits,
            features=features,
            attention={"glimpses": glimpses, "assignment": assignment},
            aux={
                "pose": pose, "global_logits": global_logits, "worker_logits": worker_logits,
                "worker_states": states,
            },
            reusable={} if self.training else kept,
        )  # fmt: skip

    def _glimpse_clouds(self, fmap: torch.Tensor, context: torch.Tensor, forced: torch.Tensor | None = None):
        """The recurrent part: (B, D, T, H', W') map and (B, T, C3) context -> glimpses, workers.

        ``forced`` (B, T, N, 4) replaces the places the location network chooses (interventions).
        """
        c = self.config
        B, T = context.shape[:2]
        N, C = c.num_glimpses, c.num_workers
        if forced is not None and tuple(forced.shape) != (B, T, N, 4):
            raise ValueError(f"the glimpses override must be {(B, T, N, 4)}, got {tuple(forced.shape)}")
        h = context.new_zeros(B, c.hidden)  # location-network state
        r = [context.new_zeros(B, c.hidden) for _ in range(C)]  # one state per worker
        keys, past = [], []  # memory: (B, N, d_m) keys and (B, C, N) assignments
        glimpse_t, assign_t, logits_t, states_t = [], [], [], []
        for t in range(T):
            frame = fmap[:, :, t]  # (B, D, H', W')
            feats, places = [], []
            for n in range(N):
                loc = self.locator(torch.cat([context[:, t], h], dim=1))  # (B, 4)
                place = torch.cat([torch.tanh(loc[:, :2]), torch.sigmoid(loc[:, 2:] + c.scale_bias)], 1)
                if forced is not None:
                    place = forced[:, t, n].to(place.dtype)
                z = sample_glimpse(frame, place, c.glimpse_size).mean(dim=(2, 3))  # (B, D)
                v = z * self.where(place)  # (B, D)
                h = self.zoomer(torch.cat([v, torch.stack(r).sum(0)], dim=1), h)
                feats.append(v)
                places.append(place)
            V = torch.stack(feats, 1)  # (B, N, D)
            key = self.memory_key(self.memory_norm(V))  # (B, N, d_m)
            if t == 0:
                score = self.first_assignment.expand(B, C, N)  # (B, C, N)
            else:
                mem = torch.cat(keys, 1)  # (B, t*N, d_m)
                d2 = (key[:, :, None] - mem[:, None]).pow(2).sum(dim=-1)  # (B, N, t*N), no sqrt at 0
                sim = torch.exp(-d2 / c.memory_dim)
                w = torch.exp(-(t - torch.arange(t, device=key.device, dtype=key.dtype)) / c.memory_decay)
                prev = torch.cat([p * wt for p, wt in zip(past, w)], 2)  # (B, C, t*N) decayed p
                score = torch.einsum("bcm,bnm->bcn", prev, sim) / w.sum()  # (B, C, N)
            p = self.attend(score / c.temperature)  # (B, C, N), sums to 1 over N
            inputs = torch.einsum("bcn,bnd->bcd", p, V)  # (B, C, D)
            r = [worker(inputs[:, i], r[i]) for i, worker in enumerate(self.workers)]
            keys.append(key)
            past.append(p)
            glimpse_t.append(torch.stack(places, 1))  # (B, N, 4)
            assign_t.append(p)
            logits_t.append(torch.stack([head(r[i]) for i, head in enumerate(self.worker_heads)], 1))
            states_t.append(torch.stack(r, 1))  # (B, C, H)
        return (
            torch.stack(glimpse_t, 1),  # (B, T, N, 4)
            torch.stack(assign_t, 1),  # (B, T, C, N)
            torch.stack(logits_t, 1),  # (B, T, C, K)
            torch.stack(states_t, 1),  # (B, T, C, H)
        )

    # -- loss -------------------------------------------------------------------------------
    def loss(self, out: ModelOutput, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The terms of the current stage (see the module docstring); pose terms need ``joints2d``."""
        c, active = self.config, self.active_terms
        ce = losses.classification(out.logits, batch["label"])
        total, terms = ce, {"ce": float(ce.detach())}
        weights = {
            "global_ce": c.lambda_global, "pose": c.lambda_pose,
            "attraction": c.lambda_attraction, "diversity": c.lambda_diversity,
        }  # fmt: skip
        joints = batch.get("joints2d")
        pose = out.aux["pose"]
        if joints is not None:
            joints = joints.to(pose.dtype)
        used = set()
        for name in active[1:]:
            if weights[name] == 0 or (joints is None and name in ("pose", "attraction")):
                continue
            if name == "global_ce":
                value = losses.classification(out.aux["global_logits"], batch["label"])
            elif name == "pose":
                value = pose_regression(pose, joints)
            elif name == "attraction":
                value = glimpse_attraction(out.attention["glimpses"], joints)
            else:
                value = glimpse_diversity(out.attention["glimpses"])
            total = total + weights[name] * value
            terms[name] = float(value.detach())
            used.add(name)
        # Heads left out this step get a zero gradient, so every trainable parameter has one.
        for name, key in (("pose", "pose"), ("global_ce", "global_logits")):
            if name not in used and out.aux[key].requires_grad:
                total = total + 0.0 * out.aux[key].sum()
        return total, terms


def glimpse_clouds(preset: str = "cpu", *, num_classes: int, layout: SkeletonLayout = NTU25) -> GlimpseClouds:
    """Glimpse Clouds (``paper``: ResNet-50, 8 x 224^2, N = C = 3, GRU 512; ``cpu``: width 1/8, 8 x 128^2)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return GlimpseClouds(replace(PRESETS[preset], num_classes=num_classes, num_joints=layout.num_joints))
