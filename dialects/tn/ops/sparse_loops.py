"""Our own loop kernels for sparse results: A + B, A * B (merge) and A @ B (Gustavson); and
for dense results of CSR x vector (vector gathers) and CSR x dense (`csr_dense_text`).

MLIR's sparsifier assembles a sparse result one entry at a time (an insertion into growing
buffers per entry): A + B at 2 x 10^5 nonzeros ran ~4x slower than SciPy, SpGEMM ~7x. These
kernels are MLIR text (scf/memref loops over SciPy's three arrays), lowered with every other
op (no sparse_tensor op, so theanir-sparsify leaves them alone), in two passes as SciPy's
own: a symbolic pass counts each row's entries into the result's indptr, the result's arrays
are allocated at that size (memref.alloc: the runtime's allocator, so a result leaves
through theanir-dynamic-results without a copy), and a numeric pass fills them.

- merge (A + B, A * B, one layout): both operands' rows are sorted, so each output row is
  a two-pointer merge of the two input rows: sorted and duplicate-free by construction.
- SpGEMM (Gustavson): row i of C is the sum over the entries A[i, k] of A[i, k] * B[k, :],
  found with a dense marker (the last row that touched column j) and a dense accumulator.
  Columns come out in the order they are first met; our CSR type promises sorted ones. The
  strategy (`SPGEMM_SORT`) is chosen by measurement (bench/results/sparse.md: hybrid 11.3 ms,
  transpose 18.3, insertion 33.5, SciPy's unsorted 8.9 at 10^6 products):
  "insertion" sorts each row's columns in place before the values are gathered from the
  accumulator (cheap for short rows, quadratic for long ones); "transpose" computes C^T
  from the transposes of A and B (counting-sort transposes, O(nnz + n)) and transposes it:
  a transpose emits each row's columns in increasing order, whatever order its input had;
  "hybrid" (the default) takes insertion sort for a short row and for a long one
  accumulates through a bitmap of the columns, read back in order (count-trailing-zeros).
  A product that only leaves the program (SPGEMM_RETURNED_UNSORTED; sparse_out.py decides)
  is not sorted, as SciPy's own A @ B: the user gets a SciPy matrix that says so
  (has_sorted_indices False), and a program given it back sorts it first (a copy).
- A + B and A * B (MERGE_ONE_PASS, the default) merge in one pass into arrays of the most
  entries the result can have (|A| + |B|, min(|A|, |B|)), as SciPy's csr_binop_csr does, and
  return views of their first nnz entries, which the runtime adopts (theanir-dynamic-results:
  a prefix of an allocation has its address): 10^4 x 10^4 at 0.1%, 2.19 -> 1.77 ms CPU. At
  most that many entries are unused (half the arrays when A and B share their pattern).
  Else a count pass first: a dense marker of A's columns where the inner dim is at most
  MARKER_MAX_INNER (else a merge: no O(inner) memory), arrays of the exact size.
CSC operands are the CSR arrays of the transposes: a merge is the same loops over columns,
and C = A B in CSC is C^T = B^T A^T in CSR (the operands swapped).
"""
from __future__ import annotations

import itertools
import re

MARKER_MAX_INNER = 1 << 22  # A + B: count with a dense marker up to this many columns (32 MB)
MERGE_ONE_PASS = True  # A + B, A * B: one pass into arrays of the largest result size
MERGE_BRANCHY = True  # A + B's merge step by branches (as SciPy's), not selects (A * B: selects)
SPGEMM_SORT = "hybrid"  # "insertion", "transpose" or "hybrid" (see the module's docstring)
# A @ B whose result only leaves the program (to the user, a SciPy matrix): rows unsorted,
# as SciPy's (10^4 x 10^4 at 0.1%: the sort was ~25% of the kernel)
SPGEMM_RETURNED_UNSORTED = True
# CSR x vector: by vector gathers (`_matvec_gather_text`), chunks of MATVEC_VECTOR entries and
# a masked rest per row (10^4 x 10^4 at 0.1%: 155 -> 63 us; 1, 4 and 100 entries per row
# 1.9x, 3.2x and 1.4x faster too). False: scalar loops, as below
MATVEC_GATHER = True
MATVEC_VECTOR = 8
MATVEC_LANES = 8  # scalar: rows of 4-16 entries on average read their first 8 straight-line
MATVEC_STRAIGHT = True  # scalar, False: every row by the loop alone (the measurement's baseline)
# CSR x dense (B of static width n >= 2): our loops (`csr_dense_text`), an output row's column
# tile held in vector registers across the row's nonzeros. False: MLIR's sparsifier
CSR_DENSE_LOOPS = True
CSR_DENSE_VECTOR = 8  # lanes of one vector (8 x f64: two AVX2 registers)
CSR_DENSE_TILE = {"f64": 32, "f32": 64}  # columns per tile: 8 registers of accumulators on AVX2

_ids = itertools.count()


def _fresh(prefix: str) -> str:
    return f"{prefix}{next(_ids)}_"


def _prologue(e: str, w: str, names: list[tuple[str, str]]) -> str:
    """Read-only buffers of the tensor arguments `%NAME_t` (bufferized in place, never copied)
    and constants. A kernel with a dense result reads its arguments inside its loop body
    instead (`_loop_reads`, names []): in front, `cse` merged two inlined calls' to_buffer of
    one tensor into the first call, bufferization took the tensor's last read to be there and
    reused its buffer before the second call read it (the jvp of a product, B and dB: dB was
    computed into B's buffer between the calls; tests/sparse/test_sparse_csc.py)."""
    lines = []
    for name, kind in names:
        t = e if kind == "v" else w
        lines.append(f"  %{name} = bufferization.to_buffer %{name}_t read_only : tensor<?x{t}> to memref<?x{t}>")
    lines += ["  %c0 = arith.constant 0 : index", "  %c1 = arith.constant 1 : index",
              "  %cm1 = arith.constant -1 : index", f"  %w0 = arith.constant 0 : {w}"]
    return "\n".join(lines) + "\n"


def _loop_reads(e: str, w: str, b: str, pad: str = "    ") -> str:
    """Text: %av, %ac, %ap and %b (`b`: "vector", the k x 1 operand collapsed, or "matrix"), the
    arguments' read-only buffers, for the start of a loop body (`_prologue`)."""
    text = "".join(f"{pad}%{a} = bufferization.to_buffer %{a}_t read_only : tensor<?x{t}> to memref<?x{t}>\n"
                   for a, t in (("av", e), ("ac", w), ("ap", w)))
    if b == "vector":
        return text + (f"{pad}%b2 = bufferization.to_buffer %b_t read_only : tensor<?x?x{e}> to memref<?x?x{e}>\n"
                       f"{pad}%b = memref.collapse_shape %b2 [[0, 1]] : memref<?x?x{e}> into memref<?x{e}>\n")
    return text + f"{pad}%b = bufferization.to_buffer %b_t read_only : tensor<?x?x{e}> to memref<?x?x{e}>\n"


def _ld(dst: str, mem: str, i: str, w: str) -> str:
    """Load an index array's entry as an index."""
    return f"{dst}r = memref.load {mem}[{i}] : memref<?x{w}>\n{dst} = arith.index_castui {dst}r : {w} to index\n"


def _fill_index(pre: str, mem: str, n: str, value: str) -> str:
    return (f"scf.for %{pre}fi = %c0 to {n} step %c1 {{\n"
            f"  memref.store {value}, {mem}[%{pre}fi] : memref<?xindex>\n}}\n")


