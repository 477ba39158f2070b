"""The shipped checkpoints: which runs make them, and the one command that makes them all again.

``python -m core_models reproduce`` trains every entry of :data:`SHIPPED` on the built-in synthetic
dataset (``cpu`` preset, cross-subject and cross-view), one after the other, with exactly the
training commands listed here, and copies each finished run into ``checkpoints/<name>/`` (the
compact ``model.pt``, its settings, its history and its test evaluation, so a shipped checkpoint
is a run directory the app and ``evaluate`` read like any other). ``checkpoints/manifest.json``
records, per checkpoint: model, preset, data, protocol, the exact commands, the commit, epochs,
training and wall time, the machine, parameters, training throughput and the test metrics.

``--only NAME`` remakes some entries and keeps the others; ``--table`` prints the README's results
table from the manifest (a test checks that the README holds exactly this table).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core_models import results
from core_models.results import git_commit

CHECKPOINTS = Path("checkpoints")
EXPLAIN_CLIPS = 60  # test clips whose saliency summaries ship with each CS checkpoint
# The evaluation figures a manifest row keeps (the rest stays in the checkpoint's metrics.json).
KEEP = ("top1", "top5", "mean_class_accuracy", "opposite_pairs_top1", "opposite_pairs_two_way", "per_view",
        "attention_vs_truth", "clips", "streams", "attention_scores", "attention_checks")  # fmt: skip


@dataclass(frozen=True)
class Shipped:
    """One shipped checkpoint: a model, a protocol, and the training steps that make it.

    ``steps`` are the extra arguments of each ``train`` call (a staged schedule has several,
    each initialised from the previous step's weights); the last step's run is shipped.
    """

    model: str
    protocol: str
    steps: tuple[tuple[str, ...], ...] = ((),)

    @property
    def name(self) -> str:
        return f"{self.model}-{self.protocol}"


ATTENTION_MODELS = ("part_attention", "separable_sta", "temporal_granularity", "glimpse_clouds")
BASELINES = ("skeleton_lstm", "i3d", "i3d_nl")
# The classic baselines of the soft-attention line, two-stream and late fusion.
CLASSIC_MODELS = ("soft_attention_lstm", "stn", "self_attention", "two_stream", "late_fusion")
# Staged schedules: Glimpse Clouds as in the paper, the backbone (with the pose regression) first,
# then the glimpses and workers on the frozen backbone.
STEPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "glimpse_clouds": (("--stage", "backbone"), ("--stage", "glimpses")),
    # Part attention (cpu preset): the hand streams (a 2-D trunk per frame) learn the objects under
    # soft hand weights, then the per-clip choice of one hand learns on them; in both steps the
    # steps' shares learn where each step's own read holds the label (see part_attention.py).
    "part_attention": (
        ("--set", "hand_read=mix", "--set", "hand_motion=false", "--no-evaluate"),
        ("--steps", "1300"),
    ),
}
# Shipped for cross-subject only: two baselines whose cross-view rows (10.8 and 2.5 minutes) made
# room for part attention's longer recipe within the whole reproduce's 150 minutes; the retraining
# issue asks cross-view of the attention models, Glimpse Clouds, I3D and the skeleton LSTM.
CS_ONLY = ("i3d_nl", "late_fusion")
SHIPPED: tuple[Shipped, ...] = tuple(
    Shipped(m, p, STEPS.get(m, ((),)))
    for m in ("skeleton_lstm", *ATTENTION_MODELS, "i3d", "i3d_nl", *CLASSIC_MODELS)
    for p in (("cs",) if m in CS_ONLY else ("cs", "cv"))
)


def commands(entry: Shipped, root: str, runs: str, seed: int = 0) -> list[list[str]]:
    """The ``python -m core_models train`` argument lists of an entry, in order; with a ``seed``
    other than the shipped 0, runs named ``NAME-seedN`` that pass ``--seed N``."""
    out = []
    prev = None
    tag = f"-seed{seed}" if seed else ""
    for i, extra in enumerate(entry.steps):
        run = f"{runs}/{entry.name}{tag}" + (f"-step{i + 1}" if len(entry.steps) > 1 else "")
        args = ["train", "--model", entry.model, "--preset", "cpu", "--data", "synth", "--root", root,
                "--protocol", entry.protocol, "--out", run, *extra]  # fmt: skip
        if seed:
            args += ["--seed", str(seed)]
        if prev:
            args += ["--init", f"{prev}/model.pt"]
        out.append(args)
        prev = run
    return out


def explain_command(entry: Shipped, checkpoints: Path = CHECKPOINTS) -> list[str]:
    """The ``explain`` arguments whose saliency summaries (60 test clips) ship with a CS checkpoint."""
    return ["explain", "--run", f"{Path(checkpoints).as_posix()}/{entry.name}", "--method", "saliency",
            "--limit", str(EXPLAIN_CLIPS)]  # fmt: skip


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(checkpoints: Path = CHECKPOINTS) -> dict[str, Any]:
    path = checkpoints / "manifest.json"
    if not path.is_file():
        return {"checkpoints": []}
    return json.loads(path.read_text())


def refresh_manifest(run: Path) -> bool:
    """Record the new hash and size of ``run/model.pt`` in the manifest beside ``run`` (a shipped
    checkpoint whose file changed, e.g. when ``ood`` added statistics). False when not listed."""
    run = Path(run)
    manifest = read_manifest(run.parent)
    rows = [r for r in manifest["checkpoints"] if r.get("name") == run.name]
    if not rows:
        return False
    path = run / "model.pt"
    for row in rows:
        row["size_bytes"] = path.stat().st_size
        row["sha256"] = sha256(path)
    results.write_json(run.parent / "manifest.json", manifest)
    return True


def stage_runs(cmds: list[list[str]]) -> list[Path]:
    """The run folders of an entry's ``train`` calls, in order (one per stage)."""
    return [Path(args[args.index("--out") + 1]) for args in cmds]


def training_time(runs: list[Path]) -> tuple[float, float]:
    """(seconds of training, clips per second) over every stage's epochs, from their histories."""
    hist = [h for run in runs for h in results.read_history(run)]
    seconds = sum(h["train_seconds"] for h in hist)
    clips = sum(h["train_seconds"] * h["clips_per_second"] for h in hist)
    return seconds, clips / max(seconds, 1e-9)


def ship(
    entry: Shipped, run: Path, checkpoints: Path, *, cmds: list[list[str]], wall: float, commit: str
) -> dict:
    """Copy a finished run into ``checkpoints/<name>`` and describe it for the manifest.

    ``train_seconds`` counts every stage of a staged schedule; ``parameters`` counts each tensor
    the model shares between two names (part attention's hand trunk) once.
    """
    from core_models.checkpoint import build_from_checkpoint, load_checkpoint

    dest = checkpoints / entry.name
    tmp = checkpoints / f".{entry.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "eval" / "test").mkdir(parents=True)
    for name in ("model.pt", "settings.json", "history.jsonl", "status.json"):
        shutil.copy2(run / name, tmp / name)
    for name in ("predictions.parquet", "metrics.json", "COMPLETE"):
        shutil.copy2(results.eval_dir(run, "test") / name, tmp / "eval" / "test" / name)
    earlier = stage_runs(cmds)[:-1]
    for k, stage in enumerate(earlier, 1):  # a staged schedule's earlier stages: their curves
        (tmp / "stages" / f"step{k}").mkdir(parents=True)
        for name in ("history.jsonl", "status.json"):
            shutil.copy2(stage / name, tmp / "stages" / f"step{k}" / name)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)

    _, m = results.read_eval(dest, "test")
    hist = results.read_history(dest)
    ck = load_checkpoint(dest / "model.pt")
    params = sum(p.numel() for p in build_from_checkpoint(ck, dest / "model.pt").parameters())
    train_seconds, clips_per_second = training_time(stage_runs(cmds))
    return {
        "name": entry.name,
        "model": entry.model,
        "preset": "cpu",
        "data": "synth",
        "protocol": entry.protocol,
        "commands": ["python -m core_models " + " ".join(c) for c in cmds],
        "commit": commit,
        "epochs": len(hist),
        "best_epoch": ck.get("epoch"),
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(wall, 1),
        "train_clips_per_second": round(clips_per_second, 1),
        "parameters": int(params),
        "machine": results.machine(),
        "checkpoint": f"{dest.as_posix()}/model.pt",
        "size_bytes": (dest / "model.pt").stat().st_size,
        "sha256": sha256(dest / "model.pt"),
        "data_version": ck.get("data", {}).get("version") or 1,
        "evaluated_on": ck.get("data", {}).get("version") or 1,  # trained and tested on the same data
        "metrics": {k: m[k] for k in KEEP if k in m},
        **({"stages": stage_records(earlier)} if earlier else {}),
    }


