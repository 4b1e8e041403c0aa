"""Compile here what tests/gpu/run_on_device.sh checks on a GPU machine (which has no MLIR):
one folder per op of the op table and for the seed MLP and RNN training steps, each with
kernels.json + PTX + cubins (codegen/cuda.py), and vadd.cubin for the launch check.

    .venv/bin/python tests/gpu/prepare_artifacts.py [--out tests/gpu/artifacts]

Needs the nvidia-nvjitlink wheel (pip install 'theanir[cuda]'); a few MB in all.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: op_rows
sys.path.insert(0, HERE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "artifacts"))
    args = ap.parse_args()
    import theanir as th
    from theanir.codegen import cuda

    import cuda_checks
    import test_codegen
    from op_rows import ROWS

    if cuda.nvjitlink_path() is None:
        sys.exit("prepare_artifacts: the nvidia-nvjitlink wheel is missing (pip install 'theanir[cuda]')")
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    with open(os.path.join(args.out, "vadd.cubin"), "wb") as f:
        f.write(cuda.ptx_to_cubin(cuda_checks.VADD_PTX))
    jobs = []
    for row in {r.op: r for r in reversed(ROWS)}.values():
        jobs.append((row.id.replace(".", "_"), row.fn, row.inputs(np.random.default_rng(0), row.cases[0], np.float32)))
    rng = np.random.default_rng(0)
    mlp = [rng.standard_normal((60, 784)).astype(np.float32), rng.integers(0, 10, 60).astype(np.int32)] + \
        [rng.standard_normal(s).astype(np.float32) for s in ((784, 500), (500,), (500, 10), (10,))]
    rnn = [rng.standard_normal((20, 30)).astype(np.float32), rng.integers(0, 30, 20).astype(np.int32)] + \
        [rng.standard_normal(s).astype(np.float32) for s in ((30, 50), (50, 50), (50,), (50, 30), (30,))]
    jobs += [("seed_mlp_step", test_codegen._mlp_step, mlp), ("seed_rnn_step", test_codegen._rnn_step, rnn)]
    for name, fn, xs in jobs:
        low = th.jit(fn).lower(*xs)
        cuda.generate(low.traced.module, low.options).save(os.path.join(args.out, name))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out) for f in fs)
    print(f"prepare_artifacts: {len(jobs)} functions -> {args.out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