def transpose(val: str, idx: str, ptr: str, rows: str, cols: str, e: str, w: str) -> tuple[str, tuple[str, str, str]]:
    """Text: the transpose (rows x cols CSR -> cols x rows CSR) of memrefs `val`, `idx`, `ptr`
    into fresh buffers, by a counting sort: the output's rows hold their columns in increasing
    order whatever the input's order was. Returns (text, (values, indices, indptr))."""
    p = _fresh("t")
    mw = f"memref<?x{w}>"
    text = f"""%{p}cols1 = arith.addi {cols}, %c1 : index
%{p}ptr = memref.alloc(%{p}cols1) : {mw}
scf.for %{p}j = %c0 to %{p}cols1 step %c1 {{
  memref.store %w0, %{p}ptr[%{p}j] : {mw}
}}
{_ld(f"%{p}nnz", ptr, rows, w)}%{p}val = memref.alloc(%{p}nnz) : memref<?x{e}>
%{p}idx = memref.alloc(%{p}nnz) : {mw}
%{p}one = arith.constant 1 : {w}
scf.for %{p}q = %c0 to %{p}nnz step %c1 {{
  {_ld(f"%{p}j", idx, f"%{p}q", w)}  %{p}j1 = arith.addi %{p}j, %c1 : index
  %{p}k = memref.load %{p}ptr[%{p}j1] : {mw}
  %{p}k1 = arith.addi %{p}k, %{p}one : {w}
  memref.store %{p}k1, %{p}ptr[%{p}j1] : {mw}
}}
%{p}next = memref.alloc({cols}) : memref<?xindex>
%{p}total = scf.for %{p}j = %c0 to {cols} step %c1 iter_args(%{p}s = %c0) -> (index) {{
  memref.store %{p}s, %{p}next[%{p}j] : memref<?xindex>
  %{p}j1 = arith.addi %{p}j, %c1 : index
  {_ld(f"%{p}n", f"%{p}ptr", f"%{p}j1", w)}  %{p}s1 = arith.addi %{p}s, %{p}n : index
  %{p}s1w = arith.index_cast %{p}s1 : index to {w}
  memref.store %{p}s1w, %{p}ptr[%{p}j1] : {mw}
  scf.yield %{p}s1 : index
}}
scf.for %{p}i = %c0 to {rows} step %c1 {{
  %{p}iw = arith.index_cast %{p}i : index to {w}
  %{p}i1 = arith.addi %{p}i, %c1 : index
  {_ld(f"%{p}lo", ptr, f"%{p}i", w)}  {_ld(f"%{p}hi", ptr, f"%{p}i1", w)}  scf.for %{p}q = %{p}lo to %{p}hi step %c1 {{
    {_ld(f"%{p}c", idx, f"%{p}q", w)}    %{p}d = memref.load %{p}next[%{p}c] : memref<?xindex>
    memref.store %{p}iw, %{p}idx[%{p}d] : {mw}
    %{p}x = memref.load {val}[%{p}q] : memref<?x{e}>
    memref.store %{p}x, %{p}val[%{p}d] : memref<?x{e}>
    %{p}d1 = arith.addi %{p}d, %c1 : index
    memref.store %{p}d1, %{p}next[%{p}c] : memref<?xindex>
  }}
}}
"""
    return text, (f"%{p}val", f"%{p}idx", f"%{p}ptr")


def gustavson(a: tuple[str, str, str], b: tuple[str, str, str], rows: str, cols: str, e: str, w: str,
              mode: str) -> tuple[str, tuple[str, str, str]]:
    """Text: C = A @ B (CSR memrefs (values, indices, indptr); A has `rows` rows, B `cols`
    columns) into fresh buffers: a symbolic pass (row counts, with a dense marker), the
    allocation, a numeric pass (dense accumulator). Each row's columns are in the order first
    met, or sorted in place (insertion sort) with `sort`. Returns (text, (values, indices, indptr))."""
    p = _fresh("g")
    av, ac, ap = a
    bv, bc, bp = b
    mw, me = f"memref<?x{w}>", f"memref<?x{e}>"
    sort_text = ""
    if mode != "unsorted":
        sort_text = f"""  %{p}s0 = arith.addi %{p}start, %c1 : index
  scf.for %{p}t = %{p}s0 to %{p}end step %c1 {{
    %{p}x = memref.load %{p}idx[%{p}t] : {mw}
    %{p}stop = scf.while (%{p}u = %{p}t) : (index) -> index {{
      %{p}more = arith.cmpi ugt, %{p}u, %{p}start : index
      %{p}um1 = arith.subi %{p}u, %c1 : index
      %{p}at = arith.select %{p}more, %{p}um1, %{p}start : index
      %{p}y = memref.load %{p}idx[%{p}at] : {mw}
      %{p}gt = arith.cmpi sgt, %{p}y, %{p}x : {w}
      %{p}go = arith.andi %{p}more, %{p}gt : i1
      scf.condition(%{p}go) %{p}u : index
    }} do {{
    ^bb0(%{p}v: index):
      %{p}vm1 = arith.subi %{p}v, %c1 : index
      %{p}yv = memref.load %{p}idx[%{p}vm1] : {mw}
      memref.store %{p}yv, %{p}idx[%{p}v] : {mw}
      scf.yield %{p}vm1 : index
    }}
    memref.store %{p}x, %{p}idx[%{p}stop] : {mw}
  }}
"""
    list_text = f"""  %{p}end = scf.for %{p}q = %{p}lo to %{p}hi step %c1 iter_args(%{p}o = %{p}start) -> (index) {{
    {_ld(f"%{p}k", ac, f"%{p}q", w)}    %{p}a = memref.load {av}[%{p}q] : {me}
    %{p}k1 = arith.addi %{p}k, %c1 : index
    {_ld(f"%{p}blo", bp, f"%{p}k", w)}    {_ld(f"%{p}bhi", bp, f"%{p}k1", w)}    %{p}o2 = scf.for %{p}r = %{p}blo to %{p}bhi step %c1 iter_args(%{p}o1 = %{p}o) -> (index) {{
      %{p}jw = memref.load {bc}[%{p}r] : {mw}
      %{p}j = arith.index_castui %{p}jw : {w} to index
      %{p}b = memref.load {bv}[%{p}r] : {me}
      %{p}ab = arith.mulf %{p}a, %{p}b : {e}
      %{p}m = memref.load %{p}mark[%{p}j] : memref<?xindex>
      %{p}new = arith.cmpi ne, %{p}m, %{p}i : index
      %{p}o3 = scf.if %{p}new -> (index) {{
        memref.store %{p}i, %{p}mark[%{p}j] : memref<?xindex>
        memref.store %{p}jw, %{p}idx[%{p}o1] : {mw}
        memref.store %{p}ab, %{p}acc[%{p}j] : {me}
        %{p}o4 = arith.addi %{p}o1, %c1 : index
        scf.yield %{p}o4 : index
      }} else {{
        %{p}old = memref.load %{p}acc[%{p}j] : {me}
        %{p}sum = arith.addf %{p}old, %{p}ab : {e}
        memref.store %{p}sum, %{p}acc[%{p}j] : {me}
        scf.yield %{p}o1 : index
      }}
      scf.yield %{p}o3 : index
    }}
    scf.yield %{p}o2 : index
  }}
{sort_text}  scf.for %{p}t = %{p}start to %{p}end step %c1 {{
    {_ld(f"%{p}jj", f"%{p}idx", f"%{p}t", w)}    %{p}x2 = memref.load %{p}acc[%{p}jj] : {me}
    memref.store %{p}x2, %{p}val[%{p}t] : {me}
  }}
"""
    row = list_text if mode != "hybrid" else _hybrid_row(p, list_text, (av, ac), (bv, bc, bp), cols, e, w)
    words = "" if mode != "hybrid" else _bitmap(p, cols)
    text = f"""{words}%{p}rows1 = arith.addi {rows}, %c1 : index
%{p}ptr = memref.alloc(%{p}rows1) : {mw}
memref.store %w0, %{p}ptr[%c0] : {mw}
%{p}mark = memref.alloc({cols}) : memref<?xindex>
{_fill_index(p + "m", f"%{p}mark", cols, "%cm1")}%{p}nnz = scf.for %{p}i = %c0 to {rows} step %c1 iter_args(%{p}s = %c0) -> (index) {{
  %{p}i1 = arith.addi %{p}i, %c1 : index
  {_ld(f"%{p}lo", ap, f"%{p}i", w)}  {_ld(f"%{p}hi", ap, f"%{p}i1", w)}  %{p}n = scf.for %{p}q = %{p}lo to %{p}hi step %c1 iter_args(%{p}c = %c0) -> (index) {{
    {_ld(f"%{p}k", ac, f"%{p}q", w)}    %{p}k1 = arith.addi %{p}k, %c1 : index
    {_ld(f"%{p}blo", bp, f"%{p}k", w)}    {_ld(f"%{p}bhi", bp, f"%{p}k1", w)}    %{p}c2 = scf.for %{p}r = %{p}blo to %{p}bhi step %c1 iter_args(%{p}c1 = %{p}c) -> (index) {{
      {_ld(f"%{p}j", bc, f"%{p}r", w)}      %{p}m = memref.load %{p}mark[%{p}j] : memref<?xindex>
      %{p}new = arith.cmpi ne, %{p}m, %{p}i : index
      memref.store %{p}i, %{p}mark[%{p}j] : memref<?xindex>
      %{p}inc = arith.select %{p}new, %c1, %c0 : index
      %{p}c3 = arith.addi %{p}c1, %{p}inc : index
      scf.yield %{p}c3 : index
    }}
    scf.yield %{p}c2 : index
  }}
  %{p}s1 = arith.addi %{p}s, %{p}n : index
  %{p}s1w = arith.index_cast %{p}s1 : index to {w}
  memref.store %{p}s1w, %{p}ptr[%{p}i1] : {mw}
  scf.yield %{p}s1 : index
}}
%{p}val = memref.alloc(%{p}nnz) : {me}
%{p}idx = memref.alloc(%{p}nnz) : {mw}
%{p}acc = memref.alloc({cols}) : {me}
{_fill_index(p + "r", f"%{p}mark", cols, "%cm1")}scf.for %{p}i = %c0 to {rows} step %c1 {{
  %{p}i1 = arith.addi %{p}i, %c1 : index
  {_ld(f"%{p}lo", ap, f"%{p}i", w)}  {_ld(f"%{p}hi", ap, f"%{p}i1", w)}  {_ld(f"%{p}start", f"%{p}ptr", f"%{p}i", w)}{row}}}
"""
    return text, (f"%{p}val", f"%{p}idx", f"%{p}ptr")


