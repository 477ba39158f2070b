"""Command line: ``python -m core_models <command> [options]``; ``--help`` works on every command.

Commands:
    synth    write the built-in synthetic dataset (NTU RGB+D format) to a folder
    render   render one synthetic clip by name to a video file (no dataset needed)
    info     list a dataset root: clips, classes, protocol splits, and what was skipped and why
    probe    the "time matters" experiment on a synthetic dataset (single-frame baselines)
    hands    which hand's crop a part-attention model reads the class from
    where    where a spatial attention map lands: its share on the parts carrying the action
    bench    the benchmarks behind the README's speed figures
    models   list every model with its presets, parameters, inputs and attention
    train    train a model into a run directory (also under torchrun)
    evaluate evaluate a run or checkpoint into the results store
    explain  attributions of a run's clips beside its attention, faithfulness and ground truth
    reproduce train every shipped checkpoint again; print the README's results table
    pose     estimate the pose in any video (BlazePose, offline) into an NTU .skeleton file
    ood      fit a model's out-of-distribution statistics (training split) into its checkpoint
    lesson   one self-contained HTML file with every view of a clip, for teaching offline

Each command is a pair: ``_add_<name>(subparsers)`` declares its options, ``_run_<name>(args)``
runs it. Commands import what they need when they run, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DATASETS = ("synth", "ntu", "nucla", "smarthome", "ucf101")


def _bounded(kind, low, what: str):
    """An argparse type: ``kind`` (int or float) at least ``low``; refused with ``what`` otherwise."""

    def parse(text: str):
        import math

        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


COUNT = _bounded(int, 0, "an integer >= 0")
POSITIVE = _bounded(int, 1, "an integer >= 1")
NON_NEGATIVE_FLOAT = _bounded(float, 0.0, "a number >= 0")


def _positive_float(text: str) -> float:
    value = NON_NEGATIVE_FLOAT(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number > 0")
    return value


def _fraction(text: str) -> float:
    value = NON_NEGATIVE_FLOAT(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a number in [0, 1)")
    return value


# core_models.explain.METHODS, spelled out so that --help does not import torch
EXPLAIN_METHODS = ("integrated_gradients", "saliency", "occlusion", "grad_cam", "segment_ablation")


# -- synth ------------------------------------------------------------------------------------
def _add_synth(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="write the synthetic dataset",
        description="Write the built-in synthetic ADL dataset in the NTU RGB+D on-disk format "
        "(SsssCcccPpppRrrrAaaa.skeleton, _rgb.avi, and a .truth.json ground-truth sidecar per clip).",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--small", action="store_true", help="a few hundred clips, for tests and quick runs")
    p.add_argument("--seed", type=COUNT, default=0, help="dataset seed (default 0)")
    p.add_argument("--workers", type=POSITIVE, default=2, help="processes rendering in parallel (default 2)")
    p.add_argument("--progress", type=Path, help="keep the number of clips written in this JSON file")


def _run_synth(args) -> int:
    import signal

    from core_models.synth.generate import write_dataset, write_dataset_atomically

    # SIGTERM (a Stop on the Train page) unwinds like Ctrl-C, so the unfinished folder is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    t0 = time.perf_counter()
    fresh = not args.out.exists() or not any(args.out.iterdir())
    write = write_dataset_atomically if fresh else write_dataset  # into a folder that holds files: in place
    summary = write(args.out, small=args.small, seed=args.seed, workers=args.workers, progress=True,
                    progress_file=args.progress)  # fmt: skip
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(
        f"wrote {summary['clips']} clips ({summary['frames']} frames) to {args.out} "
        f"in {seconds:.1f} s ({size / 2**20:.1f} MiB)"
    )
    return 0


# -- render -----------------------------------------------------------------------------------
def _add_render(sub) -> None:
    p = sub.add_parser(
        "render",
        help="render one synthetic clip to a video",
        description="Render one synthetic clip by its NTU-style name, with its skeleton drawn, "
        "to a video (.webm plays in browsers, .avi/.mp4 elsewhere). No dataset is needed.",
    )
    p.add_argument("name", help="sample name, e.g. S001C001P001R001A008")
    p.add_argument("--out", required=True, type=Path, help="output video (.webm, .avi or .mp4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--size",
        type=_bounded(int, 16, "a size of at least 16"),
        nargs=2,
        default=(240, 320),
        metavar=("H", "W"),
    )
    p.add_argument("--no-skeleton", action="store_true", help="do not draw the skeleton")


def _run_render(args) -> int:
    from core_models.data.video import write_video
    from core_models.synth import render_clip
    from viz.skeleton import draw_skeleton

    clip = render_clip(args.name, seed=args.seed, size=tuple(args.size))
    frames = clip.frames if args.no_skeleton else draw_skeleton(clip.frames, clip.joints2d, clip.layout)
    write_video(args.out, frames, fps=clip.meta.get("fps", 30.0))
    print(f"{clip.name}: {clip.label_name}, {clip.num_frames} frames -> {args.out}")
    return 0


# -- info -------------------------------------------------------------------------------------
def _add_info(sub) -> None:
    p = sub.add_parser(
        "info",
        help="summarise a dataset root",
        description="List a dataset root with its reader: clips, classes, the size of every "
        "protocol's train/val/test subsets, and the clips skipped with the reason. "
        "Optionally load a few clips to check they decode.",
    )
    p.add_argument("--data", required=True, choices=DATASETS)
    p.add_argument("--root", required=True, type=Path)
    p.add_argument("--check", type=COUNT, default=0, metavar="N", help="also load the first N clips")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _run_info(args) -> int:
    from core_models.data import open_reader
    from core_models.data.errors import DataFormatError

    reader = open_reader(args.data, args.root)
    clips = reader.list_clips()
    report = {
        "dataset": reader.name,
        "root": str(args.root),
        "clips": len(clips),
        "classes": len(reader.classes),
        "metric": reader.metric,
        "skipped": dict(reader.skipped),
        "protocols": {
            p: {s: len(reader.split(p, s)) for s in ("train", "val", "test")} for p in reader.protocols
        },
        "checked": [],
    }
    for ref in clips[: args.check]:
        try:
            clip = reader.load(ref)
            report["checked"].append(
                {"name": ref.name, "frames": clip.num_frames, "warnings": clip.meta.get("warnings", [])}
            )
        except DataFormatError as e:
            report["checked"].append({"name": ref.name, "error": str(e)})
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(reader.summary())
    print(f"metric: {reader.metric}")
    for p, sizes in report["protocols"].items():
        print(f"  {p:5s} train {sizes['train']:6d}  val {sizes['val']:6d}  test {sizes['test']:6d}")
    for c in report["checked"]:
        print(f"  {c['name']}: " + (c.get("error") or f"{c['frames']} frames {'; '.join(c['warnings'])}"))
    return 0


# -- probe ------------------------------------------------------------------------------------
def _add_probe(sub) -> None:
    p = sub.add_parser(
        "probe",
        help="single-frame baselines on the synthetic data",
        description="Train quick classifiers on a synthetic dataset that see one middle frame "
        "(skeleton, or RGB) or the whole skeleton sequence, and report accuracy overall and on "
        "the temporally opposite pairs (sit down/stand up, wear/take off a shoe, pick up/drop).",
    )
    p.add_argument("--root", required=True, type=Path, help="a folder written by `synth`")
    p.add_argument("--protocol", default="cs", choices=("cs", "cv"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results here")


def _run_probe(args) -> int:
    from core_models.synth.probe import format_probe, run_probe

    results = run_probe(args.root, protocol=args.protocol, seed=args.seed)
    print(format_probe(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


# -- hands ------------------------------------------------------------------------------------
def _add_hands(sub) -> None:
    from core_models.hands import DESKS

    p = sub.add_parser(
        "hands",
        help="which hand's crop a part-attention model reads the class from (synthetic clips)",
        description="On the one-hand clips of a synthetic split, what part attention's acting-hand "
        "head says from the acting hand's crop, what the idle hand's head says from the idle crop, "
        "and what the model says (as it is, and with all of its hand weight moved onto the acting "
        "or onto the idle hand), per class; --desk re-renders the same clips with the taken "
        "object also left on the desk (full) or with no objects on the desk (empty).",
    )  # fmt: skip
    p.add_argument("--run", required=True, type=Path, help="a part-attention run or shipped checkpoint")
    _add_clip_table_options(p, "at most N one-hand clips (0: all)")
    p.add_argument("--desk", default="as-rendered", choices=DESKS)
    p.add_argument("--classes", nargs="*", help="NTU action codes to keep (A001 A002 A028); all by default")


def _add_clip_table_options(p, limit_help: str) -> None:
    """The options of a command that tabulates a checkpoint's clips of a synthetic split."""
    p.add_argument("--root", default="data/synth", type=Path, help="the synthetic dataset it was trained on")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--limit", type=COUNT, default=0, help=limit_help)
    p.add_argument("--csv", type=Path, help="also write the clip-by-clip table here")


