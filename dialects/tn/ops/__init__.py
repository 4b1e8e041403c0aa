"""Every op family of the tn dialect; importing this package registers them all."""
from . import core, elementwise  # noqa: F401
