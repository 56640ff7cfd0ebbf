"""A registry endpoint as the service and the API see it, Harbor's rules for its fields, and what each
type of endpoint can do (Harbor's adapter infos)."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass, field

from cryptography import x509

from services.common.secret import Secret
from services.core.errors import NotFound
from services.core.listing import ListKeys

HARBOR = "harbor"
DOCKER_REGISTRY = "docker-registry"
# The types Berth can replicate with: a Harbor (or a Berth) and any OCI Distribution registry.
TYPES = (DOCKER_REGISTRY, HARBOR)
BASIC = "basic"
HEALTHY, UNHEALTHY, UNKNOWN = "healthy", "unhealthy", "unknown"
# Harbor's limits (the controller refuses a longer name; the description is Berth's bound).
MAX_NAME = 64
MAX_DESCRIPTION = 1024
MAX_URL = 2048
MAX_CREDENTIAL = 4096
MAX_CA = 65536
# The local registry's id in Harbor's replication APIs (GET /registries/0/info).
LOCAL_ID = 0
REGISTRY_LIST = ListKeys(
    filters={"name": "str", "type": "str", "url": "str", "status": "str"},
    sorts=frozenset({"id", "name", "type", "creation_time", "update_time"}),
)


class RegistryNotFound(NotFound):
    default_message = "registry not found"


@dataclass(frozen=True, slots=True)
class RegistryView:
    id: int
    name: str
    description: str
    type: str
    url: str
    insecure: bool
    ca_certificate: str
    credential_type: str
    access_key: str
    has_secret: bool
    status: str
    status_reason: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RegistryFields:
    """A whole endpoint as a create gives it, or as an update leaves it. `access_secret` None keeps the
    stored one (an update that does not name it, or names Harbor's mask)."""

    name: str
    url: str
    type: str
    description: str = ""
    insecure: bool = False
    ca_certificate: str = ""
    credential_type: str = ""
    access_key: str = ""
    access_secret: Secret | None = field(default=None)


@dataclass(frozen=True, slots=True)
class FilterStyle:
    type: str
    style: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    type: str
    description: str
    filters: tuple[FilterStyle, ...]
    triggers: tuple[str, ...]
    copy_by_chunk: bool


def normalize_url(text: str) -> str:
    """Harbor's ValidateHTTPURL: spaces and trailing slashes trimmed, http:// when no scheme is given;
    raises ValueError for anything but an http(s) URL with a host."""
    given = text.strip()
    url = given.rstrip("/")
    if not url:
        raise ValueError("url is required")
    if "://" not in given:
        url = "http://" + url
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"url {text[:200]!r} does not parse") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be an http or https URL with a host, not {text[:200]!r}")
    if parts.query or parts.fragment:
        raise ValueError("url must not have a query or a fragment")
    return url


def field_problem(fields: RegistryFields) -> str | None:
    """Why Harbor (or Berth) would refuse these fields; None when they are fine. The URL is checked by
    normalize_url beforehand."""
    if not fields.name.strip():
        return "name cannot be empty"
    if len(fields.name) > MAX_NAME:
        return f"the max length of name is {MAX_NAME}"
    if any(ord(c) < 32 or ord(c) == 127 for c in fields.name):
        return "name must not contain control characters"
    if len(fields.description) > MAX_DESCRIPTION:
        return f"description is too long: at most {MAX_DESCRIPTION} characters"
    if fields.type not in TYPES:
        return f"type must be one of {', '.join(TYPES)}, not {fields.type[:40]!r}"
    if len(fields.url) > MAX_URL:
        return f"url is too long: at most {MAX_URL} characters"
    if fields.credential_type not in ("", BASIC):
        return f"credential.type must be basic, not {fields.credential_type[:40]!r}"
    secret = fields.access_secret.reveal() if fields.access_secret is not None else ""
    if len(fields.access_key) > MAX_CREDENTIAL or len(secret) > MAX_CREDENTIAL:
        return f"access_key and access_secret must be at most {MAX_CREDENTIAL} characters"
    if secret and not fields.access_key:
        return "access_secret needs an access_key (the user name)"
    if fields.ca_certificate:
        if len(fields.ca_certificate) > MAX_CA:
            return f"ca_certificate is too long: at most {MAX_CA} characters"
        try:
            x509.load_pem_x509_certificates(fields.ca_certificate.encode())
        except ValueError:
            return "ca_certificate must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)"
    return None


def info_of(kind: str, labels: tuple[str, ...] = (), *, local: bool = False) -> RegistryInfo:
    """Harbor's RegistryInfo of an adapter, with its resource filter merged in as Harbor's controller
    does: Harbor-type endpoints filter by label (the given label names) and copy by chunk; only the
    local registry's policies can be triggered by events."""
    triggers = ("manual", "scheduled", "event_based") if local else ("manual", "scheduled")
    filters = [FilterStyle("name", "input"), FilterStyle("tag", "input")]
    if kind == HARBOR:
        filters.append(FilterStyle("label", "list", labels))
        resources: tuple[str, ...] = ("image", "artifact")
    else:
        resources = ("image",)
    filters.append(FilterStyle("resource", "radio", resources))
    return RegistryInfo(
        type=kind, description="", filters=tuple(filters), triggers=triggers, copy_by_chunk=kind == HARBOR
    )