def _print_clip_table(args, table, summary, *, title: str, empty: str) -> int:
    """Write the clip-by-clip ``table`` to ``--csv`` and print ``title`` and the ``summary`` table
    (per class); 1 with ``empty`` on stderr when there is no clip."""
    from core_models.hands import markdown
    from core_models.synth.generate import SYNTH_CLASSES

    if table.empty:
        print(empty, file=sys.stderr)
        return 1
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(title)
    print(markdown(summary(table, list(SYNTH_CLASSES))))
    return 0


def _run_hands(args) -> int:
    from core_models import hands

    table = hands.hand_heads(args.run, root=args.root, split=args.split, desk_kind=args.desk,
                             classes=args.classes, limit=args.limit)  # fmt: skip
    title = f"{args.run}, {args.split} split, desk {args.desk}: {len(table)} one-hand clips"
    empty = f"no one-hand clips among the {args.split} clips asked for"
    return _print_clip_table(args, table, hands.summary, title=title, empty=empty)


# -- where ------------------------------------------------------------------------------------
def _add_where(sub) -> None:
    p = sub.add_parser(
        "where",
        help="where a model's spatial attention lands: its share on the parts carrying the action",
        description="On a synthetic split, the share of a spatial attention map (separable STA's) "
        "on the cells that hold the joints of the body parts carrying the action, at the frames of "
        "the truth interval, next to equal weights and 'always the centre', per class.",
    )  # fmt: skip
    p.add_argument("--run", required=True, type=Path, help="a run or shipped checkpoint with spatial maps")
    p.add_argument(
        "--when", action="store_true",
        help="instead: where in time its temporal weights land, from the saved test predictions "
        "(own weights, uniform, middle, best, and weights lent by a clip of the same / another class)",
    )  # fmt: skip
    _add_clip_table_options(p, "at most N clips, spread over the split (0: all)")


