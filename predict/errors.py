"""One exception type for bad input or setup; the CLI prints it as a one-line error and exits non-zero."""


class PredictError(Exception):
    """Bad input or setup (an unreadable image, a missing or altered model): str() is one line."""


class ModelFault(PredictError):
    """The model itself is unusable (not one input): the CLI stops at the first one."""
