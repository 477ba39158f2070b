import os
import sys
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # one compute thread per worker: two workers fill two cores
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

# Test helpers (file writers in the real formats) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

# The suite runs on two pytest-xdist workers (pyproject's addopts, ``-n 2 --dist loadscope``). The
# scheduler below keeps each test module on one worker, so its module fixtures (a trained model,
# a server) are made once, and sends the modules that drive Chromium to one worker together, so
# two browsers never run beside each other. (xdist's own ``loadgroup`` marks do not group under
# pytest 9, whose node ids no longer take the suffix xdist adds.)
BROWSER_MODULES = {"test_browser", "test_browser_load", "test_browser_uploads", "test_lesson"}


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None  # any other --dist: xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = Path(nodeid.split("::", 1)[0]).stem
            return "browser" if module in BROWSER_MODULES else module

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """112 synthetic clips at 80x60: subjects 1, 2 (CS train), 4 (CS val), 3 (CS test); cameras 1, 2."""
    from core_models.synth import write_dataset

    root = tmp_path_factory.mktemp("tiny_synth")
    write_dataset(root, workers=1, progress=False, subjects=(1, 2, 3, 4), cameras=(1, 2), repetitions=(1,),
                  size=(60, 80))  # fmt: skip
    return root
