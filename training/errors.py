"""The training side's error types for bad user input, so CLIs can print them as a one-line error.

They are ValueErrors (callers that catch ValueError still do); CLIs catch these types, not ValueError,
so a bug that raises a plain ValueError keeps its traceback.
"""


class TrainingError(ValueError):
    """A run cannot start or go on for a reason the user can fix; the message says which and how."""


class DataError(TrainingError):
    """Input data (a CSV, a votes file, an image folder) is malformed; the message names file and row."""


class OptionError(TrainingError):
    """An option value no run can use (--batch-size 0, --hparams a model cannot be built with, ...)."""
