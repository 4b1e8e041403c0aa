"""convert-linalg-matmul-to-blas: after bufferization, float matrix products call OpenBLAS.

`linalg.matmul` and `linalg.batch_matmul` on f32/f64 memrefs (any strided layout) become a
call of `scipy_cblas_sgemm`/`scipy_cblas_dgemm` from `scipy-openblas32` (32-bit ints), as
Theano called BLAS from its generated C. `linalg.matmul` accumulates (C += A B), so the call
passes beta = 1 and the zero fill before it stays: the semantics do not change. Except where
that fill is the zero fill of C itself (the same buffer, through reshapes only, nothing else
touching it in between) and K is a static non-zero size: then the call passes beta = 0 (BLAS
writes C without reading it) and the fill moves into the loops' branch. A fill is a full
pass over C (64 MB for LeNet-5's conv2 input gradient, ~3% of the step, and the first touch
of a fresh buffer).

    linalg.matmul ins(%a, %b : memref<MxKxf32>, ...) outs(%c : memref<MxNxf32>)
->  %ok = call @__theanir_gemm_ok(M, N, K, strides of a, b, c)
    scf.if %ok {
      call @__theanir_sgemm(M, N, K, aligned pointer + offset + strides of a, b, c, beta = 1)
    } else {
      linalg.matmul ...  (the loops, for layouts BLAS cannot take)
    }

An operand that the product reads through a transposed indexing map (`d @ W.T`, lowered
without copying W) is the same memref with its last two strides swapped, i.e. a
column-major operand. A batch_matmul runs its batch as an `scf.for` of calls. The layout check happens at run time
because strides are usually dynamic after bufferization: an operand is fine row-major (inner
stride 1) or column-major (outer stride 1, passed transposed), with a leading dimension that
covers the row; C must be row-major; every size must fit in 32 bits. Anything else (inner
stride != 1 on both axes, broadcast strides) keeps the loops. Integer matmuls are not touched.
Sizes of 0 skip the call (nothing to add). (That a product bufferization computed into a
temporary only to copy it into a result buffer is computed in that buffer instead is
theanir-matmul-into-result's job, run before this pass.) The helpers are private functions
added once per module; LLVM inlines them or not, the cost is a few compares per product.

With OpenMP threads (option `threads` > 1: th.config.openmp with th.config.threads), a
product calls `__theanir_?gemm_split` instead: when it has at least `MIN_SPLIT_WORK`
multiply-adds and `threads` x 16 rows (or columns), an `scf.parallel` over `threads` blocks
of C's rows (or columns, whichever side is longer) calls the one-thread BLAS on each block;
when both sides are short and K has at least `MIN_SPLIT_K` per thread (LeNet-5's first conv
filter gradient: 20 x 25 from K = 288000, 8 ms of one core), the blocks are of K, each into
its slice of a buffer allocated before the loop, and one serial pass adds the partial
products into C; smaller products make one call. The loop is marked `theanir.keep_parallel`, which
theanir-parallel-loops keeps (a call has no cost it could count), and OpenBLAS's own pool is
then held at one thread (codegen/threads.py): one threading runtime, no second pool of
threads that spin after each call while OpenMP's need the cores. Why: OpenBLAS's 2-thread
driver on the skinny products of convolutions (im2col: 288000x25 by 25x20) spent its time
in `inner_thread` waiting for its partner (44% of a 2-thread LeNet step's samples), and its
idle threads spin for a while after each call, taking a core from the OpenMP loops that
follow; the LeNet-5 step ran 303 ms on 1 thread and 505 ms on 2 (idle machine).
"""
from __future__ import annotations

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, scf

from ..base import Pass
from ..options import CompileOptions
from .payloads import walk_outside_payloads

NAME = "convert-linalg-matmul-to-blas"
SPLIT = {"f32": "__theanir_sgemm_split", "f64": "__theanir_dgemm_split"}
KEEP_PARALLEL = "theanir.keep_parallel"  # theanir-parallel-loops keeps this scf.parallel as it is
MIN_SPLIT_WORK = 1 << 21  # multiply-adds: ~20-40 us of one core, a fork/join costs ~10-20 us
MIN_SPLIT_SIDE = 16  # rows (columns) per thread at least
MIN_SPLIT_K = 1024  # K per thread at least, to split K when neither side is long enough
OK = "__theanir_gemm_ok"
GEMM = {"f32": "__theanir_sgemm", "f64": "__theanir_dgemm"}
CBLAS = {"f32": "scipy_cblas_sgemm", "f64": "scipy_cblas_dgemm"}
CBLAS_GEMV = {"f32": "scipy_cblas_sgemv", "f64": "scipy_cblas_dgemv"}

