"""Errors the CLI prints as one line (no traceback)."""
from __future__ import annotations


class ConvertError(RuntimeError):
    """Bad input (checkpoint, output path, model directory) or a conversion step that failed."""


class GateFailed(RuntimeError):
    """The parity gate did not pass; carries the report so the CLI can print the table."""

    def __init__(self, report, message: str):
        super().__init__(message)
        self.report = report
