"""Our own loop kernels for CSC A (m x k, stored as k columns) @ dense B (k x n, n static >= 1).

A CSC product is a scatter: column j of A adds A[:, j] * B[j, :] into the rows of the result
its entries name. MLIR's sparsifier compiles it as a scalar loop that, per nonzero, loads the
value, B[j] (again each time: the store into the result may alias it, so LLVM cannot hoist
it), the row index and y[row], and stores y[row]; and it runs serial in compiled programs
(its parallel outer loop raced on exactly this scatter: docs/sparse.md). This case matters:
`structured_dot(g, X)` of a dense vector and a CSR matrix (the gradient X^T g of a sparse
logistic regression, bench/sparse.py's logreg_step) is a CSC x vector product.

- CSC x vector (`csc_matvec_text`): per column j, b[j] is read once (an SSA value outside the
  column's loop), then y[idx[p]] += val[p] * b[j] over the column's entries. The variant
  (`CSC_MATVEC`) is chosen by measurement (see its comment below): "gather", the default,
  updates 8 entries at a time by vector.gather, FMA and vector.scatter; "unroll4" reads the
  result entries of four entries before it stores any. Both rely on the CSC type's promise of
  duplicate-free rows within a column (frontend/sparse.py `canonical`), so the entries of a
  chunk are distinct.
- CSC x dense (`csc_dense_text`): per column j and column tile of the result, B[j, tile] held
  in vector registers across the column's entries; per entry p, Y[idx[p], tile] += val[p] *
  B[j, tile] (a vector load, FMA, store). 10^4 x 10^4 at 0.1% times 10^4 x 64, 1 thread, CPU:
  float64 1.83 ms (sparsifier 1.93, SciPy 2.42), float32 0.80 (0.86, 1.34); 2 threads, wall:
  float64 1.11 ms. Tiles of 32 float64 columns: 8 ran 4.69 ms, 16 2.86, 32 2.44, 64 2.72 (a
  tile of the result, 10^4 x 32 x 8 bytes, stays in L2 while A is walked).

Threads (th.config.threads > 1; convert-tn-to-linalg's `threads`, known when the kernel is
written). CSC x vector splits the columns over `threads` workers (an scf.forall), each
scattering into its own zeroed partial y; the partials are then added in worker order, so
the result does not depend on thread timing (the pattern of window_lower's
sum_over_batch_blocks). It does depend on the worker count: the 1-thread kernel is a single
worker writing straight into y (no partials to zero and add), and its sums run in column
order, the split ones in two halves, so 1 and 2 threads may differ in the last bits. Products
of fewer than CSC_PARALLEL_MIN_NNZ nonzeros (decided at run time; the measurements are at
that switch) take the 1-worker loop on any thread count. CSC x dense splits the result's column tiles over the workers
instead (each reads all of A; no partials, and every entry is summed in column order
whatever the thread count: bit-identical to 1 thread). The worker loops carry
`theanir.keep_parallel`: theanir-parallel-loops keeps such a nest on the threads (its cost
model cannot count loops whose bounds the nest computes).
"""
from __future__ import annotations

from .sparse_loops import _ld, _loop_reads

# CSC x vector (A m x k CSC @ b k x 1): our loops below; False: MLIR's sparsifier
CSC_LOOPS = True
# "scalar", "unroll4" or "gather" (chunks of CSC_VECTOR entries by vector.gather + FMA +
# vector.scatter, a masked rest per column). Measured on the logistic regression's X^T g
# (10^4 x 5000 CSC, 2 x 10^5 nonzeros, 40 per column; 1 thread, Intel Xeon with AVX-512, load
# 2.3-2.9 from other jobs; CPU time per product, from 10 products in one program minus 1, median
# of 9 rounds interleaved; bench/sparse_csc.py repeats it): float64 sparsifier 169 us, scalar
# 160, unroll4 160, gather 148 (SciPy 195); float32 162, 141, 140, 118 (SciPy 161). An earlier
# run, same order: float64 203, 196, 196, 181 (SciPy 228). Every variant moves the same bytes
# (12 per nonzero, X's arrays from L3); the gathers and scatters issue fewer instructions per
# entry than the scalar loads and stores, and the masked rest has no per-entry branch.
CSC_MATVEC = "gather"
CSC_VECTOR = 8  # lanes of the "gather" variant
# threads > 1: fewer nonzeros run the 1-worker loop. On the shared 2-vCPU machine (load 2.4-3)
# the 2-worker split never won: 2 x 10^5 nonzeros 174 vs 159 us per product (wall), 2 x 10^6
# 2.96 vs 2.64 ms, the logreg step 0.353 vs 0.325 ms; its partials cost 2 fills and a sum of
# the result's size, and fork/join ~10-20 us. So only products of 10^6+ nonzeros split.
CSC_PARALLEL_MIN_NNZ = 1 << 20
CSC_DENSE_VECTOR = 8  # lanes of one vector (8 x f64: two AVX2 registers)
CSC_DENSE_TILE = {"f64": 32, "f32": 64}  # result columns per tile (B's tile: 8 registers on AVX2)
KEEP_PARALLEL = "theanir.keep_parallel"  # theanir-parallel-loops keeps the nest holding it parallel


