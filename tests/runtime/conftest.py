"""Fixtures shared by the runtime tests."""
from __future__ import annotations

import pytest

import theanir as th


@pytest.fixture(params=[False, True], ids=["async", "sync"])
def mode(request):
    """Run the test with asynchronous dispatch and again with th.config.sync."""
    old = th.config.sync
    th.config.sync = request.param
    yield request.param
    th.config.sync = old
