"""`from theanir.ifelse import ifelse`: Theano's lazy conditional (see theanir.frontend.control_flow)."""
from theanir.frontend.control_flow import ifelse

__all__ = ["ifelse"]
