"""What every part of theanir-opt shares: its name and the one-line error it exits with."""
from __future__ import annotations

PROG = "theanir-opt"
PIPELINE_FILE = "--pass-pipeline"  # the "file" named in locations inside pipeline text


class UserError(Exception):
    """A one-line error for the user; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code