def _run_where(args) -> int:
    from core_models import where

    if args.when:
        from core_models.hands import markdown

        table = where.when_table(args.run, split=args.split)
        if table.empty:
            print(f"{args.run}: no temporal weights scored on equal bins in its {args.split} predictions",
                  file=sys.stderr)  # fmt: skip
            return 1
        if args.csv:
            table.to_csv(args.csv, index=False)
        print(f"{args.run}, {args.split} split: share of the temporal weights on the truth interval")
        print(markdown(table))
        return 0
    table = where.spatial_table(args.run, root=args.root, split=args.split, limit=args.limit)
    title = f"{args.run}, {args.split} split: {len(table)} clips"
    empty = f"no {args.split} clip with a ground-truth place to score"
    return _print_clip_table(args, table, where.summary, title=title, empty=empty)


# -- bench ------------------------------------------------------------------------------------
def _add_bench(sub) -> None:
    from core_models.bench import TARGETS

    p = sub.add_parser(
        "bench",
        help="run a benchmark",
        description="Measure the speed figures the README records, on this machine.",
    )
    p.add_argument("target", choices=sorted(TARGETS), help="what to measure")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument(
        "--models", nargs="+", metavar="MODEL",
        help="measure only these models (inspect, explain, ood, train; a row does not depend on the others)",
    )  # fmt: skip


