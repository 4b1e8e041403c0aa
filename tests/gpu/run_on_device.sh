#!/usr/bin/env bash
# The prepared GPU check (issue 21) for a GPU machine with no package registry and no MLIR:
# builds the runtime's native module there (its cmake, nanobind, NumPy), then runs
# tests/gpu/device_check.py against the cubins compiled on the development machine.
#
# Before (on the development machine):  .venv/bin/python tests/gpu/prepare_artifacts.py
# Carry: tests/gpu/artifacts (ignored by git; a few MB).  On the GPU machine, in the repo root:
#     bash tests/gpu/run_on_device.sh            # JSON lines, exit status 0 when all pass
#
# Not covered (not built yet, docs/cuda.md): running jitted functions on the GPU, hence the
# GPU variants of bench/mlp.py and bench/rnn.py against PyTorch and JAX.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
ART="${ARTIFACTS:-tests/gpu/artifacts}"
[ -f "$ART/vadd.cubin" ] || { echo "run_on_device: $ART/vadd.cubin missing: run tests/gpu/prepare_artifacts.py first and carry $ART" >&2; exit 2; }
BUILD="${BUILD_DIR:-$(mktemp -d /tmp/theanir-native.XXXXXX)}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$PY" -c "import sys, numpy, nanobind; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'nanobind', nanobind.__version__)"
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
PYABS="$("$PY" -c 'import sys; print(sys.executable)')"  # a venv's python, unresolved (cmake must not leave it)
cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$PYABS" \
  -DPython_FIND_VIRTUALENV=FIRST -Dnanobind_DIR="$("$PY" -m nanobind --cmake_dir)" > "$BUILD/cmake.log" 2>&1 \
  || { tail -40 "$BUILD/cmake.log"; exit 3; }
cmake --build "$BUILD" --target _native -j "$(nproc)" > "$BUILD/build.log" 2>&1 || { tail -40 "$BUILD/build.log"; exit 4; }
"$PY" tests/gpu/device_check.py --native "$BUILD" --artifacts "$ART"