# CBLAS enums: CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112.
_LAYOUT = """
  func.func private @__theanir_blas_layout(%r: index, %c: index, %s0: index, %s1: index) -> (i1, i1, index) {
    %c1 = arith.constant 1 : index
    %big = arith.constant 2147483647 : index
    %inner1 = arith.cmpi eq, %s1, %c1 : index
    %outer1 = arith.cmpi eq, %s0, %c1 : index
    %rsmall = arith.cmpi ule, %r, %c1 : index
    %csmall = arith.cmpi ule, %c, %c1 : index
    %s0c = arith.cmpi sge, %s0, %c : index
    %s1r = arith.cmpi sge, %s1, %r : index
    %n1 = arith.ori %inner1, %csmall : i1
    %n2 = arith.ori %s0c, %rsmall : i1
    %okn = arith.andi %n1, %n2 : i1
    %t1 = arith.ori %outer1, %rsmall : i1
    %t2 = arith.ori %s1r, %csmall : i1
    %okt = arith.andi %t1, %t2 : i1
    %ldn0 = arith.maxsi %s0, %c : index
    %ldn = arith.maxsi %ldn0, %c1 : index
    %ldt0 = arith.maxsi %s1, %r : index
    %ldt = arith.maxsi %ldt0, %c1 : index
    %ld = arith.select %okn, %ldn, %ldt : index
    %any = arith.ori %okn, %okt : i1
    %fits = arith.cmpi sle, %ld, %big : index
    %ok = arith.andi %any, %fits : i1
    %true = arith.constant true
    %trans = arith.xori %okn, %true : i1
    return %ok, %trans, %ld : i1, i1, index
  }
"""

_OK = """
  func.func private @__theanir_gemm_ok(%m: index, %n: index, %k: index, %a0: index, %a1: index,
                                       %b0: index, %b1: index, %c0: index, %c1: index) -> i1 {
    %big = arith.constant 2147483647 : index
    %oka, %ta, %lda = func.call @__theanir_blas_layout(%m, %k, %a0, %a1) : (index, index, index, index) -> (i1, i1, index)
    %okb, %tb, %ldb = func.call @__theanir_blas_layout(%k, %n, %b0, %b1) : (index, index, index, index) -> (i1, i1, index)
    %okc, %tc, %ldc = func.call @__theanir_blas_layout(%m, %n, %c0, %c1) : (index, index, index, index) -> (i1, i1, index)
    %true = arith.constant true
    %rowc = arith.xori %tc, %true : i1
    %fm = arith.cmpi ule, %m, %big : index
    %fn = arith.cmpi ule, %n, %big : index
    %fk = arith.cmpi ule, %k, %big : index
    %x0 = arith.andi %oka, %okb : i1
    %x1 = arith.andi %x0, %okc : i1
    %x2 = arith.andi %x1, %rowc : i1
    %x3 = arith.andi %x2, %fm : i1
    %x4 = arith.andi %x3, %fn : i1
    %x5 = arith.andi %x4, %fk : i1
    return %x5 : i1
  }
"""

