"""Exception types of tabdiffusion; every user-facing error subclasses a builtin so generic handlers still work."""


class TabDiffusionError(Exception):
    """Base class of every error this library raises on purpose."""


class SchemaError(TabDiffusionError, ValueError):
    """The table or a column cannot be modelled as given (names the column and the fix)."""


class ParameterError(TabDiffusionError, ValueError):
    """An argument has a value the library cannot use (names the argument and the fix)."""


class NotFittedError(TabDiffusionError, RuntimeError):
    """A method that needs a fitted synthesizer was called before `fit`."""


class TrainingDivergedError(TabDiffusionError, RuntimeError):
    """Training produced a non-finite loss; the message names the step."""


class ModelFileError(TabDiffusionError, ValueError):
    """A model file is missing, truncated, modified, or from an incompatible version."""
