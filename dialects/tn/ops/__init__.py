"""Every op family of the tn dialect; importing this package registers them all."""
from . import (check, control, control_ad, core, creation, debug, dims, dynamic, elementwise, gradient, linalg,  # noqa: F401
               nn, random, reduction, scatter, select, shape, sparse, sparse_out)
from . import conv, pool  # noqa: F401,E402  (issue 19: convolution and pooling)
from . import complex_parts  # noqa: F401,E402  (issue 20: complex numbers)
from . import fusion  # noqa: F401,E402  (after the families whose rules it reads)
