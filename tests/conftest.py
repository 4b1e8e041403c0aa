import atexit
import os
import shutil
import sys
import tempfile

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

# Compiled code goes to a per-session temporary disk cache (inherited by child processes),
# never the user's ~/.cache/theanir: set before theanir reads its config.
_CACHE_DIR = tempfile.mkdtemp(prefix="theanir-test-cache-")
os.environ["THEANIR_CACHE_DIR"] = _CACHE_DIR
atexit.register(shutil.rmtree, _CACHE_DIR, True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
