"""Project exceptions. Each message says what was wrong and what to do."""


class RecsysError(Exception):
    """Base class of every error this project raises on purpose."""


class InputError(RecsysError):
    """A source, path or option given by the user cannot be used."""


class NotFittedError(RecsysError):
    """A model was asked to recommend or save before `fit`."""


class ArtifactError(RecsysError):
    """A saved model or registry entry is missing, corrupt or of another kind."""