def stage_records(runs: list[Path]) -> list[dict[str, Any]]:
    """What each stage before the shipped one did: its epochs, the epoch whose weights the next
    stage started from (the best on validation) and that validation top-1, so that the
    convergence target sees a first stage that stopped while it was still rising."""
    out = []
    for k, run in enumerate(runs, 1):
        best = results.read_status(run).get("best") or {}
        top1 = best.get("val_top1")
        out.append({"step": k, "epochs": len(results.read_history(run)), "best_epoch": best.get("epoch"),
                    "best_val_top1": None if top1 is None else round(float(top1), 4)})  # fmt: skip
    return out


def reevaluate(
    *,
    root: str = "data/synth",
    checkpoints: Path = CHECKPOINTS,
    only: list[str] | None = None,
    again: bool = False,
) -> dict[str, Any]:
    """Evaluate the shipped checkpoints again on the data under ``root`` and record it.

    For when the data changed under them (the synthetic data v2): each row's ``metrics`` becomes
    the new test evaluation (written to ``checkpoints/NAME/eval/test``), ``metrics_at_training``
    keeps what it scored on the data it was trained on, and ``evaluated_on`` names the data
    version of ``root``. The attention interventions run on the cross-subject rows (the README
    reports them there; each multiplies an attention model's evaluation time) and on any row whose
    figures already have them, so evaluating again never drops a row's checks. Rows already
    evaluated on this version are skipped unless ``again``, so an interrupted run resumes.
    """
    from core_models.evaluate import evaluate_run
    from core_models.synth.generate import written_version

    manifest = read_manifest(checkpoints)
    version = written_version(root)
    for row in manifest["checkpoints"]:
        if only and row["name"] not in only and row["model"] not in only:
            continue
        if row.get("evaluated_on") == version and not again:
            print(f"{row['name']}: already evaluated on version {version}", file=sys.stderr)
            continue
        print(f"evaluating {row['name']} on {root}", file=sys.stderr)
        _, m = evaluate_run(checkpoints / row["name"], root=root, cache_dir=".cache/prepared",
                            progress=False, interventions=checked(row))  # fmt: skip
        row.setdefault("data_version", 1)
        if row.get("evaluated_on", row["data_version"]) == row["data_version"] != version:
            row["metrics_at_training"] = row["metrics"]  # first evaluated on other data than its own
        row["metrics"] = {k: m[k] for k in KEEP if k in m}
        row["evaluated_on"] = version
        results.write_json(checkpoints / "manifest.json", manifest)
    return manifest


