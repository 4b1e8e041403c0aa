"""Every op family of the tn dialect; importing this package registers them all."""
from . import core, creation, elementwise, linalg, nn, reduction, shape  # noqa: F401
