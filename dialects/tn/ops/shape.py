"""Shape ops: reshape, transpose, slicing, concatenate, take (and scatter_add, its transpose)."""
from __future__ import annotations
