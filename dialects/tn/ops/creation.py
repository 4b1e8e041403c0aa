"""Creation ops that are not plain constants (iota for arange/eye)."""
from __future__ import annotations