def _bitmap(p: str, cols: str) -> str:
    """Text: %{p}words, a zeroed bitmap of `cols` bits (one i64 per 64 columns), and %{p}lim,
    the row length up to which insertion sort is cheaper than scanning the bitmap (quadratic
    ~ n^2 / 4 moves against one pass over the words)."""
    return f"""%{p}c63 = arith.constant 63 : index
%{p}cols63 = arith.addi {cols}, %{p}c63 : index
%{p}c6 = arith.constant 6 : index
%{p}nw = arith.shrui %{p}cols63, %{p}c6 : index
%{p}words = memref.alloc(%{p}nw) : memref<?xi64>
%{p}z64 = arith.constant 0 : i64
%{p}one64 = arith.constant 1 : i64
%{p}m63 = arith.constant 63 : i64
scf.for %{p}wz = %c0 to %{p}nw step %c1 {{
  memref.store %{p}z64, %{p}words[%{p}wz] : memref<?xi64>
}}
%{p}nbits = arith.shli %{p}nw, %{p}c6 : index
%{p}c2s = arith.constant 2 : index
%{p}nscr = arith.addi %{p}nbits, %{p}c2s : index
%{p}scr = memref.alloc(%{p}nscr) : memref<?xindex>
%{p}c4 = arith.constant 4 : index
%{p}nw4 = arith.muli %{p}nw, %{p}c4 : index
%{p}c16 = arith.constant 16 : index
%{p}lim = arith.maxui %{p}nw4, %{p}c16 : index
"""


