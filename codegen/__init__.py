"""Code generation and the compile cache: llvm-stage module -> object code -> shared library.

The layer between the passes (below) and the runtime (above): LLVM's C API (`llvm_c`),
linking and loading (`native`), artifacts (`artifact`), the disk cache (`cache`), the
libraries generated code calls and their threads (`threads`), the host facts a compile
depends on (`host`) and the package version (`version`). It imports `theanir.passes` and
`theanir.dialects`, never the runtime or the frontend: what it needs from the runtime (the
cancel flag, the allocation hooks) is handed down to it (`hooks.set_runtime_hooks`).
"""