def _constants(e: str, w: str) -> str:
    """Text: the kernels' constants. The arrays are read through `to_buffer` inside each column's
    loop body (sparse_loops._loop_reads, see `_prologue` there for why), not once in front."""
    return (f"  %c0 = arith.constant 0 : index\n  %c1 = arith.constant 1 : index\n"
            f"  %z = arith.constant 0.0 : {e}\n")


def _column_bounds(p: str, j: str, w: str) -> str:
    """Text: %{p}lo, %{p}hi, the entries of column `j`."""
    return (f"    %{p}j1 = arith.addi {j}, %c1 : index\n"
            f"    {_ld(f'%{p}lo', '%ap', j, w)}    {_ld(f'%{p}hi', '%ap', f'%{p}j1', w)}")


def _scatter_scalar(p: str, lo: str, hi: str, y: str, bj: str, e: str, w: str, yt: str) -> str:
    """Text: %{p}r = `y` (a 1-D tensor) with y[idx[q]] += val[q] * bj for q in [lo, hi)."""
    return f"""    %{p}r = scf.for %{p}q = {lo} to {hi} step %c1 iter_args(%{p}t = {y}) -> ({yt}) {{
      {_ld(f"%{p}i", "%ac", f"%{p}q", w)}      %{p}a = memref.load %av[%{p}q] : memref<?x{e}>
      %{p}old = tensor.extract %{p}t[%{p}i] : {yt}
      %{p}m = arith.mulf %{p}a, {bj} : {e}
      %{p}s = arith.addf %{p}old, %{p}m : {e}
      %{p}t2 = tensor.insert %{p}s into %{p}t[%{p}i] : {yt}
      scf.yield %{p}t2 : {yt}
    }}
"""


def _scatter_unrolled(p: str, lo: str, hi: str, y: str, bj: str, e: str, w: str, yt: str, u: int = 4) -> str:
    """Text: as `_scatter_scalar`, `u` entries a step: their u result entries read before any is
    written (distinct rows within a column), then the rest one by one."""
    body = f"    %{p}len = arith.subi {hi}, {lo} : index\n    %{p}cu = arith.constant {u} : index\n"
    body += f"    %{p}cmu = arith.constant {-u} : index\n    %{p}full = arith.andi %{p}len, %{p}cmu : index\n"
    body += f"    %{p}mid = arith.addi {lo}, %{p}full : index\n"
    body += f"    %{p}r0 = scf.for %{p}q = {lo} to %{p}mid step %{p}cu iter_args(%{p}t = {y}) -> ({yt}) {{\n"
    for s in range(u):
        q = f"%{p}q" if s == 0 else f"%{p}q{s}"
        if s:
            body += f"      %{p}o{s} = arith.constant {s} : index\n      {q} = arith.addi %{p}q, %{p}o{s} : index\n"
        body += (f"      {_ld(f'%{p}i{s}', '%ac', q, w)}      %{p}a{s} = memref.load %av[{q}] : memref<?x{e}>\n"
                 f"      %{p}old{s} = tensor.extract %{p}t[%{p}i{s}] : {yt}\n"
                 f"      %{p}m{s} = arith.mulf %{p}a{s}, {bj} : {e}\n"
                 f"      %{p}s{s} = arith.addf %{p}old{s}, %{p}m{s} : {e}\n")
    cur = f"%{p}t"
    for s in range(u):
        body += f"      %{p}t{s + 1} = tensor.insert %{p}s{s} into {cur}[%{p}i{s}] : {yt}\n"
        cur = f"%{p}t{s + 1}"
    body += f"      scf.yield {cur} : {yt}\n    }}\n"
    return body + _scatter_scalar(p + "x", f"%{p}mid", hi, f"%{p}r0", bj, e, w, yt).replace(
        f"%{p}xr = ", f"%{p}r = ", 1)