def _hybrid_row(p: str, list_text: str, a: tuple[str, str], b: tuple[str, str, str], cols: str,
                e: str, w: str) -> str:
    """Text: one row of the numeric pass, sorted either way: a short row (n^2 <= 4 words) by
    the list + insertion sort of `list_text`, a long one through the bitmap (branch-free
    accumulation, then the set bits in increasing order: count-trailing-zeros per word)."""
    av, ac = a
    bv, bc, bp = b
    mw, me = f"memref<?x{w}>", f"memref<?x{e}>"
    return f"""
  {_ld(f"%{p}hend", f"%{p}ptr", f"%{p}i1", w)}  %{p}cnt = arith.subi %{p}hend, %{p}start : index
  %{p}cnt2 = arith.muli %{p}cnt, %{p}cnt : index
  %{p}short = arith.cmpi ule, %{p}cnt2, %{p}lim : index
  scf.if %{p}short {{
{_indent(list_text)}  }} else {{
    scf.for %{p}bq = %{p}lo to %{p}hi step %c1 {{
      {_ld(f"%{p}bk", ac, f"%{p}bq", w)}      %{p}ba = memref.load {av}[%{p}bq] : {me}
      %{p}bk1 = arith.addi %{p}bk, %c1 : index
      {_ld(f"%{p}bblo", bp, f"%{p}bk", w)}      {_ld(f"%{p}bbhi", bp, f"%{p}bk1", w)}      scf.for %{p}br = %{p}bblo to %{p}bbhi step %c1 {{
        %{p}bjw = memref.load {bc}[%{p}br] : {mw}
        %{p}bj = arith.index_castui %{p}bjw : {w} to index
        %{p}bj64 = arith.index_castui %{p}bj : index to i64
        %{p}bb = memref.load {bv}[%{p}br] : {me}
        %{p}bab = arith.mulf %{p}ba, %{p}bb : {e}
        %{p}wi = arith.shrui %{p}bj, %{p}c6 : index
        %{p}sh = arith.andi %{p}bj64, %{p}m63 : i64
        %{p}bit = arith.shli %{p}one64, %{p}sh : i64
        %{p}wd = memref.load %{p}words[%{p}wi] : memref<?xi64>
        %{p}has = arith.andi %{p}wd, %{p}bit : i64
        %{p}bnew = arith.cmpi eq, %{p}has, %{p}z64 : i64
        %{p}wd2 = arith.ori %{p}wd, %{p}bit : i64
        memref.store %{p}wd2, %{p}words[%{p}wi] : memref<?xi64>
        %{p}bold = memref.load %{p}acc[%{p}bj] : {me}
        %{p}bsum = arith.addf %{p}bold, %{p}bab : {e}
        %{p}bv2 = arith.select %{p}bnew, %{p}bab, %{p}bsum : {e}
        memref.store %{p}bv2, %{p}acc[%{p}bj] : {me}
      }}
    }}
    %{p}cntf = scf.for %{p}sw = %c0 to %{p}nw step %c1 iter_args(%{p}st = %c0) -> (index) {{
      %{p}sd = memref.load %{p}words[%{p}sw] : memref<?xi64>
      memref.store %{p}z64, %{p}words[%{p}sw] : memref<?xi64>
      %{p}sbase = arith.shli %{p}sw, %{p}c6 : index
      %{p}t0 = math.cttz %{p}sd : i64
      %{p}t0i = arith.index_castui %{p}t0 : i64 to index
      %{p}col0 = arith.addi %{p}sbase, %{p}t0i : index
      memref.store %{p}col0, %{p}scr[%{p}st] : memref<?xindex>
      %{p}sdm1 = arith.subi %{p}sd, %{p}one64 : i64
      %{p}w1 = arith.andi %{p}sd, %{p}sdm1 : i64
      %{p}t1 = math.cttz %{p}w1 : i64
      %{p}t1i = arith.index_castui %{p}t1 : i64 to index
      %{p}col1 = arith.addi %{p}sbase, %{p}t1i : index
      %{p}st1 = arith.addi %{p}st, %c1 : index
      memref.store %{p}col1, %{p}scr[%{p}st1] : memref<?xindex>
      %{p}pc = math.ctpop %{p}sd : i64
      %{p}k = arith.index_castui %{p}pc : i64 to index
      %{p}c2 = arith.constant 2 : index
      %{p}big = arith.cmpi ugt, %{p}k, %{p}c2 : index
      scf.if %{p}big {{
        %{p}w1m1 = arith.subi %{p}w1, %{p}one64 : i64
        %{p}w2 = arith.andi %{p}w1, %{p}w1m1 : i64
        %{p}st2 = arith.addi %{p}st, %{p}c2 : index
        %{p}sres:2 = scf.while (%{p}x = %{p}w2, %{p}y = %{p}st2) : (i64, index) -> (i64, index) {{
          %{p}nz = arith.cmpi ne, %{p}x, %{p}z64 : i64
          scf.condition(%{p}nz) %{p}x, %{p}y : i64, index
        }} do {{
        ^bb0(%{p}x1: i64, %{p}y1: index):
          %{p}tz = math.cttz %{p}x1 : i64
          %{p}tzi = arith.index_castui %{p}tz : i64 to index
          %{p}col = arith.addi %{p}sbase, %{p}tzi : index
          memref.store %{p}col, %{p}scr[%{p}y1] : memref<?xindex>
          %{p}xm1 = arith.subi %{p}x1, %{p}one64 : i64
          %{p}x2 = arith.andi %{p}x1, %{p}xm1 : i64
          %{p}y2 = arith.addi %{p}y1, %c1 : index
          scf.yield %{p}x2, %{p}y2 : i64, index
        }}
      }}
      %{p}stn = arith.addi %{p}st, %{p}k : index
      scf.yield %{p}stn : index
    }}
    scf.for %{p}ct = %c0 to %{p}cntf step %c1 {{
      %{p}cj = memref.load %{p}scr[%{p}ct] : memref<?xindex>
      %{p}cjw = arith.index_cast %{p}cj : index to {w}
      %{p}co = arith.addi %{p}start, %{p}ct : index
      memref.store %{p}cjw, %{p}idx[%{p}co] : {mw}
      %{p}cv = memref.load %{p}acc[%{p}cj] : {me}
      memref.store %{p}cv, %{p}val[%{p}co] : {me}
    }}
  }}
"""


def _signature(name: str, e: str, w: str, operands: list[tuple[str, str]]) -> str:
    args = ", ".join(f"%{n}_t: tensor<?x{e if k == 'v' else w}>" for n, k in operands)
    res = f"tensor<?x{e}>, tensor<?x{w}>, tensor<?x{w}>"
    return f"func.func private @{name}({args}) -> ({res}) {{\n"


def _epilogue(outs: tuple[str, str, str], e: str, w: str) -> str:
    v, i, p = outs
    return (f"  %rv = bufferization.to_tensor {v} restrict writable : memref<?x{e}> to tensor<?x{e}>\n"
            f"  %ri = bufferization.to_tensor {i} restrict writable : memref<?x{w}> to tensor<?x{w}>\n"
            f"  %rp = bufferization.to_tensor {p} restrict writable : memref<?x{w}> to tensor<?x{w}>\n"
            f"  return %rv, %ri, %rp : tensor<?x{e}>, tensor<?x{w}>, tensor<?x{w}>\n}}\n")


_OPERANDS = [("av", "v"), ("ac", "i"), ("ap", "i"), ("bv", "v"), ("bc", "i"), ("bp", "i")]


def _indent(text: str) -> str:
    return "".join("  " + ln + "\n" if ln else "\n" for ln in text.split("\n"))


def spgemm_text(name: str, m: int, k: int, n: int, e: str, w: str, sort: str) -> str:
    """A private function: CSR A (m x k) @ CSR B (k x n) -> CSR C (m x n), sorted columns
    (`sort`: a SPGEMM_SORT strategy) or, with "unsorted", each row's columns in the order
    first met (SciPy's order: only for a result no kernel of ours reads).
    Arguments and results are SciPy's arrays (values, indices, indptr) as dynamic tensors."""
    body = _prologue(e, w, _OPERANDS)
    body += f"  %m = arith.constant {m} : index\n  %k = arith.constant {k} : index\n  %n = arith.constant {n} : index\n"
    a, b = ("%av", "%ac", "%ap"), ("%bv", "%bc", "%bp")
    if sort in ("insertion", "hybrid", "unsorted"):
        text, outs = gustavson(a, b, "%m", "%n", e, w, mode=sort)
        return _signature(name, e, w, _OPERANDS) + body + _indent(text) + _epilogue(outs, e, w)
    # C = ((B^T A^T) unsorted)^T: the last transpose sorts each row
    t1, at = transpose(*a, "%m", "%k", e, w)
    t2, bt = transpose(*b, "%k", "%n", e, w)
    t3, ct = gustavson(bt, at, "%n", "%m", e, w, mode="unsorted")
    t4, c = transpose(*ct, "%n", "%m", e, w)
    return _signature(name, e, w, _OPERANDS) + body + _indent(t1 + t2 + t3 + t4) + _epilogue(c, e, w)


