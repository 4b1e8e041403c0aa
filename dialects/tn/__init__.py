"""The `tn` dialect: op table, IRDL registration, builder and lowering toolkit."""
from .registry import OPS, OpDef, ShapeError, defop, lookup  # noqa: F401
from .types import TensorSpec  # noqa: F401
