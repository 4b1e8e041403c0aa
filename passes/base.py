"""What a pass is: a kebab-case `NAME`, a dataclass of typed `Options`, and `run`.

Each pass is one class in its own module (passes/optimize/, passes/lower/, passes/verify.py),
with its one-line doc as the class docstring's first paragraph. `passes/registry.py` finds
them by walking those modules; `passes/pipeline.py` names them in the stage table, and
derives their options from `CompileOptions` through `from_compile_options`. `theanir-opt`
sets options in mlir-opt's syntax, `tn-canonicalize{fast-math=true}`: option names are the
fields' names with `-` for `_`, and `parse_options` converts the text to the field's type.

    class Canonicalize(Pass):
        \"\"\"Always-valid rewrites to a fixed point.\"\"\"
        NAME = "tn-canonicalize"
        Options = CanonicalizeOptions          # @dataclass(frozen=True) fast_math: bool = False
        @classmethod
        def from_compile_options(cls, opts): return cls.Options(fast_math=opts.fast_math)
        @classmethod
        def run(cls, module_op, options): canonicalize(module_op, options.fast_math)
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from mlir import ir

from .options import CompileOptions


@dataclass(frozen=True)
class NoOptions:
    """The options of a pass that takes none."""


class PassOptionError(ValueError):
    """An option text a pass does not accept: names the pass, the option and the known ones."""


class Pass:
    """Base of every theanir pass; subclasses set NAME (and Options) and define `run`."""

    NAME: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> Any:
        """The options this pass runs with in a compile (default: the dataclass defaults)."""
        return cls.Options()

    @classmethod
    def run(cls, module_op: ir.Operation, options: Any) -> None:
        raise NotImplementedError(f"{cls.NAME}: run is not defined")

    @classmethod
    def doc(cls) -> str:
        """The docstring's first paragraph, on one line."""
        text = (cls.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(text.split())

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name.replace("_", "-") for f in dataclasses.fields(cls.Options)]

    @classmethod
    def parse_options(cls, values: dict[str, str]) -> Any:
        """Options from `{"fast-math": "true"}`, each converted to its field's type."""
        fields = {f.name.replace("_", "-"): f for f in dataclasses.fields(cls.Options)}
        hints = typing.get_type_hints(cls.Options)
        kwargs = {}
        for key, text in values.items():
            f = fields.get(key)
            if f is None and not fields:
                raise PassOptionError(f"theanir pass '{cls.NAME}' takes no options (got '{key}')")
            if f is None:
                raise PassOptionError(f"theanir pass '{cls.NAME}' has no option '{key}' "
                                      f"(its options: {', '.join(fields)})")
            try:
                kwargs[f.name] = convert(text, hints[f.name])
            except ValueError as e:
                raise PassOptionError(f"theanir pass '{cls.NAME}': option '{key}': {e}") from None
        return cls.Options(**kwargs)

    @classmethod
    def options_text(cls, options: Any) -> str:
        """`{fast-math=true}` for non-default options, "" when all are defaults."""
        default = cls.Options()
        parts = [f"{f.name.replace('_', '-')}={format_value(getattr(options, f.name))}"
                 for f in dataclasses.fields(options) if getattr(options, f.name) != getattr(default, f.name)]
        return "{" + " ".join(parts) + "}" if parts else ""


def format_value(value: Any) -> str:
    """An option value as pipeline text: true/false, comma lists, `i:j` pairs."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(":".join(map(format_value, v)) if isinstance(v, (list, tuple)) else format_value(v) for v in value)
    return str(value)


_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def convert(text: str, hint: Any, sep: str = ",") -> Any:
    """`text` as a value of type `hint`: bool, int, float, str, an Optional of one, or a tuple
    (comma-separated; a tuple of int pairs as `0:1,2:3`). Raises ValueError naming the type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in args if a is not type(None)]
        if text in ("", "none", "None") and type(None) in args:
            return None
        return convert(text, inner[0], sep)
    if origin is tuple:
        if not text:
            return ()
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(part, args[0], ":") for part in text.split(sep))
        parts = text.split(sep)
        if len(parts) != len(args):
            raise ValueError(f"expected {len(args)} values separated by '{sep}', got '{text}'")
        return tuple(convert(part, a) for part, a in zip(parts, args))
    if hint is bool:
        if text.lower() not in _BOOLS:
            raise ValueError(f"expected true or false, got '{text}'")
        return _BOOLS[text.lower()]
    if hint is int or hint is float or hint is str:
        try:
            return hint(text)
        except ValueError:
            raise ValueError(f"expected {hint.__name__}, got '{text}'") from None
    raise ValueError(f"cannot set an option of type {hint} from text")
