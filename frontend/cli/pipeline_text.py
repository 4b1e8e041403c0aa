"""theanir-opt's `--pass-pipeline` text: mlir-opt's syntax, with options for our passes.

The text is split at its top level (nested `func.func(...)` and option braces stay whole).
An element naming one of our passes, `name{key=value ...}`, becomes that pass and its
`Options` (passes/base.py converts each value to its field's type); every other element is
checked by MLIR's own pass parser. Errors are one line located in the pipeline text
(`--pass-pipeline:LINE:COL: error: ...`).
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import dataclass

from .errors import PIPELINE_FILE, UserError

@dataclass
class Element:
    """One top-level element of a pipeline: its text and its offset in the pipeline string."""

    text: str
    offset: int


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{PIPELINE_FILE}:{line}:{col}"


def _top_level_splits(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the comma-separated elements of text[start:end], brackets and quotes respected."""
    closing = {"(": ")", "{": "}", "[": "]"}
    stack: list[tuple[str, int]] = []
    spans, begin, quoted = [], start, False
    for i in range(start, end):
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif c in closing:
            stack.append((closing[c], i))
        elif c in ")}]":
            if not stack or stack[-1][0] != c:
                raise UserError(f"{_where(text, i)}: error: unbalanced '{c}' in the pass pipeline")
            stack.pop()
        elif c == "," and not stack:
            spans.append((begin, i))
            begin = i + 1
    if stack:
        at = stack[-1][1]
        raise UserError(f"{_where(text, at)}: error: unclosed '{text[at]}' in the pass pipeline")
    if quoted:
        raise UserError(f"{_where(text, end)}: error: unterminated string in the pass pipeline")
    return spans + [(begin, end)]


def split_pipeline(text: str) -> list[Element]:
    """`builtin.module(a,b{x=1},func.func(c))` -> [a, b{x=1}, func.func(c)] with offsets."""
    start, end = 0, len(text)
    m = re.match(r"\s*builtin\.module\s*\(", text)
    if m and text.rstrip().endswith(")"):
        spans = _top_level_splits(text, 0, len(text))
        if len(spans) == 1:  # the anchor encloses everything: look inside it
            start, end = m.end(), len(text.rstrip()) - 1
    if not text[start:end].strip():  # `builtin.module()`: no passes
        return []
    elements = []
    for a, b in _top_level_splits(text, start, end):
        raw = text[a:b]
        if not raw.strip():
            raise UserError(f"{_where(text, a)}: error: empty pass name in the pass pipeline")
        lead = len(raw) - len(raw.lstrip())
        elements.append(Element(raw.strip(), a + lead))
    return elements


def _pipeline_element(text: str, el: Element) -> tuple[str, object]:
    """(name, Options) for one of our passes (`name{key=value ...}`), or (text, None) for an
    element MLIR's pass parser accepts as upstream."""
    from theanir.passes.base import PassOptionError
    from theanir.passes.registry import lookup

    name = re.match(r"[^({\s]*", el.text).group(0)
    cls = lookup(name)
    if cls is None:
        error = _upstream_parse_error(el.text)
        if error is not None:
            raise _pipeline_error(text, el, error) from None
        return el.text, None
    rest = el.text[len(name):].strip()
    if rest and not (rest.startswith("{") and rest.endswith("}")):
        where = _where(text, el.offset + len(name))
        raise UserError(f"{where}: error: expected '{{key=value ...}}' after theanir pass '{name}'")
    try:
        return cls.NAME, cls.parse_options(_option_pairs(rest[1:-1] if rest else "", text, el.offset + len(name)))
    except PassOptionError as e:
        raise UserError(f"{_where(text, el.offset + len(name))}: error: {e}") from None


def _option_pairs(body: str, text: str, offset: int) -> dict[str, str]:
    """`fast-math=true entry=f` -> {"fast-math": "true", "entry": "f"} (quotes or braces keep
    spaces in a value, as in MLIR's option syntax)."""
    pairs: dict[str, str] = {}
    for m in re.finditer(r'\s*([^=\s]+)(?:=("[^"]*"|\{[^}]*\}|\S*))?', body):
        if not m.group(1):
            continue
        value = m.group(2)
        if value is None:  # a bare flag means true, as in MLIR
            value = "true"
        pairs[m.group(1)] = value[1:-1] if value[:1] in ('"', "{") else value
    return pairs


def _upstream_parse_error(element: str) -> str | None:
    """MLIR's complaint about one pipeline element, or None. LLVM's option parser writes part
    of it straight to fd 2, so that is collected too."""
    from mlir import passmanager

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buf:
        os.dup2(buf.fileno(), 2)
        try:
            passmanager.PassManager.parse(f"builtin.module({element})")
            error = None
        except ValueError as e:
            error = str(e)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        buf.seek(0)
        return None if error is None else error + "\n" + buf.read().decode(errors="replace")


def _pipeline_error(text: str, el: Element, message: str) -> UserError:
    from theanir.passes.registry import lookup

    m = re.search(r"Parser:(\d+):(\d+): error: (.*)", message)
    parts = [x.strip().lstrip(": ") for x in message.splitlines() if x.strip()]
    parts.sort(key=lambda x: not x.startswith("failed to add"))  # the headline first
    offset, detail = el.offset, ": ".join(parts) or "invalid pass pipeline element"
    if m:
        line, col, detail = int(m.group(1)), int(m.group(2)), m.group(3)
        lines = el.text.split("\n")
        offset = el.offset + sum(len(x) + 1 for x in lines[: line - 1]) + col - 1
    unknown = re.match(r"'(.*)' does not refer to a registered pass or pass pipeline", detail)
    if unknown and lookup(unknown.group(1)) is not None:
        detail = (f"theanir pass '{unknown.group(1)}' runs on the whole module: "
                  "put it directly in builtin.module(...)")
    elif unknown:
        detail = f"unknown pass '{unknown.group(1)}' (see --list-passes)"
    return UserError(f"{_where(text, offset)}: error: {detail}")
