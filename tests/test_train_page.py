"""Background training jobs end to end (a real, tiny run), and the Train page through AppTest."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_support import jobs

ROOT = Path(__file__).parents[1]
QUICK = {"limit": 16, "batch_size": 8, "extra_args": ("--workers", "0", "--cache-dir", "")}


def wait(out_dir: Path, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = jobs.job_state(out_dir)
        if not s["running"]:
            return s
        time.sleep(0.5)
    jobs.stop(out_dir)
    pytest.fail(f"the job in {out_dir} did not finish in {timeout} s: {s['log']}")


def test_a_tiny_run_trains_in_the_background_and_one_job_runs_at_a_time(tiny_synth, tmp_path):
    app = tmp_path / "app"
    job = jobs.start_training("skeleton_lstm", "cs", 1, app / "first", root=tiny_synth, **QUICK)
    assert job.pid > 0 and (app / "first" / jobs.JOB_FILE).is_file()
    with pytest.raises(jobs.JobError, match="already running"):
        jobs.start_training("skeleton_lstm", "cs", 1, app / "second", root=tiny_synth, **QUICK)
    assert not (app / "second").exists()
    assert jobs.running_jobs(app) == [app / "first"]

    s = wait(app / "first")
    assert s["state"] == "complete", s
    assert s["epochs_done"] == 1 and s["epochs"] == 1 and s["error"] is None
    assert {"train_loss", "train_top1", "val_top1"} <= set(s["history"][0])
    steps = s["steps"]  # a curve from the first steps, before the first epoch ends
    assert steps and steps[0]["epoch"] == 0 and steps[0]["step"] == 1 and 0 < steps[0]["epoch_fraction"] <= 1
    assert {"train_loss", "train_top1"} <= set(steps[0])
    assert (app / "first" / "model.pt").is_file() and s["has_model"]
    assert (app / "first" / jobs.RC_FILE).read_text().strip() == "0"
    assert [j["name"] for j in jobs.list_jobs(app)] == ["first"]
    with pytest.raises(jobs.JobError, match="already holds a run"):
        jobs.start_training("skeleton_lstm", "cs", 1, app / "first", root=tiny_synth, **QUICK)
    assert not jobs.stop(app / "first")  # nothing left to stop

    from app_support.models import list_models, metrics

    listed = [e for e in list_models(tmp_path / "none", tmp_path) if e.path == app / "first"]
    assert len(listed) == 1 and listed[0].model == "skeleton_lstm"  # the app's model list has it
    assert metrics(listed[0])["clips"] > 0  # evaluated, so its metrics show beside it


def test_a_job_without_data_generates_it_first_shows_progress_and_stops_without_leftovers(tmp_path):
    from core_models.synth.generate import partial_dirs

    empty = tmp_path / "no-data"
    job = jobs.start_training("skeleton_lstm", "cv", 2, tmp_path / "app" / "run", root=empty)
    assert "synth --out" in job.command and "--small" in job.command and "&&" in job.command
    assert jobs.job_state(job.out_dir)["state"] == "starting"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the data being written, with its progress
        p = jobs.job_state(job.out_dir)["progress"]
        if p and p["done"] > 0:
            break
        time.sleep(0.2)
    assert p and p["stage"] == "data" and 0 < p["done"] < p["total"] and p["time"] >= p["started"]
    assert partial_dirs(empty) and not empty.exists()  # written aside, not into the dataset folder
    assert jobs.stop(job.out_dir)
    s = jobs.job_state(job.out_dir)
    assert s["state"] == "stopped" and not s["running"]
    with pytest.raises(ProcessLookupError):
        os.killpg(job.pid, 0)  # the whole process group is gone
    assert not empty.exists() and partial_dirs(empty) == []  # nothing half-written is left


def test_an_interrupted_dataset_write_leaves_nothing(tmp_path, monkeypatch):
    from core_models.synth import generate

    real, calls = generate._write_one, []

    def failing(job):
        calls.append(job)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a Stop does (SIGTERM unwinds like Ctrl-C in the CLI)
        return real(job)

    monkeypatch.setattr(generate, "_write_one", failing)
    out = tmp_path / "synth"
    with pytest.raises(KeyboardInterrupt):
        generate.write_dataset_atomically(out, workers=1, progress=False, subjects=(1,), cameras=(1,),
                                          repetitions=(1,), size=(30, 40))  # fmt: skip
    assert not out.exists() and generate.partial_dirs(out) == []
    monkeypatch.setattr(generate, "_write_one", real)
    summary = generate.write_dataset_atomically(out, workers=1, progress=False, subjects=(1,), cameras=(1,),
                                                repetitions=(1,), actions=(1, 2), size=(30, 40),
                                                progress_file=tmp_path / "progress.json")  # fmt: skip
    assert summary["clips"] == 2 and (out / "synth.json").is_file() and jobs.dataset_ready(out)
    from core_models.results import read_progress

    assert read_progress(tmp_path / "progress.json")["done"] == 2
    with pytest.raises(FileExistsError, match="already holds files"):
        generate.write_dataset_atomically(out, workers=1, progress=False)


def test_the_data_estimate_counts_the_clips_and_the_load():
    e = jobs.data_estimate()
    assert e["clips"] == 420 and 0 < e["idle_seconds"] <= e["seconds"] and e["cores"] >= 1


def test_curves_start_from_the_steps():
    from viz.training import curves_figure

    steps = [
        {"epoch": 0, "step": i, "epoch_fraction": i / 10, "train_loss": 2.0 - i / 10, "train_top1": i / 20}
        for i in range(1, 6)
    ]
    fig = curves_figure([], steps)
    assert [t.name for t in fig.data] == ["train loss (steps)", "train acc (steps)"]
    assert list(fig.data[0].x) == [0.1, 0.2, 0.3, 0.4, 0.5]
    fig = curves_figure([{"epoch": 0, "train_loss": 1.5, "val_top1": 0.4}], steps)
    assert {"train loss (epoch)", "val acc"} <= {t.name for t in fig.data}


def test_default_root_prefers_the_full_set_then_the_small_one(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "DATA_ROOT", tmp_path / "synth")
    monkeypatch.setattr(jobs, "SMALL_ROOT", tmp_path / "synth-small")
    assert jobs.default_root() == (tmp_path / "synth-small", True)
    (tmp_path / "synth-small").mkdir()
    (tmp_path / "synth-small" / "synth.json").write_text("{}")
    assert jobs.default_root() == (tmp_path / "synth-small", False)
    (tmp_path / "synth").mkdir()
    (tmp_path / "synth" / "synth.json").write_text("{}")
    assert jobs.default_root() == (tmp_path / "synth", False)


def page(jobs_dir: Path, monkeypatch) -> AppTest:
    monkeypatch.setattr(jobs, "JOBS_DIR", jobs_dir)
    at = AppTest.from_file(str(ROOT / "pages/train.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_train_page_with_no_runs(tmp_path, monkeypatch):
    at = page(tmp_path / "app", monkeypatch)
    assert at.title[0].value == "Train"
    assert at.selectbox(key="train_model").value == "skeleton_lstm"
    # the cpu recipe's budget: 3,000 steps of 32 clips over 924 training clips
    assert at.number_input(key="train_epochs_skeleton_lstm").value == 104
    assert at.text_input(key="train_name_skeleton_lstm_cs").value == "skeleton_lstm-cs"
    assert not at.button(key="train_start").disabled
    assert not at.get("plotly_chart")
    at.selectbox(key="train_model").set_value("stn").run()
    assert not at.exception and at.number_input(key="train_epochs_stn").value == 42


def test_train_page_estimates_come_from_the_shipped_runs(tmp_path, monkeypatch):
    """Each model's time is its shipped CS run's, from the manifest; the quickest comes first."""
    from core_models.reproduce import read_manifest

    shipped = read_manifest(ROOT / "checkpoints")["checkpoints"]
    rows = {r["model"]: r for r in shipped if r["protocol"] == "cs"}
    minutes = {m: max(1, round(r["wall_seconds"] / 60)) for m, r in rows.items()}
    at = page(tmp_path / "app", monkeypatch)
    options = at.selectbox(key="train_model").options
    for model, m in minutes.items():
        assert f"{model} · ~{m} min (the shipped CS run)" in options
    shown = [o.split(" · ")[0] for o in options]
    assert shown[0] == min(rows, key=lambda k: rows[k]["wall_seconds"])


def test_train_page_shows_a_finished_run(tmp_path, monkeypatch):
    run = tmp_path / "app" / "done"
    run.mkdir(parents=True)
    for f in ("history.jsonl", "settings.json", "status.json", "model.pt"):
        shutil.copy(ROOT / "checkpoints" / "skeleton_lstm-cs" / f, run / f)
    at = page(tmp_path / "app", monkeypatch)
    assert at.selectbox(key="train_show").value == "done"
    fig = at.get("plotly_chart")
    assert len(fig) == 1
    assert "complete" in at.markdown[1].value
    assert any("runs" in s.value or "done" in s.value for s in at.success)
    assert at.text_input(key="train_name_skeleton_lstm_cs").value == "skeleton_lstm-cs"
    assert len(at.dataframe) == 1


def test_an_interrupted_run_has_its_own_glyph_and_says_how_to_resume(tmp_path, monkeypatch):
    import json
    import subprocess

    documented = {"starting", "running", "evaluating", "complete", "failed", "stopped", "interrupted",
                  "missing"}  # fmt: skip
    assert set(jobs.STATE_ICON) == documented and all(jobs.STATE_ICON.values())  # never an empty box
    run = tmp_path / "app" / "killed"
    run.mkdir(parents=True)
    for f in ("history.jsonl", "settings.json"):
        shutil.copy(ROOT / "checkpoints" / "skeleton_lstm-cs" / f, run / f)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a training process that has ended without writing its final status
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": gone.pid}))
    assert jobs.job_state(run)["state"] == "interrupted"
    at = page(tmp_path / "app", monkeypatch)
    assert at.selectbox(key="train_show").value == "killed"
    header = at.markdown[1].value
    assert f"{jobs.STATE_ICON['interrupted']} interrupted" in header, header
    assert any("--resume" in w.value for w in at.warning) and not at.error


def test_train_page_starts_and_stops_a_job(tiny_synth, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "DATA_ROOT", tiny_synth)
    at = page(tmp_path / "app", monkeypatch)
    at.number_input(key="train_epochs_skeleton_lstm").set_value(1)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    run = tmp_path / "app" / "skeleton_lstm-cs"
    assert at.session_state["train_show"] == "skeleton_lstm-cs" and jobs.is_running(run)
    assert at.button(key="train_start").disabled and at.warning
    at.button(key="train_stop").click().run()
    assert not at.exception, at.exception
    assert jobs.job_state(run)["state"] == "stopped"
    assert not at.button(key="train_start").disabled
    assert at.text_input(key="train_name_skeleton_lstm_cs").value == "skeleton_lstm-cs-2"


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_job_caught_between_fork_and_exec_is_alive():
    """A child that has forked but not yet exec'd shows this process's command line: alive."""
    pid = os.fork()
    if pid == 0:  # the child never execs: it is what Popen's child is until exec
        time.sleep(5)
        os._exit(0)
    try:
        assert Path(f"/proc/{pid}/cmdline").read_bytes() == Path("/proc/self/cmdline").read_bytes()
        assert jobs._job_alive({"pid": pid})
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert not jobs._job_alive({"pid": pid})


def test_a_job_caught_starting_is_alive():
    """Right after Popen a shell can show an empty command line while it execs: still alive."""
    import subprocess

    for _ in range(100):
        # the shell outlives the check even when a loaded machine pauses this test (it is killed below)
        proc = subprocess.Popen(["/bin/sh", "-c", "sleep 30; echo core_models"], stdout=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        try:
            assert jobs._job_alive({"pid": proc.pid})
        finally:
            proc.kill()
            proc.wait()
