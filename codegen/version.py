"""theanir's version, in the lowest layer that records it (artifact manifests, the cache key).

`th.__version__` (frontend) re-exports it; keep it equal to pyproject.toml's version
(tests/frontend/test_compile_options.py checks the installed metadata against it).
"""
__version__ = "0.1.0"
