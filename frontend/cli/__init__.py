"""Command-line tools: `theanir-opt` (opt.py)."""
