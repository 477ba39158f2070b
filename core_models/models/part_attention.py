"""P-I3D: pose-driven attention over body-part I3D streams.

Paper: Das, Chaudhary, Brémond, Thonnat, "Where to focus on for human action recognition?",
WACV 2019.

What is implemented: one I3D per body part (left hand, right hand, full body by default, the two
hands in the ``cpu`` preset; the part names come from the config, so any layout that names its
parts works) reads that part's crop (in the ``cpu`` preset a small 2-D CNN on single frames
instead, ``trunk="frames"``, below). A
pose LSTM reads the 3D skeleton and gives a softmax attention over the parts, per clip or per
feature time step. The part feature maps, taken at one fusion endpoint (Mixed_5c by default), are
summed with these weights and classified.

    crops (B, P, 3, T, C, C)                                 skeleton (B, Ts, M, J, 3)
      | part p -> I3D_p trunk up to the fusion endpoint        | PoseLSTM (x3)
      v                                                        v
    F_p (B, C', T', H', W')  for p = 1..P               states (B, Ts, H) / last (B, H)
      |                                                        | per_step: pool Ts -> T' steps
      |                                                        | dropout -> Dense(tanh) -> Dense(P)
      |                                                        v softmax over P
      |                                       alpha (B, P)  or  (B, T', P) ("parts" attention)
      +-------------------- sum_p alpha_p * F_p <---------------+
      |                          (B, C', T', H', W')
      |                            -> mean over (T', H', W') -> dropout -> linear -> logits (B, K)
      +-> per part: mean over (T', H', W') -> linear_p -> aux["part_logits"] (B, P, K)

Loss (the paper only says "cross-entropy regularised on the attention"; its terms and weights are
not public, and the released code trains with plain cross-entropy):

    L = CE(logits, y) + aux_weight * mean_p CE(part_logits_p, y) + attention_weight * R(alpha)

* The per-part cross-entropy replaces the authors' first stage (fine-tune one I3D per part
  alone): every stream keeps a classification signal of its own, so a stream that receives
  little attention still learns, and the staged schedule (parts first, then jointly) is one loss
  with different trainable sets.
* ``R`` is zero for uniform attention and asks that no part be dropped for good; it is kept
  small so the attention can still commit to one part when the evidence is there. Per time step
  it is Sharma et al.'s doubly stochastic penalty (``losses.doubly_stochastic``: every part
  attended at some step of the clip, while any single step may focus). Per clip there is no time
  axis to spread over, so it is ``KL(alpha || uniform) = log P - H(alpha)`` (via
  ``losses.entropy``), which holds the weights near uniform until the cross-entropy gradient
  clearly favours a part; this damps the rich-get-richer collapse onto whichever stream
  happens to learn first (usually the full body).

Departures from the authors' code (``shared/reference/seed-systems.md`` §1):

* The attention trains. The release zero-initialised the last Dense layer and froze the whole
  pose branch (LSTMs, ``z_layer``, ``dense_1``) together with the part I3Ds, so alpha stayed at
  1/3 and nothing learned where to look. Here everything trains end to end; the last attention
  layer starts with small random weights (std 0.01), so alpha starts close to uniform but
  gradients reach the whole branch from the first step.
* Fusion endpoint: the released build hard-codes fusion after Mixed_5c (``sum_idx=0``). That is
  the ``paper`` preset's too (the ``cpu`` preset fuses at Mixed_4f, below); an earlier endpoint
  (``fusion_endpoint``) fuses there and classifies the fused map directly, without the fresh
  copies of the later Mixed blocks the release's ``sum_idx=1, 2`` rebuild. Each part I3D keeps
  only its trunk up to the fusion endpoint (the later blocks and the I3D classifier would be dead
  weights).
* Per-step attention (``per_step=True``) is an addition; the release only has clip-level
  attention (one alpha per clip). The LSTM states are average-pooled from
  Ts to the T' feature steps.
* Head: global average pool -> dropout -> linear, instead of AvgPool3D((2, 7, 7)) -> 1x1x1 conv
  -> Flatten -> Dense (the same mean for the paper input, and any clip size works). Only the
  weighted sum (``attention_mode='sum'``) is implemented, not ``'cat'``.
* Hand crops are cut at ``hand_ratio`` 0.15 of the person's height (a box of 0.30 of it), the
  scale at which ``probe``'s CNN on one frame's 32 px hand crops tells the held objects apart
  (``core_models.synth.probe.HAND_CROPS``); the paper does not state its crop scale. The
  checkpoints trained before the field existed used 0.12 and rebuild with it (``LEGACY``).
* Training mirrors half of the clips left to right (``data.datasets.mirror_item``: the two hand
  crops swap places with the skeleton's sides), so the hand that acts is the left one as often as
  the right one and the pose branch must find which hand acts instead of learning that most
  subjects act with the right; the paper does not say it augments.
* ``shared_hands`` (an addition; on in the ``cpu`` preset, off in ``paper``): the two hand
  streams share one I3D trunk (the same weights and batch-norm statistics under both names, so
  Grad-CAM and weight loading still see one stream per part). With a trunk of its own per hand, a
  fixed mix of the parts already carries the held object from whichever hand holds it, and the
  trained attention settles on a constant prior (right hand 0.37 on every clip). With one trunk,
  both hands' features live in one space and a fixed mix dilutes the acting hand's evidence with
  the idle hand's, so picking the acting hand lowers the loss on every clip. Mirroring already
  shows the trunk hands of both orientations, so no crop is flipped.
* ``hand_motion`` (an addition; on in the ``cpu`` preset since 2026-12-06, with
  ``hand_read="choose"``, below; first measured with the ``cpu`` preset of before: Mixed_5c, one
  weight per clip): each hand's
  attention logit also gets a score from that hand's own trajectory (:class:`HandMotionScore`,
  one GRU for both hands, the left hand's x mirrored, so a mirrored clip swaps the two scores by
  construction). Trained on the synthetic CS split with ``aux_weight`` 0.2 (1800 steps, 10.7
  min), the hands' weights did come apart per clip (0.24 / 0.33 or the reverse), but onto the
  idle hand: the acting hand won on 0.22 of left-handed and 0.18 of right-handed one-hand clips,
  test top-1 0.488 (shipped: 0.466), uniform attention 0.488. Each hand stream's own head is near
  chance on the test clips (acting hand 0.16, idle hand 0.20, 14 classes), so the hand trunk has
  learned nothing about the held objects that the attention could look for; the scorer is kept
  for the next attempt at that trunk.
* ``hand_aux="either"`` (an addition; ``"each"``, every stream asked for the class on every clip,
  is the default): in a one-hand action the idle hand's crop does not show the class, yet
  ``"each"`` asks its stream for it, which can push the shared hand trunk towards whatever the two
  crops share (the body around them, the subject) instead of the object in the acting hand. With
  ``"either"`` the two hand heads answer together through a logsumexp of their logits, which is
  right when either hand shows the class, so each hand stream may stay unsure on the idle hand.
  Measured on the synthetic CS split (``train --model part_attention --protocol cs --set
  hand_aux=either``, otherwise the ``cpu`` recipe; 10.6 min): the hand streams learnt much more
  (each alone 0.31 left, 0.25 right, against 0.10-0.16 with ``"each"``) and top-1 rose to 0.485
  (shipped: 0.466), but the idle hand's stream stayed better than the acting hand's (0.266
  against 0.167 on the 252 one-hand test clips), and the attention settled on one constant mix
  (left 0.294, right 0.306 on every clip; uniform attention 0.483). The acting hand does move
  more, in the skeleton and in its crop (on 84 one-hand test clips, its joint on 0.87-0.88 and
  its crop inside the truth interval on 0.92 of them), so the crops are not swapped; why the
  idle hand's crop tells the class better was not measured. Not shipped; off in both presets.
* A finer time axis (the ``cpu`` preset since 2026-12-04; options of the config, off in
  ``paper``): ``fusion_endpoint="Mixed_4f"`` keeps 4 feature steps of the ``cpu`` preset's 16
  frames (2x2 cells of a 32 px crop) where Mixed_5c keeps 2 (1x1), and ``per_step=True`` weighs
  the parts at each step. Alone (``train --model part_attention --protocol cs --set
  fusion_endpoint=Mixed_4f --set per_step=true``, the recipe of then, 8.0 min, stopped by
  patience at epoch 23): test top-1 0.556 against 0.466 at Mixed_5c, the hand streams learning
  twice as much (each alone 0.435 / 0.405, against 0.219 / 0.211), but the acting and the idle
  hand's streams equally good on the one-hand clips (0.294 / 0.290) and the attention uniform
  (uniform attention 0.558). With ``hand_aux="either"`` too (11.4 min): 0.577, a fixed lean to the
  right hand (uniform attention 0.560). With ``hand_motion`` (7.0 min): 0.529, the hands' weights
  apart per clip but onto the idle hand (acting hand wins 0.21). Where the hands' weights move,
  they follow the better stream, and the better stream is the idle hand's.
* ``attend_time`` (an addition, on in the ``cpu`` preset; needs ``per_step``): the attention
  logits of every step and part go through one softmax, so the pose branch says when as well as
  where. It is returned as the per-step softmax over parts (``parts``, the same numbers as
  ``per_step`` alone) and each step's share of the total (``temporal``, scored against the truth
  interval like separable STA's); the fused feature weighs the steps by their share instead of
  averaging them, so with equal shares the model is the ``per_step`` one. ``temporal`` is
  steerable, so ``evaluate``'s interventions make it uniform too. These step weights are the
  shipped checkpoint's class code (0.21 from them alone against 0.06 for the true interval; the
  hands' weights alone 0.07 against 0.12): for sitting down they sit on the last step (0.76),
  for standing up on the first (0.83). Without them (both steps of the ``cpu`` recipe with
  ``--set attend_time=false --set part_pool=mean``, CS, one seed, 6.0 min of training at
  f115fac) the class code goes (0.06 against 0.12) and the acting hand still wins (0.89 left-,
  0.93 right-handed), but so does the need for attention: 0.536 top-1, and 0.604 with uniform
  hand weights. Not shipped. Steps and hands scored from each step's own hand speeds instead of
  the pose LSTM (``step_scores="motion"``, :class:`HandSpeedScore`; both steps of the ``cpu``
  recipe with ``--set step_scores=motion``, CS, one seed, 2026-12-06, 5.0 + 1.9 min): the class
  code is gone (all the attention names the class at 0.05, the true attention at 0.09; the steps
  0.05 against 0.06) and the acting hand still wins (0.79 left-, 0.85 right-handed), but top-1
  falls to 0.502, uniform attention does as well (0.527) and the steps' weight sits at uniform on
  the truth interval (0.33): two numbers per score cannot say more than "the hand that moves", and
  that does not tell the classes apart. Not shipped. The class-code adversary on the steps'
  shares (``class_code_weight=0.3``, ``core_models.models.class_code``, which took separable STA's
  class code down to its truth's; both steps of the ``cpu`` recipe with it, CS, one seed,
  2026-12-06, 6.5 + 3.6 min): worse on every count. The steps name the class more (0.28 against
  0.21 shipped and 0.06 for the true interval; all the attention 0.24 against 0.20 and 0.09), their
  weight leaves the action's time (0.37 on the truth interval, uniform 0.33, middle 0.41; shipped
  0.54), top-1 0.539, and the acting hand wins on 0.65 of the left-handed subjects' clips (0.89).
  Reversed, the gradient does not make the steps follow the evidence; it rearranges which steps
  name the class. Not shipped.
* The recipe (``train.RECIPES``): 2600 AdamW steps at 2e-3 (1800 in the trials below), weight
  decay 0.05, ``jitter`` (light and the framing of each crop change per item), and no patience.
  Measured on the CS split with Mixed_4f, ``per_step`` and ``attend_time`` (``train --model
  part_attention --protocol cs --set ...``; every figure the fused RGB streams', no pose
  classifier):

  | recipe | seed | top-1 | top-1, uniform attention | top-1, another class's | steps' weight on the truth |
  |---|---:|---:|---:|---:|---:|
  | weight decay 1e-4, patience 6 | 0 | 0.383 (stopped at epoch 15) | no lower | - | 0.33 |
  | the same | 1 | 0.532 (stopped at epoch 23) | 0.541 | - | 0.35 |
  | weight decay 1e-4, no patience | 0 | 0.553 | 0.532 | 0.551 | 0.34 |
  | the same | 1 | 0.571 | 0.563 | 0.549 | 0.42 |
  | weight decay 0.05, jitter, no patience (shipped until 197acf6) | 0 | 0.611 | 0.457 | 0.335 | 0.53 |
  | the same | 1 | 0.648 | 0.474 | 0.401 | 0.62 |

  (Uniform 0.33, "always the middle" 0.41, best possible at 4 steps 0.86; an earlier start of the
  first row's settings, from other initial weights, gave 0.607 with uniform attention at 0.468.)
  Patience was the wrong guard: validation on 168 clips moves by 0.05-0.1 from one epoch to the
  next, and both runs without it ended higher, but with the attention still doing nothing. With
  the small weight decay the training split is learnt (train top-1 0.86) while validation stays
  near 0.45-0.53, and a uniform mix of the part streams is as good as any; with jitter and weight
  decay 0.05 the same budget ends at train top-1 0.81, validation 0.60, and the model depends on
  where its weights go in time: uniform attention costs 0.153 (the steps alone 0.122, the parts
  alone 0.005), another class's 0.276, and 0.53 of the steps' weight is on the truth interval; a
  second seed (``reproduce --seed 1``, the last row) does the same. Cross-view (seed 0): 0.554,
  uniform attention costing 0.200 (the parts alone 0.138), another class's 0.291, but the steps'
  weight is not on the truth (0.41; uniform 0.34, middle 0.42); CV's second seed: 0.637 with
  attention that costs nothing when uniform (0.645). Not solved: the steps' weights
  name the class (0.15 from the attention against 0.06 from the truth interval, CS), and the
  parts' weights are not on the acting hand (0.46 against uniform 0.48; the acting hand wins on
  0.50 of left-handed and 0.30 of right-handed one-hand clips, seed 1 0.83 and 0.11).
* ``part_pool="attended"`` (an addition, on in the ``cpu`` preset since 2026-12-06, off in
  ``paper``; needs ``attend_time``): each part
  stream's own head reads its map weighed by the steps' shares, as the fused head does, instead
  of the mean over all steps, so the hand trunk is asked for the class at the steps where the
  object is at the face rather than over reach, carry and rest. The shares are held fixed for
  this loss (the streams' heads never move the attention). Measured on the CS split (``train
  --model part_attention --protocol cs --set part_pool=attended``, the ``cpu`` recipe, 9.4 min,
  one seed; 2026-12-05): top-1 0.607 (shipped 0.611), and the parts now matter: uniform part
  weights cost 0.070 (shipped 0.005), uniform attention 0.224, another class's 0.333; the parts'
  weights no longer name the class (0.19, as from the true parts), the steps' still do (0.21
  against 0.06); 0.49 of the steps' weight on the truth interval (uniform 0.33, middle 0.41). But
  the parts' share is 0.50 (uniform 0.48) and the acting hand wins on 0.65 of the left-handed and
  0.46 of the right-handed subjects' one-hand clips. The idle hand's stream still tells the class
  better than the acting hand's (0.44 against 0.25 on those clips: drink 0.57 against 0.07, hand
  waving 0.62 against 0.14, drop 0.57 against 0.38; only eat goes the other way, 0.33 against
  0.17), and the model does worse when it reads the acting hand: with every step's hand weight
  moved onto the acting hand it is right on 0.413 of those clips, onto the idle hand on 0.516, as
  it weighs them on 0.512 (``python -m core_models hands --run``; the shipped checkpoint: 0.429,
  0.488, 0.548). Without the body stream (``--set part_pool=attended --set
  'parts=["left_hand","right_hand"]'``, 5.7 min): 0.556 from the two hands alone, and now the acting hand's
  stream is the better one (0.40 against 0.37) and reading the acting hand alone beats the idle
  hand alone (0.373 against 0.278 on the one-hand clips), but the model keeps the hands at even
  weight (0.49 / 0.51; uniform part weights cost 0.000) and does best that way (0.508): the sum
  of both crops' features already carries the acting hand's evidence, so a weighted sum of the
  two has no reason to choose. A read that has to choose (``hand_read="one"``, an addition, off in
  both presets: per step, the hand with more weight gets both hands' weight, the gradient the
  soft weights'; ``--set part_pool=attended --set hand_read=one``, 9.0 min) did not learn to choose
  the acting hand either: 0.474 top-1, the acting hand read at 0.54 of one-hand clips (0.39 of
  the left-handed subjects', 0.61 of the right-handed), the hand streams near chance on those
  clips (acting 0.14, idle 0.17) and attention that does better when made uniform (0.497).
  With ``hand_aux="either"`` too (9.6 min): 0.531, the attention idle (uniform
  attention costs 0.040, the steps' weight at the uniform 0.32). Not shipped: no target row
  changes, and the acting hand is no nearer. In two stages instead (2026-12-06, one seed): the
  two-hand run above again (7.4 min: 0.515 top-1, the hands at a constant 0.53 / 0.47), then the
  read that has to choose, from its weights (``--init`` that run's ``model.pt`` ``--set
  hand_read=one --steps 900``, 3.4 min): 0.592 top-1, the streams now knowing the objects (the
  acting hand's 0.575, the idle hand's 0.456 on the one-hand clips), and the model right on
  0.575 of those clips reading the acting hand alone against 0.460 on the idle hand alone
  (``hands --run``), so picking the acting hand would pay; yet the straight-through choice
  picks the idle one: the acting hand wins on 0.29 of the left-handed and 0.28 of the
  right-handed subjects' one-hand clips (a coin would give 0.5), and uniform part weights beat
  its own choice (0.646).
  The straight-through gradient (the soft weights' gradient at the chosen read) does not say
  which read would lose less; training the choice on the expected loss of the two whole reads
  would. Not shipped.
* ``hand_read="expected"`` (an addition, off in both presets; needs both hands among the parts):
  per clip, the hand with more of the two hands' weight (averaged over the steps) gets all of it
  at every step, which is what the model reads and shows; in training both whole reads are
  classified (each hand read alone; cheap, since both hands' maps are computed anyway) and the
  cross-entropy is ``p * CE(left's read) + (1 - p) * CE(right's read)``, ``p`` the probability
  of choosing the left hand, so its gradient on ``p`` is the difference of the two reads' losses.
  An override of the part weights (``evaluate``'s interventions) is read as given. Measured
  (``--init`` the two-hand run above ``--set hand_read=expected --steps 900``, 2.5 min): 0.553
  top-1, and the choice collapses onto the left hand for every clip (1.00 of the weight for
  left- and right-handed subjects alike): the read that is chosen is the only one trained, so it
  gets better on every clip and keeps being chosen (a mixture of experts' rich-get-richer).
* ``hand_read="choose"`` (an addition; the ``cpu`` preset since 2026-12-06): read as
  ``"expected"``, but both reads train the streams and the head at equal weight whatever the
  choice (``CE = (CE(left's read) + CE(right's read)) / 2``), and the choice is trained by its own
  term, the binary cross-entropy of ``p`` against ``p_left(y) / (p_left(y) + p_right(y))``, the
  share of the label's probability that the left read holds (an EM step of a two-expert
  mixture: a clip both reads get right or both get wrong pulls the choice nowhere, a clip only
  one read gets right pulls it towards that hand). No label says which hand acts. Measured on
  the CS split, one seed each, every figure the model's own RGB read (``python -m core_models
  hands --run`` for the hand reads; "L / R": left- / right-handed subjects' one-hand clips;
  "uniform parts": top-1 with uniform part weights):

  | run | top-1 | acting hand wins, L / R | parts' share (uniform) | uniform parts |
  |---|---:|---:|---:|---:|
  | two hands, from the two-hand run, 900 steps | 0.570 | 0.75 / 0.12 | 0.556 (0.643) | 0.650 |
  | the same with ``hand_motion`` (motion) | 0.582 | 0.82 / 0.79 | 0.772 (0.643) | 0.602 |
  | 3 parts, motion, 1800 steps from scratch | 0.633 | 0.71 / 0.38 | 0.383 (0.476) | 0.624 |
  | 3 parts, motion, from the shipped 3-part run, 900 steps | 0.655 | 0.19 / 0.24 | 0.348 (0.476) | 0.650 |
  | 3 parts, motion, from the 2-hand run (new body), 900 steps | 0.624 | 0.72 / 0.88 | 0.541 (0.476) | 0.634 |
  | two hands, motion in the body's frame (``cpu``, then) | 0.614 | 0.89 / 0.87 | 0.803 (0.643) | 0.662 |

  (The choice trained on the detached loss difference, ``p * CE_left + (1 - p) * CE_right`` with
  the losses held fixed, gave 0.616 with the acting hand winning 0.71 / 0.20.) Two things make the
  acting hand win: hand streams that learnt the objects while both hands were read (the two-hand
  run first: after it the acting hand's read is right on 0.59 of the one-hand test clips, the idle
  hand's on 0.46), and ``hand_motion``, whose one scorer for both hands (the left one mirrored)
  makes the choice a comparison of the two hands' movements; without it the pose branch learns a
  lean, not a comparison. With a body stream trained from the start, the hand streams learn less
  and the idle hand's is the better read (0.41 against 0.38), and the choice follows it. The
  scorer first read the hands in the camera's axes, where mirroring the left hand's x makes the
  two hands alike only for a subject facing the camera; cross-view (trained on the side views,
  tested on the front) the choice then picked the idle hand (acting hand wins 0.19 / 0.35, top-1
  0.514). Turned into the body's frame (``motion_frame="body"``, the last row; cross-view 0.64 /
  0.62 at the same 0.514) it wins on CS too. The ``cpu`` preset is the last row, trained in two
  ``train`` calls (``reproduce.STEPS``): the two hands at soft weights for the recipe's 1800
  steps (``--set hand_read=mix --set hand_motion=false``), then ``--init`` its weights for 900
  steps of the choice. It reads the two hands and no body crop, a departure from the paper's
  three streams: with the body the acting hand won on fewer clips and the parts' weights lay
  less on the truth (one seed). Still not met: the parts' share is 0.16 above uniform (the
  target is 0.25), and uniform part weights (each hand at half) do better than the choice
  (0.662 against 0.614): the head reads the sum of both crops at least as well as one, so the
  choice is shown because it lands on the acting hand, not because the model's accuracy needs it.
* ``true_attention`` (empty in both presets; an experiment, 2026-12-07): ``["parts", "temporal"]``
  reads each clip's hands and steps with the ground truth (the acting hand, both for two-hand
  actions and equal weights where no hand acts; each step by its share of the truth interval) in
  training and test alike, so the test top-1 is what this model gets from attention that is
  exactly right. Both steps of the recipe with ``--set 'true_attention=["parts","temporal"]'``
  (4.2 + 2.1 min of training), CS: 0.609 top-1, best validation 0.607 (the shipped model 0.614 /
  0.616 over two seeds). Drinking, eating and phoning stay near chance (0.29, 0.43, 0.45) though
  the model reads the acting hand's crop at the steps of the action, which a small CNN on four
  such frames tells apart at 0.87 (drink / eat, the probe): I3D's hand streams do not learn the
  held object from 924 training clips, whatever the attention (a per-frame trunk does, below).
  The shipped model's own figures are in its evaluation's ``truth:parts`` (0.641) and
  ``truth:temporal`` (0.418, without training on it).
* ``trunk="frames"`` (an addition; the ``cpu`` preset since 2026-12-07, with ``frame_mix`` and
  the steps' targets of ``step_sharpness``, below; ``paper`` keeps I3D): each part's stream is a
  small 2-D CNN on single frames (:class:`FrameTrunk`: three blocks of 3x3 convolution, batch norm,
  ReLU and 2x2 pooling, 32 / 64 / 96 channels, on every second frame), its maps averaged into the
  4 steps of Mixed_4f, with ``frame_mix`` a residual convolution over 3 neighbouring frames first.
  The hint was a diagnostic on the probe's four frames of the truth interval: there I3D's hand
  trunk (its 7x7 stride-2 stem and the pooling after it leave 8x8 cells of a 32 px crop before
  the first 3x3 convolution)
  told drink from eat at 0.63, and a per-frame 2-D CNN at 0.80. No slower to train than I3D
  (the recipe's first step in 4.0-4.2 min against 4.9 min, ``train``'s own timing) and with the
  two steps of the ``cpu`` recipe, CS, one seed, every figure the model's own RGB read (no
  pose classifier):

  | trunk | step 1, soft hand weights: top-1 | uniform attention | step 2, one hand chosen: top-1 |
  |---|---:|---:|---:|
  | I3D (the ``cpu`` preset then) | 0.515 | 0.442 | 0.614 |
  | frames | 0.568 | 0.221 | 0.519 |
  | frames, ``frame_mix`` | 0.580 | 0.333 | 0.500 |
  | the same, step 2 at a quarter of the rate (``--lr 5e-4``) | | | 0.585 |

  After step 1 the frames trunk knows more of the objects (eat 0.57 against 0.17, reading 0.76
  against 0.40), and ``frame_mix`` gives back the motion that single frames lose (sitting down
  0.64, 0.21 without it). But the second step, where each clip reads one hand, loses 0.06-0.08
  where I3D gains 0.10: the choice does land on the acting hand (0.89 of its weight on the 252
  one-hand test clips, ``hands --run``), yet that hand's read names drinking, phoning and eating
  all as eating (drink 0.19, phone 0.19, eat 0.62 right from the acting hand alone). Not shipped.
  Trained and tested with the true hands and steps (``true_attention``, above; frames,
  ``frame_mix``, both steps, 4.0 + 2.1 min) the frames trunk reaches 0.724 (drink 0.83, eat 0.74,
  phone 0.86), where I3D's trunk reached 0.609 (drink 0.29): with this trunk the held objects are
  learnt when the steps read are those of the action, so here the model's own steps, not its
  features, are what stands between it and a higher score. Its own steps put 0.53-0.59 of their
  weight on the truth interval (uniform 0.33, best possible 0.86), and swapping in the true steps
  at test alone does not help (0.42): the head has learnt to read its own steps' pattern. With
  the true steps alone and the model's own hands (``--set 'true_attention=["temporal"]'``, both
  steps, 6.9 + 3.5 min, the machine in a slow spell) it reaches the same 0.724 (drink 0.76, eat 0.81, phone
  0.79; the acting hand wins on 0.93 of the one-hand clips): the steps carry the whole gain.
  Taking off a shoe stays at 0.07 even then, called "wearing a shoe" (below); with ``step_mix``
  (below) as well, 0.743 (6.9 + 3.6 min), and the shoe pair is at chance between its two
  classes instead (wearing 0.40, taking off 0.24, each named the other on about half its clips),
  where I3D's trunk, whose receptive field spans the clip, tells them at 0.57 each.
* ``step_target="explains"`` and ``step_reads`` (additions, 2026-12-07; the ``cpu`` preset
  since, with ``step_reads=1`` and ``step_sharpness=4``, below; off in ``paper``):
  the steps learn where the evidence is rather than what pattern the head can read. The read
  takes the steps' shares as fixed weights; the shares learn, by cross-entropy, the share of the
  label's probability that each step's read alone holds, ``q_t = p_t(y) / sum_s p_s(y)`` (the
  head is linear, so the read's logits are the steps' own logits under the shares); with
  ``step_reads`` each step's read is also asked for the label in proportion to ``q_t`` (a
  multiple-instance step: the reads learn on the steps that explain the clip, as they did under
  the true steps). CS, one seed, both steps of the recipe, every figure the model's own RGB
  read:

  | trunk, steps learn from | top-1 | uniform | true | on truth | code |
  |---|---:|---:|---:|---:|---:|
  | I3D, the read (the ``cpu`` preset then) | 0.614 | 0.345 | 0.422 | 0.54 | 0.21 |
  | frames + ``frame_mix``, the read | 0.500 | 0.327 | 0.352 | 0.53 | 0.18 |
  | frames + ``frame_mix``, ``explains`` | 0.621 | 0.432 | 0.502 | 0.51 | 0.18 |
  | the same + ``step_reads=1`` | 0.609 | 0.447 | 0.616 | 0.51 | 0.14 |
  | I3D, ``explains`` + ``step_reads=1`` | 0.515 | 0.527 | 0.514 | 0.35 | 0.20 |

  ("uniform", "true": top-1 with uniform and with the true attention; "on truth": the steps'
  weight on the truth interval, uniform 0.33, always the middle 0.41, best possible 0.86; "code":
  top-1 of the steps' shares alone naming the class, 0.06 from the true steps.)

  With the reads trained on the steps that explain the clip, the held objects come (eating 0.71,
  phoning 0.74, reading 0.90, against 0.40, 0.50 and 0.55 shipped), the true steps no longer
  cost the model (0.616 against its own 0.609) and the steps name the class less; but the pose
  branch's steps stay at about half their weight on the truth (0.51), so the reads that know the
  objects are not read at the right time, and other classes fall (taking off a shoe 0.05). A
  second seed of that row (``--seed 1`` on both steps) gives 0.597, the same pattern (eating
  0.74, phoning 0.76, reading 0.93, taking off a shoe 0.07; steps 0.51 on the truth, naming the
  class at 0.13). With I3D's trunk the same targets leave the steps near uniform (0.35 on the
  truth) and the attention idle (uniform attention 0.527 against 0.515): its reads do not learn
  the objects, so no step explains a clip better than another. Not shipped: within the spread
  of the runs, no target row changes. Each run took 4.0-5.3 min for the first step and 2.1-2.8 min for the
  second, with ``--set step_target=explains`` (and ``--set step_reads=1``) added to both steps.
* ``read_weight``, ``step_mix`` and ``step_context`` (experiments on the row above, off in both
  presets; 2026-12-07). ``read_weight=0`` drops the fused read's own cross-entropy, so the trunk
  and the head learn only from the steps' own reads (``step_reads``, a multiple-instance loss
  whose weights no pose step chose), and the pose branch's shares still learn where those reads
  explain the label; it is the read under those shares that the model gives at test time.
  ``step_mix`` adds a residual temporal convolution over neighbouring steps to the frames trunk,
  for classes told apart by which way the look changes (a shoe going on or coming off).
  ``step_context`` runs a bidirectional GRU over the pose states pooled to the steps, since the
  pose LSTM reads forward only. CS, one seed unless said, both steps of the recipe with ``--set
  trunk=frames --set frame_mix=true --set step_target=explains --set step_reads=1`` and the
  row's own settings; columns as in the table above:

  | added | top-1 | uniform | true | on truth | code |
  |---|---:|---:|---:|---:|---:|
  | nothing (the row above) | 0.609 | 0.447 | 0.616 | 0.51 | 0.14 |
  | ``read_weight=0`` | 0.638 | 0.456 | 0.612 | 0.52 | 0.19 |
  | the same, a second seed | 0.560 | 0.376 | 0.580 | 0.50 | 0.13 |
  | ``read_weight=0``, ``step_mix`` | 0.600 | 0.497 | 0.611 | 0.46 | 0.17 |
  | ``read_weight=0``, ``step_context`` | 0.588 | 0.406 | 0.602 | 0.50 | 0.20 |

  The frames trunk with ``step_reads`` names most clips of taking off a shoe "wearing a shoe"
  (0.05 and 0.07 for the two seeds above, 0.07 for ``read_weight=0`` with 23 of its 42 clips
  named wearing, 0.02 with ``step_context``): the read is a weighted sum of the steps and each
  step sees only its own few frames (4 of the 8 read, with ``frame_mix``), so nothing in it
  says in which order the look changes. ``step_mix`` lifts taking off a shoe to 0.21 (19 clips
  still named wearing) and loses elsewhere (reading 0.38 against 0.83). Dropping the read's own loss
  gives 0.638 (drinking 0.43, eating 0.71, phoning 0.74), but a second seed (``--seed 1`` on
  both steps) gives 0.560 (reading 0.31, taking off a shoe 0.14; steps 0.50 on the truth), so
  the two seeds' mean, 0.599, is level with the row above's (0.603): no gain. Its steps are
  where they were (0.52 of their weight on the truth interval; uniform 0.33, the middle 0.41,
  best 0.86), and the true steps at test do
  not help it (0.612; 0.580 for the second seed). Letting each step see the pose after it changes
  nothing (0.50 on the truth). So what holds the steps back is more likely their targets than
  what the pose branch sees: the reads' own posteriors, which name the class at whichever steps
  a read can tell it, and since the true steps do not help at test, those are not only the
  truth interval's. ``evaluate`` now measures it (``step_reads`` in ``attention_scores``, the
  share of the label's probability the steps' own reads put on the interval): 0.54 for
  ``read_weight=0`` and for ``step_context``, against their steps' 0.52 and 0.50 (uniform 0.33,
  the middle 0.41, best 0.86). The steps fit their target; the target is the limit. By class,
  for ``read_weight=0``: the reads put drinking's label on its interval at 0.35 (uniform 0.29),
  sitting down and standing up at 0.46 and 0.44 (uniform 0.35), the hand-held objects of
  dropping, picking up and the shoe pair at 0.59-0.71. So the reads that hold the label at the
  wrong steps are the classes the two hand crops see least: the cup near the mouth and the
  whole body sitting or rising. Each run took
  7.0-7.7 min for the first step and 3.8-3.9 min for the second (``train``'s own timing, the
  multiple-instance reads included).
* ``read_order`` (an experiment, off in both presets; 2026-12-07): the read also carries the
  weighted slope of each step feature under the shares (:func:`order_weights`), so the head
  could tell which way the look changes, the shoe pair's problem above. Under the true steps
  (``--set trunk=frames --set frame_mix=true --set 'true_attention=["temporal"]' --set
  read_order=true`` on both steps of the recipe, CS, one seed) it gives 0.616 against 0.724
  without it, and does not tell the shoe pair apart (wearing 0.26, taking off 0.24, where
  without it 0.64 and 0.07), while drinking falls from 0.76 to 0.29 and phoning from 0.79 to
  0.45. All seven test subjects lose (0.06 to 0.19), yet its validation subjects (4 and 19)
  reach 0.77-0.80 against 0.70, a gap between validation and test that no other run of this
  table or the one above shows (within 0.04 in each). Within the truth interval the shoe is
  in the hand the whole time, so the slope there has little to find; I3D's trunk, which
  tells the pair at 0.57, sees the frames around the interval too. 7.3 + 3.4 min.
* ``step_sharpness`` (2026-12-07; ``g=4`` in the ``cpu`` preset since, off in ``paper``): the steps' target
  ``p_t(y)^g / sum_s p_s(y)^g`` instead of the plain share of the label's probability. The reads'
  label probability spreads over the interval and its neighbours (0.54 on the truth, above);
  sharpened, the target follows the step that holds the label best. CS, both steps of the
  recipe with ``--set trunk=frames --set frame_mix=true --set step_target=explains --set
  step_reads=1 --set step_sharpness=G``, the RGB read alone; "reads" is where the steps' own
  reads put the label (``step_reads`` in ``attention_scores``), other columns as above:

  | ``g`` | top-1 | uniform | true | on truth | reads | code |
  |---|---:|---:|---:|---:|---:|---:|
  | 1 (the ``step_reads=1`` row above; second seed 0.597) | 0.609 | 0.447 | 0.616 | 0.51 | - | 0.14 |
  | 4 | 0.679 | 0.412 | 0.570 | 0.56 | 0.52 | 0.19 |
  | 4, ``--seed 1`` | 0.653 | 0.386 | 0.531 | 0.56 | 0.51 | 0.19 |
  | 16 | 0.677 | 0.434 | 0.522 | 0.55 | 0.51 | 0.19 |
  | 4, CV | 0.629 | 0.420 | 0.550 | 0.56 | 0.51 | 0.19 |

  The best part attention yet without a pose classifier: at ``g=4`` the two seeds' mean is
  0.666 (0.653-0.679) against 0.603 for ``g=1`` and 0.615 for the earlier recipe's two seeds
  (I3D's trunk).
  The steps sit a little more on the truth (0.55-0.56 against 0.51; uniform 0.33, the middle
  0.41, best 0.86), the acting hand wins on 0.98 of the one-hand clips, and the shoe pair is
  no longer one class (wearing / taking off 0.55 / 0.31, 0.48 / 0.57 and 0.60 / 0.57, where
  ``g=1`` called taking off "wearing": 0.05-0.07); drinking stays low (0.29-0.43). The
  attention does the work (uniform attention costs 0.24-0.27), but it is still partly a class
  code: the steps' shares alone name the class at 0.19 (the true steps 0.06), and the true
  steps cost the model 0.11-0.16, since its reads learnt on its own steps. In the first run's
  second step the last epoch was the best (validation 0.755, 0.761, 0.773, 0.779 over the last
  four), so the shipped recipe gives the second step 1200 steps instead of 900.

  Shipped from 0cafa87 to 5bfb086 (the ``cpu`` preset since 82b0288: ``trunk="frames"``, ``frame_mix``,
  ``step_target="explains"``, ``step_reads=1``, ``step_sharpness=4``; ``reproduce --list``: 1800
  steps with soft hand weights, then 1200 with one hand chosen per clip): CS 0.713 (uniform
  attention 0.434, another class's 0.323, the true hands and steps 0.595; the true hands alone
  0.736, the true steps alone 0.580), the parts' weight 0.85 on the truth (0.98 where it can
  miss; the acting hand wins on 0.96 of the left-handed and 0.99 of the right-handed subjects'
  one-hand clips), the steps' 0.55 (uniform 0.33, the middle 0.41, best 0.86), the steps' shares
  naming the class at 0.19 (the truth 0.06); 7.5 + 5.0 min. CV 0.645 (uniform 0.420; steps 0.55
  on the truth, acting hand 0.96 / 0.97; 7.1 + 4.4 min), 0.068 below CS: drinking 0.28, phoning
  0.45, dropping 0.42 and the shoe pair 0.38 each from the unseen camera, where its validation
  clips from the training cameras reached 0.87. Its first step ended at its best validation
  epoch (0.732, one clip of 112 above epoch 20's 0.723, and up 0.03 over the last six epochs),
  so on CV the first step's 1800 steps are not quite enough. The whole ``reproduce`` stays
  within its 150 minutes because the cross-view rows of I3D with non-local blocks and late
  fusion are no longer made (``reproduce.CS_ONLY``).
  Cut to the earlier recipe's time (``--steps 1200`` for the first step and ``600`` for the
  second, 4.8 + 2.4 min) it gives 0.585; reading every fourth frame instead of every second
  (``--set frame_stride=4``, one frame a step, 4.3 + 2.5 min) 0.549. On CV (one seed;
  ``--protocol cv``, 7.4 + 3.9 min) 0.629, against the earlier recipe's 0.514 and 0.657 for its
  two seeds there; its validation clips, seen from the training cameras, reached 0.82 (on CV the
  steps' best possible share is 0.85 and uniform 0.34; the true steps name the class at 0.08).
  Squeezed training clips for the unseen camera (2026-12-07; both steps of the shipped recipe with
  ``--squeeze 0.3``, as two-stream and STN train; seed 0; the RGB read alone): CV 0.670 (shipped
  0.645 and 0.650 on two seeds; drinking 0.42, dropping 0.50, wearing / taking off a shoe 0.33 /
  0.53, but phoning 0.30 against 0.45), and CS 0.697 (0.713 and 0.704; uniform attention 0.427,
  another class's 0.304, the steps 0.54 on the truth (uniform 0.33, the middle 0.41, best 0.86)
  and naming the class at 0.19 (the true steps 0.06), the acting hand winning on 0.99). On this
  one seed CV stands 0.027 under CS, inside the views target, but the two protocols' mean is the
  shipped one's (0.683 against 0.678): squeezing trades CS for CV. It also costs time, 792 s of
  training on CS and 815 s on CV against 750 and 692 (the squeezed batches' resampling, and this
  machine's spread from run to run), which would take the whole ``reproduce`` to about 150
  minutes, and CV's first step still ends at its best validation epoch (0.705 at epoch 28 of 29).
  Not shipped.
  The recipe's 3000 steps split 2100 + 1000 instead of 1800 + 1200 (2026-12-07, seed 0, ``train
  ... --steps 2100`` for the first step, ``--steps 1000`` for the second; the RGB read alone):
  both steps level off on both protocols, where the shipped CV first step ended at its best epoch.
  CV 0.641 (shipped 0.645 / 0.650), the first step's best validation 0.750 at epoch 29 of 34, the
  second's 0.821 at epoch 11 of 16, 505 + 263 s of training (shipped 7.1 + 4.4 min); CS 0.706
  (0.713 / 0.704; uniform attention 0.418, another class's 0.304, the steps 0.55 on the truth
  (uniform 0.33, the middle 0.41, best 0.86), the acting hand winning on 0.98), 0.774 at epoch 29
  of 37, then 0.810 at epoch 13 of 18, 516 + 258 s (shipped 7.5 + 5.0 min). The same accuracy,
  "trained to convergence" met, and about 100 s more over the two protocols on this AMD EPYC
  machine: the whole ``reproduce`` would come to about 148.6 of its 150 minutes. Shipped at
  5bfb086 (``reproduce --list``; the runs above are its seed 0, to the bit): with ``--seed 1``,
  the RGB read alone, CS 0.684 (mean 0.695, against 0.708 for the 1800 + 1200 split) and CV
  0.675 (mean 0.658 against 0.647), CV 0.037 under CS on the means (0.061 before); seed 1's first
  step peaked at epoch 28 of 37 on CS and 29 of 34 on CV. The whole ``reproduce`` comes to 148.0
  minutes by the manifest.
* ``mix_padding="replicate"`` (an addition, the ``cpu`` preset since 2026-12-08): ``frame_mix``
  pads the clip's ends with the end frame instead of zeros. With zeros, the first and the last
  step's maps carry a mark of their place in the clip whatever they show (on a clip of one
  repeated frame the end steps' maps differ from the middle ones by 0.04 at initialisation), so
  weights on the first or last step tell the head which step they chose: a channel through which
  the pose branch's guess of the class reaches the classifier. The shipped 5bfb086 checkpoint
  used it: its steps sat on the first step for sitting down (0.77 of the weight, the truth
  interval mostly in the third and fourth) and on the last for standing up (0.57, the truth in
  the first two), and there the model's own steps gave 0.71 and 0.62 where the true steps gave
  0.07 and 0.17. With the end frame repeated (both steps of the 2100 + 1000 recipe with it, CS,
  seed 0, 350 + 176 s on an AMD EPYC 2-core machine; the RGB read alone): 0.677 top-1 (0.706
  before, inside one seed's spread), uniform attention 0.491 (costs 0.186), another class's 0.386,
  the true hands and steps 0.660 (0.573 before: the head now reads
  what the truth's steps show); the steps' weight 0.61 on the truth (0.55; uniform 0.33, the
  middle 0.41, best 0.86); the steps' shares name the class at 0.10 (0.18; the true steps 0.06),
  all the attention at 0.11 (0.21; the truth 0.09). Sitting down falls to 0.52 and standing up to
  0.55 (the true steps 0.71 and 0.57), taking off a shoe rises to 0.55 (0.38). Its first step
  peaked at its last epoch, so the shipped recipe trains 2600 + 1300 steps (439ac4e; figures of
  the retrained checkpoints in the README).
* ``pose_scores`` (off in both presets: in the paper the pose only places the attention): the
  pose LSTM's last state also classifies, and its logits are added to the fused RGB logits
  (``core_models.models.pose_scores``); results with it are labelled "+ pose classifier".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch alias)
from torch import nn

from core_models import losses
from core_models.backbones.cnn2d import ConvBNReLU
from core_models.backbones.i3d import I3DConfig, i3d_trunk
from core_models.data.crops import CropSpec
from core_models.data.datasets import InputSpec
from core_models.data.layouts import NTU25, SkeletonLayout
from core_models.models.class_code import AttentionAdversary
from core_models.models.output import ModelOutput, attend_truth, check_true_kinds, reused, steer
from core_models.models.pose_scores import PoseScores, fuse, stream_loss
from core_models.models.skeleton_lstm import PoseLSTM, SkeletonLSTMConfig

DEFAULT_PARTS = ("left_hand", "right_hand", "full_body")
HANDS = ("left_hand", "right_hand")


# ---------------------------------------------------------------------------------------------
# config


@dataclass(frozen=True)
class PartAttentionConfig:
    """Settings of P-I3D.

    Attributes:
        num_classes: output classes.
        parts: body parts, one I3D each, in the order of the ``crops`` input.
        num_joints: joints of the skeleton layout.
        num_persons: persons per skeleton frame.
        width: I3D channel multiplier.
        num_frames: frames per part crop.
        crop_size: side of the square part crops.
        fusion_endpoint: I3D endpoint whose maps are fused.
        lstm_hidden: pose LSTM width.
        lstm_layers: stacked pose LSTM layers.
        timesteps: skeleton steps per clip.
        attention_hidden: width of the Dense(tanh) layer of the attention branch.
        per_step: attention per feature time step (B, T', P) instead of per clip (B, P).
        dropout: before the fused and per-part classifiers.
        pose_dropout: between the LSTM layers and before the attention layers.
        aux_weight: weight of the mean per-part cross-entropy.
        attention_weight: weight of the attention regulariser.
        pose_scores: add a linear classifier on the pose LSTM's last state to the fused RGB
            logits (``core_models.models.pose_scores``; a departure from the paper, off in the presets).
        stream_weight: weight of each stream's own cross-entropy when ``pose_scores`` is on.
        hand_ratio: half-side of a hand crop as a share of the person's height
            (``core_models.data.crops.CropSpec``).
        shared_hands: the left and right hand streams share one trunk (see the module docstring).
        hand_motion: each hand's attention score also reads that hand's own trajectory, with one
            small GRU shared by both hands (see the module docstring).
        left_hand_joint, right_hand_joint: the skeleton joints ``hand_motion`` follows (the
            layout's hand crop centres; set by :func:`part_attention`).
        motion_frame: ``"body"``: ``hand_motion`` turns each clip about the vertical axis so
            that the hips run along +x before it mirrors the left hand, so the two hands
            compare alike from any camera; ``"camera"``: the camera's axes (as first measured).
        left_hip_joint, right_hip_joint: the joints that orient the body (set from the layout).
        hand_aux: ``"each"``: every part stream's own head is asked for the class; ``"either"``:
            the two hand heads are asked together, through a smooth maximum of their logits, so
            the idle hand is not asked for the class (see the module docstring).
        step_scores: ``"pose"``: the attention logits come from the pose LSTM's states (plus
            ``hand_motion``'s); ``"motion"`` (an addition): each step's and hand's logit is a
            learned function of how fast that hand moves in that step against the clip's mean
            (:class:`HandSpeedScore`), nothing else, so the weights cannot carry what the whole
            pose says about the class.
        class_code_weight: when above 0 (``attend_time`` only), an adversary tries to name the
            class from the steps' shares (``temporal``, the kind whose class code the shipped
            model carries), and its gradient reaches them reversed and scaled by this weight
            (``core_models.models.class_code``; off in both presets).
        true_attention: kinds of attention replaced by the ground truth whenever the batch carries
            it (synthetic clips), in training and evaluation alike, of
            ``"parts"``, and ``"temporal"`` with ``attend_time``;
            empty in both presets. An experiment that measures what this architecture scores when
            its attention is right, the ceiling of learning where to look (see the module
            docstring). The model's own weights for those kinds then learn nothing; a clip without
            a ground truth uses them.
        attend_time: with ``per_step``, one softmax over the feature steps and the parts together
            (when and where), returned as the parts' weights per step (``parts``) and each step's
            share (``temporal``); the fused feature weighs the steps by that share instead of
            averaging them (see the module docstring).
        part_pool: how each part stream's own head pools its map over time: ``"mean"`` over the
            steps, or ``"attended"``, the steps weighed by the attention's ``temporal`` shares
            (held fixed for this loss; needs ``attend_time``), so a stream is asked for the class
            at the steps the pose picks (see the module docstring).
        hand_read: ``"mix"``: the fused map weighs the two hands' maps by their weights (the
            paper); ``"one"``: per step, the hand with more weight gets both hands' weight and the
            other none (straight-through, so the choice still learns; see the module docstring);
            ``"expected"``: per clip, the hand with more of the two hands' weight (averaged over
            the steps) gets all of it at every step, and the loss is the expected loss of the
            two whole reads, each hand's weighed by the probability of choosing it, so the
            choice moves towards the read that loses less (see the module docstring);
            ``"choose"`` (the ``cpu`` preset): read as ``"expected"``, but both reads train the
            streams and the head at equal weight whatever the choice, and the choice learns, by
            binary cross-entropy, the share of the label's probability that the left read holds
            (``p_left(y) / (p_left(y) + p_right(y))``), so it is told which read explains each
            clip and cannot starve the other read of training. With ``pose_scores`` the loss is
            the fused logits' cross-entropy, as for ``"mix"``, and the choice does not learn.
        trunk: ``"i3d"``: each part's stream is I3D's trunk up to ``fusion_endpoint`` (the paper);
            ``"frames"`` (an addition, the ``cpu`` preset's): a small 2-D CNN on single frames
            (:class:`FrameTrunk`), whose maps keep the crop's resolution longer (see the module
            docstring).
        frame_stride: with ``trunk="frames"``, the trunk reads every ``frame_stride``-th frame.
        frame_mix: with ``trunk="frames"``, a residual temporal convolution (3 frames) lets each
            frame's map read its neighbours' before they are averaged into steps.
        step_mix: with ``trunk="frames"``, a residual temporal convolution over 3 neighbouring
            steps after the frames are averaged, so a step's map carries which way the part's
            look changes around it (a shoe going on or coming off), not only how it looks; each
            step then depends on the frames of its two neighbours too. An experiment, off in
            both presets.
        mix_padding: what ``frame_mix`` and ``step_mix`` read beyond the clip's first and last
            frame (step): ``"zeros"`` (torch's default, the checkpoints before this field), which
            gives the end steps' maps a mark of where they sit in the clip whatever they show,
            so weights on the first or the last step can pass the pose branch's guess of the
            class to the head; ``"replicate"`` (the ``cpu`` preset's), the end frame again, so a
            map says only what its frames show (see the module docstring).
        step_target: what the steps' shares (``temporal``, with ``attend_time``) learn from:
            ``"read"``, the fused read's loss (the paper's way, end to end); ``"explains"`` (an
            addition, the ``cpu`` preset's), the read takes the shares as fixed weights and they
            learn by cross-entropy the share of the label's probability each step's read alone
            holds, ``p_t(y) / sum_s p_s(y)`` (see the module docstring).
        step_reads: with ``step_target="explains"``, the weight of a cross-entropy that asks each
            step's read alone for the label, weighed by that share (0: off; 1 in the ``cpu``
            preset).
        read_weight: the weight of the fused read's own cross-entropy (1 in both presets). Below 1
            (an experiment, with ``step_reads``), the trunk learns mostly or only from the steps'
            own reads, a multiple-instance loss that no step share chose, while the shares still
            learn where those reads explain the label (see the module docstring).
        step_context: with ``per_step``, a bidirectional GRU runs over the pose LSTM's states
            pooled to the feature steps, so each step's weight also sees the steps after it (the
            pose LSTM reads forward only: a step's state knows nothing of what follows it). An
            experiment, off in both presets.
        read_order: with ``attend_time``, the read also carries the steps' trend under their
            shares, ``sum_t w_t (u_t - c) f_t / v`` (``u_t`` the step's place in the clip in
            [-1, 1], ``c`` and ``v`` the shares' centre and variance: the weighted slope of each
            feature, see :func:`order_weights`), beside their weighted mean, so the head learns
            which way the look changes over the steps it reads (a shoe going on or coming off),
            which a weighted mean cannot tell. The head reads twice the
            channels; a step read alone has no trend (zeros). An experiment, off in both presets.
        step_sharpness: with ``step_target="explains"``, the power ``g`` the steps' target is
            sharpened by, ``p_t(y)^g / sum_s p_s(y)^g`` (1: the share of the label's probability
            itself; large: all on the step whose read holds the label best). 4 in the ``cpu``
            preset.
    """

    # What a checkpoint saved before a field existed was trained as (``checkpoint.restore_config``).
    LEGACY: ClassVar[dict] = {
        "hand_ratio": 0.12, "shared_hands": False, "hand_motion": False, "hand_aux": "each",
        "attend_time": False, "part_pool": "mean", "hand_read": "mix", "motion_frame": "camera",
        "trunk": "i3d", "frame_mix": False, "step_target": "read", "step_reads": 0.0, "step_sharpness": 1.0,
        "mix_padding": "zeros",
    }  # fmt: skip

    num_classes: int
    parts: tuple[str, ...] = DEFAULT_PARTS
    num_joints: int = 25
    num_persons: int = 2
    width: float = 1.0
    num_frames: int = 64
    crop_size: int = 224
    fusion_endpoint: str = "Mixed_5c"
    lstm_hidden: int = 512
    lstm_layers: int = 3
    timesteps: int = 20
    attention_hidden: int = 128
    per_step: bool = False
    dropout: float = 0.5
    pose_dropout: float = 0.6
    aux_weight: float = 0.5
    attention_weight: float = 0.01
    pose_scores: bool = False
    stream_weight: float = 0.5
    hand_ratio: float = 0.15
    shared_hands: bool = False
    hand_motion: bool = False
    left_hand_joint: int = 7
    right_hand_joint: int = 11
    motion_frame: str = "body"
    left_hip_joint: int = 12
    right_hip_joint: int = 16
    hand_aux: str = "each"
    attend_time: bool = False
    part_pool: str = "mean"
    hand_read: str = "mix"
    step_scores: str = "pose"
    class_code_weight: float = 0.0
    true_attention: tuple[str, ...] = ()
    trunk: str = "i3d"
    frame_stride: int = 2
    frame_mix: bool = False
    step_mix: bool = False
    mix_padding: str = "zeros"
    step_target: str = "read"
    step_reads: float = 0.0
    read_weight: float = 1.0
    step_context: bool = False
    read_order: bool = False
    step_sharpness: float = 1.0

    def __post_init__(self):
        if self.step_target not in ("read", "explains"):
            raise ValueError(f"step_target must be 'read' or 'explains', got {self.step_target!r}")
        if self.step_reads > 0 and self.step_target != "explains":
            raise ValueError("step_reads needs step_target='explains' (the shares it weighs by)")
        if not 0 <= self.read_weight <= 1:
            raise ValueError(f"read_weight must be in [0, 1], got {self.read_weight}")
        if self.read_weight < 1 and self.step_reads <= 0:
            raise ValueError("read_weight below 1 needs step_reads > 0 (else the read's loss just shrinks)")
        if self.step_target == "explains" and not self.attend_time:
            raise ValueError("step_target='explains' needs per_step and attend_time (the steps' shares)")
        if self.step_context and not self.per_step:
            raise ValueError("step_context needs per_step (it runs over the steps' pose states)")
        if self.read_order and not self.attend_time:
            raise ValueError(
                "read_order needs per_step and attend_time (the steps' shares it reads the trend under)"
            )
        if self.step_sharpness < 1:
            raise ValueError(f"step_sharpness must be at least 1, got {self.step_sharpness}")
        if self.step_sharpness != 1 and self.step_target != "explains":
            raise ValueError("step_sharpness needs step_target='explains' (it sharpens that target)")
        if self.trunk not in ("i3d", "frames"):
            raise ValueError(f"trunk must be 'i3d' or 'frames', got {self.trunk!r}")
        if (self.frame_mix or self.step_mix) and self.trunk != "frames":
            raise ValueError("frame_mix and step_mix need trunk='frames'")
        if self.mix_padding not in ("zeros", "replicate"):
            raise ValueError(f"mix_padding must be 'zeros' or 'replicate', got {self.mix_padding!r}")
        object.__setattr__(
            self,
            "true_attention",
            check_true_kinds(self.true_attention, ("parts", "temporal"), "part_attention"),
        )
        if "temporal" in self.true_attention and not (self.per_step and self.attend_time):
            raise ValueError("true_attention 'temporal' needs per_step and attend_time (the steps' shares)")
        if self.motion_frame not in ("body", "camera"):
            raise ValueError(f"motion_frame must be 'body' or 'camera', got {self.motion_frame!r}")
        if self.hand_read not in ("mix", "one", "expected", "choose"):
            raise ValueError(
                f"hand_read must be 'mix', 'one', 'expected' or 'choose', got {self.hand_read!r}"
            )
        if self.hand_read != "mix" and not set(HANDS) <= set(self.parts):
            raise ValueError(
                f"hand_read={self.hand_read!r} needs both {HANDS} among the parts, got {self.parts}"
            )
        if self.part_pool not in ("mean", "attended"):
            raise ValueError(f"part_pool must be 'mean' or 'attended', got {self.part_pool!r}")
        if self.part_pool == "attended" and not (self.per_step and self.attend_time):
            raise ValueError("part_pool='attended' needs per_step and attend_time (the steps' shares)")
        if self.hand_aux not in ("each", "either"):
            raise ValueError(f"hand_aux must be 'each' or 'either', got {self.hand_aux!r}")
        if self.step_scores not in ("pose", "motion"):
            raise ValueError(f"step_scores must be 'pose' or 'motion', got {self.step_scores!r}")
        if self.step_scores == "motion" and not (self.per_step and set(HANDS) <= set(self.parts)):
            raise ValueError("step_scores='motion' needs per_step and both hands among the parts")
        if self.class_code_weight > 0 and not self.attend_time:
            raise ValueError("class_code_weight needs attend_time (the steps' shares it reads)")
        if self.hand_aux == "either" and not set(HANDS) <= set(self.parts):
            raise ValueError(f"hand_aux='either' needs both {HANDS} among the parts, got {self.parts}")


PRESETS = {
    "paper": PartAttentionConfig(
        num_classes=60, width=1.0, num_frames=64, crop_size=224, lstm_hidden=512, timesteps=20,
        attention_hidden=128, dropout=0.5, pose_dropout=0.6,
    ),
    "cpu": PartAttentionConfig(
        num_classes=60, width=0.25, num_frames=16, crop_size=32, lstm_hidden=128, timesteps=20,
        attention_hidden=64, dropout=0.3, pose_dropout=0.3, shared_hands=True,
        fusion_endpoint="Mixed_4f", per_step=True, attend_time=True, parts=HANDS,
        part_pool="attended", hand_read="choose", hand_motion=True, trunk="frames", frame_mix=True,
        mix_padding="replicate", step_target="explains", step_reads=1.0, step_sharpness=4.0,
    ),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# blocks


def hands_onto(alpha: torch.Tensor, a: int, b: int, share_a: torch.Tensor | float) -> torch.Tensor:
    """Part weights (..., P) with both hands' weight (parts ``a`` and ``b``) split anew: ``share_a``
    of it to ``a``, the rest to ``b``; every other part keeps its weight, so each step still sums
    to what it did (a copy; ``alpha`` is not changed)."""
    both = alpha[..., a] + alpha[..., b]
    out = alpha.clone()
    out[..., a] = both * share_a
    out[..., b] = both * (1 - share_a)
    return out


def one_hand(alpha: torch.Tensor, hands: list[int]) -> torch.Tensor:
    """Both hands' weight (..., P) on the hand with more of it, the other hand 0 (forward); the
    gradient is the soft weights' (straight-through), so the choice still learns."""
    a, b = hands
    hard = hands_onto(alpha, a, b, (alpha[..., a] >= alpha[..., b]).to(alpha.dtype))
    return alpha + (hard - alpha).detach()


def order_weights(temporal: torch.Tensor) -> torch.Tensor:
    """(B, T') shares -> (B, T') the weights of their trend, ``w_t (u_t - c) / v``: ``u_t`` each
    step's centre in the clip on [-1, 1], ``c`` and ``v`` the shares' mean and variance of ``u``
    (``v`` at least that of two neighbouring steps; shares on one step give no trend). Summed
    with the steps' features they give the weighted least-squares slope of each feature over the
    steps read: how it changes from the first to the last, on the same scale however wide the
    shares are."""
    T = temporal.shape[1]
    u = (torch.arange(T, device=temporal.device, dtype=temporal.dtype) + 0.5) * (2.0 / T) - 1.0
    c = (temporal * u).sum(dim=1, keepdim=True)
    var = (temporal * (u - c) ** 2).sum(dim=1, keepdim=True).clamp_min(1.0 / T**2)
    return temporal * (u - c) / var


class FramePool(nn.Module):
    """Frame maps (B, C, t, h, w) -> step maps (B, C, steps, h, w): the mean of the frames in each
    of ``steps`` equal stretches (a named module, so Grad-CAM finds the step maps)."""

    def forward(self, maps: torch.Tensor, steps: int) -> torch.Tensor:
        B, C, t, h, w = maps.shape
        return maps.reshape(B, C, steps, t // steps, h, w).mean(dim=3)


class FrameTrunk(nn.Module):
    """A small 2-D CNN on single frames of a part crop (``trunk="frames"``; see the module
    docstring): every ``frame_stride``-th frame, starting mid-stride, goes through three blocks of
    3x3 convolution, batch norm, ReLU and 2x2 max pooling (no strided stem, so a 32 px hand crop
    keeps 4x4 cells), and the frames' maps are averaged within each of ``num_frames // 4`` steps,
    the time resolution of I3D's Mixed_4f. It answers the part of I3D's interface the model uses
    (``forward_features``, ``feature_channels``, ``feature_shape``); ``until`` is ignored."""

    def __init__(self, config: PartAttentionConfig, channels: tuple[int, ...] = (32, 64, 96)):
        super().__init__()
        if config.num_frames % 4 or (config.num_frames // 4) % config.frame_stride:
            raise ValueError(f"trunk='frames' needs num_frames divisible by 4 * frame_stride, got "
                             f"{config.num_frames} frames, frame_stride {config.frame_stride}")  # fmt: skip
        if config.crop_size % 8:
            raise ValueError(f"trunk='frames' needs a crop_size divisible by 8, got {config.crop_size}")
        layers: list[nn.Module] = []
        for i, o in zip((3, *channels[:-1]), channels, strict=True):
            # torch's own pool: it keeps the channels-last layout the convolutions run in
            layers += [ConvBNReLU(i, o, 3, 1), nn.MaxPool2d(2)]
        self.net = nn.Sequential(*layers)
        c = channels[-1]
        # each frame's (step's) map also reads its neighbours' (residual), for motion (its order)
        self.mix = self._mix(c, config.mix_padding) if config.frame_mix else None
        self.step_mix = self._mix(c, config.mix_padding) if config.step_mix else None
        self.stride = config.frame_stride
        self.pool = FramePool()
        self.channels = c

    @staticmethod
    def _mix(c: int, padding: str) -> nn.Module:
        """A temporal convolution over 3 neighbours, batch norm, ReLU (added to its input);
        ``padding`` is the convolution's ``padding_mode`` (``config.mix_padding``)."""
        conv = nn.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0), bias=False, padding_mode=padding)
        return nn.Sequential(conv, nn.BatchNorm3d(c), nn.ReLU(inplace=True))

    def feature_channels(self, endpoint: str | None = None) -> int:
        return self.channels

    def feature_shape(self, frames: int, size: int, endpoint: str | None = None) -> tuple[int, int, int]:
        return frames // 4, size // 8, size // 8

    def forward_features(self, x: torch.Tensor, *, until: str | None = None) -> torch.Tensor:
        """(B, 3, T, C, C) -> (B, C', T // 4, C // 8, C // 8)."""
        if x.shape[2] % (4 * self.stride):
            raise ValueError(f"the frames trunk reads clips of a multiple of {4 * self.stride} frames "
                             f"(4 steps x frame_stride {self.stride}), got {x.shape[2]}")  # fmt: skip
        frames = x[:, :, self.stride // 2 :: self.stride]  # (B, 3, t, C, C)
        B, _, t = frames.shape[:3]
        flat = frames.transpose(1, 2).reshape(B * t, 3, *x.shape[-2:])
        # channels-last: about twice as fast for these small convolutions on this CPU (measured)
        maps = self.net(flat.contiguous(memory_format=torch.channels_last))  # (B * t, C', h, w)
        maps = maps.reshape(B, t, *maps.shape[1:]).transpose(1, 2)  # (B, C', t, h, w)
        if self.mix is not None:
            maps = maps + self.mix(maps)
        steps = self.pool(maps, x.shape[2] // 4)
        return steps if self.step_mix is None else steps + self.step_mix(steps)


def part_trunk(config: PartAttentionConfig) -> nn.Module:
    """The stream of one part: with ``trunk="frames"`` a :class:`FrameTrunk`, else an I3D that
    keeps only its trunk up to ``config.fusion_endpoint``.

    The later blocks and the I3D classifier become ``nn.Identity`` (no parameters), so every
    parameter left is used by the model; module names stay those of ``I3D`` for weight loading.
    """
    if config.trunk == "frames":
        return FrameTrunk(config)
    cfg = I3DConfig(
        num_classes=1, width=config.width, input_frames=config.num_frames, input_size=config.crop_size
    )
    return i3d_trunk(cfg, until=config.fusion_endpoint)


def tie(copy: nn.Module, source: nn.Module) -> None:
    """Make every parameter and buffer of ``copy`` the very tensor of ``source`` (same structure).

    The two stay separate modules (their own names and hooks) that compute with one set of
    weights; ``parameters()`` yields each shared tensor once, so an optimiser steps it once.
    """
    mods = dict(source.named_modules())
    for name, module in copy.named_modules():
        twin = mods[name]
        for key in module._parameters:
            module._parameters[key] = twin._parameters[key]
        for key in module._buffers:
            module._buffers[key] = twin._buffers[key]


class PartAttentionBranch(nn.Module):
    """Pose LSTM -> dropout -> Dense(tanh) -> Dense(P) -> softmax over parts.

    ``forward(skeleton (B, Ts, M, J, 3), steps)`` returns ``(alpha, last state, temporal)``: alpha
    (B, P), or (B, steps, P) with ``per_step``, the LSTM states average-pooled from Ts to
    ``steps``; with ``attend_time`` one softmax over steps x parts, split into alpha (each step's
    row sums to 1) and temporal (B, steps), the share of each step (else ``None``).
    """

    def __init__(self, config: PartAttentionConfig):
        super().__init__()
        self.per_step = config.per_step
        self.attend_time = config.attend_time
        self.pose = PoseLSTM(
            SkeletonLSTMConfig(
                num_classes=config.num_classes, num_joints=config.num_joints,
                num_persons=config.num_persons, hidden=config.lstm_hidden,
                num_layers=config.lstm_layers, dropout=config.pose_dropout, timesteps=config.timesteps,
            )
        )  # fmt: skip
        self.drop = nn.Dropout(config.pose_dropout)
        self.context = (
            nn.GRU(config.lstm_hidden, config.lstm_hidden // 2, batch_first=True, bidirectional=True)
            if config.step_context
            else None
        )
        self.hidden = nn.Linear(2 * (config.lstm_hidden // 2) if config.step_context else config.lstm_hidden,
                                config.attention_hidden)  # fmt: skip
        self.score = nn.Linear(config.attention_hidden, len(config.parts))
        # Small, not zero: alpha starts near uniform and gradients still reach the whole branch.
        nn.init.normal_(self.score.weight, std=0.01)
        nn.init.zeros_(self.score.bias)
        self.attend = nn.Softmax(dim=-1)  # a named module, so hooks can capture alpha
        self.hand_motion = HandMotionScore(config) if config.hand_motion else None
        self.hand_speed = HandSpeedScore(config) if config.step_scores == "motion" else None

    def forward(
        self, skeleton: torch.Tensor, steps: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(alpha (B, [T',] P), last LSTM state (B, H), temporal (B, T') or None)``."""
        states, last = self.pose(skeleton)  # (B, Ts, H), (B, H)
        if self.hand_speed is not None:  # each step's own hand speeds, not the clip's pose code
            logits = self.hand_speed(skeleton, steps)  # (B, T', P)
        else:
            h = last  # (B, H)
            if self.per_step:
                h = F.adaptive_avg_pool1d(states.transpose(1, 2), steps).transpose(1, 2)  # (B, T', H)
                if self.context is not None:  # each step also sees the steps after it
                    h = self.context(h)[0]
            z = torch.tanh(self.hidden(self.drop(h)))  # (B, [T',] A)
            logits = self.score(z)
            if self.hand_motion is not None:
                logits = logits + self.hand_motion(skeleton, steps if self.per_step else 0)
        if not self.attend_time:
            return self.attend(logits), last, None
        joint = torch.softmax(logits.flatten(1), dim=1).view_as(logits)  # (B, T', P), sums to 1
        temporal = joint.sum(dim=-1)  # (B, T')
        return joint / temporal.unsqueeze(-1), last, temporal


class HandMotionScore(nn.Module):
    """One score per hand from that hand's own trajectory, the same GRU for both hands.

    Per hand: the hand joint of the first person relative to the mean of its joints, per
    skeleton frame, with the left hand's x mirrored (so a left hand drinking looks like a right
    hand drinking), and its frame-to-frame velocity; a GRU reads the 6 numbers per frame and a
    linear layer turns its last state (or, per step, its states pooled to the feature steps) into
    a score. ``forward`` returns (B, [T',] P) with zeros for every part that is not a hand, added
    to the attention logits before the softmax. Mirroring the whole clip swaps the two scores.
    """

    def __init__(self, config: PartAttentionConfig, hidden: int = 32):
        super().__init__()
        if not set(HANDS) <= set(config.parts):
            raise ValueError(f"hand_motion needs both {HANDS} among the parts, got {config.parts}")
        self.index = [config.parts.index(h) for h in HANDS]
        self.joints = [config.left_hand_joint, config.right_hand_joint]
        self.hips = (config.left_hip_joint, config.right_hip_joint) if config.motion_frame == "body" else None
        self.num_parts = len(config.parts)
        self.gru = nn.GRU(6, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)
        nn.init.normal_(self.out.weight, std=0.01)
        nn.init.zeros_(self.out.bias)

    def forward(self, skeleton: torch.Tensor, steps: int) -> torch.Tensor:
        body = skeleton[:, :, 0]  # (B, Ts, J, 3), the first person
        rel = body[:, :, self.joints] - body.mean(dim=2, keepdim=True)  # (B, Ts, 2, 3)
        if self.hips is not None:  # turn about y so the clip's mean hip line runs along +x
            across = (body[:, :, self.hips[0]] - body[:, :, self.hips[1]]).mean(dim=1)  # (B, 3)
            angle = torch.atan2(across[:, 2], across[:, 0])[:, None, None]  # (B, 1, 1)
            c, s = torch.cos(angle), torch.sin(angle)
            x, y, z = rel.unbind(-1)
            rel = torch.stack([c * x + s * z, y, c * z - s * x], dim=-1)
        rel = torch.cat([rel[:, :, :1] * rel.new_tensor([-1.0, 1.0, 1.0]), rel[:, :, 1:]], dim=2)
        vel = torch.cat([torch.zeros_like(rel[:, :1]), rel[:, 1:] - rel[:, :-1]], dim=1)
        x = torch.cat([rel, vel], dim=-1)  # (B, Ts, 2, 6)
        B, Ts = x.shape[:2]
        states, _ = self.gru(x.transpose(1, 2).reshape(B * 2, Ts, 6))  # (2B, Ts, h)
        h = (  # (2B, T', h) per step, else the last state (2B, h)
            F.adaptive_avg_pool1d(states.transpose(1, 2), steps).transpose(1, 2) if steps else states[:, -1]
        )
        s = self.out(h).squeeze(-1).reshape(B, 2, *h.shape[1:-1])  # (B, 2[, T'])
        if steps:
            s = s.transpose(1, 2)  # (B, T', 2)
        full = s.new_zeros(*s.shape[:-1], self.num_parts)
        full[..., self.index] = s
        return full


class HandSpeedScore(nn.Module):
    """Per feature step and hand, a logit from how fast that hand moves in the step alone.

    Each hand joint of the first person, relative to the mean of its joints, moves some distance
    between skeleton frames; the mean of those distances within each of the ``steps`` stretches,
    divided by their mean over all stretches and both hands, is ``r`` (1: the clip's usual
    movement, 0: still). The logit is ``a * r + b * log(r + 0.05)`` with two learned numbers, the
    same for both hands and every step: the score can say "the hand that moves, when it moves",
    and nothing about which class the whole pose looks like. Parts other than the hands get 0.
    """

    def __init__(self, config: PartAttentionConfig):
        super().__init__()
        self.index = [config.parts.index(h) for h in HANDS]
        self.joints = [config.left_hand_joint, config.right_hand_joint]
        self.num_parts = len(config.parts)
        self.weight = nn.Parameter(torch.tensor([1.0, 0.0]))

    def forward(self, skeleton: torch.Tensor, steps: int) -> torch.Tensor:
        body = skeleton[:, :, 0]  # (B, Ts, J, 3)
        rel = body[:, :, self.joints] - body.mean(dim=2, keepdim=True)  # (B, Ts, 2, 3)
        speed = (rel[:, 1:] - rel[:, :-1]).norm(dim=-1)  # (B, Ts-1, 2)
        per_step = F.adaptive_avg_pool1d(speed.transpose(1, 2), steps).transpose(1, 2)  # (B, T', 2)
        r = per_step / per_step.mean(dim=(1, 2), keepdim=True).clamp_min(1e-6)
        s = self.weight[0] * r + self.weight[1] * torch.log(r + 0.05)  # (B, T', 2)
        full = s.new_zeros(*s.shape[:-1], self.num_parts)
        full[..., self.index] = s
        return full


# ---------------------------------------------------------------------------------------------
# model


class PartAttention(nn.Module):
    """P-I3D: body-part I3D streams fused by pose-driven attention over parts."""

    inputs = ("crops", "skeleton")
    attention_kinds = ("parts",)
    steerable = ("parts",)
    # The staged schedule of the paper as options of one model (``train --stage``): ``parts``
    # trains each part I3D with its own classifier alone; ``attention`` freezes them and trains
    # the pose attention and the fused head; ``all`` (the default) trains everything jointly.
    stages = ("all", "parts", "attention")
    stage = "all"

    def __init__(self, config: PartAttentionConfig):
        super().__init__()
        if not config.parts:
            raise ValueError("P-I3D needs at least one body part")
        if config.attend_time and not config.per_step:
            raise ValueError("attend_time needs per_step=True (weights per feature step)")
        self.config = config
        if config.attend_time:  # the instance's own kinds: the class lists those of the presets
            self.attention_kinds = self.steerable = ("parts", "temporal")
        self.parts = nn.ModuleDict({name: part_trunk(config) for name in config.parts})
        if config.shared_hands:
            if not set(HANDS) <= set(config.parts):
                raise ValueError(f"shared_hands needs both {HANDS} among the parts, got {config.parts}")
            tie(self.parts["left_hand"], self.parts["right_hand"])
        channels = self.parts[config.parts[0]].feature_channels(config.fusion_endpoint)
        self.attention = PartAttentionBranch(config)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * channels if config.read_order else channels, config.num_classes)
        self.part_heads = nn.ModuleList(nn.Linear(channels, config.num_classes) for _ in config.parts)
        self.pose_scores = (
            PoseScores(config.lstm_hidden, config.num_classes, config.dropout) if config.pose_scores else None
        )
        if config.class_code_weight > 0:  # the reader's size: the feature steps
            trunk = self.parts[config.parts[0]]
            steps = trunk.feature_shape(config.num_frames, config.crop_size, config.fusion_endpoint)[0]
            self.class_code = AttentionAdversary(
                {"temporal": steps}, config.num_classes, config.class_code_weight
            )
        self.input_spec = InputSpec(
            num_frames=config.num_frames, frame_size=config.crop_size,
            crops=CropSpec(parts=config.parts, size=config.crop_size, hand_ratio=config.hand_ratio),
            skeleton_frames=config.timesteps, num_persons=config.num_persons,
        )  # fmt: skip

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        crops = batch["crops"]
        P = len(self.config.parts)
        if crops.dim() != 6 or crops.shape[1] != P or crops.shape[2] != 3:
            raise ValueError(f"crops must be (B, {P}, 3, T, C, C) in order {self.config.parts}, "
                             f"got {tuple(crops.shape)}")  # fmt: skip
        end, trunks = self.config.fusion_endpoint, self.parts.values()

        def maps() -> torch.Tensor:  # (B, P, C', T', H', W'): what no attention changes
            return torch.stack([t.forward_features(crops[:, p], until=end) for p, t in enumerate(trunks)], 1)

        feats = reused(batch, "part_maps", maps)  # (B, P, C', T', H', W')
        alpha, code, temporal = self.attention(batch["skeleton"], feats.shape[3])  # (B, [T',] P), (B, H)
        hands = [self.config.parts.index(h) for h in HANDS] if self.config.hand_read != "mix" else []
        reads = None
        if self.config.hand_read == "one":
            alpha = one_hand(alpha, hands)
        elif self.config.hand_read in ("expected", "choose"):
            both = alpha[..., hands[0]] + alpha[..., hands[1]]
            p_left = alpha[..., hands[0]] / both.clamp_min(1e-12)
            p_left = p_left.mean(-1) if p_left.dim() == 2 else p_left  # (B,): the clip's choice
            reads = [hands_onto(alpha, *hands, share) for share in (1.0, 0.0)]  # left's, right's
            left = (p_left >= 0.5)[:, None]  # (B, 1): the clip reads its left hand
            chosen = left.to(alpha.dtype) if alpha.dim() == 3 else left[:, 0].to(alpha.dtype)
            alpha = hands_onto(alpha, *hands, chosen).detach()  # what the model reads and shows
        truth = self.config.true_attention
        steered = steer(batch, "parts", attend_truth(batch, "parts", alpha, truth, self.config.parts))
        own_steps, explains = temporal, False
        if temporal is not None:
            temporal = steer(batch, "temporal", attend_truth(batch, "temporal", temporal, truth))
            explains = self.config.step_target == "explains" and temporal is own_steps
            if explains and self.training:  # the read takes the steps as given; they learn their own target
                temporal = temporal.detach()
        reads = reads if steered is alpha else None  # an override is read as given
        if reads is None:
            rgb_feat = self._read(feats, steered, temporal, self.config.read_order)
            rgb_logits = self.head(self.drop(rgb_feat))  # (B, K)
        else:  # each hand read alone, for the expected loss; the model's own is the chosen one
            feat_each = [self._read(feats, r, temporal, self.config.read_order) for r in reads]
            rgb_logits_each = [self.head(self.drop(f)) for f in feat_each]
            rgb_feat = torch.where(left, feat_each[0], feat_each[1])
            rgb_logits = torch.where(left, rgb_logits_each[0], rgb_logits_each[1])
        alpha = steered
        pose_logits = self.pose_scores(code) if self.pose_scores is not None else None
        features = rgb_feat if pose_logits is None else torch.cat([rgb_feat, code], dim=1)
        logits, aux = fuse(rgb_logits, pose_logits)
        if self.config.part_pool == "attended":  # the steps the pose picked, as fixed weights
            pooled = (feats.mean(dim=(4, 5)) * temporal.detach()[:, None, None]).sum(dim=3)  # (B, P, C')
        else:
            pooled = feats.mean(dim=(3, 4, 5))  # (B, P, C')
        pooled = self.drop(pooled)
        heads = enumerate(self.part_heads)
        aux["part_logits"] = torch.stack([head(pooled[:, p]) for p, head in heads], dim=1)  # (B, P, K)
        if explains:  # each step read alone under the parts' weights the model reads
            with torch.set_grad_enabled(self.config.step_reads > 0 and torch.is_grad_enabled()):
                w = steered.detach().transpose(1, 2)[:, :, None]  # (B, P, 1, T')
                fused_steps = (w * feats.mean(dim=(4, 5))).sum(dim=1)  # (B, C', T')
                step_in = fused_steps.transpose(1, 2)
                if self.config.read_order:  # a step read alone has no trend
                    step_in = torch.cat([step_in, torch.zeros_like(step_in)], dim=2)
                aux["step_logits"] = self.head(self.drop(step_in) if self.config.step_reads > 0 else step_in)
            aux["own_steps"] = own_steps  # (B, T'), with the gradient to the pose branch
        if reads is not None and pose_logits is None:
            aux["hand_reads"] = torch.stack(rgb_logits_each, dim=1)  # (B, 2, K): left's, right's
            aux["hand_p_left"] = p_left  # (B,)
        attention = {"parts": alpha} if temporal is None else {"parts": alpha, "temporal": temporal}
        reusable = {} if self.training else {"part_maps": feats}
        return ModelOutput(logits=logits, attention=attention, aux=aux, features=features, reusable=reusable)

    @staticmethod
    def _read(
        feats: torch.Tensor, alpha: torch.Tensor, temporal: torch.Tensor | None, order: bool = False
    ) -> torch.Tensor:
        """The fused RGB feature (B, C') of part maps (B, P, C', T', H', W') under part weights
        ``alpha`` (B, P) or (B, T', P), the steps weighed by ``temporal`` (B, T') when given;
        with ``order`` (and ``temporal``), (B, 2C'): the weighted mean and the trend (``read_order``)."""
        if alpha.dim() == 2:
            weights = alpha[:, :, None, None, None, None]  # (B, P, 1, 1, 1, 1)
        else:
            weights = alpha.transpose(1, 2)[:, :, None, :, None, None]  # (B, P, 1, T', 1, 1)
        fused = (weights * feats).sum(dim=1)  # (B, C', T', H', W')
        if temporal is None:
            return fused.mean(dim=(2, 3, 4))
        steps = fused.mean(dim=(3, 4))  # (B, C', T')
        mean = (steps * temporal[:, None]).sum(dim=2)  # the steps by their share
        if not order:
            return mean
        return torch.cat([mean, (steps * order_weights(temporal)[:, None]).sum(dim=2)], dim=1)

    def set_stage(self, stage: str) -> None:
        """Choose what trains and which loss terms count (see :attr:`stages`)."""
        if stage not in self.stages:
            raise ValueError(f"unknown stage {stage!r}; choose one of {self.stages}")
        self.stage = stage
        streams = [self.parts, self.part_heads]
        fusion = [self.attention, self.head] + ([self.pose_scores] if self.pose_scores is not None else [])
        for m in streams:
            m.requires_grad_(stage in ("all", "parts"))
        for m in fusion:
            m.requires_grad_(stage in ("all", "attention"))
        if stage == "attention" and self.training:
            self.parts.eval()  # frozen streams keep their batch-norm statistics

    def attention_penalty(self, alpha: torch.Tensor) -> torch.Tensor:
        """The attention regulariser R(alpha); 0 for uniform attention (see the module docstring)."""
        if alpha.dim() == 3:
            return losses.doubly_stochastic(alpha)  # (B, T', P)
        return math.log(alpha.shape[-1]) - losses.entropy(alpha)  # KL(alpha || uniform), (B, P)

    def part_loss(self, part_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The streams' own cross-entropy: (B, P, K) logits -> mean over the terms.

        ``hand_aux="each"``: one term per part. ``"either"``: the two hands make one term, on
        ``logsumexp`` over the hands of each class's logit (a smooth "whichever hand shows it"),
        and every other part keeps its own.
        """
        terms = part_logits  # (B, P, K)
        if self.config.hand_aux == "either":
            hands = [self.config.parts.index(h) for h in HANDS]
            rest = [p for p in range(part_logits.shape[1]) if p not in hands]
            either = torch.logsumexp(part_logits[:, hands], dim=1, keepdim=True)  # (B, 1, K)
            terms = torch.cat([either, part_logits[:, rest]], dim=1)  # (B, P - 1, K)
        return losses.classification(terms.flatten(0, 1), labels.repeat_interleave(terms.shape[1]))

    @staticmethod
    def steps_loss(
        step_logits: torch.Tensor, steps: torch.Tensor, labels: torch.Tensor, sharpness: float = 1.0
    ) -> torch.Tensor:
        """``step_target="explains"``: the cross-entropy of the steps' shares ``steps`` (B, T')
        against ``p_t(y) / sum_s p_s(y)``, the share of the label's probability that each step's
        read alone (``step_logits`` (B, T', K), no gradient) holds: the step that explains the
        label gets the weight, whichever class it is (``p_t(y)^g`` for ``sharpness`` g)."""
        target = losses.label_shares(step_logits.detach(), labels, sharpness)
        return -(target * steps.clamp_min(1e-8).log()).sum(dim=1).mean()

    @staticmethod
    def step_reads_loss(step_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``step_reads``: each step's read alone (B, T', K) asked for the label, weighed by the
        share of the label's probability it holds (held fixed): a multiple-instance step that
        trains the reads on the steps that explain the clip, as the truth would."""
        logp_y = losses.label_log_probs(step_logits, labels)
        return -(torch.softmax(logp_y.detach(), dim=1) * logp_y).sum(dim=1).mean()

    def loss(self, out: ModelOutput, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        labels = batch["label"]
        choice = None
        if "hand_reads" in out.aux:  # hand_read "expected" or "choose": both hands' whole reads
            p = out.aux["hand_p_left"]
            each = [F.cross_entropy(out.aux["hand_reads"][:, h], labels, reduction="none") for h in (0, 1)]
            if c.hand_read == "choose":  # both reads learn alike, whatever the choice
                ce = ((each[0] + each[1]) / 2).mean()
                # The choice learns which read explains the label: p_left(y) / (p_left(y) + p_right(y)).
                left_explains = torch.sigmoid(each[1].detach() - each[0].detach())
                choice = F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), left_explains)
            else:
                ce = (p * each[0] + (1 - p) * each[1]).mean()
        else:
            ce = losses.classification(out.logits, labels)
        part_ce = self.part_loss(out.aux["part_logits"], labels)
        att = self.attention_penalty(out.attention["parts"])
        streams, stream_terms = stream_loss(out.aux, labels, c.stream_weight)
        if self.stage == "parts":
            total = part_ce
        elif self.stage == "attention":
            total = c.read_weight * ce + c.attention_weight * att
        else:
            total = c.read_weight * ce + c.aux_weight * part_ce + c.attention_weight * att
        if streams is not None and self.stage != "parts":
            total = total + streams
        if choice is not None and self.stage != "parts":
            total = total + choice
            stream_terms = {**stream_terms, "choice": float(choice.detach())}
        if "step_logits" in out.aux and self.stage != "parts":
            steps = self.steps_loss(out.aux["step_logits"], out.aux["own_steps"], labels, c.step_sharpness)
            total = total + steps
            stream_terms = {**stream_terms, "steps": float(steps.detach())}
            if c.step_reads > 0:  # each step's read learns the label as much as it explains it
                reads_ce = self.step_reads_loss(out.aux["step_logits"], labels)
                total = total + c.step_reads * reads_ce
                stream_terms = {**stream_terms, "step_reads": float(reads_ce.detach())}
        if c.class_code_weight > 0 and self.stage != "parts":
            adversary = self.class_code({"temporal": out.attention["temporal"]}, labels)
            total = total + adversary
            stream_terms = {**stream_terms, "class_code": float(adversary.detach())}
        return total, {"ce": float(ce.detach()), "part_ce": float(part_ce.detach()),
                       "attention": float(att.detach()), **stream_terms}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# factory


def part_attention(
    preset: str = "cpu", *, num_classes: int, layout: SkeletonLayout = NTU25, **overrides: Any
) -> PartAttention:
    """P-I3D with a named preset.

    ``paper``: full-width I3Ds on 64 x 224^2 crops, 3 x 512 pose LSTM, 20 skeleton steps.
    ``cpu``: width-0.25 I3Ds on 16 x 32^2 crops, 3 x 128 pose LSTM. ``overrides`` replace config
    fields (``per_step=True``, ``parts=(...)``, ``fusion_endpoint=...``).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    hands = {p.name: p.center for p in layout.parts if p.name in HANDS}
    config = replace(
        PRESETS[preset], num_classes=num_classes, num_joints=layout.num_joints,
        left_hand_joint=hands["left_hand"], right_hand_joint=hands["right_hand"],
        left_hip_joint=layout.left_hip, right_hip_joint=layout.right_hip, **overrides,
    )  # fmt: skip
    missing = [p for p in config.parts if p not in layout.part_names]
    if missing:
        raise ValueError(f"layout {layout.name} has no parts {missing}; it has {layout.part_names}")
    return PartAttention(config)