def checked(row: dict[str, Any]) -> bool:
    """Whether ``reproduce --evaluate`` runs the attention checks on ``row``: every cross-subject
    row, and any row whose recorded figures have them."""
    return row["protocol"] == "cs" or "attention_checks" in row.get("metrics", {})


def finished(run: Path, args: list[str], commit: str | None = None) -> bool:
    """Whether ``run`` already holds a complete run of exactly these ``train`` arguments (model,
    protocol, seed, initialisation, stage), so that an interrupted ``reproduce --seed`` resumes;
    with ``commit``, also made by that commit's code (a run of older code is trained again, or
    the mean of the seeds would mix two versions of the model)."""
    try:
        done = results.read_status(run).get("state") == "complete"
        settings = json.loads((run / "settings.json").read_text())
    except (OSError, ValueError):
        return False

    def arg(flag: str, default=None):
        return args[args.index(flag) + 1] if flag in args else default

    wanted = {"model": arg("--model"), "protocol": arg("--protocol"), "seed": int(arg("--seed", 0)),
              "stage": arg("--stage"), "init": arg("--init")}  # fmt: skip
    same_code = commit is None or settings.get("commit") in (None, commit)
    return done and same_code and all(settings.get(k) == v for k, v in wanted.items())


def seed_row(run: Path, cmds: list[list[str]], *, seed: int, commit: str) -> dict:
    """What the manifest keeps of a run with another seed: its commands, commit, length, training
    time and test metrics (the shipped checkpoint stays the seed-0 one; this run is not copied)."""
    _, m = results.read_eval(run, "test")
    settings = json.loads((run / "settings.json").read_text())
    hist = results.read_history(run)
    train_seconds, _ = training_time(stage_runs(cmds))
    best = results.read_status(run).get("best", {})
    return {
        "seed": seed,
        "commands": ["python -m core_models " + " ".join(c) for c in cmds],
        "commit": settings.get("commit", commit),
        "epochs": len(hist),
        "best_epoch": best.get("epoch"),
        "train_seconds": round(train_seconds, 1),
        "machine": results.machine(),
        "data_version": settings.get("data_version", 1),
        "metrics": {k: m[k] for k in KEEP if k in m},
    }


