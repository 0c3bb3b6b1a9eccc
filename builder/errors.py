"""Build errors: one root class, one subclass per stage; the CLI prints `ERROR: <message>`."""
from __future__ import annotations


class BuildError(Exception):
    """Root of every failure the build reports to the user."""


class SourceError(BuildError):
    """The notebook to build cannot be found or read."""


class RequirementsError(BuildError):
    """The notebook's requirements are malformed, conflicting or cannot be installed."""


class InstallError(RequirementsError):
    """The installer could not install the notebook's requirements; failing: those its error names."""

    def __init__(self, message: str, failing: list | None = None):
        super().__init__(message)
        self.failing = failing or []


class NotebookError(BuildError):
    """A cell cannot be translated or compiled (magics, syntax)."""


class ExecutionError(BuildError):
    """A cell raised, or the notebook ran past its time limit."""


class ContractError(BuildError):
    """The executed notebook does not define what the service needs (predictor ...)."""


class SmokeTestError(BuildError):
    """The built model does not load or answer its example in a fresh process."""

    missing: str | None = None  # the top-level module it could not import, if that was why


class ImageError(BuildError):
    """A container image cannot be built."""
