"""What the artifact API's paths and parameters name: a tag or a digest, a repository inside its project,
the source of a copy. Pure rules (400 for anything else, before any lookup); no aiohttp, no SQL."""

from __future__ import annotations

from services.common.oci.digest import InvalidDigest, parse_digest
from services.common.oci.names import is_valid_name, is_valid_tag
from services.core.artifacts.models import ArtifactRef
from services.core.errors import BadRequest
from services.core.projects.models import ProjectView


def parse_reference(text: str) -> ArtifactRef:
    """A tag or a digest; anything else is a 400 (Harbor's rule), never a lookup."""
    if ":" in text:
        try:
            return ArtifactRef(digest=str(parse_digest(text)))
        except InvalidDigest:
            raise BadRequest(f"reference {text[:100]!r} is neither a tag nor a valid digest") from None
    if not is_valid_tag(text):
        raise BadRequest(f"reference {text[:100]!r} is neither a tag nor a valid digest")
    return ArtifactRef(tag=text)


def check_repository_path(path: str) -> str:
    """The repository's name inside its project, as the path gave it (once decoded): refused when it has
    empty or dot segments or anything the distribution grammar does not allow, so it can never name a
    repository of another project."""
    segments = path.split("/")
    if not path or any(s in ("", ".", "..") for s in segments):
        raise BadRequest("repository_name must be a path of non-empty segments without . or ..")
    if not is_valid_name(path):
        raise BadRequest(f"repository_name {path[:100]!r} is not a valid repository name")
    return path


def full_name(project: ProjectView, path: str) -> str:
    name = f"{project.name}/{path}"
    if not is_valid_name(name):
        raise BadRequest(f"repository name {name[:100]!r} is too long or not valid")
    return name


def parse_copy_source(text: str) -> tuple[str, str, ArtifactRef]:
    """Harbor's `from`: <project>/<repository>:<tag> or <project>/<repository>@<digest>."""
    if "@" in text:
        name, _, reference = text.partition("@")
        try:
            ref = ArtifactRef(digest=str(parse_digest(reference)))
        except InvalidDigest:
            raise BadRequest(f"from: {reference[:100]!r} is not a valid digest") from None
    else:
        name, sep, tag = text.rpartition(":")
        if not sep or "/" in tag or not is_valid_tag(tag):
            raise BadRequest("from must be <project>/<repository>:<tag> or <project>/<repository>@<digest>")
        ref = ArtifactRef(tag=tag)
    project, sep, path = name.partition("/")
    if not sep or not is_valid_name(name):
        raise BadRequest(f"from: {name[:100]!r} is not a repository name of the form <project>/<repository>")
    check_repository_path(path)
    return project, name, ref
