"""Lowerings: tn -> linalg (convert_tn_to_linalg.py) and the passes on linalg, buffers and
the LLVM dialect that the stage table (passes/pipeline.py) runs."""
