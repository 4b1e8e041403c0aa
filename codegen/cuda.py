"""CUDA code generation: a module at the nvvm stage -> PTX, cubins (nvJitLink) and a manifest.

The nvvm stage (passes/pipeline.py) leaves a host function in the LLVM dialect that launches
kernels (`gpu.launch_func`) and calls the runtime's cuBLAS gemm (`__theanir_cublas_?gemm`),
plus one `gpu.binary` per kernel holding its PTX for sm_90 (`cubin-format=isa`: no CUDA
toolkit needed). This module collects them into a `CudaArtifact`:

- `ptx`: kernel module name -> PTX text, as MLIR's NVPTX back end wrote it;
- `cubins`: kernel module name -> cubin bytes, linked by nvJitLink from the
  `nvidia-nvjitlink` wheel (runs with no GPU present; `cuModuleLoadData` loads them);
- `kernels`: the launch manifest, in host order: module, kernel, grid and block sizes (an
  int, or "dynamic" when computed at run time from the arguments' shapes) and the LLVM
  types of the kernel's arguments (memref descriptors are flattened: ptr, ptr, offset,
  sizes, strides);
- `cublas`: the gemm calls routed to cuBLAS (`__theanir_cublas_sgemm` ...), in host order;
- `host`: the host module's text (the LLVM dialect calling `gpu.launch_func`), kept for
  inspection and for the runtime's host code generation, which is not built yet (see
  docs/cuda.md).

`save(directory)` writes `kernels.json` + `<module>.ptx` + `<module>.cubin`: what travels to a
GPU machine, where the MLIR stack does not fit (DESIGN §7).
"""
from __future__ import annotations

import ctypes
import glob
import importlib.util
import json
import os
from dataclasses import dataclass, field
from typing import Any

from mlir import ir
from mlir.dialects import gpu

from theanir.passes.options import CompileOptions
from theanir.dialects.tn.context import new_context
from theanir.passes.pipeline import CUDA_CHIP, run_until

CUBLAS_CALLS = ("__theanir_cublas_sgemm", "__theanir_cublas_dgemm")
_NVJITLINK_PTX = 2  # nvJitLinkInputType NVJITLINK_INPUT_PTX


class NvJitLinkError(RuntimeError):
    """nvJitLink refused PTX we generated (a theanir bug), or its library is missing."""


@dataclass
class CudaArtifact:
    ptx: dict[str, str]
    kernels: list[dict[str, Any]]
    cublas: list[str]
    host: str
    chip: str = CUDA_CHIP
    cubins: dict[str, bytes] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        return {"format": 1, "chip": self.chip, "kernels": self.kernels, "cublas": self.cublas,
                "modules": sorted(self.ptx)}

    def save(self, directory: str) -> None:
        """Write the manifest, PTX and cubins into `directory` (created if missing)."""
        os.makedirs(directory, exist_ok=True)
        for name, text in self.ptx.items():
            with open(os.path.join(directory, name + ".ptx"), "w") as f:
                f.write(text)
        for name, data in self.cubins.items():
            with open(os.path.join(directory, name + ".cubin"), "wb") as f:
                f.write(data)
        with open(os.path.join(directory, "kernels.json"), "w") as f:
            json.dump(self.manifest(), f, indent=1)


def _int_or_dynamic(v: ir.Value) -> int | str:
    owner = v.owner
    if isinstance(owner, ir.Block):
        return "dynamic"
    owner = owner.operation
    if owner.name == "llvm.mlir.constant":
        return ir.IntegerAttr(owner.attributes["value"]).value
    return "dynamic"