def merge_text(name: str, outer: int, inner: int, kind: str, e: str, w: str) -> str:
    """A private function: A + B (kind "add": the union of the patterns) or A * B ("mul": the
    intersection), both with `outer` sorted rows (CSR) or columns (CSC), by a two-pointer
    merge of each pair of rows: the result's rows are sorted and duplicate-free."""
    mw, me = f"memref<?x{w}>", f"memref<?x{e}>"
    body = _prologue(e, w, _OPERANDS)
    body += (f"  %o = arith.constant {outer} : index\n  %o1 = arith.constant {outer + 1} : index\n"
             f"  %inner = arith.constant {inner} : index\n")
    # a row's count: |A| + |B| - |A and B| (add) or |A and B| (mul), the intersection found
    # with a dense marker of A's columns (independent loads: no merge's dependency chain)
    row_count = ("    %na = arith.subi %pe, %p0 : index\n    %nb0 = arith.subi %qe, %q0 : index\n"
                 "    %nab = arith.addi %na, %nb0 : index\n    %r0 = arith.subi %nab, %both : index\n"
                 if kind == "add" else "    %r0 = arith.addi %both, %c0 : index\n")
    if kind == "add":
        step = f"""      %va = memref.load %av[%p] : {me}
      %vb = memref.load %bv[%q] : {me}
      %eq = arith.andi %le, %ge : i1
      %s = arith.addf %va, %vb : {e}
      %t = arith.select %le, %va, %vb : {e}
      %v = arith.select %eq, %s, %t : {e}
      %col = arith.select %le, %car, %cbr : {w}
      memref.store %v, %cv[%x] : {me}
      memref.store %col, %cc[%x] : {mw}
      %x2 = arith.addi %x, %c1 : index
"""
    else:
        step = f"""      %eq = arith.andi %le, %ge : i1
      scf.if %eq {{
        %va = memref.load %av[%p] : {me}
        %vb = memref.load %bv[%q] : {me}
        %s = arith.mulf %va, %vb : {e}
        memref.store %s, %cv[%x] : {me}
        memref.store %car, %cc[%x] : {mw}
      }}
      %eqi = arith.select %eq, %c1, %c0 : index
      %x2 = arith.addi %x, %eqi : index
"""
    fill_tails = ""
    if kind == "add":
        fill_tails = f"""    %x3 = scf.for %p3 = %wf#0 to %pe step %c1 iter_args(%y = %wf#2) -> (index) {{
      %va3 = memref.load %av[%p3] : {me}
      %ca3 = memref.load %ac[%p3] : {mw}
      memref.store %va3, %cv[%y] : {me}
      memref.store %ca3, %cc[%y] : {mw}
      %y1 = arith.addi %y, %c1 : index
      scf.yield %y1 : index
    }}
    %xe = scf.for %q3 = %wf#1 to %qe step %c1 iter_args(%z = %x3) -> (index) {{
      %vb3 = memref.load %bv[%q3] : {me}
      %cb3 = memref.load %bc[%q3] : {mw}
      memref.store %vb3, %cv[%z] : {me}
      memref.store %cb3, %cc[%z] : {mw}
      %z1 = arith.addi %z, %c1 : index
      scf.yield %z1 : index
    }}
"""
    row_bounds = f"""    %i1 = arith.addi %i, %c1 : index
    {_ld("%p0", "%ap", "%i", w)}    {_ld("%pe", "%ap", "%i1", w)}    {_ld("%q0", "%bp", "%i", w)}    {_ld("%qe", "%bp", "%i1", w)}"""
    compare = f"""      %car = memref.load %ac[%p] : {mw}
      %cbr = memref.load %bc[%q] : {mw}
      %le = arith.cmpi sle, %car, %cbr : {w}
      %ge = arith.cmpi sge, %car, %cbr : {w}
      %pi = arith.select %le, %c1, %c0 : index
      %qi = arith.select %ge, %c1, %c0 : index
      %p2 = arith.addi %p, %pi : index
      %q2 = arith.addi %q, %qi : index
"""
    # the fill's step: for A + B branches on the two columns (MERGE_BRANCHY), else selects
    # (A * B by branches: 0.77 -> 0.96 ms CPU at 10^4 x 10^4, 0.1%: most steps only advance)
    branchy = MERGE_BRANCHY and kind == "add"
    fill_compare, fill_step = ("", _branchy_step(e, w)) if branchy else (compare, step)
    cond = """      %lp = arith.cmpi ult, %p, %pe : index
      %lq = arith.cmpi ult, %q, %qe : index
      %both = arith.andi %lp, %lq : i1
"""
    # the count pass: a dense marker of A's columns (O(inner) memory) where `inner` is modest,
    # else a merge that counts the common columns (a dependency chain per entry, no memory)
    count_pass = (f"""  %mark = memref.alloc(%inner) : memref<?xindex>
  scf.for %mi = %c0 to %inner step %c1 {{
    memref.store %cm1, %mark[%mi] : memref<?xindex>
  }}
  %nnz = scf.for %i = %c0 to %o step %c1 iter_args(%s = %c0) -> (index) {{
{row_bounds}    scf.for %p = %p0 to %pe step %c1 {{
      {_ld("%ca", "%ac", "%p", w)}      memref.store %i, %mark[%ca] : memref<?xindex>
    }}
    %both = scf.for %q = %q0 to %qe step %c1 iter_args(%nb = %c0) -> (index) {{
      {_ld("%cb", "%bc", "%q", w)}      %mk = memref.load %mark[%cb] : memref<?xindex>
      %hit = arith.cmpi eq, %mk, %i : index
      %hi1 = arith.select %hit, %c1, %c0 : index
      %nb2 = arith.addi %nb, %hi1 : index
      scf.yield %nb2 : index
    }}
{row_count}    %s1 = arith.addi %s, %r0 : index
    %s1w = arith.index_cast %s1 : index to {w}
    memref.store %s1w, %cp[%i1] : {mw}
    scf.yield %s1 : index
  }}
""" if inner <= MARKER_MAX_INNER else f"""  %nnz = scf.for %i = %c0 to %o step %c1 iter_args(%s = %c0) -> (index) {{
{row_bounds}    %wc:3 = scf.while (%p = %p0, %q = %q0, %c = %c0) : (index, index, index) -> (index, index, index) {{
{cond}      scf.condition(%both) %p, %q, %c : index, index, index
    }} do {{
    ^bb0(%p: index, %q: index, %c: index):
{compare}      %eqc = arith.andi %le, %ge : i1
      %eqi = arith.select %eqc, %c1, %c0 : index
      %c2 = arith.addi %c, %eqi : index
      scf.yield %p2, %q2, %c2 : index, index, index
    }}
    %both = arith.addi %wc#2, %c0 : index
{row_count}    %s1 = arith.addi %s, %r0 : index
    %s1w = arith.index_cast %s1 : index to {w}
    memref.store %s1w, %cp[%i1] : {mw}
    scf.yield %s1 : index
  }}
""")
    text = f"""  %cp = memref.alloc(%o1) : {mw}
  memref.store %w0, %cp[%c0] : {mw}
{count_pass}  %cv = memref.alloc(%nnz) : {me}
  %cc = memref.alloc(%nnz) : {mw}
  scf.for %i = %c0 to %o step %c1 {{
{row_bounds}    {_ld("%x0", "%cp", "%i", w)}    %wf:3 = scf.while (%p = %p0, %q = %q0, %x = %x0) : (index, index, index) -> (index, index, index) {{
{cond}      scf.condition(%both) %p, %q, %x : index, index, index
    }} do {{
    ^bb0(%p: index, %q: index, %x: index):
{fill_compare}{fill_step}      scf.yield %p2, %q2, %x2 : index, index, index
    }}
{fill_tails}  }}
"""
    if MERGE_ONE_PASS:
        text = _merge_one_pass(kind, e, w, row_bounds, cond, fill_compare, fill_step, fill_tails)
        return _signature(name, e, w, _OPERANDS) + body + text + _epilogue(("%cvv", "%ccv", "%cp"), e, w)
    return _signature(name, e, w, _OPERANDS) + body + text + _epilogue(("%cv", "%cc", "%cp"), e, w)


