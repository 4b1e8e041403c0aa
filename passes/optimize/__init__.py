"""The tn optimizer: canonicalize, stabilize, fuse, the scan passes (loops/), in the phases
of phases.py."""
