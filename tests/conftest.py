import sys
from pathlib import Path

# Test helpers (file writers in the real formats) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """112 synthetic clips at 80x60: subjects 1, 2 (CS train), 4 (CS val), 3 (CS test); cameras 1, 2."""
    from core_models.synth import write_dataset

    root = tmp_path_factory.mktemp("tiny_synth")
    write_dataset(root, workers=1, progress=False, subjects=(1, 2, 3, 4), cameras=(1, 2), repetitions=(1,),
                  size=(60, 80))  # fmt: skip
    return root
