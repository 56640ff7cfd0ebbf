"""Schemathesis hooks for tests/e2e/test_api_fuzz.py (loaded by the CLI through SCHEMATHESIS_HOOKS).

The fuzzer runs as the admin against a stack of its own, so it may create and delete almost anything. What
it must not do is below, one rule each, with the reason: each one rewrites the generated request just
before it is sent (the rest of the request is still fuzzed) instead of leaving the operation out. Deleting
the admin (user 1) and revoking its administrator flag are left to the fuzzer: core refuses both (403).
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis import Case, HookContext

from services.common.identity.models import ADMIN_USER_ID

# The test's world as JSON (see `_world`).
KNOWN_ENV = "BERTH_TEST_FUZZ_WORLD"
# updateConfigurations keys the fuzzer must not set:
UNSAFE_CONFIGURATION_KEYS = (
    # read-only mode would turn every later write into a refusal: the rest of the run would test nothing.
    "read_only",
    # ldap_auth would send every other login (the users the fuzzer creates) to a directory.
    "auth_mode",
    # Core sends audit entries to this host:port: a generated address is a machine off this one.
    "audit_log_forward_endpoint",
    # Needs the endpoint above (a 400 otherwise); with it every audit entry would leave the database.
    "skip_audit_log_database",
)
# Every ldap_* key: LDAP searches, imports and logins would connect to a generated address.
UNSAFE_CONFIGURATION_PREFIX = "ldap_"
# A user id no generated user has, for the operations on the admin that must not happen.
NO_SUCH_USER = 2**31 - 1
# Nothing listens on port 1 here: the connection is refused at once.
CLOSED_LDAP_URL = "ldap://127.0.0.1:1"


def _operation_id(case: Case) -> str:
    return str(case.operation.definition.raw.get("operationId", ""))


@schemathesis.hook
def before_call(context: HookContext, case: Case, kwargs: dict[str, Any]) -> None:
    operation = _operation_id(case)
    if operation == "updateConfigurations" and isinstance(case.body, dict):
        case.body = {
            key: value
            for key, value in case.body.items()
            if key not in UNSAFE_CONFIGURATION_KEYS and not str(key).startswith(UNSAFE_CONFIGURATION_PREFIX)
        }
    elif operation == "pingLdap" and isinstance(case.body, dict):
        # Core connects to the ldap_url of the body: only ever to a closed port on this machine (without
        # one it pings the configured directory, which the rule above keeps unconfigured).
        case.body = {**case.body, "ldap_url": CLOSED_LDAP_URL}
    elif operation == "updateUserPassword" and str((case.path_parameters or {}).get("user_id")) == str(ADMIN_USER_ID):
        # A new admin password would make every later request of the run a 401.
        case.path_parameters["user_id"] = NO_SUCH_USER


def _world() -> tuple[dict[str, list[Any]], dict[str, dict[str, list[Any]]]]:
    loaded = json.loads(os.environ.get(KNOWN_ENV) or "{}")
    return dict(loaded.get("known", {})), dict(loaded.get("delete", {}))


# `known`: {path parameter name: values naming something that exists}; `delete`: {path suffix: the values a
# DELETE whose path ends so uses instead, naming something made for it alone}.
KNOWN, DELETE = _world()


def _values_for(context: HookContext) -> dict[str, list[Any]]:
    operation = context.operation
    if operation is None or operation.method.upper() != "DELETE":
        return KNOWN
    for suffix, values in DELETE.items():
        if operation.path.endswith(suffix):
            return {**KNOWN, **values}
    return KNOWN


@schemathesis.hook
def flatmap_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """The generated path as it is (a third of the time), or with every parameter the world has values for
    naming something that exists (so that nested resources are found: project, repository and reference
    together)."""
    values = _values_for(context)
    # None: a negative case whose path parameters are missing altogether (left as schemathesis made them).
    names = [name for name in path_parameters or {} if values.get(name)]
    if not names:
        return st.just(path_parameters)
    known = st.fixed_dictionaries({name: st.sampled_from(values[name]) for name in names}).map(
        lambda chosen: {**(path_parameters or {}), **chosen}
    )
    return st.one_of(st.just(path_parameters), known, known)
