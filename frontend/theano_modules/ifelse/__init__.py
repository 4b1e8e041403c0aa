"""`from theanir.ifelse import ifelse`: Theano's lazy conditional (see theanir.frontend.control_flow).

Importing this module makes `theanir.ifelse` the module (as `theano.ifelse` is), replacing the
function `th.ifelse` on the package; the module is callable, so `th.ifelse(c, a, b)` keeps working.
"""
import sys as _sys
import types as _types

from theanir.frontend.control_flow import ifelse

__all__ = ["ifelse"]


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return ifelse(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
