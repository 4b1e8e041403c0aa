"""`theanir.compile.mode`: Theano's compile modes (frontend/symbolic_io.py)."""
from theanir.frontend.symbolic_io import (FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode,  # noqa: F401
                                          predefined_modes)
