"""Train: start a training run in the background, watch its curves live, stop it; past app runs."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from app_support import jobs
from app_support.navigation import through_router
from app_support.settings import training_enabled
from core_models.models import MODELS
from core_models.reproduce import read_manifest
from core_models.train import budget_epochs
from viz.export import html_bytes
from viz.training import curves_figure

through_router()  # a deep link on a fresh server still gets the sidebar and the menu
if not training_enabled():  # ADL_TRAINING=off: the router leaves the page out; a stale link stops here
    st.info("Training is turned off on this server.")
    st.stop()


def shipped_minutes() -> dict[str, float]:
    """Wall minutes of each model's shipped cross-subject run of the cpu recipe (training and
    evaluation, on the 2-core machine the manifest names), read from the manifest."""
    rows = read_manifest()["checkpoints"]
    return {
        r["model"]: r["wall_seconds"] / 60
        for r in rows
        if r.get("protocol") == "cs" and r.get("preset") == "cpu" and r.get("wall_seconds")
    }


MINUTES = shipped_minutes()
ESTIMATE = {m: f"~{max(1, round(v))} min (the shipped CS run)" for m, v in MINUTES.items()}
ORDER = sorted(MODELS, key=lambda m: (m not in MINUTES, MINUTES.get(m, 0.0), m))
PROTOCOLS = {"cs": "cross-subject (CS)", "cv": "cross-view (CV)"}
STAGES = {"data": "Writing the synthetic dataset", "prepare": "Preparing the clips (first run on this data)"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def free_name(base: str, jobs_dir: Path) -> str:
    """``base``, or ``base-2``, ``base-3``... the first that is not a directory under ``jobs_dir``."""
    name, i = base, 1
    while (jobs_dir / name).exists():
        i += 1
        name = f"{base}-{i}"
    return name


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def show_progress(p: dict) -> None:
    """A progress bar for a starting job's stage, with the time left at the rate measured so far."""
    done, total = int(p.get("done", 0)), max(int(p.get("total", 0)), 1)
    spent = max(float(p.get("time", 0)) - float(p.get("started", 0)), 0.0)
    left = f", about {minutes(spent / done * (total - done))} left at this rate" if done else ""
    text = f"{STAGES.get(p.get('stage'), p.get('stage'))}: {done} / {total} clips, {minutes(spent)}{left}"
    st.progress(min(done / total, 1.0), text=text)


def show_run(run_dir: Path, was_running: bool) -> None:
    """State, progress, curves, log and a Stop button of one run (re-drawn every 2 s by its fragment)."""
    s = jobs.job_state(run_dir)
    icon = jobs.STATE_ICON.get(s["state"], "")
    st.markdown(
        f"**{run_dir.name}** · {s['model'] or '?'} · {(s['protocol'] or '?').upper()} · {icon} {s['state']}"
    )
    total = max(s["epochs"], 1)
    done = min(s["epochs_done"], total)
    st.progress(done / total, text=f"{done} / {s['epochs']} epochs")
    if s["progress"] and s["state"] == "starting":
        show_progress(s["progress"])
    elif s["state"] == "starting":
        st.caption("Starting: loading the data.")
    elif s["state"] == "evaluating":
        st.caption("Trained; evaluating on the test split.")
    if s["history"] or s["steps"]:
        fig = curves_figure(s["history"], s["steps"])
        st.plotly_chart(fig, key=f"train_curves_{run_dir.name}")
        if s["history"]:
            last = {k: float(v) for k, v in s["history"][-1].items() if isinstance(v, (int, float))}
            nan = float("nan")
            st.caption(
                f"last epoch: train loss {last.get('train_loss', nan):.3f}, train acc "
                f"{last.get('train_top1', nan):.3f}, val acc {last.get('val_top1', nan):.3f}"
            )
        st.download_button(
            "Curves (HTML)",
            lambda: html_bytes(fig),
            file_name=f"curves-{run_dir.name}.html",
            mime="text/html",
            key=f"train_dl_curves_{run_dir.name}",
            on_click="ignore",
        )
    if s["error"] and s["state"] == "interrupted":
        st.warning(f"Interrupted: {s['error']}")
    elif s["error"]:
        st.error(f"Training failed: {s['error']}")
    if s["state"] == "complete" or (not s["running"] and s["has_model"]):
        st.success(
            f"Finished. The model now appears in the sidebar's model list as **{run_dir.as_posix()}**."
        )
    if s["log"]:
        with st.expander("Last log lines", expanded=s["running"]):
            st.code("\n".join(s["log"]), language=None)
    if s["running"]:
        if st.button("Stop", key="train_stop", type="secondary"):
            jobs.stop(run_dir)
            st.rerun(scope="app")
    elif was_running:
        st.rerun(scope="app")  # the job just ended: refresh the whole page (Start, past runs)


