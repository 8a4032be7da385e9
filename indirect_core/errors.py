"""Project exception types: every message names the file, parameter or value at fault and the fix."""


class IndirectError(Exception):
    """Base class for every error this package raises on purpose."""


class ConfigError(IndirectError, ValueError):
    """A parameter has a value the package cannot use (names the parameter and the allowed values)."""


class BackboneError(IndirectError):
    """A CLIP backbone cannot be loaded (names the model and where to put its weights)."""


class DatasetError(IndirectError):
    """A dataset folder, file or image is missing or unreadable (names the path and what to do)."""


class NotApplicableError(IndirectError):
    """A model cannot be fitted in this setting (e.g. PCA with fewer prompts than components).

    The experiment runner records NaN for it, as the paper's code did, and says why in the table notes.
    """