def reproduce_seed(
    *,
    seed: int,
    root: str = "data/synth",
    runs: str = "runs/reproduce",
    checkpoints: Path = CHECKPOINTS,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Train shipped entries again with another ``seed`` and record their test figures under the
    shipped row's ``seeds`` (the table then shows the mean and range over the seeds). A run that
    is already complete with the same arguments is not trained again."""
    if seed <= 0:
        raise SystemExit("--seed: give another seed than the shipped checkpoints' 0 (1, 2, ...)")
    manifest = read_manifest(checkpoints)
    shipped = {r["name"] for r in manifest["checkpoints"]}
    entries = _entries(only)
    missing = [e.name for e in entries if e.name not in shipped]
    if missing:
        raise SystemExit(f"--seed: {', '.join(missing)} not shipped yet; train the seed-0 checkpoint first")
    commit = git_commit()
    for entry in entries:
        cmds = commands(entry, root, runs, seed)
        for args in cmds:
            run = Path(args[args.index("--out") + 1])
            if finished(run, args, commit):
                print(f"{run}: already trained with these arguments at this commit, kept", file=sys.stderr)
                continue
            shutil.rmtree(run, ignore_errors=True)
            print("python -m core_models " + " ".join(args), file=sys.stderr)
            subprocess.run([sys.executable, "-m", "core_models", *args], check=True)
        row = seed_row(run, cmds, seed=seed, commit=commit)
        manifest = read_manifest(checkpoints)
        for r in manifest["checkpoints"]:
            if r["name"] == entry.name:
                r["seeds"] = sorted([x for x in r.get("seeds", []) if x["seed"] != seed] + [row],
                                    key=lambda x: x["seed"])  # fmt: skip
        results.write_json(checkpoints / "manifest.json", manifest)
    return manifest


def in_process(args: list[str]) -> None:
    """Run ``python -m core_models ARGS`` in this process: for the explain steps, which would
    otherwise start an interpreter and import torch, captum and matplotlib again for every row
    (about 3 s each); training runs keep their own process (``torchrun``, memory, threads)."""
    from core_models.cli import main

    status = main(args)
    if status:
        raise SystemExit(f"python -m core_models {' '.join(args)} failed (exit status {status})")


def run_explain(entry: Shipped, checkpoints: Path = CHECKPOINTS) -> dict[str, Any]:
    """Write a shipped CS checkpoint's saliency summaries; the manifest fields that say how
    (``explain``) and how long it took, on what (``explain_seconds``, ``explain_machine``: part of
    the whole ``reproduce``'s time, beside the training run's ``wall_seconds``). The command runs
    in this process (:func:`in_process`), so its time is the work, not a fresh start."""
    args = explain_command(entry, checkpoints)
    print("python -m core_models " + " ".join(args), file=sys.stderr)
    t0 = time.perf_counter()
    in_process(args)
    seconds = round(time.perf_counter() - t0, 1)
    return {"explain": "python -m core_models " + " ".join(args), "explain_seconds": seconds,
            "explain_machine": results.machine()}  # fmt: skip


def reexplain(*, checkpoints: Path = CHECKPOINTS, only: list[str] | None = None) -> dict[str, Any]:
    """Write the saliency summaries of the shipped CS checkpoints (or ``only`` those) again,
    without training, and record how long each took: for when the explanation code changed, and
    to time the step for rows shipped before ``reproduce`` timed it."""
    shipped = {r["name"] for r in read_manifest(checkpoints)["checkpoints"]}
    for entry in [e for e in _entries(only) if e.protocol == "cs"]:
        if entry.name not in shipped:
            print(f"{entry.name}: not in the manifest, skipped", file=sys.stderr)
            continue
        fields = run_explain(entry, checkpoints)
        manifest = read_manifest(checkpoints)
        next(r for r in manifest["checkpoints"] if r["name"] == entry.name).update(fields)
        results.write_json(checkpoints / "manifest.json", manifest)
    return read_manifest(checkpoints)


def _entries(only: list[str] | None) -> list[Shipped]:
    """The entries ``only`` names (entry or model names), in its order; every entry without it."""
    entries = [e for e in SHIPPED if not only or e.name in only or e.model in only]
    if only:  # in the order asked for (a model name stands for its protocols, in SHIPPED order)
        entries.sort(key=lambda e: only.index(e.name) if e.name in only else only.index(e.model))
    if only and not entries:
        raise SystemExit(f"--only {only}: no such entry; entries are {', '.join(e.name for e in SHIPPED)}")
    return entries


_PATH_OPTIONS = ("--root", "--out", "--init")  # where a run reads and writes, not what it trains


def _recipe(command: str) -> list[str]:
    """A recorded ``train`` command without its :data:`_PATH_OPTIONS` and their values: what two
    runs must share to be runs of one recipe."""
    words = command.split()
    return [
        w
        for i, w in enumerate(words)
        if w not in _PATH_OPTIONS and (i == 0 or words[i - 1] not in _PATH_OPTIONS)
    ]


def kept_seeds(old: dict[str, Any], entry: Shipped, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The other-seed runs of the row ``row`` replaces that are still runs of its recipe: the same
    ``train`` commands for that seed (paths aside) on the same synthetic data version."""
    kept = []
    for s in old.get("seeds", []):
        wanted = ["python -m core_models " + " ".join(c) for c in commands(entry, "R", "O", s["seed"])]
        same = [_recipe(c) for c in s.get("commands", [])] == [_recipe(c) for c in wanted]
        if same and s.get("data_version") == row.get("data_version"):
            kept.append(s)
    return kept


def reproduce(*, root: str = "data/synth", runs: str = "runs/reproduce", checkpoints: Path = CHECKPOINTS,
              only: list[str] | None = None, keep_seeds: bool = False) -> dict[str, Any]:  # fmt: skip
    """Train and ship every entry (or ``only`` those), updating the manifest after each.

    A retrained row drops the runs with other seeds its old row recorded (``reproduce --seed``),
    whose recipe may not be the new run's. With ``keep_seeds`` it keeps those whose commands are the
    entry's commands for that seed (paths aside) on the same data version: for a row made again
    after a change that should not alter what the recipe trains, such as a faster kernel."""
    if not Path(root).is_dir():
        print(f"making the synthetic dataset at {root} first", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "core_models", "synth", "--out", root], check=True)
    entries = _entries(only)
    commit = git_commit()
    manifest = read_manifest(checkpoints)
    for entry in entries:
        cmds = commands(entry, root, runs)
        t0 = time.perf_counter()
        for args in cmds:
            run = Path(args[args.index("--out") + 1])
            shutil.rmtree(run, ignore_errors=True)
            print("python -m core_models " + " ".join(args), file=sys.stderr)
            subprocess.run([sys.executable, "-m", "core_models", *args], check=True)
        row = ship(entry, run, checkpoints, cmds=cmds, wall=time.perf_counter() - t0, commit=commit)
        if entry.protocol == "cs":  # the explain page's saliency summaries ship with the CS rows
            row.update(run_explain(entry, checkpoints))
        manifest = read_manifest(checkpoints)  # another reproduce may have shipped meanwhile
        old = next((r for r in manifest["checkpoints"] if r["name"] == entry.name), {})
        if old.get("seeds"):
            kept = kept_seeds(old, entry, row) if keep_seeds else []
            if kept:
                row["seeds"] = kept
            gone = [s["seed"] for s in old["seeds"] if s not in kept]
            hint = "" if keep_seeds else " (--keep-seeds keeps those of the same recipe)"
            print(f"{entry.name}: kept the runs of seeds {[s['seed'] for s in kept]}, dropped {gone}{hint}",
                  file=sys.stderr)  # fmt: skip
        manifest["checkpoints"] = [r for r in manifest["checkpoints"] if r["name"] != entry.name] + [row]
        order = [e.name for e in SHIPPED]
        manifest["checkpoints"].sort(
            key=lambda r: order.index(r["name"]) if r["name"] in order else len(order)
        )
        manifest["reproduce"] = "python -m core_models reproduce"
        results.write_json(checkpoints / "manifest.json", manifest)
    return manifest


