"""Automatic differentiation over tn IR: forward mode (jvp) and reverse mode as jvp + transpose."""
from .ad import DifferentiationError, jvp_values, vjp_values  # noqa: F401
