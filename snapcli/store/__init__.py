"""The versioned artifact store: the only code that touches workspace paths."""

from snapcli.store.artifact import Artifact
from snapcli.store.workspace import StageWriter, Workspace

__all__ = ["Artifact", "StageWriter", "Workspace"]