def results_table(manifest: dict[str, Any]) -> str:
    """The README's results table (markdown) from the manifest.

    Accuracies are on the test side of each protocol of the data the rows were last evaluated on;
    the third column says which synthetic data version made the weights and which one they were
    tested on (``evaluated_on``, written by ``reproduce --evaluate``). A model whose accuracy is
    fused with a pose classifier's says so after its name.
    """
    rows = {(r["model"], r["protocol"]): r for r in manifest["checkpoints"]}
    models = list(dict.fromkeys(r["model"] for r in manifest["checkpoints"]))
    head = ("| model | params | synthetic data: trained / tested on | CS top-1 | CV top-1 | CS pairs 2-way "
            "| CS top-1, uniform / other class's / true attention | CS RGB alone "
            "| CS attention on truth: share (uniform, best, middle) "
            "| CS class from attention (from true attention) | CS train time |")  # fmt: skip
    lines = [head, "|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for m in models:
        cs, cv = rows.get((m, "cs")), rows.get((m, "cv"))
        ref = cs or cv
        met = (cs or {}).get("metrics", {})
        checks = met.get("attention_checks", {})
        inter = checks.get("interventions", {})
        steered = (
            f"{inter['uniform']['top1']:.3f} / {inter['swap_other']['top1']:.3f} / "
            + (f"{inter['truth']['top1']:.3f}" if "truth" in inter else "-")
            if "uniform" in inter and "swap_other" in inter else "-"
        )  # fmt: skip
        rgb = met.get("streams", {}).get("rgb")
        rgb_cell = "-" if rgb is None else f"{rgb:.3f}"
        code = checks.get("class_code", {})
        key = "all" if "all" in code else next((k for k in code if k != "chance"), None)
        code_cell = "-"
        if key:
            truth = code[key].get("truth")
            code_cell = f"{code[key]['attention']:.2f}" + ("" if truth is None else f" ({truth:.2f})")
        pairs = met.get("opposite_pairs_two_way")
        trained = ref.get("data_version", 1)
        version = f"v{trained} / v{ref.get('evaluated_on', trained)}"
        lines.append(
            f"| {_label(m, ref)} | {ref['parameters'] / 1e6:.2f}M | {version} | {_pct(cs)} | "
            f"{'- (CS only)' if m in CS_ONLY else _pct(cv, ref)} | "
            f"{'' if pairs is None else f'{pairs:.3f}'} | {steered} | {rgb_cell} | "
            f"{_shares(met.get('attention_scores', {}))} | {code_cell} | {_minutes(cs)} |"
        )
    return "\n".join(lines)


def _label(model: str, row: dict[str, Any]) -> str:
    """The model's name, ``+ pose classifier`` when its evaluation has a pose stream (``pose_scores``)."""
    from core_models.models import POSE_CLASSIFIER_LABEL

    fused = "pose" in row.get("metrics", {}).get("streams", {})
    return f"{model} {POSE_CLASSIFIER_LABEL}" if fused else model


def _shares(sc: dict[str, Any]) -> str:
    bits = []
    for kind in ("parts", "temporal", "segments", "glimpses"):
        if kind in sc:
            e = sc[kind]
            mid = f", {e['middle']:.2f}" if "middle" in e else ""
            name = "glimpses on person" if kind == "glimpses" else kind
            bits.append(f"{name} {e['share']:.2f} ({e['uniform']:.2f}, {e['best']:.2f}{mid})")
            if kind == "parts" and "parts_informative" in sc:  # the clips where part weights can miss
                e = sc["parts_informative"]
                bits[-1] += f", where they can miss {e['share']:.2f} ({e['uniform']:.2f}, {e['best']:.2f})"
    return "; ".join(bits) or "-"


def _pct(row, ref=None) -> str:
    """A top-1, with the data version its weights were trained on when it differs from ``ref``'s
    (a model retrained on cross-subject only still ships its older cross-view checkpoint)."""
    if row is None:
        return ""
    older = ref is not None and row.get("data_version", 1) != ref.get("data_version", 1)
    cell = f"{row['metrics']['top1']:.3f}" + (f" (v{row.get('data_version', 1)})" if older else "")
    return cell + _seeds(row)


def _seeds(row) -> str:
    """`` (2 seeds: mean 0.470, 0.466-0.474)`` when the row has runs with other seeds, else ``""``."""
    other = [s["metrics"]["top1"] for s in row.get("seeds", []) if "top1" in s.get("metrics", {})]
    if not other:
        return ""
    tops = [row["metrics"]["top1"], *other]
    return f" ({len(tops)} seeds: mean {sum(tops) / len(tops):.3f}, {min(tops):.3f}-{max(tops):.3f})"


def _minutes(row) -> str:
    return "" if row is None else f"{row['train_seconds'] / 60:.1f} min"