def _run_bench(args) -> int:
    import inspect as pyinspect

    from core_models.bench import TARGETS, format_bench
    from core_models.bench_gpu import NoCudaDeviceError
    from core_models.models import MODELS

    target = TARGETS[args.target]
    kwargs = {}
    if args.models:
        if "models" not in pyinspect.signature(target).parameters:
            print(f"error: bench {args.target} has no per-model rows; drop --models", file=sys.stderr)
            return 2
        unknown = sorted(set(args.models) - set(MODELS))
        if unknown:
            known = ", ".join(MODELS)
            print(f"error: unknown model(s) {', '.join(unknown)}; choose from {known}", file=sys.stderr)
            return 2
        kwargs["models"] = tuple(args.models)
    try:
        results = target(**kwargs)
    except NoCudaDeviceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_bench(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


# -- models -----------------------------------------------------------------------------------
def _add_models(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the models",
        description="List every model of the model dict with each preset: parameter count, the "
        "inputs it reads (RGB, part crops, skeleton), the clip it expects, and the attention "
        "kinds it returns.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--num-classes", type=POSITIVE, default=60, help="classes of the head (default 60)")


def _run_models(args) -> int:
    from core_models.models import MODELS, PRESETS, describe

    rows = [describe(m, p, num_classes=args.num_classes) for m in MODELS for p in PRESETS]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':40s} {'preset':6s} {'params':>11s}  {'inputs':24s} {'clip':22s} attention")
    for r in rows:
        s = r["input_spec"]
        clip = []
        if s["rgb_frames"]:
            clip.append(f"{s['rgb_frames']}x{s['frame_size']}^2")
        if s["crops"]:
            clip.append(f"{len(s['crops'])} crops {s['crop_size']}^2")
        if s["skeleton_steps"]:
            clip.append(f"{s['skeleton_steps']} poses")
        print(
            f"{r['label']:40s} {r['preset']:6s} {r['parameters']:>11,d}  {', '.join(r['inputs']):24s} "
            f"{', '.join(clip):22s} {', '.join(r['attention']) or '-'}"
        )
    return 0


# -- train ------------------------------------------------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (also under torchrun)",
        description="Train one model on a dataset protocol into a run directory: progress per epoch, "
        "train.log, history.jsonl, last.pt every epoch (resumable), best.pt, model.pt, and the test "
        "evaluation in the results store. Settings left out come from the model's recipe. Runs "
        "unchanged under `torchrun --nproc_per_node N` (--batch-size is the global batch).",
    )
    p.add_argument("--model", required=True, help="a model of `python -m core_models models`")
    p.add_argument("--preset", default="cpu", choices=("cpu", "paper"))
    p.add_argument("--data", default="synth", choices=DATASETS)
    p.add_argument("--root", default="data/synth", help="dataset root (default data/synth)")
    p.add_argument("--protocol", default="cs", help="cs, cv, cset (NTU); cv1, cv2 (Smarthome); split1..3 ...")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--epochs", type=POSITIVE, help="passes over the training split (instead of --steps)")
    p.add_argument("--steps", type=COUNT, help="budget in optimiser steps (the recipes'; 0: --epochs passes)")
    p.add_argument(
        "--patience", type=COUNT, help="stop when validation top-1 has not improved for N epochs (0: off)"
    )
    p.add_argument("--batch-size", type=POSITIVE, help="global batch over all processes")
    p.add_argument("--lr", type=_positive_float)
    p.add_argument("--weight-decay", type=NON_NEGATIVE_FLOAT)
    p.add_argument("--optimizer", choices=("adamw", "adam", "sgd"))
    p.add_argument("--warmup-epochs", type=NON_NEGATIVE_FLOAT)
    p.add_argument("--clip-grad", type=_positive_float, help="max gradient norm")
    p.add_argument(
        "--mirror",
        action=argparse.BooleanOptionalAction,
        help="left-right mirror half of the training clips (the recipes do; --no-mirror to turn off)",
    )
    p.add_argument(
        "--jitter",
        action=argparse.BooleanOptionalAction,
        help="change each training clip's brightness and contrast and re-frame its crops "
        "(the recipe says whether; --jitter / --no-jitter to choose)",
    )
    p.add_argument(
        "--squeeze",
        type=_fraction,
        metavar="A",
        help="stretch or squeeze each training clip's images left to right by a random factor in "
        "[1 - A, 1 / (1 - A)], a stand-in for unseen camera angles (0: off; the recipe says how much)",
    )
    p.add_argument(
        "--mixup",
        type=NON_NEGATIVE_FLOAT,
        metavar="ALPHA",
        help="blend each training batch with itself in another order by a share drawn from "
        "Beta(ALPHA, ALPHA), the loss blended alike (whole-RGB models: i3d, i3d_nl; 0: off; the recipe "
        "says whether)",
    )
    p.add_argument(
        "--amp",
        default="auto",
        choices=("auto", "bf16", "fp16", "off"),
        help="mixed precision on CUDA (auto: bf16 where supported, else fp16); CPU trains in fp32",
    )
    p.add_argument("--stage", help="training stage of a staged model (e.g. backbone, glimpses)")
    p.add_argument("--init", help="checkpoint whose matching tensors initialise the model (staged training)")
    p.add_argument(
        "--init-map",
        metavar="OLD=NEW",
        help="with --init: the tensors under prefix OLD, renamed to NEW (e.g. parts.full_body.=backbone.)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model config field, e.g. --set lambda_spatial=0 (repeatable)",
    )
    p.add_argument("--seed", type=COUNT, default=0)
    p.add_argument("--workers", type=COUNT, default=1, help="data-loading processes per training process")
    p.add_argument("--memory-mb", type=COUNT, default=2048,
                   help="MB of prepared training clips kept in memory after the first epoch, decompressed "
                        "while there is room; validation keeps a quarter as much (0: none)")  # fmt: skip
    p.add_argument("--cache-dir", default=".cache/prepared", help="prepared-clip cache ('' for none)")
    p.add_argument("--limit", type=COUNT, default=0, help="keep N clips of each split (quick runs)")
    p.add_argument("--max-steps", type=COUNT, default=0, help="stop after N optimiser steps (benchmarks)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--no-evaluate", action="store_true", help="skip the test evaluation at the end")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. --set lambda_spatial=0")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _run_train(args) -> int:
    from core_models.train import TrainingDivergedError, TrainSettings, train

    settings = TrainSettings(
        model=args.model, out=args.out, preset=args.preset, data=args.data, root=args.root,
        protocol=args.protocol, epochs=args.epochs, steps=args.steps, patience=args.patience,
        batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, optimizer=args.optimizer, warmup_epochs=args.warmup_epochs,
        clip_grad=args.clip_grad, mirror=args.mirror, jitter=args.jitter,
        squeeze=args.squeeze, mixup=args.mixup, amp=args.amp,
        stage=args.stage, init=args.init, init_map=args.init_map,
        overrides=parse_overrides(args.set), seed=args.seed, workers=args.workers, memory_mb=args.memory_mb,
        cache_dir=args.cache_dir, limit=args.limit, max_steps=args.max_steps, device=args.device,
        evaluate=not args.no_evaluate, resume=args.resume,
    )  # fmt: skip
    try:
        run = train(settings)
    except TrainingDivergedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    _print_metrics(run)
    return 0


