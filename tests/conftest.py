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


def pytest_addoption(parser: pytest.Parser) -> None:
    # tests/reliability/ runs a short, derandomized search by default (CI); this flag makes it
    # keep searching: more examples, bigger sizes, a fresh random seed each run.
    parser.addoption("--reliability-long", action="store_true", default=False,
                     help="run tests/reliability with long budgets (more examples, fresh seeds, reductions up to 2**25 terms)")


@pytest.fixture
def reliability_long(request: pytest.FixtureRequest) -> bool:
    """True under --reliability-long (tests/reliability/budget.py scales the search by it)."""
    return bool(request.config.getoption("--reliability-long"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """th.config pointed at an empty disk-cache directory for this test (returned)."""
    import theanir as th

    d = tmp_path / "cache"
    monkeypatch.setattr(th.config, "cache", True)
    monkeypatch.setattr(th.config, "cache_dir", str(d))
    monkeypatch.setattr(th.config, "codegen", "object")
    return d


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
