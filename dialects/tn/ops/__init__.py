"""Every op family of the tn dialect; importing this package registers them all."""
from . import (control, control_ad, core, creation, dynamic, elementwise, linalg, nn, random,  # noqa: F401
               reduction, scatter, shape)
from . import fusion  # noqa: F401,E402  (after the families whose rules it reads)
