"""Project exceptions. Each message says what was wrong and what to do."""


class RecsysError(Exception):
    """Base class of every error this project raises on purpose."""


class InputError(RecsysError):
    """A source, path or option given by the user cannot be used."""


class NotFittedError(RecsysError):
    """A model was asked to recommend or save before `fit`."""


class ArtifactError(RecsysError):
    """A saved model or registry entry is missing, corrupt or of another kind."""


class DamagedSourceError(InputError):
    """A source file is damaged part-way (a cut or corrupt gzip stream, an unreadable Parquet row group).

    Rows before the damage have been read; `offset` is the byte of the file where reading stopped (None where the
    format has no such notion).
    """

    def __init__(self, message: str, *, path: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset
