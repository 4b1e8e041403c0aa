"""The GPU check of the runtime's CUDA path, for a GPU machine without MLIR or a registry
(run by run_on_device.sh): imports only the runtime's native module, built there, and NumPy.

    python tests/gpu/device_check.py --native BUILD_DIR --artifacts tests/gpu/artifacts

Prints one JSON line per check (name, ok, seconds, error) and exits non-zero if any failed.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _load_native(build: str):
    found = glob.glob(os.path.join(build, "_native*.so"))
    if not found:
        sys.exit(f"device_check: no _native*.so in {build}")
    spec = importlib.util.spec_from_file_location("_native", found[0])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cublas() -> str:
    import nvidia  # the nvidia-cublas wheel (installed on the device machine)
    for root in nvidia.__path__:
        found = sorted(glob.glob(os.path.join(root, "*", "lib", "libcublas.so*")), reverse=True)
        if found:
            return found[0]
    sys.exit("device_check: no libcublas.so in the nvidia wheels")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--native", required=True)
    ap.add_argument("--artifacts", required=True)
    args = ap.parse_args()
    import cuda_checks

    native = _load_native(args.native)
    status = native.cuda_driver_status()
    print(json.dumps({"check": "driver", "ok": status == "", "status": status,
                      "devices": native.cuda_device_count()}), flush=True)
    if status:
        sys.exit(1)
    with open(os.path.join(args.artifacts, "vadd.cubin"), "rb") as f:
        vadd = f.read()
    cublas = _cublas()
    extra = {"check_vadd_kernel": (vadd,), "check_cublas_gemm": (cublas,),
             "check_errors_surface_at_the_read": (cublas,), "check_generated_cubins_load": (args.artifacts,)}
    failed = 0
    for name in cuda_checks.ALL:
        t = time.perf_counter()
        row = {"check": name, "ok": True}
        try:
            result = getattr(cuda_checks, name)(native, *extra.get(name, ()))
            if result is not None:
                row["result"] = result
        except Exception:  # noqa: BLE001 - every check runs; each failure is reported
            row.update(ok=False, error=traceback.format_exc(limit=3))
            failed += 1
        row["seconds"] = round(time.perf_counter() - t, 3)
        print(json.dumps(row), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