def _scatter_gather(p: str, lo: str, hi: str, y: str, bj: str, e: str, w: str, yt: str) -> str:
    """Text: as `_scatter_scalar`, in chunks of CSC_VECTOR entries (vector.gather of the result
    entries, FMA, vector.scatter; distinct rows within a column) and one masked chunk."""
    v = CSC_VECTOR
    ve, vw, vm = f"vector<{v}x{e}>", f"vector<{v}x{w}>", f"vector<{v}xi1>"
    return f"""    %{p}bv = vector.broadcast {bj} : {e} to {ve}
    %{p}len = arith.subi {hi}, {lo} : index
    %{p}full = arith.andi %{p}len, %cmv : index
    %{p}mid = arith.addi {lo}, %{p}full : index
    %{p}r0 = scf.for %{p}q = {lo} to %{p}mid step %cv iter_args(%{p}t = {y}) -> ({yt}) {{
      %{p}iv = vector.load %ac[%{p}q] : memref<?x{w}>, {vw}
      %{p}avv = vector.load %av[%{p}q] : memref<?x{e}>, {ve}
      %{p}old = vector.gather %{p}t[%c0][%{p}iv], %all, %zv : {yt}, {vw}, {vm}, {ve} into {ve}
      %{p}new = vector.fma %{p}avv, %{p}bv, %{p}old : {ve}
      %{p}t2 = vector.scatter %{p}t[%c0][%{p}iv], %all, %{p}new : {yt}, {vw}, {vm}, {ve} -> {yt}
      scf.yield %{p}t2 : {yt}
    }}
    %{p}rem = arith.subi {hi}, %{p}mid : index
    %{p}mask = vector.create_mask %{p}rem : {vm}
    %{p}it = vector.maskedload %ac[%{p}mid], %{p}mask, %zi : memref<?x{w}>, {vm}, {vw} into {vw}
    %{p}at = vector.maskedload %av[%{p}mid], %{p}mask, %zv : memref<?x{e}>, {vm}, {ve} into {ve}
    %{p}ot = vector.gather %{p}r0[%c0][%{p}it], %{p}mask, %zv : {yt}, {vw}, {vm}, {ve} into {ve}
    %{p}nt = vector.fma %{p}at, %{p}bv, %{p}ot : {ve}
    %{p}r = vector.scatter %{p}r0[%c0][%{p}it], %{p}mask, %{p}nt : {yt}, {vw}, {vm}, {ve} -> {yt}
"""


_SCATTERS = {"scalar": _scatter_scalar, "unroll4": _scatter_unrolled, "gather": _scatter_gather}


def _columns(p: str, first: str, last: str, y: str, e: str, w: str, yt: str, keep: bool = False) -> str:
    """Text: %{p}y = `y` plus the columns [first, last) of A times b (b[j] read once per column)."""
    inner = _SCATTERS[CSC_MATVEC](p + "c", f"%{p}clo", f"%{p}chi", f"%{p}t", f"%{p}bj", e, w, yt)
    attr = f" {{{KEEP_PARALLEL}}}" if keep else ""
    return f"""  %{p}y = scf.for %{p}j = {first} to {last} step %c1 iter_args(%{p}t = {y}) -> ({yt}) {{
{_loop_reads(e, w, "vector")}{_column_bounds(p + "c", f"%{p}j", w)}    %{p}bj = memref.load %b[%{p}j] : memref<?x{e}>
{inner}    scf.yield %{p}cr : {yt}
  }}{attr}
"""


