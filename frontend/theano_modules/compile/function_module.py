"""`theanir.compile.function_module`: Theano's Function and FunctionMaker (frontend/symbolic.py,
frontend/symbolic_io.py)."""
from theanir.frontend.symbolic import Function, UnusedInputError, function  # noqa: F401
from theanir.frontend.symbolic_io import FunctionGraph, FunctionMaker  # noqa: F401
