"""Every op family of the tn dialect; importing this package registers them all."""
from . import control, control_ad, core, creation, elementwise, gradient, linalg, nn, reduction, shape  # noqa: F401
from . import fusion  # noqa: F401,E402  (after the families whose rules it reads)