_GEMM = """
  func.func private @{cblas}(i32, i32, i32, i32, i32, i32, {t}, !llvm.ptr, i32, !llvm.ptr, i32, {t}, !llvm.ptr, i32)
  func.func private @{gemv}(i32, i32, i32, i32, {t}, !llvm.ptr, i32, !llvm.ptr, i32, {t}, !llvm.ptr, i32)
  func.func private @{gemm}(%m: index, %n: index, %k: index,
                            %pa: index, %oa: index, %a0: index, %a1: index,
                            %pb: index, %ob: index, %b0: index, %b1: index,
                            %pc: index, %oc: index, %c0: index, %c1: index, %beta: {t}) {{
    %z = arith.constant 0 : index
    %mz = arith.cmpi eq, %m, %z : index
    %nz = arith.cmpi eq, %n, %z : index
    %kz = arith.cmpi eq, %k, %z : index
    %e0 = arith.ori %mz, %nz : i1
    %empty = arith.ori %e0, %kz : i1
    scf.if %empty {{
    }} else {{
      %oka, %ta, %lda = func.call @__theanir_blas_layout(%m, %k, %a0, %a1) : (index, index, index, index) -> (i1, i1, index)
      %okb, %tb, %ldb = func.call @__theanir_blas_layout(%k, %n, %b0, %b1) : (index, index, index, index) -> (i1, i1, index)
      %okc, %tc, %ldc = func.call @__theanir_blas_layout(%m, %n, %c0, %c1) : (index, index, index, index) -> (i1, i1, index)
      %size = arith.constant {size} : index
      %notrans = arith.constant 111 : i32
      %trans = arith.constant 112 : i32
      %row = arith.constant 101 : i32
      %tai = arith.select %ta, %trans, %notrans : i32
      %tbi = arith.select %tb, %trans, %notrans : i32
      %ba = arith.muli %oa, %size : index
      %bb = arith.muli %ob, %size : index
      %bc = arith.muli %oc, %size : index
      %qa = arith.addi %pa, %ba : index
      %qb = arith.addi %pb, %bb : index
      %qc = arith.addi %pc, %bc : index
      %ia = arith.index_cast %qa : index to i64
      %ib = arith.index_cast %qb : index to i64
      %ic = arith.index_cast %qc : index to i64
      %ptra = llvm.inttoptr %ia : i64 to !llvm.ptr
      %ptrb = llvm.inttoptr %ib : i64 to !llvm.ptr
      %ptrc = llvm.inttoptr %ic : i64 to !llvm.ptr
      %mi = arith.index_cast %m : index to i32
      %ni = arith.index_cast %n : index to i32
      %ki = arith.index_cast %k : index to i32
      %ldai = arith.index_cast %lda : index to i32
      %ldbi = arith.index_cast %ldb : index to i32
      %ldci = arith.index_cast %ldc : index to i32
      %one = arith.constant 1.0 : {t}
      %i1 = arith.constant 1 : i32
      %one_i = arith.constant 1 : index
      %n1 = arith.cmpi eq, %n, %one_i : index
      %m1 = arith.cmpi eq, %m, %one_i : index
      scf.if %n1 {{
        // matrix . vector: y(m) += op(A) x, x = B's column, y = C's column
        %ra = arith.select %ta, %ki, %mi : i32
        %ca = arith.select %ta, %mi, %ki : i32
        %incx = arith.select %tb, %i1, %ldbi : i32
        func.call @{gemv}(%row, %tai, %ra, %ca, %one, %ptra, %ldai, %ptrb, %incx, %beta, %ptrc, %ldci)
          : (i32, i32, i32, i32, {t}, !llvm.ptr, i32, !llvm.ptr, i32, {t}, !llvm.ptr, i32) -> ()
      }} else {{
        scf.if %m1 {{
          // vector . matrix: y(n) += op(B)^T x, x = A's row, y = C's row
          %tbt = arith.select %tb, %notrans, %trans : i32
          %rb = arith.select %tb, %ni, %ki : i32
          %cb = arith.select %tb, %ki, %ni : i32
          %incx = arith.select %ta, %ldai, %i1 : i32
          func.call @{gemv}(%row, %tbt, %rb, %cb, %one, %ptrb, %ldbi, %ptra, %incx, %beta, %ptrc, %i1)
            : (i32, i32, i32, i32, {t}, !llvm.ptr, i32, !llvm.ptr, i32, {t}, !llvm.ptr, i32) -> ()
        }} else {{
          func.call @{cblas}(%row, %tai, %tbi, %mi, %ni, %ki, %one, %ptra, %ldai, %ptrb, %ldbi, %beta, %ptrc, %ldci)
            : (i32, i32, i32, i32, i32, i32, {t}, !llvm.ptr, i32, !llvm.ptr, i32, {t}, !llvm.ptr, i32) -> ()
        }}
      }}
    }}
    return
  }}
"""


# Thread %t's block of a side of length %{side} split in %T: it starts at %r0, %part long.
_BLOCK_BOUNDS = """
        %r0a = arith.muli %t, %{side} : index
        %r0 = arith.divui %r0a, %T : index
        %t1 = arith.addi %t, %one : index
        %r1a = arith.muli %t1, %{side} : index
        %r1 = arith.divui %r1a, %T : index
        %part = arith.subi %r1, %r0 : index"""

