"""THE pass registry: every theanir pass by its kebab-case name, collected from the modules.

A pass is a `Pass` subclass (passes/base.py) in a module of `passes/optimize/`,
`passes/lower/` or `passes/verify.py`; this module imports those modules and registers each
subclass defined there under its `NAME`, so adding a pass is adding its module (and its
FileCheck test `tests/passes/<NAME>.mlir`, which tests/passes/test_filecheck.py demands).
Upstream passes are not listed: any name MLIR's own pass parser accepts is an upstream pass.

    from theanir.passes.registry import lookup
    cls = lookup("tn-canonicalize")
    cls.run(module.operation, cls.Options(fast_math=True))
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

from .base import Pass

PACKAGES = ("theanir.passes.optimize", "theanir.passes.lower")
MODULES = ("theanir.passes.verify",)

PASSES: dict[str, type[Pass]] = {}
ALIASES: dict[str, str] = {"tn-to-linalg": "convert-tn-to-linalg"}


def _modules() -> list[str]:
    names = list(MODULES)
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")]
    return sorted(names)


def register(cls: type[Pass]) -> type[Pass]:
    if not cls.NAME or cls.NAME != cls.NAME.lower() or "_" in cls.NAME:
        raise ValueError(f"{cls.__module__}.{cls.__qualname__}: NAME must be kebab-case, got {cls.NAME!r}")
    other = PASSES.get(cls.NAME)
    if (other is not None and other is not cls) or cls.NAME in ALIASES:
        raise ValueError(f"pass {cls.NAME!r} is registered twice ({cls.__module__}, "
                         f"{getattr(other, '__module__', 'an alias')})")
    PASSES[cls.NAME] = cls
    return cls


def _collect() -> None:
    for name in _modules():
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Pass) and obj is not Pass and obj.__module__ == name:
                register(obj)


_collect()
PASSES = dict(sorted(PASSES.items()))


def lookup(name: str) -> type[Pass] | None:
    """The registered pass called `name` (or one of its aliases), else None."""
    return PASSES.get(ALIASES.get(name, name))
