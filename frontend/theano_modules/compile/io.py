"""`theanir.compile.io`: Theano's `In` and `Out` (frontend/symbolic_io.py)."""
from theanir.frontend.symbolic_io import In, Out  # noqa: F401

SymbolicInput = In
SymbolicOutput = Out
