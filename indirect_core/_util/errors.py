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


class UnreadableImageError(DatasetError):
    """An image file cannot be decoded; ``reason`` says why in a few words (listed where files are skipped)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {path}: {reason}. Fix or remove the file")

    def __reduce__(self) -> tuple:
        return type(self), (self.path, self.reason)