def _merge_one_pass(kind, e, w, row_bounds, cond, compare, step, fill_tails) -> str:
    """Text: the merge in one pass into arrays of the result's largest size (|A| + |B| for
    A + B, min(|A|, |B|) for A * B, as SciPy's csr_binop_csr), returned as views of the
    first nnz entries (%cvv, %ccv)."""
    mw, me = f"memref<?x{w}>", f"memref<?x{e}>"
    cap = ("  %cap = arith.addi %na_all, %nb_all : index\n" if kind == "add" else
           "  %cap = arith.minui %na_all, %nb_all : index\n")
    end = "%xe" if kind == "add" else "%wf#2"
    return f"""  %cp = memref.alloc(%o1) : {mw}
  memref.store %w0, %cp[%c0] : {mw}
  {_ld("%na_all", "%ap", "%o", w)}  {_ld("%nb_all", "%bp", "%o", w)}{cap}  %cv = memref.alloc(%cap) : {me}
  %cc = memref.alloc(%cap) : {mw}
  %nnz = scf.for %i = %c0 to %o step %c1 iter_args(%x0 = %c0) -> (index) {{
{row_bounds}    %wf:3 = scf.while (%p = %p0, %q = %q0, %x = %x0) : (index, index, index) -> (index, index, index) {{
{cond}      scf.condition(%both) %p, %q, %x : index, index, index
    }} do {{
    ^bb0(%p: index, %q: index, %x: index):
{compare}{step}      scf.yield %p2, %q2, %x2 : index, index, index
    }}
{fill_tails}    %endw = arith.index_cast {end} : index to {w}
    memref.store %endw, %cp[%i1] : {mw}
    scf.yield {end} : index
  }}
  %cvv = memref.reinterpret_cast %cv to offset: [0], sizes: [%nnz], strides: [1] : {me} to {me}
  %ccv = memref.reinterpret_cast %cc to offset: [0], sizes: [%nnz], strides: [1] : {mw} to {mw}
"""



def _branchy_step(e: str, w: str) -> str:
    """Text: one step of A + B's merge (defines %p2, %q2, %x2) by branches on the two columns,
    as SciPy's csr_binop_csr: a predicted branch lets the next step's loads start before this
    compare resolves, where the select form chains every step's loads to the previous
    compare (10^4 x 10^4 at 0.1%: 1.71 -> 1.40 ms CPU, SciPy 1.48)."""
    mw, me = f"memref<?x{w}>", f"memref<?x{e}>"
    return f"""      %car = memref.load %ac[%p] : {mw}
      %cbr = memref.load %bc[%q] : {mw}
      %lt = arith.cmpi slt, %car, %cbr : {w}
      %x2 = arith.addi %x, %c1 : index
      %br:2 = scf.if %lt -> (index, index) {{
        %va = memref.load %av[%p] : {me}
        memref.store %va, %cv[%x] : {me}
        memref.store %car, %cc[%x] : {mw}
        %pa = arith.addi %p, %c1 : index
        scf.yield %pa, %q : index, index
      }} else {{
        %gt = arith.cmpi sgt, %car, %cbr : {w}
        %bb:2 = scf.if %gt -> (index, index) {{
          %vb = memref.load %bv[%q] : {me}
          memref.store %vb, %cv[%x] : {me}
          memref.store %cbr, %cc[%x] : {mw}
          %qb = arith.addi %q, %c1 : index
          scf.yield %p, %qb : index, index
        }} else {{
          %va = memref.load %av[%p] : {me}
          %vb = memref.load %bv[%q] : {me}
          %s = arith.addf %va, %vb : {e}
          memref.store %s, %cv[%x] : {me}
          memref.store %car, %cc[%x] : {mw}
          %pe1 = arith.addi %p, %c1 : index
          %qe1 = arith.addi %q, %c1 : index
          scf.yield %pe1, %qe1 : index, index
        }}
        scf.yield %bb#0, %bb#1 : index, index
      }}
      %p2 = arith.addi %br#0, %c0 : index
      %q2 = arith.addi %br#1, %c0 : index
"""

_ROW_NAMES = re.compile(r"%(len|half|even|mid|s|p|p1|j0r|j0|j1r|j1|a0|a1|x0|x1|m0|m1|t0|t1|s0|s1|odd|last|"
                        r"jlr|jl|al|xl|ml|u|r)\b")


def _matvec_row_loop(e: str, w: str, lo: str, hi: str, first: str, pre: str = "") -> str:
    """Text: %{pre}r, the sum of entries `lo` .. `hi` - 1 of the row and `first` (two partial
    sums: even and odd positions); its names start with `pre`."""
    return _ROW_NAMES.sub(lambda mt: f"%{pre}{mt.group(1)}", _row_loop_text(e, w, lo, hi, first))


def _row_loop_text(e: str, w: str, lo: str, hi: str, first: str) -> str:
    me = f"memref<?x{e}>"
    return f"""      %len = arith.subi {hi}, {lo} : index
      %half = arith.shrui %len, %c1 : index
      %even = arith.shli %half, %c1 : index
      %mid = arith.addi {lo}, %even : index
      %s:2 = scf.for %p = {lo} to %mid step %c2 iter_args(%s0 = {first}, %s1 = %z) -> ({e}, {e}) {{
        %p1 = arith.addi %p, %c1 : index
        {_ld("%j0", "%ac", "%p", w)}        {_ld("%j1", "%ac", "%p1", w)}        %a0 = memref.load %av[%p] : {me}
        %a1 = memref.load %av[%p1] : {me}
        %x0 = memref.load %b[%j0, %c0] : memref<?x?x{e}>
        %x1 = memref.load %b[%j1, %c0] : memref<?x?x{e}>
        %m0 = arith.mulf %a0, %x0 : {e}
        %m1 = arith.mulf %a1, %x1 : {e}
        %t0 = arith.addf %s0, %m0 : {e}
        %t1 = arith.addf %s1, %m1 : {e}
        scf.yield %t0, %t1 : {e}, {e}
      }}
      %odd = arith.cmpi ult, %mid, {hi} : index
      %last = scf.if %odd -> ({e}) {{
        {_ld("%jl", "%ac", "%mid", w)}        %al = memref.load %av[%mid] : {me}
        %xl = memref.load %b[%jl, %c0] : memref<?x?x{e}>
        %ml = arith.mulf %al, %xl : {e}
        scf.yield %ml : {e}
      }} else {{
        scf.yield %z : {e}
      }}
      %u = arith.addf %s#0, %last : {e}
      %r = arith.addf %u, %s#1 : {e}
"""


def _matvec_lanes(e: str, w: str) -> str:
    """Text: %lr, the sum of the row's first MATVEC_LANES entries read straight-line (each lane's
    position clamped to the row's last entry, lanes past it dropped by a select, a tree sum)
    plus the rest of a longer row (`_matvec_row_loop`); the row is not empty."""
    n, me = MATVEC_LANES, f"memref<?x{e}>"
    text = "      %lastq = arith.subi %hi, %c1 : index\n      %rlen = arith.subi %hi, %lo : index\n"
    for t in range(n):
        text += f"""      %q{t}u = arith.addi %lo, %k{t} : index
      %q{t} = arith.minui %q{t}u, %lastq : index
      {_ld(f"%j{t}", "%ac", f"%q{t}", w)}      %a{t} = memref.load %av[%q{t}] : {me}
      %x{t} = memref.load %b[%j{t}, %c0] : memref<?x?x{e}>
      %m{t} = arith.mulf %a{t}, %x{t} : {e}
      %in{t} = arith.cmpi ult, %k{t}, %rlen : index
      %v{t} = arith.select %in{t}, %m{t}, %z : {e}
"""
    names, level = [f"%v{t}" for t in range(n)], 0
    while len(names) > 1:
        nxt = []
        for u in range(0, len(names) - 1, 2):
            text += f"      %t{level}_{u} = arith.addf {names[u]}, {names[u + 1]} : {e}\n"
            nxt.append(f"%t{level}_{u}")
        names, level = nxt + names[len(names) - len(names) % 2:], level + 1
    text += f"      %rest0u = arith.addi %lo, %k{n} : index\n      %rest0 = arith.minui %rest0u, %hi : index\n"
    return text + _matvec_row_loop(e, w, "%rest0", "%hi", names[0], pre="l")