_SPLIT_BLOCK = _BLOCK_BOUNDS + """
        %dx = arith.muli %r0, %{xs} : index
        %ox2 = arith.addi %{xo}, %dx : index
        %dc = arith.muli %r0, %{cs} : index
        %oc2 = arith.addi %oc, %dc : index
        func.call @{gemm}({args}) : (index, index, index, index, index, index, index, index, index, index, index,
                                       index, index, index, index, {t}) -> ()
        scf.reduce
"""

_SPLIT = """
  func.func private @{split}(%m: index, %n: index, %k: index,
                             %pa: index, %oa: index, %a0: index, %a1: index,
                             %pb: index, %ob: index, %b0: index, %b1: index,
                             %pc: index, %oc: index, %c0: index, %c1: index, %beta: {t}) {{
    %T = arith.constant {threads} : index
    %zero = arith.constant 0 : index
    %one = arith.constant 1 : index
    %minw = arith.constant {min_work} : index
    %mins = arith.constant {min_side} : index
    %mn = arith.muli %m, %n : index
    %mnk = arith.muli %mn, %k : index
    %big = arith.cmpi uge, %mnk, %minw : index
    %longm = arith.cmpi uge, %m, %n : index
    %mok = arith.cmpi uge, %m, %mins : index
    %nok = arith.cmpi uge, %n, %mins : index
    %r = arith.andi %big, %mok : i1
    %c = arith.andi %big, %nok : i1
    %lm = arith.andi %r, %longm : i1
    %true = arith.constant true
    %notc = arith.xori %c, %true : i1
    %ronly = arith.andi %r, %notc : i1
    %byrows = arith.ori %lm, %ronly : i1
    scf.if %byrows {{
      scf.parallel (%t) = (%zero) to (%T) step (%one) {{{rows}
      }} {{{keep}}}
    }} else {{
      scf.if %c {{
        scf.parallel (%t) = (%zero) to (%T) step (%one) {{{cols}
        }} {{{keep}}}
      }} else {{
        %mink = arith.constant {min_k} : index
        %kok = arith.cmpi uge, %k, %mink : index
        %bk = arith.andi %big, %kok : i1
        scf.if %bk {{
          // neither side long enough, K is: each thread multiplies a block of K into a
          // buffer of its own (allocated here, outside the parallel loop), then one serial
          // pass adds the T partial products into C (m x n, small by construction)
          %tmp = memref.alloc(%T, %m, %n) : memref<?x?x?x{t}>
          %pt = memref.extract_aligned_pointer_as_index %tmp : memref<?x?x?x{t}> -> index
          %zf = arith.constant 0.0 : {t}
          scf.parallel (%t) = (%zero) to (%T) step (%one) {{{kbounds}
            %da = arith.muli %r0, %a1 : index
            %oa2 = arith.addi %oa, %da : index
            %db = arith.muli %r0, %b0 : index
            %ob2 = arith.addi %ob, %db : index
            %ot = arith.muli %t, %mn : index
            func.call @{gemm}(%m, %n, %part, %pa, %oa2, %a0, %a1, %pb, %ob2, %b0, %b1, %pt, %ot, %n, %one, %zf)
              : (index, index, index, index, index, index, index, index, index, index, index, index, index,
                 index, index, {t}) -> ()
            scf.reduce
          }} {{{keep}}}
          %bz = arith.cmpf oeq, %beta, %zf : {t}
          %ic = arith.index_cast %pc : index to i64
          %cp = llvm.inttoptr %ic : i64 to !llvm.ptr
          scf.for %i = %zero to %m step %one {{
            scf.for %j = %zero to %n step %one {{
              %ri = arith.muli %i, %c0 : index
              %rj = arith.muli %j, %c1 : index
              %rij = arith.addi %ri, %rj : index
              %q = arith.addi %oc, %rij : index
              %q64 = arith.index_cast %q : index to i64
              %at = llvm.getelementptr %cp[%q64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
              %old = llvm.load %at : !llvm.ptr -> {t}
              %scaled = arith.mulf %old, %beta : {t}
              %init = arith.select %bz, %zf, %scaled : {t}
              %sum = scf.for %u = %zero to %T step %one iter_args(%acc = %init) -> ({t}) {{
                %v = memref.load %tmp[%u, %i, %j] : memref<?x?x?x{t}>
                %acc2 = arith.addf %acc, %v : {t}
                scf.yield %acc2 : {t}
              }}
              llvm.store %sum, %at : {t}, !llvm.ptr
            }}
          }}
          memref.dealloc %tmp : memref<?x?x?x{t}>
        }} else {{
          func.call @{gemm}(%m, %n, %k, %pa, %oa, %a0, %a1, %pb, %ob, %b0, %b1, %pc, %oc, %c0, %c1, %beta)
            : (index, index, index, index, index, index, index, index, index, index, index, index, index, index,
               index, {t}) -> ()
        }}
      }}
    }}
    return
  }}
"""


