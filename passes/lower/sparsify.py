"""theanir-sparsify: MLIR's sparsifier compiles the sparse kernels, each with its own buffers.

The `tn.sparse_*` lowerings (dialects/tn/ops/sparse.py, sparse_out.py) call private kernel
functions that build `#sparse_tensor.encoding` tensors with `sparse_tensor.assemble` from
SciPy's three arrays and compute on them with `linalg.generic` (the sparse dialect cannot be
inlined: the kernels stay functions). This pass copies those kernels into a module of their
own and runs upstream's sparsifier on it without the runtime library
(`sparse-reinterpret-map`, `sparsification-and-bufferization`: loops over the nonzeros,
bufferized; sparse results grow their buffers with `memref.realloc` (`expand-realloc`) and
keep their sizes in a storage specifier (`sparse-storage-specifier-to-llvm`)). The compiled
kernels wait aside (`PENDING`, under a token in the module's `theanir.sparse_kernels`
attribute) while the functions that call them are bufferized as every module is, against
body-less declarations; theanir-sparse-kernels puts them back after that. A module without sparse ops is untouched.

Why apart: the sparsifier frees its own buffers, which our ownership-based deallocation
refuses; and applied to the sparsifier's insertion helpers it cloned the whole result at
every inserted entry (A + B at 10^5 nonzeros took 50 s).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from mlir import ir, passmanager
from mlir.dialects import arith, memref, scf, sparse_tensor

from ..base import Pass
from ..options import CompileOptions

NAME = "theanir-sparsify"
KERNELS_ATTR = "theanir.sparse_kernels"
# compiled kernels waiting for theanir-sparse-kernels, by the token the module carries in
# KERNELS_ATTR (a nested module would be seen, and refused, by the deallocation pipeline)
PENDING: dict[str, ir.Module] = {}
_TOKENS = itertools.count()
PIPELINE = ("builtin.module(sparse-reinterpret-map{{scope=except-generic}},"
            "func.func(lower-sparse-foreach-to-scf),sparsification-and-bufferization{{{strategy}}},"
            "sparse-storage-specifier-to-llvm,expand-realloc,canonicalize)")


def has_sparse(op: ir.Operation) -> bool:
    """Whether `op` holds a sparse_tensor op (the only source of sparse encodings here)."""
    found = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        if o.name.startswith("sparse_tensor."):
            found.append(o)
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    return bool(found)


@dataclass(frozen=True)
class SparsifyOptions:
    # the outer (row/column) loop of each race-free kernel (`parallel_safe`) as scf.parallel,
    # which the OpenMP step makes an omp loop (the sparsifier's dense-outer-loop strategy);
    # set from th.config.openmp (threads > 1). Other kernels stay serial.
    parallel: bool = False


class Sparsify(Pass):
    """Sparse kernels (sparse_tensor.assemble + linalg.generic) -> loops over the nonzeros, module bufferized (MLIR's sparsifier)."""

    NAME = NAME
    Options = SparsifyOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> SparsifyOptions:
        # Only kernels that `parallel_safe` accepts get the strategy: applied to every kernel,
        # the logistic regression's X^T (p - y) (a CSR matrix transposed, times a vector) lost
        # updates on 2 threads (tests/sparse/test_sparse_logreg.py: some weights off by one
        # document's contribution, different ones from run to run), a race on the output its
        # outer loop (the summed index) scatters into.
        return SparsifyOptions(parallel=opts.openmp)

    @classmethod
    def run(cls, module_op: ir.Operation, options: SparsifyOptions) -> None:
        body = module_op.regions[0].blocks[0]
        kernels = [op.operation for op in body.operations
                   if op.operation.name == "func.func" and has_sparse(op.operation)]
        if not kernels:
            return
        # the kernels into side modules (the race-free ones apart when parallel); in their
        # place, declarations
        side, par = ir.Module.create(), ir.Module.create()
        for k in kernels:
            target = par if options.parallel and parallel_safe(k) else side
            target.body.append(k.clone())
            _read_only_arguments(list(target.body.operations)[-1].operation, "bufferization.writable",
                                 ir.BoolAttr.get(False))
            _make_declaration(k)
        for mod, strategy in ((side, ""), (par, "parallelization-strategy=dense-outer-loop")):
            if len(list(mod.body.operations)):
                passmanager.PassManager.parse(PIPELINE.format(strategy=strategy), module_op.context).run(mod.operation)
        _merge(par, side)
        _boolean_fills_to_loops(side.operation)
        token = f"{next(_TOKENS)}"
        PENDING[token] = side
        module_op.attributes[KERNELS_ATTR] = ir.StringAttr.get(token)


def parallel_safe(fn: ir.Operation) -> bool:
    """Whether the sparsifier's dense-outer-loop strategy is race-free on kernel `fn`: each
    linalg.generic on a sparse operand has dense results only, and each of its reduction
    loops walks a level after the first of some sparse operand, so that it cannot be the
    outermost loop: the outermost is a parallel one, each of whose iterations writes its own
    elements of the output (CSR x dense: rows; a sparse matrix to dense). A CSC matrix times
    a dense one iterates its columns, the summed index, outermost: every iteration scatters
    into the whole output (the race of the logistic regression's X^T (p - y))."""
    safe = [True]

    def visit(o: ir.Operation) -> ir.WalkResult:
        if o.name != "linalg.generic":
            return ir.WalkResult.ADVANCE
        maps = [ir.AffineMapAttr(m).value for m in o.attributes["indexing_maps"]]
        iters = ["reduction" in str(t) for t in o.attributes["iterator_types"]]
        inner: set[int] = set()  # loops of a sparse operand's levels after the first
        encoded = False
        for v, m in zip(o.operands, maps):
            enc = _encoding(v.type)
            if enc is None:
                continue
            encoded = True
            levels = [_dim(e) for e in enc.dim_to_lvl.results]  # the tensor dim of each level
            loops = [_dim(m.results[d]) if d is not None else None for d in levels]
            inner.update(lp for lp in loops[1:] if lp is not None)
        if encoded and (any(_encoding(r.type) is not None for r in o.results) or
                        any(red and d not in inner for d, red in enumerate(iters))):
            safe[0] = False
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    fn.walk(visit)
    return safe[0]


def _encoding(t: ir.Type):
    if not isinstance(t, ir.RankedTensorType) or ir.RankedTensorType(t).encoding is None:
        return None
    return sparse_tensor.EncodingAttr(ir.RankedTensorType(t).encoding)


def _dim(e: ir.AffineExpr) -> int | None:
    try:
        return ir.AffineDimExpr(e).position
    except (TypeError, ValueError):
        return None


def _merge(src: ir.Module, dest: ir.Module) -> None:
    """Every function of `src` moved into `dest` (the parallel kernels have dense results: the
    sparsifier made no helpers for them, so no name can be in both)."""
    names = {ir.StringAttr(op.operation.attributes["sym_name"]).value for op in dest.body.operations}
    for op in list(src.body.operations):
        name = ir.StringAttr(op.operation.attributes["sym_name"]).value
        if name in names:
            raise RuntimeError(f"{NAME}: two sparse kernel modules define @{name}")
        dest.body.append(op.operation)


def _make_declaration(fn: ir.Operation) -> None:
    """`fn` replaced by a declaration (no body): what its callers see while they are bufferized.

    Its tensor arguments are declared read (`bufferization.access = "read"`): the kernels only
    read them (their results are fresh tensors, and the kernel itself is bufferized with its
    arguments not writable, so it copies before any write), so callers pass their buffers as
    they are. Without it bufferization copied every operand before each call, as it must for
    an unknown callee (CSR x vector at 10^5 nonzeros: 1.2 MB per call)."""
    attrs = {"sym_name": fn.attributes["sym_name"], "function_type": fn.attributes["function_type"],
             "sym_visibility": ir.StringAttr.get("private")}
    with fn.location:
        decl = ir.Operation.create("func.func", regions=1, attributes=attrs, loc=fn.location)
    ir.InsertionPoint(fn).insert(decl)
    _read_only_arguments(decl, "bufferization.access", ir.StringAttr.get("read"))
    fn.erase()


def _read_only_arguments(fn: ir.Operation, name: str, value: ir.Attribute) -> None:
    """Set argument attribute `name` = `value` on every tensor argument of func `fn`."""
    ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
    old = list(ir.ArrayAttr(fn.attributes["arg_attrs"])) if "arg_attrs" in fn.attributes else []
    attrs = []
    for i, t in enumerate(ftype.inputs):
        entries = {a.name: a.attr for a in ir.DictAttr(old[i])} if i < len(old) else {}
        if isinstance(t, ir.RankedTensorType) or isinstance(t, ir.UnrankedTensorType):
            entries[name] = value
        attrs.append(ir.DictAttr.get(entries))
    fn.attributes["arg_attrs"] = ir.ArrayAttr.get(attrs)


def _boolean_fills_to_loops(op: ir.Operation) -> None:
    """`linalg.fill` of an i1 buffer (SpGEMM's expanded-access flags) -> a store loop, which
    theanir-widen-i1-memrefs then widens (it retypes buffers, not fills)."""
    found: list[ir.Operation] = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        if o.name == "linalg.fill" and isinstance(o.operands[1].type, ir.MemRefType):
            mt = ir.MemRefType(o.operands[1].type)
            if mt.rank == 1 and isinstance(mt.element_type, ir.IntegerType) and \
                    ir.IntegerType(mt.element_type).width == 1:
                found.append(o)
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    idx = ir.IndexType.get()
    for fill in found:
        with ir.InsertionPoint(fill), fill.location:
            value, buf = fill.operands[0], fill.operands[1]
            c0 = arith.ConstantOp(idx, 0).result
            c1 = arith.ConstantOp(idx, 1).result
            loop = scf.ForOp(c0, memref.DimOp(buf, c0).result, c1)
            with ir.InsertionPoint(loop.body):
                memref.StoreOp(value, buf, [loop.induction_variable])
                scf.YieldOp([])
        fill.erase()