def csr_matvec_text(name: str, m: int, e: str, w: str) -> str:
    """A private function: CSR A (m rows) @ b (a k x 1 dense matrix) -> m x 1: by vector
    gathers (MATVEC_GATHER, `_matvec_gather_text`), else as follows.

    Each row's dot product summed in registers (two partial sums, even and odd entries). The sparsifier's
    loop kept the sum in the output's memory (a load and a store per entry: a store-to-load
    chain that bounded CSR x vector at ~5 cycles per nonzero).

    Where rows hold 4 to 16 entries on average (decided once per call), a row's first
    MATVEC_LANES entries are read straight-line (`_matvec_lanes`): a loop whose trip count
    is each row's length mispredicts its exit about once per row, ~40% of the time at ~10
    entries per row (10^4 rows, 10^5 nonzeros: 110 -> 86 us); shorter or longer rows take the
    loop alone (1 or 100 entries per row ran 2x and 1.3x slower straight-line).

    The result is a static tensor built by `tensor.insert` through the row loop's iter_args
    from a `tensor.empty`: once inlined, theanir-results-in-place sees that chain and the rows
    land in the caller's output buffer (a memref.alloc here cost an alloc and a copy per call)."""
    if MATVEC_GATHER:
        return _matvec_gather_text(name, m, e, w)
    ot = f"tensor<{m}x1x{e}>"
    consts = "".join(f"  %k{t} = arith.constant {t} : index\n" for t in range(2, MATVEC_LANES + 1))
    return f"""func.func private @{name}(%av_t: tensor<?x{e}>, %ac_t: tensor<?x{w}>, %ap_t: tensor<?x{w}>, %b_t: tensor<?x?x{e}>) -> {ot} {{
{_prologue(e, w, [])}  %m = arith.constant {m} : index
  %c2 = arith.constant 2 : index
  %k0 = arith.constant 0 : index
  %k1 = arith.constant 1 : index
{consts}  %z = arith.constant 0.0 : {e}
  %nnzr = tensor.extract %ap_t[%m] : tensor<?x{w}>
  %nnz = arith.index_castui %nnzr : {w} to index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %rows4 = arith.muli %m, %c4 : index
  %rows16 = arith.muli %m, %c16 : index
  %ge4 = arith.cmpi uge, %nnz, %rows4 : index
  %le16 = arith.cmpi ule, %nnz, %rows16 : index
  %lanes0 = arith.andi %ge4, %le16 : i1
  %allow = arith.constant {"true" if MATVEC_STRAIGHT else "false"}
  %lanes = arith.andi %lanes0, %allow : i1
  %mlanes = arith.select %lanes, %m, %c0 : index
  %init = tensor.empty() : {ot}
  %res0 = scf.for %i = %c0 to %mlanes step %c1 iter_args(%out = %init) -> ({ot}) {{
{_loop_reads(e, w, "matrix")}    %i1 = arith.addi %i, %c1 : index
    {_ld("%lo", "%ap", "%i", w)}    {_ld("%hi", "%ap", "%i1", w)}    %some = arith.cmpi ult, %lo, %hi : index
    %row = scf.if %some -> ({e}) {{
{_matvec_lanes(e, w)}      scf.yield %lr : {e}
    }} else {{
      scf.yield %z : {e}
    }}
    %out1 = tensor.insert %row into %out[%i, %c0] : {ot}
    scf.yield %out1 : {ot}
  }}
  %res = scf.for %i = %mlanes to %m step %c1 iter_args(%out = %res0) -> ({ot}) {{
{_loop_reads(e, w, "matrix")}    %i1 = arith.addi %i, %c1 : index
    {_ld("%lo", "%ap", "%i", w)}    {_ld("%hi", "%ap", "%i1", w)}{_matvec_row_loop(e, w, "%lo", "%hi", "%z")}    %out1 = tensor.insert %r into %out[%i, %c0] : {ot}
    scf.yield %out1 : {ot}
  }}
  return %res : {ot}
}}
"""


def _vector_sum(acc: str, n: int, e: str) -> tuple[str, str]:
    """Text: the sum of the lanes of `acc` (vector<n x e>) by halves (a tree, not the ordered
    reduction `vector.reduction` lowers to without reassociation); returns (text, name)."""
    text, cur = "", acc
    while n > 1:
        h = n // 2
        text += (f"    %h{n}a = vector.extract_strided_slice {cur} {{offsets = [0], sizes = [{h}], strides = [1]}} "
                 f": vector<{n}x{e}> to vector<{h}x{e}>\n"
                 f"    %h{n}b = vector.extract_strided_slice {cur} {{offsets = [{h}], sizes = [{h}], strides = [1]}} "
                 f": vector<{n}x{e}> to vector<{h}x{e}>\n"
                 f"    %h{n} = arith.addf %h{n}a, %h{n}b : vector<{h}x{e}>\n")
        cur, n = f"%h{n}", h
    return text + f"    %rsum = vector.extract {cur}[0] : {e} from vector<1x{e}>\n", "%rsum"


def _matvec_gather_text(name: str, m: int, e: str, w: str) -> str:
    """CSR x vector by vector gathers (MATVEC_GATHER), as MKL's kernel: each row in chunks of
    MATVEC_VECTOR entries (a load of the indices and values, a gather of b, a fused
    multiply-add into a vector of partial sums), then one masked chunk for the rest of the
    row (masked loads and gather: no branch on the row's length but the chunk loop's), the
    lanes summed by halves. The result is built by `tensor.insert` as `csr_matvec_text`'s."""
    v, ot = MATVEC_VECTOR, f"tensor<{m}x1x{e}>"
    ve, vw, vm = f"vector<{v}x{e}>", f"vector<{v}x{w}>", f"vector<{v}xi1>"
    total, rsum = _vector_sum("%acc2", v, e)
    return f"""func.func private @{name}(%av_t: tensor<?x{e}>, %ac_t: tensor<?x{w}>, %ap_t: tensor<?x{w}>, %b_t: tensor<?x?x{e}>) -> {ot} {{
{_prologue(e, w, [])}  %m = arith.constant {m} : index
  %cv = arith.constant {v} : index
  %cmv = arith.constant {-v} : index
  %zv = arith.constant dense<0.0> : {ve}
  %zi = arith.constant dense<0> : {vw}
  %all = arith.constant dense<true> : {vm}
  %init = tensor.empty() : {ot}
  %res = scf.for %i = %c0 to %m step %c1 iter_args(%out = %init) -> ({ot}) {{
{_loop_reads(e, w, "vector")}    %i1 = arith.addi %i, %c1 : index
    {_ld("%lo", "%ap", "%i", w)}    {_ld("%hi", "%ap", "%i1", w)}    %len = arith.subi %hi, %lo : index
    %full = arith.andi %len, %cmv : index
    %qend = arith.addi %lo, %full : index
    %acc = scf.for %q = %lo to %qend step %cv iter_args(%s = %zv) -> ({ve}) {{
      %iv = vector.load %ac[%q] : memref<?x{w}>, {vw}
      %avv = vector.load %av[%q] : memref<?x{e}>, {ve}
      %xv = vector.gather %b[%c0][%iv], %all, %zv : memref<?x{e}>, {vw}, {vm}, {ve} into {ve}
      %s2 = vector.fma %avv, %xv, %s : {ve}
      scf.yield %s2 : {ve}
    }}
    %rem = arith.subi %hi, %qend : index
    %mask = vector.create_mask %rem : {vm}
    %it = vector.maskedload %ac[%qend], %mask, %zi : memref<?x{w}>, {vm}, {vw} into {vw}
    %at = vector.maskedload %av[%qend], %mask, %zv : memref<?x{e}>, {vm}, {ve} into {ve}
    %xt = vector.gather %b[%c0][%it], %mask, %zv : memref<?x{e}>, {vw}, {vm}, {ve} into {ve}
    %acc2 = vector.fma %at, %xt, %acc : {ve}
{total}    %out1 = tensor.insert {rsum} into %out[%i, %c0] : {ot}
    scf.yield %out1 : {ot}
  }}
  return %res : {ot}
}}
"""