def _print_metrics(run) -> None:
    from core_models import results

    try:
        _, m = results.read_eval(run, "test")
    except FileNotFoundError:
        print(f"trained {run}")
        return
    print(
        f"{run}: test top-1 {m['top1']:.3f}, top-5 {m['top5']:.3f}, "
        f"mean-class {m['mean_class_accuracy']:.3f} ({m['clips']} clips)"
    )


# -- evaluate ---------------------------------------------------------------------------------
def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a run or a checkpoint into the results store",
        description="Run a trained model over a split and write predictions.parquet (one row per clip, "
        "with attention summaries) and metrics.json into RUN/eval/SPLIT.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run directory (evaluates its model.pt)")
    src.add_argument("--checkpoint", help="a checkpoint file (needs --out)")
    p.add_argument("--out", help="where the results go with --checkpoint")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "trainval", "all"))
    p.add_argument("--data", choices=DATASETS, help="default: the checkpoint's")
    p.add_argument("--root", help="dataset root (default: the checkpoint's)")
    p.add_argument("--protocol", help="default: the checkpoint's")
    p.add_argument("--clips", nargs="*", help="only these clip names")
    p.add_argument("--batch-size", type=POSITIVE, default=16)
    p.add_argument("--cache-dir", default=".cache/prepared", help="prepared-clip cache ('' for none)")
    p.add_argument(
        "--no-interventions", action="store_true",
        help="skip the attention checks (accuracy with uniform, borrowed and ground-truth attention, "
        "attention as a class code); they replay the split about five more times, the model's trunk "
        "only in the first replay",
    )  # fmt: skip


def _run_evaluate(args) -> int:
    from core_models.checkpoint import CheckpointError
    from core_models.evaluate import evaluate_checkpoint, evaluate_run
    from core_models.train import _show_progress, close_distributed, init_distributed

    d = init_distributed("cpu")
    kw = dict(split=args.split, data=args.data, root=args.root, protocol=args.protocol, clips=args.clips,
              batch_size=args.batch_size, cache_dir=args.cache_dir or None, dist=d,
              interventions=not args.no_interventions, progress=_show_progress())  # fmt: skip
    try:
        if args.run:
            out = args.run
            evaluate_run(args.run, **kw)
        else:
            if not args.out:
                print("error: --checkpoint needs --out DIR for the results", file=sys.stderr)
                return 2
            out = args.out
            evaluate_checkpoint(args.checkpoint, args.out, **kw)
    except CheckpointError as e:
        close_distributed(d, wait=False)
        print(f"error: {e}", file=sys.stderr)
        return 2
    close_distributed(d)
    if d.main:
        from core_models import results

        _, m = results.read_eval(out, args.split)
        print(f"{out}: {args.split} top-1 {m['top1']:.3f}, top-5 {m['top5']:.3f}, "
              f"mean class {m['mean_class_accuracy']:.3f} ({m['clips']} clips)")  # fmt: skip
        checks = m.get("attention_checks", {}).get("interventions")
        if checks:
            parts = ", ".join(f"{k} {v['top1']:.3f}" for k, v in checks.items())
            print(f"  with the attention replaced: {parts}")
    return 0


