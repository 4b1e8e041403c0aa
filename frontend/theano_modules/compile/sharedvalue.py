"""`theanir.compile.sharedvalue`: Theano's shared variables (frontend/symbolic.py)."""
from theanir.frontend.symbolic import SharedVariable, shared  # noqa: F401