st.title("Train")
st.markdown(
    "Train a model on the synthetic dataset in the background, with the `cpu` recipe. The page can "
    "be left and reloaded while it runs. A finished run is evaluated on the test split and then "
    "listed with the shipped models in the sidebar."
)
jobs_dir = Path(jobs.JOBS_DIR)
root, generate = jobs.default_root()
if generate:
    e = jobs.data_estimate()
    busy = (
        f"; the machine is busy now (load {e['load']:.1f} on {e['cores']} cores), so expect about "
        f"{minutes(e['seconds'])}"
        if e["seconds"] > 1.2 * e["idle_seconds"]
        else ""
    )
    st.info(
        f"No dataset found: the run first writes {e['clips']} synthetic clips to `{root}`, about "
        f"{minutes(e['idle_seconds'])} on an idle machine{busy}. A progress bar shows it below; Stop "
        "leaves no half-written dataset."
    )
else:
    st.caption(f"Dataset: `{root}` (synthetic, NTU RGB+D format).")

c1, c2, c3, c4 = st.columns([3, 2, 1, 3])
model = c1.selectbox(
    "Model", ORDER, key="train_model",
    format_func=lambda m: f"{m} · {ESTIMATE.get(m, 'no shipped run timed')}",
)  # fmt: skip
protocol = c2.selectbox("Protocol", list(PROTOCOLS), format_func=PROTOCOLS.get, key="train_protocol")
epochs = int(c3.number_input("Epochs", 1, 500, budget_epochs(model), key=f"train_epochs_{model}",
                             help="the recipe's step budget in passes over the synthetic training split; "
                             "training stops earlier once validation levels off"))  # fmt: skip
name_key = f"train_name_{model}_{protocol}"
name = c4.text_input("Run name", free_name(f"{model}-{protocol}", jobs_dir), key=name_key)

running = jobs.running_jobs(jobs_dir)
if running:
    st.warning(
        f"`{running[0].name}` is training; one job runs at a time "
        "(show it under Run and press Stop to start another)."
    )
if st.button("Start", type="primary", disabled=bool(running), key="train_start"):
    if not NAME_RE.match(name):
        st.error("A run name is letters, digits, '-', '_' and '.', starting with a letter or digit.")
    else:
        try:
            job = jobs.start_training(model, protocol, epochs, jobs_dir / name)
        except jobs.JobError as e:
            st.error(str(e))
        else:
            st.session_state["train_show"] = job.out_dir.name
            del st.session_state[name_key]  # the next run gets a fresh free name
            st.rerun()  # redraw with the job running: Start disabled, the live section polling

past = jobs.list_jobs(jobs_dir)
if past:
    names = [p["name"] for p in past]
    if st.session_state.get("train_show") not in names:
        st.session_state["train_show"] = running[0].name if running else names[0]
    st.subheader("Run")
    shown = st.selectbox("Show run", names, key="train_show")
    live = jobs_dir / shown in running
    st.fragment(show_run, run_every=2 if live else None)(jobs_dir / shown, live)

    st.subheader("Past runs")
    table = [
        {
            "run": p["name"],
            "model": p["model"],
            "protocol": (p["protocol"] or "").upper(),
            "state": p["state"],
            "epochs": f"{p['epochs_done']} / {p['epochs']}",
            "best val acc": max((r.get("val_top1", 0.0) for r in p["history"]), default=None),
        }
        for p in past
    ]
    st.dataframe(table, hide_index=True)
else:
    st.caption(f"No runs yet under `{jobs_dir}`.")
