"""One exception type for bad user input, so CLIs can print it as a one-line error."""


class DataError(ValueError):
    """Input data (a CSV, a votes file, an image folder) is malformed; the message names file and row."""
