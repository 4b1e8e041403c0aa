"""Benchmarks run as scripts (`python bench/X.py`), so bench/ is first on sys.path: a file
named like a standard-library module (bench/random.py did) shadows it for every bench script
(tempfile imports random)."""
import pathlib
import sys

BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench"


def test_no_bench_script_shadows_the_standard_library():
    clashes = sorted(p.name for p in BENCH.glob("*.py") if p.stem in sys.stdlib_module_names)
    assert clashes == []
