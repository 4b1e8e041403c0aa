"""Reductions over any axes with keepdims: sum, max, min, prod, any, all, argmax, argmin."""
from __future__ import annotations