def _launch(op: ir.Operation) -> dict[str, Any]:
    """One `gpu.launch_func`'s manifest entry (operand segments: async deps, grid x y z,
    block x y z, cluster x y z, dynamic shared memory, async object, kernel operands)."""
    sizes = list(ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"]))
    ops = list(op.operands)
    segs, at = [], 0
    for n in sizes:
        segs.append(ops[at: at + n])
        at += n
    grid, block, args = segs[1:4], segs[4:7], segs[-1]
    module, kernel = (p.strip().lstrip("@").strip('"') for p in str(op.attributes["kernel"]).split("::"))
    return {"module": module, "kernel": kernel,
            "grid": [_int_or_dynamic(g[0]) for g in grid],
            "block": [_int_or_dynamic(b[0]) for b in block],
            "args": [str(a.type) for a in args]}


def collect(module: ir.Module) -> CudaArtifact:
    """The PTX, launch manifest and cuBLAS calls of a module at the nvvm stage."""
    ptx: dict[str, str] = {}
    kernels: list[dict[str, Any]] = []
    cublas: list[str] = []

    def visit(op: Any) -> ir.WalkResult:
        op = op.operation
        if op.name == "gpu.binary":
            name = ir.StringAttr(op.attributes["sym_name"]).value
            for attr in ir.ArrayAttr(op.attributes["objects"]):
                ptx[name] = bytes(gpu.ObjectAttr(attr).object).decode()
        elif op.name == "gpu.launch_func":
            kernels.append(_launch(op))
        elif op.name == "llvm.call" and "callee" in op.attributes:
            callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
            if callee in CUBLAS_CALLS:
                cublas.append(callee)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    host = "\n".join(str(op) for op in module.body.operations if op.operation.name != "gpu.binary")
    return CudaArtifact(ptx=ptx, kernels=kernels, cublas=cublas, host=host)


def generate(module: ir.Module, opts: CompileOptions | None = None, start: str = "tn",
             link: bool = True) -> CudaArtifact:
    """Lower a copy of `module` (at stage `start`) to the nvvm stage and collect its PTX;
    `link`: also turn each PTX into a cubin with nvJitLink (NvJitLinkError if missing)."""
    # A fresh context per compile: the GPU passes add dialects to their context's registry
    # when they run, and MLIR asserts (aborts the process) if that happens in a context left
    # inside a multi-threaded execution section, which the shared context was seen in after
    # running tests/frontend in the same process (which test leaves it so: not traced). ~0.25 s.
    text = module.operation.get_asm(enable_debug_info=True)
    lowered = run_until(ir.Module.parse(text, new_context()), "nvvm", opts, start=start)
    art = collect(lowered)
    if link:
        art.cubins = {name: ptx_to_cubin(text, art.chip) for name, text in art.ptx.items()}
    return art


# -- nvJitLink, from the nvidia-nvjitlink wheel, through ctypes (no CUDA toolkit, no GPU) --

_LIB: ctypes.CDLL | None = None


def nvjitlink_path() -> str | None:
    """The wheel's libnvJitLink.so, or None when no `nvidia-nvjitlink` wheel is installed
    (CUDA 12 wheels put it in nvidia/nvjitlink/lib, CUDA 13 ones in nvidia/cu13/lib)."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ModuleNotFoundError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        found = sorted(glob.glob(os.path.join(root, "*", "lib", "libnvJitLink.so*")), reverse=True)
        if found:
            return found[0]
    return None


def _lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        path = nvjitlink_path()
        if path is None:
            raise NvJitLinkError("nvJitLink not found: install the optional extra `theanir[cuda]` "
                                 "(the nvidia-nvjitlink wheel)")
        _LIB = ctypes.CDLL(path)
    return _LIB


def _fn(lib: ctypes.CDLL, name: str) -> Any:
    """nvJitLink's header maps each name to a versioned symbol (`__nvJitLinkCreate_12_8`);
    the unversioned ones are exported too, take whichever the library has."""
    try:
        return getattr(lib, name)
    except AttributeError:
        pass
    for sym in _versioned_symbols(lib, name):
        return getattr(lib, sym)
    raise NvJitLinkError(f"nvJitLink has no {name}")


def _versioned_symbols(lib: ctypes.CDLL, name: str) -> list[str]:
    out = []
    for major in (13, 12):
        for minor in range(9, -1, -1):
            sym = f"__{name}_{major}_{minor}"
            if hasattr(lib, sym):
                out.append(sym)
    return out


def _log(lib: ctypes.CDLL, handle: ctypes.c_void_p, which: str) -> str:
    size = ctypes.c_size_t()
    if _fn(lib, f"nvJitLinkGet{which}LogSize")(handle, ctypes.byref(size)) != 0 or size.value <= 1:
        return ""
    buf = ctypes.create_string_buffer(size.value)
    _fn(lib, f"nvJitLinkGet{which}Log")(handle, buf)
    return buf.value.decode(errors="replace")


def ptx_to_cubin(ptx: str, chip: str = CUDA_CHIP, name: str = "theanir.ptx") -> bytes:
    """Link one PTX module into a cubin for `chip` (sm_90) with nvJitLink; NvJitLinkError
    with nvJitLink's error log when it refuses the PTX."""
    lib = _lib()
    handle = ctypes.c_void_p()
    opts = (ctypes.c_char_p * 1)(f"-arch={chip}".encode())
    if _fn(lib, "nvJitLinkCreate")(ctypes.byref(handle), ctypes.c_uint32(1), opts) != 0:
        raise NvJitLinkError(f"nvJitLinkCreate failed for -arch={chip}")
    try:
        data = ptx.encode()
        rc = _fn(lib, "nvJitLinkAddData")(handle, ctypes.c_int(_NVJITLINK_PTX), ctypes.c_char_p(data),
                                          ctypes.c_size_t(len(data)), ctypes.c_char_p(name.encode()))
        if rc == 0:
            rc = _fn(lib, "nvJitLinkComplete")(handle)
        if rc != 0:
            raise NvJitLinkError(f"nvJitLink refused {name} (error {rc}): {_log(lib, handle, 'Error')}")
        size = ctypes.c_size_t()
        _fn(lib, "nvJitLinkGetLinkedCubinSize")(handle, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        if _fn(lib, "nvJitLinkGetLinkedCubin")(handle, buf) != 0:
            raise NvJitLinkError(f"nvJitLinkGetLinkedCubin failed for {name}")
        return buf.raw
    finally:
        _fn(lib, "nvJitLinkDestroy")(ctypes.byref(handle))
