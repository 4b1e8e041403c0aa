"""Dialects defined by theanir (currently `tn`) and the NumPy interpreter of it."""