# -- explain ----------------------------------------------------------------------------------
def _add_explain(sub) -> None:
    p = sub.add_parser(
        "explain",
        help="attributions of a run's clips into the results store",
        description="Attribute each clip's prediction (captum: Integrated Gradients, saliency, occlusion, "
        "segment ablation; Grad-CAM) and write RUN/eval/SPLIT/explain-METHOD.parquet: per clip the "
        "body-part and temporal-segment shares, their rank agreement with the model's attention, "
        "deletion/insertion AUCs, and on synthetic clips the share on the ground truth. A run whose "
        "synthetic dataset is missing renders its clips by name.",
    )
    p.add_argument("--run", required=True, help="run directory (or a shipped one under checkpoints/)")
    p.add_argument("--method", default="integrated_gradients", choices=EXPLAIN_METHODS)
    p.add_argument("--split", default="test", choices=("train", "val", "test", "trainval", "all"))
    p.add_argument("--limit", type=COUNT, default=0, help="only N clips, spread evenly over the split")
    p.add_argument("--target", default="pred", choices=("pred", "label"), help="class to explain")
    p.add_argument("--steps", type=POSITIVE, default=32, help="Integrated Gradients steps")
    p.add_argument("--batch", type=POSITIVE, default=8, help="inputs per forward pass (bounds memory)")
    p.add_argument("--segments", type=POSITIVE, default=8, help="temporal segments of the clip")


def _run_explain(args) -> int:
    import math

    from tqdm import tqdm

    from core_models.checkpoint import CheckpointError
    from core_models.explain import ExplainSettings, explain_run, read_explain

    settings = ExplainSettings(args.method, target=args.target, steps=args.steps,
                               internal_batch_size=args.batch, segments=args.segments)  # fmt: skip
    bar = tqdm(desc=f"explain {args.method}", unit="clip")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        path = explain_run(args.run, args.method, args.split, args.limit or None, progress, settings=settings)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    table = read_explain(args.run, args.method, args.split)
    means = {c: table[c].mean() for c in table.columns if c.startswith(("agreement_", "auc_", "parts_truth"))}
    summary = ", ".join(f"{c} {v:.3f}" for c, v in means.items() if not math.isnan(v))
    print(f"{path}: {len(table)} clips" + (f"; means: {summary}" if summary else ""))
    return 0


# -- reproduce --------------------------------------------------------------------------------
def _add_reproduce(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="train every shipped checkpoint again (or print the results table)",
        description="Train every shipped checkpoint with the exact commands recorded in "
        "checkpoints/manifest.json (cpu preset, synthetic data, CS and CV), copy each finished run "
        "into checkpoints/NAME and update the manifest. Makes the synthetic dataset first if missing.",
    )
    p.add_argument("--root", default="data/synth", help="synthetic dataset (made if missing)")
    p.add_argument("--runs", default="runs/reproduce", help="where the training runs go")
    p.add_argument("--checkpoints", default="checkpoints", type=Path)
    p.add_argument("--only", nargs="*", help="entry names (model-protocol) or model names to remake")
    p.add_argument("--list", action="store_true", help="print the training commands and exit")
    p.add_argument("--table", action="store_true", help="print the README's results table from the manifest")
    p.add_argument(
        "--targets", action="store_true",
        help="print the README's table of the retraining targets, measured from the manifest",
    )  # fmt: skip
    p.add_argument(
        "--curves", type=Path, metavar="PNG",
        help="draw the retrained checkpoints' validation curves (history.jsonl) into PNG and exit",
    )  # fmt: skip
    p.add_argument(
        "--evaluate", action="store_true",
        help="do not train: evaluate the shipped checkpoints again on --root (after the data changed) "
        "and record the new figures in the manifest (the figures at training time are kept); "
        "rows already evaluated on --root's version are skipped unless --again",
    )  # fmt: skip
    p.add_argument("--again", action="store_true", help="with --evaluate: evaluate every row again")
    p.add_argument(
        "--explain", action="store_true",
        help="do not train: write the shipped CS checkpoints' saliency summaries again (or --only "
        "those) and record how long each took in the manifest (explain_seconds)",
    )  # fmt: skip
    p.add_argument(
        "--keep-seeds", action="store_true",
        help="a retrained row keeps its runs with other seeds (reproduce --seed) whose commands are "
        "its recipe's for that seed on the same data version (otherwise they are dropped)",
    )  # fmt: skip
    p.add_argument(
        "--seed", type=COUNT, default=0,
        help="train the --only entries again with this seed (1, 2, ...) into RUNS/NAME-seedN and record "
        "their test figures beside the shipped (seed 0) row; the table shows the mean and range; the "
        "shipped checkpoints are not replaced, and a run already complete is kept",
    )  # fmt: skip


