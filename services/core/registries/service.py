"""Registry endpoint rules, as Harbor's registry controller: the system administrator (or a system robot
granted `registry`) manages them; an endpoint is stored only once it answers as its type says (Harbor's
"the registry is unhealthy", here with the reason); the password is encrypted with the secret key file
and never shown again (Harbor's mask instead). A regular health check keeps each endpoint's status, and
the reason of an unhealthy one, current. No aiohttp here."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.rbac import Action
from services.common.remote.client import RemoteEndpoint
from services.common.secret import Secret
from services.common.secret_key import SecretKeyError, SecretKeyFile
from services.core.errors import BadRequest
from services.core.labels import store as label_store
from services.core.listing import Page, SortKey, Term
from services.core.registries import store
from services.core.registries.models import (
    BASIC,
    HARBOR,
    HEALTHY,
    LOCAL_ID,
    TYPES,
    UNHEALTHY,
    RegistryFields,
    RegistryInfo,
    RegistryNotFound,
    RegistryView,
    field_problem,
    info_of,
    normalize_url,
)
from services.core.security.access import require_system

log = structlog.get_logger()

RESOURCE = "registry"
ADAPTER_RESOURCE = "replication-adapter"


class EndpointProbe(Protocol):
    """What core asks of a remote endpoint (services/core/registries/probe.py talks to it)."""

    async def health(self, kind: str, endpoint: RemoteEndpoint) -> str | None:
        """None when the endpoint answers as a registry of type `kind` with these credentials; else why
        not, in one line an operator can act on."""
        ...

    async def labels(self, endpoint: RemoteEndpoint) -> tuple[str, ...]:
        """The global label names of a Harbor-type endpoint (its label filter's values); () when it lists
        none or cannot be asked."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class RegistryChange:
    """Harbor's RegistryUpdate (and RegistryPing): each field given replaces the stored one."""

    name: str | None = None
    description: str | None = None
    url: str | None = None
    type: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    access_secret: Secret | None = None


def _missing(registry_id: int) -> RegistryNotFound:
    return RegistryNotFound(f"registry {registry_id} not found")


class RegistryService:
    def __init__(self, db: Database, key: SecretKeyFile, probe: EndpointProbe) -> None:
        self._db = db
        self._key = key
        self._probe = probe

    # --- reads ----------------------------------------------------------------------------------------

    async def list(
        self, principal: Principal, name: str | None, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
    ) -> tuple[list[RegistryView], int]:
        require_system(principal, RESOURCE, Action.LIST, "list registries")
        return await store.list_registries(self._db.pool, name, terms, sort, page)

    async def get(self, principal: Principal, registry_id: int) -> RegistryView:
        require_system(principal, RESOURCE, Action.READ, "read registries")
        found = await store.registry(self._db.pool, registry_id)
        if found is None:
            raise _missing(registry_id)
        return found[0]

    async def info(self, principal: Principal, registry_id: int) -> RegistryInfo:
        require_system(principal, RESOURCE, Action.READ, "read registries")
        if registry_id == LOCAL_ID:
            local = await label_store.global_label_names(self._db.pool)
            return info_of(HARBOR, tuple(local), local=True)
        found = await store.registry(self._db.pool, registry_id)
        if found is None:
            raise _missing(registry_id)
        view, ciphertext = found
        labels = await self._probe.labels(self._endpoint(view, ciphertext)) if view.type == HARBOR else ()
        return info_of(view.type, labels)

    def adapters(self, principal: Principal) -> tuple[str, ...]:
        require_system(principal, ADAPTER_RESOURCE, Action.LIST, "list replication adapters")
        return TYPES

    # --- changes --------------------------------------------------------------------------------------

    async def create(self, principal: Principal, fields: RegistryFields) -> RegistryView:
        require_system(principal, RESOURCE, Action.CREATE, "create registries")
        fields = self._checked(fields)
        await self._require_healthy(fields, fields.access_secret)
        created = await store.create_registry(self._db.pool, fields, self._encrypt(fields.access_secret), HEALTHY)
        log.info("registry_created", registry_id=created.id, type=created.type, url=created.url, by=principal.name)
        return created

    async def update(self, principal: Principal, registry_id: int, change: RegistryChange) -> RegistryView:
        require_system(principal, RESOURCE, Action.UPDATE, "update registries")
        found = await store.registry(self._db.pool, registry_id)
        if found is None:
            raise _missing(registry_id)
        view, ciphertext = found
        fields = self._checked(_apply(_fields_of(view), change))
        secret = fields.access_secret if fields.access_secret is not None else self._decrypt(ciphertext)
        if not fields.access_key:
            secret = None  # Harbor keeps a password only with its user name
        await self._require_healthy(fields, secret)
        updated = await store.update_registry(self._db.pool, registry_id, fields, self._encrypt(secret), HEALTHY)
        if updated is None:
            raise _missing(registry_id)
        log.info("registry_updated", registry_id=registry_id, type=updated.type, url=updated.url, by=principal.name)
        return updated

    async def delete(self, principal: Principal, registry_id: int) -> None:
        require_system(principal, RESOURCE, Action.DELETE, "delete registries")
        # A policy naming it makes the delete a 412 (migration 0022's foreign keys).
        deleted = await store.delete_registry(self._db.pool, registry_id)
        if deleted is None:
            raise _missing(registry_id)
        log.info("registry_deleted", registry_id=registry_id, name=deleted.name, by=principal.name)

    async def ping(self, principal: Principal, registry_id: int | None, change: RegistryChange) -> None:
        """Harbor's POST /registries/ping: a stored endpoint (by id) with the given fields over it, or the
        given fields alone; a 400 with the reason unless it answers."""
        require_system(principal, RESOURCE, Action.READ, "ping registries")
        secret: Secret | None = None
        if registry_id is not None:
            found = await store.registry(self._db.pool, registry_id)
            if found is None:
                raise _missing(registry_id)
            view, ciphertext = found
            base = _fields_of(view)
            secret = self._decrypt(ciphertext)
        else:
            if not change.type or not change.url:
                raise BadRequest("type or url cannot be empty")
            base = RegistryFields(name="ping", url="", type="")
        fields = _apply(base, change)
        if change.access_secret is not None:
            secret = change.access_secret
        await self._require_healthy(self._checked(fields), secret)

    async def check_all(self) -> int:
        """The regular health check: every endpoint probed, its status (and reason) stored when it
        changed. The number of endpoints whose status changed."""
        changed = 0
        for view, ciphertext in await store.all_registries(self._db.pool):
            try:
                reason = await self._probe.health(view.type, self._endpoint(view, ciphertext))
            except Exception as exc:  # one endpoint's trouble must not stop the others' checks
                reason = f"the health check failed: {exc}"
            status = HEALTHY if reason is None else UNHEALTHY
            if status != view.status or (reason or "") != view.status_reason:
                await store.set_status(self._db.pool, view.id, status, reason or "")
                changed += 1
                log.info("registry_health_changed", registry_id=view.id, status=status, reason=reason or "")
        return changed

    # --- helpers --------------------------------------------------------------------------------------

    @staticmethod
    def _checked(fields: RegistryFields) -> RegistryFields:
        try:
            fields = dataclasses.replace(fields, url=normalize_url(fields.url))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if problem := field_problem(fields):
            raise BadRequest(problem)
        if fields.access_key and not fields.credential_type:
            fields = dataclasses.replace(fields, credential_type=BASIC)
        if not fields.access_key:
            fields = dataclasses.replace(fields, credential_type="", access_secret=None)
        return fields

    async def _require_healthy(self, fields: RegistryFields, secret: Secret | None) -> None:
        endpoint = RemoteEndpoint(
            url=fields.url,
            username=fields.access_key,
            password=secret or Secret(""),
            insecure=fields.insecure,
            ca_certificate=fields.ca_certificate,
        )
        reason = await self._probe.health(fields.type, endpoint)
        if reason is not None:
            raise BadRequest(f"the registry is unhealthy: {reason}")

    def _endpoint(self, view: RegistryView, ciphertext: str) -> RemoteEndpoint:
        return RemoteEndpoint(
            url=view.url,
            username=view.access_key,
            password=self._decrypt(ciphertext) or Secret(""),
            insecure=view.insecure,
            ca_certificate=view.ca_certificate,
        )

    def _encrypt(self, secret: Secret | None) -> str:
        return self._key.encrypt(secret.reveal()) if secret else ""

    def _decrypt(self, ciphertext: str) -> Secret | None:
        if not ciphertext:
            return None
        try:
            return Secret(self._key.decrypt(ciphertext))
        except SecretKeyError as exc:
            # Entering the password again (PUT with access_secret) mends it.
            raise BadRequest(str(exc)) from None


def _fields_of(view: RegistryView) -> RegistryFields:
    return RegistryFields(
        name=view.name,
        url=view.url,
        type=view.type,
        description=view.description,
        insecure=view.insecure,
        ca_certificate=view.ca_certificate,
        credential_type=view.credential_type,
        access_key=view.access_key,
    )


def _apply(fields: RegistryFields, change: RegistryChange) -> RegistryFields:
    given = {f.name: getattr(change, f.name) for f in dataclasses.fields(change)}
    return dataclasses.replace(fields, **{k: v for k, v in given.items() if v is not None})
