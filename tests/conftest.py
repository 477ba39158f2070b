import os
import sys
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # one compute thread per worker: two workers fill two cores
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

# Test helpers (file writers in the real formats) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

# The suite runs on two pytest-xdist workers (pyproject's addopts, ``--dist loadgroup``). Each test
# module stays on one worker, so its module fixtures (a trained model, a server) are made once;
# the modules that drive Chromium share one worker, so they never run beside each other.
BROWSER_MODULES = {"test_browser", "test_browser_load", "test_browser_uploads", "test_lesson"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else item.nodeid.split("::")[0]
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("browser" if module in BROWSER_MODULES else module))


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """112 synthetic clips at 80x60: subjects 1, 2 (CS train), 4 (CS val), 3 (CS test); cameras 1, 2."""
    from core_models.synth import write_dataset

    root = tmp_path_factory.mktemp("tiny_synth")
    write_dataset(root, workers=1, progress=False, subjects=(1, 2, 3, 4), cameras=(1, 2), repetitions=(1,),
                  size=(60, 80))  # fmt: skip
    return root
