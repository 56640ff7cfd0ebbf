"""Failures of the repository and artifact API a client can see (Harbor's codes and envelope)."""

from __future__ import annotations

from services.common.errors import BerthError
from services.core.errors import NotFound


class RepositoryNotFound(NotFound):
    default_message = "repository not found"


class ArtifactNotFound(NotFound):
    default_message = "artifact not found"


class TagNotFound(NotFound):
    default_message = "tag not found"


class AdditionNotFound(NotFound):
    default_message = "addition not found"


class ArtifactReferenced(BerthError):
    """Harbor answers 412 when an index still names the artifact (its foreign-key violation code)."""

    code, status, default_message = "PRECONDITION", 412, "the artifact is referenced by an index"


class TagImmutable(BerthError):
    """Harbor's tag and artifact controllers refuse to delete or move a tag an immutable rule protects:
    errors.PreconditionCode (412), "the tag <name> configured as immutable, cannot be deleted"."""

    code, status, default_message = "PRECONDITION", 412, "the tag is configured as immutable"
