import sys
from pathlib import Path

# Test helpers (file writers in the real formats) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
