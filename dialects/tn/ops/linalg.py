"""Matrix products: tn.matmul (vector, matrix, batched) lowered to linalg's named ops."""
from __future__ import annotations
