"""Helpers of the sparse tests: SciPy matrices with an empty row, comparisons."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def _matrix(m: int, k: int, density: float, fmt: str, dtype, seed: int = 0, empty_row: bool = True):
    a = sp.random(m, k, density=density, format="csr", random_state=seed, dtype=np.float64)
    a = a.tolil()
    if empty_row and m > 1:
        a[1, :] = 0  # an empty row
    a = a.asformat(fmt).astype(dtype)
    a.sort_indices()
    return a


def _close(got, want, dtype):
    got = got.toarray() if sp.issparse(got) else np.asarray(got)
    want = want.toarray() if sp.issparse(want) else np.asarray(want)
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])