def _chunks(width: int, v: int) -> list[tuple[int, int]]:
    """(offset from the tile's start, lanes) of the vectors covering `width` columns: chunks of
    `v` lanes, then one of the rest (static: no masks)."""
    out = [(t, v) for t in range(0, width - width % v, v)]
    return out + ([(width - width % v, width % v)] if width % v else [])


def _tile_text(p: str, col: str, chunks: list[tuple[int, int]], e: str, w: str, row: str, rt: str) -> str:
    """Text: one column tile of an output row: the accumulators (one vector per chunk) summed
    over the row's nonzeros q (A[i, q] broadcast, B[j, col + offset : ...] loaded once, an
    FMA), then written into the row tensor `row`; the new row tensor is %{p}r{len(chunks)}."""
    types = ", ".join(f"vector<{n}x{e}>" for _, n in chunks)
    inits = ", ".join(f"%{p}s{t} = %zv{n}" for t, (_, n) in enumerate(chunks))
    text = ""
    for t, (off, _) in enumerate(chunks):
        text += f"      %{p}o{t} = arith.constant {off} : index\n      %{p}col{t} = arith.addi {col}, %{p}o{t} : index\n"
    text += f"""      %{p}acc:{len(chunks)} = scf.for %{p}q = %lo to %hi step %c1 iter_args({inits}) -> ({types}) {{
        {_ld(f"%{p}j", "%ac", f"%{p}q", w)}        %{p}a = memref.load %av[%{p}q] : memref<?x{e}>
"""
    for n in sorted({n for _, n in chunks}):
        text += f"        %{p}a{n} = vector.broadcast %{p}a : {e} to vector<{n}x{e}>\n"
    for t, (_, n) in enumerate(chunks):
        text += (f"        %{p}x{t} = vector.load %b[%{p}j, %{p}col{t}] : memref<?x?x{e}>, vector<{n}x{e}>\n"
                 f"        %{p}f{t} = vector.fma %{p}a{n}, %{p}x{t}, %{p}s{t} : vector<{n}x{e}>\n")
    text += f"        scf.yield {', '.join(f'%{p}f{t}' for t in range(len(chunks)))} : {types}\n      }}\n"
    cur = row
    for t, (_, n) in enumerate(chunks):
        text += (f"      %{p}r{t + 1} = vector.transfer_write %{p}acc#{t}, {cur}[%c0, %{p}col{t}] {{in_bounds = [true]}} "
                 f": vector<{n}x{e}>, {rt}\n")
        cur = f"%{p}r{t + 1}"
    return text


def csr_dense_text(name: str, m: int, n: int, e: str, w: str) -> str:
    """A private function: CSR A (m rows) @ B (k x n dense, n static >= 1) -> m x n.

    Each output row in column tiles of CSR_DENSE_TILE[e] columns (the last tile narrower):
    a tile's accumulators stay in vector registers across the row's nonzeros, B's row j slice
    loaded once per nonzero and multiplied-added, the tile stored once. The sparsifier's loop
    (row, nonzero, column) loaded and stored the output row once per nonzero.

    The rows are an `scf.forall` (each row a 1 x n slice of the result, parallel_insert_slice'd):
    OpenMP shares them out with th.config.openmp, else a serial loop (scf-forall-to-for); the
    result is the forall's shared tensor.empty, which theanir-results-in-place binds to the
    caller's output buffer.

    B is read through a read-only `to_buffer` (an identity layout: a strided B, a Fortran-order
    argument, is copied first), which bufferization takes for a read in front of the loop.
    So the result's tensor.empty carries an attribute (`theanir.csr_dense_out`): `cse` merges
    only equal ops, and merged with a tensor.empty B was computed into (dense x CSC, C B =
    (B^T C^T)^T: B = C^T, of the result's shape), the loop wrote the result into B's buffer
    while it still read B. (Read as a tensor, vector.transfer_read, the reads were seen in the
    loop, but a strided B's reads were lowered as contiguous: wrong values, a segfault.)
    """
    tile, v = CSR_DENSE_TILE[e], CSR_DENSE_VECTOR
    full = n - n % tile
    ot, rt = f"tensor<{m}x{n}x{e}>", f"tensor<1x{n}x{e}>"
    chunks, tail = _chunks(tile, v), _chunks(n % tile, v)
    widths = sorted({k for _, k in chunks + tail})
    zeros = "".join(f"  %zv{k} = arith.constant dense<0.0> : vector<{k}x{e}>\n" for k in widths)
    body = ""
    row = "%row0"
    if full:
        body += f"""    %row1 = scf.for %c = %c0 to %full step %ctile iter_args(%r = %row0) -> ({rt}) {{
{_tile_text("ft", "%c", chunks, e, w, "%r", rt)}      scf.yield %ftr{len(chunks)} : {rt}
    }}
"""
        row = "%row1"
    if n % tile:
        body += _tile_text("tt", "%full", tail, e, w, row, rt)
        row = f"%ttr{len(tail)}"
    return f"""func.func private @{name}(%av_t: tensor<?x{e}>, %ac_t: tensor<?x{w}>, %ap_t: tensor<?x{w}>, %b_t: tensor<?x?x{e}>) -> {ot} {{
{_prologue(e, w, [])}  %full = arith.constant {full} : index
  %ctile = arith.constant {tile} : index
{zeros}  %init = tensor.empty() {{theanir.csr_dense_out}} : {ot}
  %res = scf.forall (%i) in ({m}) shared_outs(%o = %init) -> ({ot}) {{
{_loop_reads(e, w, "matrix")}    %i1 = arith.addi %i, %c1 : index
    {_ld("%lo", "%ap", "%i", w)}    {_ld("%hi", "%ap", "%i1", w)}    %row0 = tensor.extract_slice %o[%i, 0] [1, {n}] [1, 1] : {ot} to {rt}
{body}    scf.forall.in_parallel {{
      tensor.parallel_insert_slice {row} into %o[%i, 0] [1, {n}] [1, 1] : {rt} into {ot}
    }}
  }}
  return %res : {ot}
}}
"""