def _helpers(elt: str) -> str:
    size = 4 if elt == "f32" else 8
    return _GEMM.format(cblas=CBLAS[elt], gemv=CBLAS_GEMV[elt], gemm=GEMM[elt], t=elt, size=size)


def _split_helper(elt: str, threads: int) -> str:
    """`__theanir_?gemm_split`: the product in `threads` blocks of C's rows or columns on
    OpenMP, or, when both are short and K long, of K (partial products summed into C)."""
    rows = _SPLIT_BLOCK.format(side="m", xs="a0", xo="oa", cs="c0", gemm=GEMM[elt], t=elt,
                               args="%part, %n, %k, %pa, %ox2, %a0, %a1, %pb, %ob, %b0, %b1, %pc, %oc2, %c0, %c1, %beta")
    cols = _SPLIT_BLOCK.format(side="n", xs="b1", xo="ob", cs="c1", gemm=GEMM[elt], t=elt,
                               args="%m, %part, %k, %pa, %oa, %a0, %a1, %pb, %ox2, %b0, %b1, %pc, %oc2, %c0, %c1, %beta")
    return _SPLIT.format(split=SPLIT[elt], gemm=GEMM[elt], t=elt, threads=threads, min_work=MIN_SPLIT_WORK,
                         min_side=MIN_SPLIT_SIDE * threads, min_k=MIN_SPLIT_K * threads, rows=rows, cols=cols,
                         kbounds=_BLOCK_BOUNDS.format(side="k"), keep=KEEP_PARALLEL)


def _float_kind(op: ir.Operation) -> str | None:
    """'f32'/'f64' when every operand is a memref of that float type, else None."""
    kinds = set()
    for v in op.operands:
        if not isinstance(v.type, ir.MemRefType):
            return None
        kinds.add(str(ir.MemRefType(v.type).element_type))
    return kinds.pop() if len(kinds) == 1 and kinds <= {"f32", "f64"} else None


def _transposes(op: ir.Operation) -> tuple[bool, bool] | None:
    """(A transposed, B transposed) for C = op(A) op(B) as BLAS computes it, or None.

    None for a cast or any other indexing maps (broadcasts, permuted outputs); the
    transposed maps are those `tn.matmul` emits for `d @ W.T` (dialects/tn/ops/linalg.py)."""
    if "cast" in op.attributes and "cast_signed" not in str(op.attributes["cast"]):
        return None
    if "indexing_maps" not in op.attributes:
        return False, False
    batch = "d0, " if op.name == "linalg.batch_matmul" else ""
    m, n, k = ("d1", "d2", "d3") if batch else ("d0", "d1", "d2")
    got = [str(ir.AffineMapAttr(a).value).split("->")[-1].strip() for a in op.attributes["indexing_maps"]]
    if got[2] != f"({batch}{m}, {n})":
        return None
    ta = {f"({batch}{m}, {k})": False, f"({batch}{k}, {m})": True}.get(got[0])
    tb = {f"({batch}{k}, {n})": False, f"({batch}{n}, {k})": True}.get(got[1])
    return None if ta is None or tb is None else (ta, tb)


def _candidates(module_op: ir.Operation) -> list[tuple[ir.Operation, str]]:
    found: list[tuple[ir.Operation, str]] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        op = op.operation if hasattr(op, "operation") else op
        if op.name in ("linalg.matmul", "linalg.batch_matmul"):
            kind = _float_kind(op)
            if kind is not None and _transposes(op) is not None:
                found.append((op, kind))
        return ir.WalkResult.ADVANCE

    walk_outside_payloads(module_op, visit)  # finds linalg ops, not inside them
    return found


