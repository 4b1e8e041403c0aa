"""theanir-opt: mlir-opt for theanir; runs tn passes and upstream MLIR passes on textual IR.

    theanir-opt in.mlir --pass-pipeline='builtin.module(tn-canonicalize{fast-math=true},func.func(canonicalize))'
    theanir-opt in.mlir --tn-cse --convert-tn-to-linalg -o out.mlir
    theanir-opt in.mlir --lower-to-cpu --emit=llvm
    theanir-opt in.mlir --until-stage=linalg --optimizer=fast_compile
    theanir-opt --list-passes

Our passes are Python (`passes/registry.py`), so MLIR's pipeline parser does not know them:
the pipeline text is split at its top level; our elements (`name{key=value ...}`) become a
pass class and its `Options` (converted to the fields' types), everything else goes to
MLIR's parser. Consecutive upstream elements run in one `PassManager`, each of ours in its
own (added with `pm.add(callable)`), all in command-line order, so IR printing is MLIR's. Every error is one line,
`FILE:LINE:COL: error: message` where MLIR gives a location (else `theanir-opt: error: ...`),
with exit code 1 (2 for a bad command line). The work runs in a forked child, because this
MLIR build aborts on some assertions (DESIGN.md §1): an abort becomes a one-line error too.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from .errors import PIPELINE_FILE, PROG, UserError  # noqa: F401 (PIPELINE_FILE re-exported)
from .pipeline_text import Element, split_pipeline, _pipeline_element, _pipeline_error  # noqa: F401

if TYPE_CHECKING:
    from theanir.passes.options import CompileOptions

LLVM_DIALECTS = {"builtin", "llvm", "omp", "nvvm"}  # what translation to LLVM IR accepts


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + exits; we want one line
        hint = " (see --list-passes)" if "unrecognized arguments" in message else ""
        raise UserError(f"{PROG}: error: {message}{hint}", 2)


def build_parser() -> argparse.ArgumentParser:
    from theanir.passes.pipeline import STAGE_NAMES
    from theanir.passes.registry import ALIASES, PASSES

    p = _Parser(prog=PROG, allow_abbrev=False,
                description="Run theanir (tn) and upstream MLIR passes on textual MLIR.")
    p.add_argument("input", nargs="?", default="-", help="input .mlir file ('-' or none: stdin)")
    p.add_argument("-o", dest="output", default="-", metavar="FILE", help="output file (default stdout)")
    p.add_argument("--pass-pipeline", dest="steps", action="append", metavar="PIPELINE",
                   type=lambda text: ("pipeline", text),
                   help="e.g. 'builtin.module(tn-canonicalize,tn-to-linalg,func.func(canonicalize))'")
    p.add_argument("--emit", choices=["mlir", "llvm"], default="mlir",
                   help="llvm: translate the final LLVM-dialect module to LLVM IR")
    p.add_argument("--until-stage", dest="steps", action="append", metavar="STAGE",
                   type=lambda text: ("stage", text),
                   help="run the stage table (passes/pipeline.py) from tn up to STAGE: " + ", ".join(STAGE_NAMES[1:]))
    p.add_argument("--compile-option", dest="compile_options", action="append", default=[], metavar="KEY=VALUE",
                   help="a CompileOptions field for --until-stage/--lower-to-cpu (optimizer=fast_compile, "
                        "fast_math=true, blas=false, target_features=+avx2, ...)")
    p.add_argument("--list-passes", action="store_true", help="list theanir passes and pipelines")
    p.add_argument("--split-input-file", action="store_true",
                   help="process each `// -----` separated chunk as its own module")
    p.add_argument("--mlir-print-ir-after-all", action="store_true",
                   help="print the IR after each pass to stderr")
    p.add_argument("--mlir-timing", action="store_true", help="report each pass's wall time on stderr")
    p.add_argument("--no-crash-guard", action="store_true",
                   help="run in this process (an MLIR assertion then aborts it)")
    for name, cls in PASSES.items():
        p.add_argument(f"--{name}", dest="steps", action="append_const", const=("pass", name), help=cls.doc())
    for name, (_, last) in PIPELINES.items():
        p.add_argument(f"--{name}", dest="steps", action="append_const", const=("stage", last),
                       help=f"named pipeline: the stage table from tn to {last}")
    for alias, name in ALIASES.items():
        p.add_argument(f"--{alias}", dest="steps", action="append_const", const=("pass", alias),
                       help=f"alias of --{name}")
    p.set_defaults(steps=[])
    return p


def list_passes() -> str:
    from theanir.passes.pipeline import STAGES
    from theanir.passes.registry import ALIASES, PASSES

    lines = ["theanir passes (as --NAME, or by name in --pass-pipeline, options as NAME{key=value}):"]
    for name, cls in PASSES.items():
        lines.append(f"  {name:<30} {cls.doc()}")
        lines += [f"  {'':<30}   {o}={_default(cls, o)}" for o in cls.option_names()]
    lines += [f"  {a:<30} alias of {n}" for a, n in ALIASES.items()]
    lines += ["named pipelines:"] + [f"  {n:<30} the stage table from {a} to {b}" for n, (a, b) in PIPELINES.items()]
    lines += ["stages (--until-stage=NAME), each a list of steps [run only when ...]:"]
    for stage in STAGES[1:]:
        lines.append(f"  {stage.name:<30} {stage.doc}")
        lines += [f"      {step}" for step in stage.steps]
    lines += ["upstream MLIR passes: any pass `mlir-opt --help` lists, by name in --pass-pipeline"]
    return "\n".join(lines) + "\n"


def _default(cls, option: str) -> str:
    from theanir.passes.base import format_value

    return format_value(getattr(cls.Options(), option.replace("-", "_")))


PIPELINES = {"lower-to-cpu": ("tn", "llvm"), "lower-to-nvvm": ("tn", "nvvm")}  # named pipelines: spans of the stage table


def compile_options(pairs: Sequence[str]) -> "CompileOptions":
    """CompileOptions from `--compile-option KEY=VALUE` texts (each converted to its field's type)."""
    import dataclasses
    import typing

    from theanir.codegen.host import host_options
    from theanir.passes.base import convert
    from theanir.passes.options import CompileOptions

    hints = typing.get_type_hints(CompileOptions)
    fields = {f.name for f in dataclasses.fields(CompileOptions)}
    values = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise UserError(f"{PROG}: error: --compile-option {pair!r}: expected KEY=VALUE with KEY one of "
                            f"{', '.join(sorted(fields))}", 2)
        try:
            values[key] = convert(text, hints[key])
        except ValueError as e:
            raise UserError(f"{PROG}: error: --compile-option {key}: {e}", 2) from None
    return host_options(CompileOptions(**values))  # unset target_features: this host's, as th.jit


# ---- locations and diagnostics -----------------------------------------------------------

_input_name = "<stdin>"  # what the input's "-" locations (IR parsed from a string) stand for


def _file_line_col(loc) -> str | None:
    """'file:line:col' from an MLIR location (looking through name/callsite/fused)."""
    if loc.is_a_file():
        name = _input_name if loc.filename == "-" else loc.filename
        return f"{name}:{loc.start_line}:{loc.start_col}"
    if loc.is_a_name():
        return _file_line_col(loc.child_loc)
    if loc.is_a_callsite():
        return _file_line_col(loc.callee)
    if loc.is_a_fused():
        for inner in loc.locations:
            found = _file_line_col(inner)
            if found:
                return found
    return None


def _located(loc, message: str) -> str:
    where = _file_line_col(loc) if loc is not None else None
    return f"{where or PROG}: error: {message}"


def _diagnostic_error(e, context: str = "") -> UserError:
    """The first error diagnostic of an `ir.MLIRError` as one line (op name from its notes)."""
    diags = list(getattr(e, "error_diagnostics", []))
    if not diags:
        first = str(e).strip().splitlines() or ["unknown MLIR error"]
        return UserError(f"{PROG}: error: {context}{first[-1].strip()}")
    d = diags[0]
    message = d.message.splitlines()[0] if d.message else "error"
    for note in d.notes:
        m = re.search(r'see current operation: (?:.*?= )?"?([\w.]+)', note.message)
        if m and m.group(1) not in message:
            message += f" (op '{m.group(1)}')"
            break
    return UserError(_located(d.location, context + message))


def build_steps(requests: Sequence[tuple[str, str]],
                options: "CompileOptions | None" = None) -> list[tuple[str, object]]:
    """Command-line requests, in order, -> (name, Options) steps; Options None: upstream text.
    A stage request expands to the stage table's steps under `options` (CompileOptions)."""
    from theanir.passes.options import CompileOptions
    from theanir.passes.pipeline import STAGE_NAMES, stage_steps
    from theanir.passes.registry import lookup

    options = options or compile_options(())
    steps: list[tuple[str, object]] = []
    for kind, value in requests:
        if kind == "pass":
            cls = lookup(value)
            steps.append((cls.NAME, cls.from_compile_options(options)))
        elif kind == "stage":
            if value not in STAGE_NAMES[1:]:
                raise UserError(f"{PROG}: error: unknown stage '{value}' (stages: {', '.join(STAGE_NAMES[1:])})", 2)
            try:
                steps += stage_steps("tn", value, options)
            except ValueError as e:
                raise UserError(f"{PROG}: error: {e}", 2) from None
        else:
            for el in split_pipeline(value):
                span = PIPELINES.get(el.text)
                steps += stage_steps(*span, options) if span else [_pipeline_element(value, el)]
    return steps


# ---- running ------------------------------------------------------------------------------

@dataclass
class Options:
    print_ir: bool = False
    timing: bool = False
    progress: Callable[[str], None] = lambda name: None
    times: list[tuple[str, float]] = field(default_factory=list)


def _grouped(steps) -> Iterator[tuple[str, object, bool]]:
    """(name, options, upstream) units: consecutive upstream elements joined into one text."""
    pending: list[str] = []
    for name, options in steps:
        if options is None:
            pending.append(name)
            continue
        if pending:
            yield ",".join(pending), None, True
            pending = []
        yield name, options, False
    if pending:
        yield ",".join(pending), None, True


def _pass_manager(opts: Options):
    from mlir import passmanager

    pm = passmanager.PassManager("builtin.module")
    if opts.print_ir:
        pm.enable_ir_printing()  # MLIR writes `// -----// IR Dump After X (x) //----- //` to fd 2
        sys.stderr.flush()
    return pm


def _run_upstream(text: str, module_op, opts: Options) -> None:
    from mlir import ir

    pm = _pass_manager(opts)
    pm.add(text)
    try:
        pm.run(module_op)
    except ir.MLIRError as e:
        raise _diagnostic_error(e, f"in pass pipeline '{text}': ") from None


def _run_ours(name: str, options: object, module_op, opts: Options) -> None:
    """One of our passes in its own PassManager; MLIR verifies the module after it (never
    hand invalid IR to the next pass: assertions abort) and prints it with --mlir-print-ir."""
    from mlir import ir

    from theanir.passes.pipeline import add_pass
    from theanir.passes.verify import VerificationError

    pm = _pass_manager(opts)
    add_pass(pm, name, options)
    try:
        pm.run(module_op)
    except VerificationError as e:
        raise _verification_error(e) from None
    except ir.MLIRError as e:
        raise _diagnostic_error(e, f"{name} produced invalid IR: ") from None
    except Exception as e:  # a Python pass refusing its input: one line, never a traceback
        raise UserError(f"{PROG}: error: {name}: {e}") from None


def _verification_error(e) -> UserError:
    from theanir.dialects.tn.builder import describe_location

    message = str(e)
    if e.location is None:
        return UserError(f"{PROG}: error: {message}")
    op_name, sep, rest = message.partition(f" at {describe_location(e.location)}: ")
    return UserError(_located(e.location, f"{op_name}: {rest}" if sep else message))


def _one_by_one(unit: tuple[str, object, bool]) -> list[tuple[str, object, bool]]:
    name, options, upstream = unit
    return [(el.text, None, True) for el in split_pipeline(name)] if upstream else [unit]


def run_steps(module_op, steps, opts: Options) -> None:
    """Each unit in order; with timing, upstream elements run (and are timed) one by one."""
    units = list(_grouped(steps))
    if opts.timing:
        units = [unit for u in units for unit in _one_by_one(u)]
    from theanir.passes.registry import PASSES

    for name, options, upstream in units:
        label = name if upstream else name + PASSES[name].options_text(options)  # tn-canonicalize{fast-math=true}
        opts.progress(label)
        t0 = time.perf_counter()
        if upstream:
            _run_upstream(name, module_op, opts)
        else:
            _run_ours(name, options, module_op, opts)
        opts.times.append((label, time.perf_counter() - t0))


def timing_report(times: list[tuple[str, float]]) -> str:
    total = sum(t for _, t in times) or 1e-12
    bar = "===" + "-" * 73 + "==="
    rows = [f"  {t:8.4f} ({100 * t / total:5.1f}%)  {n}" for n, t in times + [("Total", total)]]
    return "\n".join([bar, "... Execution time report ...".center(79).rstrip(), bar,
                      f"  Total Execution Time: {total:.4f} seconds", "",
                      "  ----Wall Time----  ----Name----", *rows, ""])


# ---- input and output ---------------------------------------------------------------------

def read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{PROG}: error: cannot read '{path}': {getattr(e, 'strerror', None) or e}") from None


def split_input(text: str) -> list[str]:
    """`--split-input-file`: chunks at `// -----` lines, padded so line numbers stay the file's."""
    chunks, start, lines = [], 0, text.splitlines(keepends=True)
    for i, line in enumerate(lines + ["// -----"]):
        if line.startswith("// -----"):
            chunks.append("\n" * start + "".join(lines[start:i]))
            start = i + 1
    return chunks


def parse_module(text: str):
    """Parse (MLIR verifies as it parses), then tn-verify: no pass ever sees ill-typed tn IR."""
    from mlir import ir

    from theanir.passes.verify import VerificationError, verify_module

    nul = text.find("\0")
    if nul >= 0:  # MLIR's parser reads a C string: it would silently stop there
        line = text.count("\n", 0, nul) + 1
        col = nul - text.rfind("\n", 0, nul)
        raise UserError(f"{_input_name}:{line}:{col}: error: NUL byte in the input (MLIR text cannot "
                        f"contain one; is this a binary file?)")
    try:
        module = ir.Module.parse(text)
    except ir.MLIRError as e:
        raise _diagnostic_error(e) from None
    try:
        verify_module(module.operation)
    except VerificationError as e:
        raise _verification_error(e) from None
    return module


def _walk(op) -> Iterator:
    yield op
    for region in op.regions:
        for block in region.blocks:
            for inner in block.operations:
                yield from _walk(inner.operation)


def to_llvm_ir(module_op) -> str:
    """LLVM IR text; refused (one line) while any op is outside the LLVM-translatable dialects."""
    from mlir.dialects import llvm

    for op in _walk(module_op):
        if op.name.split(".")[0] not in LLVM_DIALECTS:  # translating those segfaults
            raise UserError(_located(op.location, f"--emit=llvm needs the LLVM dialect, but '{op.name}' "
                                     "is not lowered yet (try --lower-to-cpu)"))
    return llvm.translate_module_to_llvmir(module_op)


def write_output(path: str, text: str) -> None:
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise UserError(f"{PROG}: error: cannot write '{path}': {e.strerror or e}") from None


def process(text: str, steps, opts: Options, emit: str) -> str:
    """One module: parse, verify, run the steps, print it as MLIR or LLVM IR."""
    t0 = time.perf_counter()
    module = parse_module(text)
    opts.times.append(("Parser", time.perf_counter() - t0))
    run_steps(module.operation, steps, opts)
    t0 = time.perf_counter()
    out = to_llvm_ir(module.operation) if emit == "llvm" else str(module)
    opts.times.append(("Output", time.perf_counter() - t0))
    return out if out.endswith("\n") else out + "\n"


def run(args: argparse.Namespace, progress: Callable[[str], None] = lambda name: None) -> int:
    """Read, verify, run the passes, print. Errors: one line each on stderr, non-zero status."""
    global _input_name
    try:
        from mlir import ir

        from theanir.dialects.tn.context import new_context

        _input_name = "<stdin>" if args.input == "-" else args.input
        opts = Options(args.mlir_print_ir_after_all, args.mlir_timing, progress)
        with new_context(), ir.Location.unknown():
            steps = build_steps(args.steps, compile_options(args.compile_options))  # errors first, like mlir-opt
            text = read_input(args.input)
            outputs, failed = [], False
            for chunk in split_input(text) if args.split_input_file else [text]:
                try:
                    outputs.append(process(chunk, steps, opts, args.emit))
                except UserError as e:  # with --split-input-file the other chunks still run
                    sys.stderr.write(f"{e}\n")
                    failed = True
            write_output(args.output, "// -----\n".join(outputs))
        if opts.timing:
            sys.stderr.write(timing_report(opts.times))
        return 1 if failed else 0
    except UserError as e:
        sys.stderr.write(f"{e}\n")
        return e.code
    except Exception as e:  # a bug of ours: still one line, never a traceback
        first = str(e).splitlines()[0] if str(e) else ""
        sys.stderr.write(f"{PROG}: internal error: {type(e).__name__}: {first}\n")
        return 1


# ---- the crash guard ----------------------------------------------------------------------

_CRASH_MARKERS = ("Assertion `", "LLVM ERROR", "PLEASE submit", "Stack dump", "#0 0x")


def _crash_line(err: str, status: int, step: str) -> str:
    sig = signal.Signals(os.WTERMSIG(status)).name
    m = re.search(r"(\w+\.(?:cpp|h|inc)):(\d+):.*Assertion `(.*)' failed", err)
    why = f"assertion `{m.group(3)}' failed in {m.group(1)}:{m.group(2)}" if m else sig
    fatal = re.search(r"LLVM ERROR: (.*)", err)
    why = f"LLVM ERROR: {fatal.group(1)}" if fatal and not m else why
    where = f" in '{step}'" if step else ""
    return f"{PROG}: error: MLIR crashed{where} ({why}); this is a bug in MLIR or theanir, not in the input"


def guarded(work: Callable[[Callable[[str], None]], int]) -> int:
    """Run `work(progress)` in a forked child; relay its output; an abort becomes one line."""
    if not hasattr(os, "fork"):
        return work(lambda name: None)
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as prog:
        pid = os.fork()
        if pid == 0:  # the child: stdout/stderr (Python's and MLIR's) into the temporary files
            code = 1
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", buffering=1, closefd=False)
                code = work(lambda name: os.write(prog.fileno(), f"{name}\n".encode()))
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        files = []
        for f in (out, err, prog):
            f.seek(0)
            files.append(f.read().decode(errors="replace"))
    stdout, stderr, progress = files
    sys.stdout.write(stdout)
    if os.WIFEXITED(status):
        sys.stderr.write(stderr)
        return os.WEXITSTATUS(status)
    cut = min([i for i in (stderr.find(m) for m in _CRASH_MARKERS) if i >= 0] or [len(stderr)])
    keep = stderr[: stderr.rfind("\n", 0, cut) + 1]  # IR dumps etc. printed before the crash
    step = progress.splitlines()[-1] if progress.strip() else ""
    sys.stderr.write(keep + _crash_line(stderr, status, step) + "\n")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UserError as e:
        sys.stderr.write(f"{e}\n")
        return e.code
    except SystemExit as e:  # --help
        return int(e.code or 0)
    if args.list_passes:
        sys.stdout.write(list_passes())
        return 0
    if args.no_crash_guard:
        return run(args)
    return guarded(lambda progress: run(args, progress))


if __name__ == "__main__":
    sys.exit(main())
