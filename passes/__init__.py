"""Passes over the `tn` dialect and below: optimize/, autodiff/, lower/, and the stage table
(pipeline.py) that runs them with one `CompileOptions` (options.py).

A regular package (not a namespace one) so that import-linter's graph sees it and its
subpackages (tests/test_layers.py). Passes import only `theanir.dialects`: never codegen,
the runtime or the frontend.
"""