def _metadata(v: ir.Value) -> tuple[ir.Value, ir.Value, list[ir.Value], list[ir.Value]]:
    """(aligned pointer as index, offset, sizes, strides) of a strided memref."""
    mt = ir.MemRefType(v.type)
    index = ir.IndexType.get()
    rank = mt.rank
    meta = ir.Operation.create(
        "memref.extract_strided_metadata",
        results=[ir.MemRefType.get([], mt.element_type)] + [index] * (1 + 2 * rank), operands=[v])
    ptr = ir.Operation.create("memref.extract_aligned_pointer_as_index", results=[index],
                              operands=[meta.results[0]]).results[0]
    res = list(meta.results)
    return ptr, res[1], res[2: 2 + rank], res[2 + rank:]


def _call(name: str, args: list[ir.Value], results: list[ir.Type]) -> ir.Operation:
    return ir.Operation.create("func.call", results=results, operands=args,
                               attributes={"callee": ir.FlatSymbolRefAttr.get(name)})


_VIEWS = ("memref.expand_shape", "memref.collapse_shape")


def _base(v: ir.Value) -> ir.Value:
    """`v` through reshapes (views of the whole buffer) to the value they reshape."""
    while isinstance(v.owner, ir.Operation | ir.OpView) and v.owner.name in _VIEWS:
        v = v.owner.operands[0]
    return v


def _zero_fill_of(op: ir.Operation, c: ir.Value) -> ir.Operation | None:
    """The linalg.fill of 0 into C (through reshapes) that the product follows, with no other
    op between them reading or writing C; None when there is none or K may be 0."""
    k = _static_k(op)
    if k == ir.ShapedType.get_dynamic_size() or k == 0:
        return None
    base = _base(c)
    block_ops = [o.operation for o in op.block.operations]
    for prev in reversed(block_ops[:block_ops.index(op)]):
        if prev.name in _VIEWS:
            continue
        if prev.name == "linalg.fill" and _base(prev.operands[1]) == base:
            cst = prev.operands[0].owner
            if (isinstance(cst, ir.Operation | ir.OpView) and cst.name == "arith.constant"
                    and ir.FloatAttr(cst.attributes["value"]).value == 0.0):
                return prev
            return None
        if len(prev.regions) or any(_base(v) == base for v in prev.operands):
            return None
    return None


def _static_k(op: ir.Operation) -> int:
    """The product's K as A's type has it (dynamic: ShapedType's dynamic size)."""
    return ir.MemRefType(op.operands[0].type).shape[-2 if _transposes(op)[0] else -1]


def _may_split(op: ir.Operation, threads: int) -> bool:
    """False when static sizes already rule the split out (small programs keep the code they
    had with one thread, to the byte); sizes known only at run time leave it to the helper."""
    c = ir.MemRefType(op.operands[2].type)
    m, n, k = c.shape[-2], c.shape[-1], _static_k(op)
    if any(ir.ShapedType.is_dynamic_size(d) for d in (m, n, k)):
        return True
    return m * n * k >= MIN_SPLIT_WORK and (max(m, n) >= MIN_SPLIT_SIDE * threads or k >= MIN_SPLIT_K * threads)


def _in_parallel_loop(op: ir.Operation) -> bool:
    """Inside an scf.parallel (a convolution's batch blocks): the threads already share the
    loop out, so the product is one call (its thread's)."""
    parent = op.parent
    while parent is not None and parent.name != "func.func":
        if parent.name == "scf.parallel":
            return True
        parent = parent.parent
    return False


