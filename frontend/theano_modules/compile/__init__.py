"""`theanir.compile`: Theano's compile package (functions, their inputs/outputs, modes, shared
variables). Forwards to frontend/symbolic.py and frontend/symbolic_io.py."""
from theanir.frontend.symbolic import Function, SharedVariable, UnusedInputError, function, shared  # noqa: F401
from theanir.frontend.symbolic_graph import MissingInputError  # noqa: F401
from theanir.frontend.symbolic_io import (FAST_COMPILE, FAST_RUN, FunctionGraph, FunctionMaker, In,  # noqa: F401
                                          Mode, Out, get_default_mode, get_mode, predefined_modes)

from . import function_module, io, mode, sharedvalue  # noqa: F401,E402

__all__ = ["function", "shared", "Function", "SharedVariable", "UnusedInputError", "MissingInputError",
           "In", "Out", "Mode", "FAST_RUN", "FAST_COMPILE", "get_mode", "get_default_mode",
           "predefined_modes", "FunctionGraph", "FunctionMaker", "function_module", "io", "mode",
           "sharedvalue"]