def _run_reproduce(args) -> int:
    from core_models import reproduce as rp

    if args.table:
        print(rp.results_table(rp.read_manifest(args.checkpoints)))
        return 0
    if args.targets or args.curves:
        from core_models import targets

        manifest = rp.read_manifest(args.checkpoints)
        if args.curves:
            models = targets.curves_png(manifest, args.checkpoints, args.curves)
            print(f"{args.curves}: curves of {', '.join(models)}")
        if args.targets:
            print(targets.markdown_table(manifest))
        return 0
    if args.list:
        for e in rp.SHIPPED:
            if not args.only or e.name in args.only or e.model in args.only:
                for c in rp.commands(e, args.root, args.runs, args.seed):
                    print("python -m core_models " + " ".join(c))
        return 0
    if args.seed and (args.explain or args.evaluate):
        what = "--explain" if args.explain else "--evaluate"
        print(f"error: --seed trains entries again and {what} trains nothing; give one of them",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.keep_seeds and (args.seed or args.explain or args.evaluate):
        print("error: --keep-seeds is for retraining shipped rows (reproduce [--only ...])", file=sys.stderr)
        return 2
    if args.explain and args.evaluate:
        print("error: --explain and --evaluate are separate passes; run them one after the other",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.seed:
        if not args.only:
            print("error: --seed needs --only (the entries to train again)", file=sys.stderr)
            return 2
        rp.reproduce_seed(seed=args.seed, root=args.root, runs=args.runs, checkpoints=args.checkpoints,
                          only=args.only)  # fmt: skip
    elif args.explain:
        rp.reexplain(checkpoints=args.checkpoints, only=args.only)
    elif args.evaluate:
        rp.reevaluate(root=args.root, checkpoints=args.checkpoints, only=args.only, again=args.again)
    else:
        rp.reproduce(root=args.root, runs=args.runs, checkpoints=args.checkpoints, only=args.only,
                     keep_seeds=args.keep_seeds)  # fmt: skip
    print(rp.results_table(rp.read_manifest(args.checkpoints)))
    return 0


# -- pose -------------------------------------------------------------------------------------
def _add_pose(sub) -> None:
    p = sub.add_parser(
        "pose",
        help="estimate the pose in a video into an NTU .skeleton file",
        description="Run MediaPipe BlazePose (offline: its models ship in the wheel) over a video, "
        "map its 33 landmarks onto NTU RGB+D's 25 joints (docs/skeleton-files.md), and write them "
        "as an NTU .skeleton file that every reader and model of this project reads "
        "(core_models.data.single.load_single(VIDEO, FILE.skeleton)).",
    )
    p.add_argument("video", type=Path, help="an .mp4, .avi, .webm or .mov file")
    p.add_argument("--out", required=True, type=Path, help="the .skeleton file to write")
    p.add_argument("--start", type=int, default=0, help="first frame (default 0)")
    p.add_argument("--length", type=int, default=None, help="frames from --start (default: to the end)")
    p.add_argument("--min-confidence", type=float, default=0.5,
                   help="joints below it are written as not tracked (default 0.5)")  # fmt: skip
    p.add_argument("--smooth", type=float, default=1.0, help="temporal smoothing sigma, frames at 30 fps")


def _run_pose(args) -> int:
    from core_models.pose.estimate import estimate_clip_pose, write_estimate

    if args.out.suffix != ".skeleton":
        raise SystemExit(f"--out must end in .skeleton, got {args.out.name}")

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total or '?'} frames", end="", file=sys.stderr, flush=True)

    skeleton, raw, stats = estimate_clip_pose(
        args.video, start=args.start, length=args.length, min_confidence=args.min_confidence,
        smooth_sigma=args.smooth, progress=progress,
    )  # fmt: skip
    print(file=sys.stderr)
    if stats["detected"] == 0:
        print(f"error: no person was found in any of the {stats['frames']} frames", file=sys.stderr)
        return 1
    write_estimate(args.out, skeleton, raw)
    print(
        f"{args.video.name}: a person in {stats['detected']} of {stats['frames']} frames, "
        f"{stats['seconds']:.1f} s ({stats['fps']:.1f} frames/s) -> {args.out}"
    )
    for w in skeleton.warnings:
        print(f"  note: {w}")
    return 0


# -- ood --------------------------------------------------------------------------------------
def _add_ood(sub) -> None:
    p = sub.add_parser(
        "ood",
        help="fit a run's out-of-distribution statistics into its checkpoint",
        description="Run a trained model over its training split, store the statistics of its "
        "features (class means, shrunk covariance, a bank of training features) and thresholds "
        "calibrated on the validation split (95% of held-out clips under them) in its model.pt, "
        "so the app can say when a clip is like none of its classes. `train` does this at the end "
        "of every run; this command does it for an existing run or shipped checkpoint (and "
        "updates checkpoints/manifest.json's hash and size of a shipped one).",
    )
    p.add_argument("--run", required=True, type=Path, nargs="+", help="run directories (or checkpoints/NAME)")
    p.add_argument("--root", default=None, help="the dataset root, if not the one in settings.json")
    p.add_argument("--limit", type=int, default=0, help="clips per split, spread over it (default: all)")
    p.add_argument("--cache-dir", default=".cache/prepared", help="prepared-clip cache ('' for none)")


def _run_ood(args) -> int:
    from core_models.ood.fit import fit_run
    from core_models.reproduce import refresh_manifest

    for run in args.run:
        t0 = time.perf_counter()
        stats = fit_run(run, root=args.root, limit=args.limit, cache_dir=args.cache_dir or None)
        thresholds = ", ".join(f"{k} {v:.3g}" for k, v in stats.thresholds.items())
        print(
            f"{run}: {stats.train_clips} training clips, thresholds on {stats.calibration_clips} held-out "
            f"clips: {thresholds}; the app uses {stats.score} ({time.perf_counter() - t0:.0f} s)"
        )
        if refresh_manifest(run):
            print(f"  updated {run.parent / 'manifest.json'}")
    return 0


# -- lesson -----------------------------------------------------------------------------------
def _add_lesson(sub) -> None:
    p = sub.add_parser(
        "lesson",
        help="export a lesson: one self-contained HTML file with every view of a clip",
        description="Write one HTML file that opens offline in any browser: the clip in a player (slow "
        "motion, loop, frame stepping), the model's prediction and how its streams combine, every "
        "attention view (borrowed from the shipped models for the views the model lacks) and "
        "'why X and not Y' attributions on the images the model read, each with a caption.",
    )
    p.add_argument("--clip", required=True, help="a synthetic clip's NTU name, e.g. S001C001P001R001A001")
    p.add_argument(
        "--model", default="part_attention-cs", help="checkpoint: a .pt, a run dir or a shipped name"
    )
    p.add_argument(
        "--with",
        dest="extra",
        nargs="*",
        default=None,
        help="models that may add the views the first lacks (default: the shipped attention models)",
    )
    p.add_argument("--method", default="grad_cam", choices=EXPLAIN_METHODS, help="attribution method")
    p.add_argument("--out", required=True, type=Path, help="the HTML file to write")  # fmt: skip


def _run_lesson(args) -> int:
    from core_models.lesson import VIEW_MODELS, lesson_for
    from core_models.synth import render_clip

    try:
        clip = render_clip(args.clip)
        html = lesson_for(clip, args.model, VIEW_MODELS if args.extra is None else args.extra, args.method)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(html, encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")
    return 0


COMMANDS = {
    "synth": (_add_synth, _run_synth),
    "render": (_add_render, _run_render),
    "info": (_add_info, _run_info),
    "probe": (_add_probe, _run_probe),
    "hands": (_add_hands, _run_hands),
    "where": (_add_where, _run_where),
    "bench": (_add_bench, _run_bench),
    "models": (_add_models, _run_models),
    "train": (_add_train, _run_train),
    "evaluate": (_add_evaluate, _run_evaluate),
    "explain": (_add_explain, _run_explain),
    "reproduce": (_add_reproduce, _run_reproduce),
    "pose": (_add_pose, _run_pose),
    "ood": (_add_ood, _run_ood),
    "lesson": (_add_lesson, _run_lesson),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core_models",
        description="Pose-driven attention models for activities of daily living: data, models, training.",
    )
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core_models.checkpoint import CheckpointError
    from core_models.data.errors import DataFormatError
    from core_models.results import RunFolderError

    try:
        return COMMANDS[args.command][1](args)
    except (DataFormatError, CheckpointError, RunFolderError) as e:  # bad input: said, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