def csc_matvec_text(name: str, m: int, k: int, e: str, w: str, threads: int = 1) -> str:
    """A private function: CSC A (m x k) @ b (a k x 1 dense matrix) -> m x 1 (module docstring).

    The result is a 1-D tensor.empty filled with zeros and carried through the column loop's
    iter_args (tensor.extract / tensor.insert, or vector.gather / vector.scatter), expanded to
    m x 1: theanir-results-in-place sees that chain and the columns scatter straight into the
    caller's output buffer. With `threads` > 1 (or 0: OpenMP's default team, 8 workers) and at
    least CSC_PARALLEL_MIN_NNZ nonzeros, the columns are split over the workers' partials."""
    yt, ot = f"tensor<{m}x{e}>", f"tensor<{m}x1x{e}>"
    v = CSC_VECTOR
    head = f"""func.func private @{name}(%av_t: tensor<?x{e}>, %ac_t: tensor<?x{w}>, %ap_t: tensor<?x{w}>, %b_t: tensor<?x?x{e}>) -> {ot} {{
{_constants(e, w)}  %k = arith.constant {k} : index
  %cv = arith.constant {v} : index
  %cmv = arith.constant {-v} : index
  %zv = arith.constant dense<0.0> : vector<{v}x{e}>
  %zi = arith.constant dense<0> : vector<{v}x{w}>
  %all = arith.constant dense<true> : vector<{v}xi1>
  %init = tensor.empty() {{theanir.csc_out}} : {yt}
  %y0 = linalg.fill ins(%z : {e}) outs(%init : {yt}) -> {yt}
"""
    tail = f"""  %out = tensor.expand_shape %y [[0, 1]] output_shape [{m}, 1] : {yt} into {ot}
  return %out : {ot}
}}
"""
    if threads == 1:
        return head + _columns("s", "%c0", "%k", "%y0", e, w, yt) + tail.replace("%y ", "%sy ", 1)
    parts = threads if threads > 1 else 8
    pt = f"tensor<{parts}x{m}x{e}>"
    return head + f"""  %nnzr = tensor.extract %ap_t[%k] : tensor<?x{w}>
  %nnz = arith.index_castui %nnzr : {w} to index
  %minnz = arith.constant {CSC_PARALLEL_MIN_NNZ} : index
  %big = arith.cmpi uge, %nnz, %minnz : index
  %cparts = arith.constant {parts} : index
  %y = scf.if %big -> ({yt}) {{
    %pe = tensor.empty() {{theanir.csc_parts}} : {pt}
    %pr = scf.forall (%w) in ({parts}) shared_outs(%o = %pe) -> ({pt}) {{
      %w1 = arith.addi %w, %c1 : index
      %wk = arith.muli %w, %k : index
      %first = arith.divui %wk, %cparts : index
      %w1k = arith.muli %w1, %k : index
      %last = arith.divui %w1k, %cparts : index
      %sl = tensor.extract_slice %o[%w, 0] [1, {m}] [1, 1] : {pt} to {yt}
      %slz = linalg.fill ins(%z : {e}) outs(%sl : {yt}) -> {yt}
{_indent(_columns("p", "%first", "%last", "%slz", e, w, yt, keep=True), 4)}      scf.forall.in_parallel {{
        tensor.parallel_insert_slice %py into %o[%w, 0] [1, {m}] [1, 1] : {yt} into {pt}
      }}
    }}
    %sum = linalg.generic {{indexing_maps = [affine_map<(q, i) -> (q, i)>, affine_map<(q, i) -> (i)>],
                           iterator_types = ["reduction", "parallel"]}} ins(%pr : {pt}) outs(%y0 : {yt}) {{
    ^bb0(%px: {e}, %pacc: {e}):
      %ps = arith.addf %pacc, %px : {e}
      linalg.yield %ps : {e}
    }} -> {yt}
    scf.yield %sum : {yt}
  }} else {{
{_indent(_columns("s", "%c0", "%k", "%y0", e, w, yt), 2)}    scf.yield %sy : {yt}
  }}
""" + tail


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def _dense_tile_text(p: str, c0: str, chunks: list[tuple[int, int]], y: str, e: str, w: str, yt: str) -> str:
    """Text: %{p}y = the tile `y` (m x width, columns c0 ...) plus A @ B[:, tile]: per column j
    of A, B[j, tile] loaded once (a vector per chunk), then per entry q Y[idx[q], tile] +=
    val[q] * B[j, tile] (a vector load, FMA and store per chunk)."""
    text = ""
    for t, (off, _) in enumerate(chunks):
        text += f"  %{p}o{t} = arith.constant {off} : index\n  %{p}col{t} = arith.addi {c0}, %{p}o{t} : index\n"
    text += f"""  %{p}y = scf.for %{p}j = %c0 to %k step %c1 iter_args(%{p}t = {y}) -> ({yt}) {{
{_loop_reads(e, w, "matrix")}{_column_bounds(p + "c", f"%{p}j", w)}"""
    for t, (_, n) in enumerate(chunks):
        text += f"    %{p}b{t} = vector.load %b[%{p}j, %{p}col{t}] : memref<?x?x{e}>, vector<{n}x{e}>\n"
    text += f"""    %{p}r = scf.for %{p}q = %{p}clo to %{p}chi step %c1 iter_args(%{p}u = %{p}t) -> ({yt}) {{
      {_ld(f"%{p}i", "%ac", f"%{p}q", w)}      %{p}a = memref.load %av[%{p}q] : memref<?x{e}>
"""
    for n in sorted({n for _, n in chunks}):
        text += f"      %{p}a{n} = vector.broadcast %{p}a : {e} to vector<{n}x{e}>\n"
    cur = f"%{p}u"
    for t, (off, n) in enumerate(chunks):
        vt = f"vector<{n}x{e}>"
        text += (f"      %{p}o{t}c = arith.constant {off} : index\n"
                 f"      %{p}x{t} = vector.transfer_read {cur}[%{p}i, %{p}o{t}c], %z {{in_bounds = [true]}} : {yt}, {vt}\n"
                 f"      %{p}f{t} = vector.fma %{p}a{n}, %{p}b{t}, %{p}x{t} : {vt}\n"
                 f"      %{p}w{t} = vector.transfer_write %{p}f{t}, {cur}[%{p}i, %{p}o{t}c] {{in_bounds = [true]}} : {vt}, {yt}\n")
        cur = f"%{p}w{t}"
    return text + f"""      scf.yield {cur} : {yt}
    }}
    scf.yield %{p}r : {yt}
  }}
"""


