"""Neural-network composites kept as ops for the stabilizer: softmax, log_softmax, logsumexp."""
from __future__ import annotations