def _rewrite(op: ir.Operation, kind: str, threads: int = 1) -> bool:
    """matmul -> scf.if(layout ok) { gemm call(s) } else { matmul }; with threads > 1 the
    calls go to the splitting helper unless static sizes rule it out. True: they do."""
    split = threads > 1 and not _in_parallel_loop(op) and _may_split(op, threads)
    gemm = SPLIT[kind] if split else GEMM[kind]
    a, b, c = op.operands
    fill = _zero_fill_of(op, c)
    batched = op.name == "linalg.batch_matmul"
    ta, tb = _transposes(op)
    with op.location, ir.InsertionPoint(op):
        (pa, oa, sza, sa), (pb, ob, _, sb), (pc, oc, szc, sc) = (_metadata(v) for v in (a, b, c))
        lo = 1 if batched else 0
        # a transposed operand is the logical one with its last two sizes and strides swapped
        if ta:
            sza, sa = sza[:lo] + sza[lo:][::-1], sa[:lo] + sa[lo:][::-1]
        if tb:
            sb = sb[:lo] + sb[lo:][::-1]
        m, k, n = sza[lo], sza[lo + 1], szc[lo + 1]
        strides = [sa[lo], sa[lo + 1], sb[lo], sb[lo + 1], sc[lo], sc[lo + 1]]
        ok = _call(OK, [m, n, k, *strides], [ir.IntegerType.get_signless(1)]).results[0]
        beta = arith.ConstantOp(ir.F32Type.get() if kind == "f32" else ir.F64Type.get(),
                                0.0 if fill is not None else 1.0).result
        if_op = scf.IfOp(ok, has_else=True)
    with op.location, ir.InsertionPoint(if_op.then_block):
        if batched:
            zero = arith.ConstantOp(ir.IndexType.get(), 0).result
            one = arith.ConstantOp(ir.IndexType.get(), 1).result
            loop = scf.ForOp(zero, sza[0], one)
            with ir.InsertionPoint(loop.body):
                i = loop.induction_variable
                offs = [arith.AddIOp(o, arith.MulIOp(i, s[0]).result).result
                        for o, s in ((oa, sa), (ob, sb), (oc, sc))]
                _call(gemm, [m, n, k, pa, offs[0], sa[1], sa[2], pb, offs[1], sb[1], sb[2],
                                   pc, offs[2], sc[1], sc[2], beta], [])
                scf.YieldOp([])
        else:
            _call(gemm, [m, n, k, pa, oa, sa[0], sa[1], pb, ob, sb[0], sb[1],
                               pc, oc, sc[0], sc[1], beta], [])
        scf.YieldOp([])
    with op.location, ir.InsertionPoint(if_op.else_block):
        y = scf.YieldOp([])
    op.move_before(y.operation)
    if fill is not None:
        fill.move_before(op)
    return split


def _defined_symbols(module_op: ir.Operation) -> set[str]:
    """Names of the module body's symbols (functions already added by an earlier run)."""
    return {str(ir.StringAttr(o.attributes["sym_name"]).value)
            for o in module_op.regions[0].blocks[0].operations if "sym_name" in o.attributes}


def _append_functions(module_op: ir.Operation, text: str) -> None:
    """Parse `text` (functions in MLIR syntax) and append them to the module body."""
    if not text:
        return
    helper = ir.Module.parse("module {" + text + "}", module_op.context)
    body = module_op.regions[0].blocks[0]
    for o in list(helper.body.operations):
        body.append(o.operation)


def _declare(module_op: ir.Operation, kinds: set[str], threads: int = 1, split: set[str] = frozenset()) -> None:
    """Add the private helpers (once per module) at the end of the module body."""
    have = _defined_symbols(module_op)
    text = ""
    if "__theanir_blas_layout" not in have:
        text += _LAYOUT
    if OK not in have:
        text += _OK
    text += "".join(_helpers(k) for k in sorted(kinds) if GEMM[k] not in have)
    text += "".join(_split_helper(k, threads) for k in sorted(split) if SPLIT[k] not in have)
    _append_functions(module_op, text)


@dataclass(frozen=True)
class MatmulToBlasOptions:
    threads: int = 1  # > 1: products split into this many blocks on OpenMP threads (one-thread BLAS each)


def convert_linalg_matmul_to_blas(module_op: ir.Operation, options: MatmulToBlasOptions | None = None) -> None:
    """Rewrite every float (batch_)matmul of the bufferized module into guarded BLAS calls."""
    threads = options.threads if options is not None else 1
    found = _candidates(module_op)
    if not found:
        return
    split = {kind for op, kind in found if _rewrite(op, kind, threads)}
    _declare(module_op, {kind for _, kind in found}, threads, split)


class ConvertLinalgMatmulToBlas(Pass):
    """After bufferization: float (batch_)matmul on strided memrefs calls
    scipy_cblas_?gemm/?gemv, the loops kept for layouts BLAS cannot take; with threads > 1,
    big products run as blocks of one-thread BLAS calls on OpenMP threads."""

    NAME = NAME
    Options = MatmulToBlasOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> MatmulToBlasOptions:
        return MatmulToBlasOptions(threads=opts.threads if opts.openmp and opts.threads > 1 else 1)

    @classmethod
    def run(cls, module_op: ir.Operation, options: MatmulToBlasOptions) -> None:
        convert_linalg_matmul_to_blas(module_op, options)