def _dense_tiles(n: int, e: str, threads: int) -> tuple[int, int]:
    """(tile width, full tiles): CSC_DENSE_TILE[e] columns a tile; on threads, narrower tiles
    (multiples of CSC_DENSE_VECTOR) where the full ones would be fewer than the threads."""
    tile = CSC_DENSE_TILE[e]
    if threads != 1 and n // tile < max(threads, 2):
        tile = max(CSC_DENSE_VECTOR, n // max(threads, 2) // CSC_DENSE_VECTOR * CSC_DENSE_VECTOR)
    return tile, n // tile


def csc_dense_text(name: str, m: int, k: int, n: int, e: str, w: str, threads: int = 1) -> str:
    """A private function: CSC A (m x k) @ B (k x n dense, n static >= 1) -> m x n.

    The result's columns in tiles (`_dense_tiles`): an scf.forall over the full tiles (each a
    zeroed m x tile slice of the result, `_dense_tile_text` over all of A), then one over the
    narrower rest. With threads and a result of at least 2^16 entries the tiles' forall
    carries KEEP_PARALLEL (on its column loop): each thread its tiles, no partial sums, every
    entry summed in A's column order as on 1 thread. Else the foralls run as loops
    (scf-forall-to-for, or theanir-parallel-loops' cost model). B is read through a read-only
    `to_buffer` (a strided B is copied first); the result's tensor.empty carries an attribute
    so that `cse` never merges it with one B was computed into (csr_dense_text's docstring)."""
    from .sparse_loops import _chunks
    tile, full = _dense_tiles(n, e, threads)
    rest = n - full * tile
    ot = f"tensor<{m}x{n}x{e}>"
    keep = threads != 1 and full >= 2 and m * n >= 1 << 16
    text = f"""func.func private @{name}(%av_t: tensor<?x{e}>, %ac_t: tensor<?x{w}>, %ap_t: tensor<?x{w}>, %b_t: tensor<?x?x{e}>) -> {ot} {{
{_constants(e, w)}  %k = arith.constant {k} : index
  %ctile = arith.constant {tile} : index
  %init = tensor.empty() {{theanir.csc_dense_out}} : {ot}
"""
    cur = "%init"
    for tag, count, width in (("f", full, tile), ("r", 1 if rest else 0, rest)):
        if not count:
            continue
        tt = f"tensor<{m}x{width}x{e}>"
        start = f"%{tag}c" if tag == "f" else f"%{tag}c0"
        body = _dense_tile_text(tag + "k", start, _chunks(width, CSC_DENSE_VECTOR), f"%{tag}z", e, w, tt)
        if keep and tag == "f":
            body = body.rstrip("\n") + f" {{{KEEP_PARALLEL}}}\n"  # on the column loop
        text += f"""  %{tag}res = scf.forall (%{tag}t) in ({count}) shared_outs(%{tag}o = {cur}) -> ({ot}) {{
    %{tag}c = arith.muli %{tag}t, %ctile : index
    %{tag}c0 = arith.constant {full * tile} : index
    %{tag}s = tensor.extract_slice %{tag}o[0, {start}] [{m}, {width}] [1, 1] : {ot} to {tt}
    %{tag}z = linalg.fill ins(%z : {e}) outs(%{tag}s : {tt}) -> {tt}
{_indent(body, 2)}    scf.forall.in_parallel {{
      tensor.parallel_insert_slice %{tag}ky into %{tag}o[0, {start}] [{m}, {width}] [1, 1] : {tt} into {ot}
    }}
  }}
"""
        cur = f"%{tag}res"
    return text + f"""  return {cur} : {ot}
}}
"""
