"""Rebuild `berth-api.yaml` from Harbor's spec and core's router (a developer's tool; nothing runs it at run time).

    .venv/bin/python -m services.core.spec_generator [--harbor ../shared/reference/harbor-api-v2.0-swagger.yaml]
    .venv/bin/python -m services.core.spec_generator --check    # exit 1 when the checked-in file differs

Every operation core's router serves under /api/v2.0 is taken from Harbor's spec as it is there (same
operationId, parameters, responses) with every definition, parameter and response it refers to; the
operations Harbor lacks are Berth's own (`BERTH_OPERATIONS`). Then `DIFFERENCES` are applied: where Berth
deliberately sends something else than Harbor's schema says, the spec says what Berth sends, and the
document's description lists each difference.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from services.common.settings import Settings
from services.core.api.common import API
from services.core.api.spec import HTTP_METHODS, SPEC_PATH, SWAGGER_JSON, operation_key, router_operations
from services.core.app import create_app  # the whole app, only to read its route table

HARBOR_SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference" / "harbor-api-v2.0-swagger.yaml"

HEADER = """\
# Berth's REST API under /api/v2.0, in Harbor's words (Swagger 2.0). Generated: do not edit by hand.
# Rebuild with `python -m services.core.spec_generator` (Harbor's spec and core's router in, this file out);
# Berth's own operations and its deliberate differences from Harbor are in that module.
"""

DESCRIPTION = """\
Berth's REST API: every operation core serves under /api/v2.0, taken from Harbor's API spec (v2.0) where
Harbor has the operation (same operationId, parameters, responses and definitions), so that tools written for
Harbor work against Berth. Operations Harbor lacks: {own}.
"""

# Operations Harbor's spec does not describe: {path (under basePath): {method: operation}}.
BERTH_OPERATIONS: dict[str, dict[str, Any]] = {
    SWAGGER_JSON.removeprefix(API): {
        "get": {
            "summary": "This document",
            "description": "Berth's API spec as JSON (Swagger 2.0). This path does not require authentication.",
            "tags": ["spec"],
            "operationId": "getSwagger",
            "security": [{}],
            "responses": {
                "200": {"description": "The spec", "schema": {"type": "object"}},
                "500": {"$ref": "#/responses/500"},
            },
        }
    },
    "/projects/{project_name_or_id}/webhook/policies/test": {
        "post": {
            "summary": "Test a webhook policy's targets",
            "description": "POSTs a test body (type TEST_WEBHOOK; Slack: a text message) to each target now, through"
            " the SSRF guard, as Harbor 2.0's endpoint test did; 400 with the reason when one does not answer 2xx."
            " The policy's name and event types may be left out.",
            "tags": ["webhook"],
            "operationId": "TestWebhookPolicyOfProject",
            "parameters": [
                {"$ref": "#/parameters/requestId"},
                {"$ref": "#/parameters/isResourceName"},
                {"$ref": "#/parameters/projectNameOrId"},
                {"name": "policy", "in": "body", "required": True, "schema": {"$ref": "#/definitions/WebhookPolicy"}},
            ],
            "responses": {
                "200": {"description": "Every target answered 2xx."},
                "400": {"$ref": "#/responses/400"},
                "401": {"$ref": "#/responses/401"},
                "403": {"$ref": "#/responses/403"},
                "404": {"$ref": "#/responses/404"},
                "500": {"$ref": "#/responses/500"},
            },
        }
    },
}


Spec = dict[str, Any]


def operation(spec: Spec, operation_id: str) -> dict[str, Any]:
    for item in spec["paths"].values():
        for method, op in item.items():
            if method in HTTP_METHODS and op.get("operationId") == operation_id:
                return op  # type: ignore[no-any-return]
    raise KeyError(operation_id)


def _any_extra_attrs(spec: Spec) -> None:
    spec["definitions"]["ExtraAttrs"]["additionalProperties"] = {}


def _addition_content(spec: Spec) -> None:
    op = operation(spec, "getAddition")
    op["produces"] = ["application/json", "text/markdown", "text/plain"]
    op["responses"]["200"].pop("schema", None)


def _integer_retention_params(spec: Spec) -> None:
    spec["definitions"]["RetentionRule"]["properties"]["params"]["additionalProperties"] = {"type": "integer"}


def _webhook_target_secrets(spec: Spec) -> None:
    target = spec["definitions"]["WebhookTargetObject"]["properties"]
    target["auth_header"]["description"] = (
        'The webhook auth header, sent as the Authorization header. Shown as ***** when set ("" when not);'
        ' ***** sent back keeps it, "" removes it.'
    )
    target["signing_secret"] = {
        "type": "string",
        "description": "Berth's: the key of each request's X-Berth-Signature (HMAC-SHA256 of"
        ' "<X-Berth-Timestamp>.<body>"). Shown and kept as auth_header is.',
    }


# (what Berth sends where Harbor's schema says otherwise, and why; the change to the spec)
DIFFERENCES: list[tuple[str, Callable[[Spec], None]]] = [
    (
        "ExtraAttrs (an artifact's extra_attrs) holds any JSON value, as Harbor itself sends: strings such as"
        " `architecture` and `os`, the image config's `config` object, a chart's `name` and `version`"
        " (Harbor's schema says every value is an object).",
        _any_extra_attrs,
    ),
    (
        "getAddition answers the addition as it is, with its own content type, as Harbor's handler does: JSON for"
        " `build_history` and `dependencies`, Markdown for `readme.md`, text for `values.yaml` (Harbor's schema"
        " says a JSON string).",
        _addition_content,
    ),
    (
        'RetentionRule.params holds the template\'s number, as Harbor itself sends and takes (`{"latestPushedK":'
        " 10}`; Harbor's schema says every value is an object).",
        _integer_retention_params,
    ),
    (
        "WebhookTargetObject has Berth's `signing_secret` (each delivery signed with it), and shows it and"
        " `auth_header` as `*****`, never in clear (Harbor shows the auth header as stored).",
        _webhook_target_secrets,
    ),
]


def served(harbor: Spec) -> Spec:
    """The operations core's router serves, from Harbor's spec (or Berth's own), in Harbor's path order."""
    if not SPEC_PATH.is_file():
        # The first run: the app serves the file, so it must exist before the app can be built.
        SPEC_PATH.write_text(yaml.safe_dump({"swagger": "2.0", "paths": {}}))
    wanted = router_operations(create_app(Settings()).router.routes())
    paths: dict[str, dict[str, Any]] = {}
    for path, item in [*harbor["paths"].items(), *BERTH_OPERATIONS.items()]:
        for method, operation in item.items():
            key = operation_key(method, API + path)
            if method in HTTP_METHODS and key in wanted:
                paths.setdefault(path, {})[method] = copy.deepcopy(operation)
                wanted.discard(key)
    if wanted:
        missing = ", ".join(f"{m} {p}" for m, p in sorted(wanted, key=lambda k: (k[1], k[0])))
        raise SystemExit(f"core serves operations neither Harbor's spec nor BERTH_OPERATIONS has: {missing}")
    return paths


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def referenced(harbor: Spec, paths: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Harbor's definitions, parameters and responses these paths refer to, directly or through others."""
    kept: dict[str, dict[str, Any]] = {"parameters": {}, "responses": {}, "definitions": {}}
    todo = list(refs(paths))
    while todo:
        ref = todo.pop()
        section, name = ref.removeprefix("#/").split("/", 1)
        if name in kept[section]:
            continue
        kept[section][name] = copy.deepcopy(harbor[section][name])
        todo.extend(refs(kept[section][name]))
    return {section: dict(sorted(items.items())) for section, items in kept.items()}


def build(harbor: Spec) -> Spec:
    paths = served(harbor)
    own = ", ".join(
        f"{m.upper()} {p}" for p, item in BERTH_OPERATIONS.items() for m in item if p in paths and m in paths[p]
    )
    spec: Spec = {
        "swagger": "2.0",
        "info": {"title": "Berth API", "description": DESCRIPTION.format(own=own or "none"), "version": "2.0"},
        # No host or schemes: clients (the UI's API explorer, the fuzz test) use the address they reached.
        "basePath": harbor["basePath"],
        "produces": harbor["produces"],
        "consumes": harbor["consumes"],
        "securityDefinitions": harbor["securityDefinitions"],
        "security": harbor["security"],
        "paths": paths,
        **referenced(harbor, paths),
    }
    if DIFFERENCES:
        spec["info"]["description"] += "\nWhere Berth deliberately differs from Harbor's schemas:\n" + "".join(
            f"- {why}\n" for why, _ in DIFFERENCES
        )
    for _, change in DIFFERENCES:
        change(spec)
    # A difference may have dropped the last use of a definition.
    spec.update(referenced(spec, paths))
    return spec


def _text(dumper: Any, value: str) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


# The safe dumper with multi-line text as a literal block, so the description reads as it is written here.
_Dumper: Any = type("_Dumper", (yaml.SafeDumper,), {})
_Dumper.add_representer(str, _text)


def render(spec: Spec) -> str:
    return HEADER + str(yaml.dump(spec, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--harbor", type=Path, default=HARBOR_SPEC, help="Harbor's swagger.yaml")
    parser.add_argument("--output", type=Path, default=SPEC_PATH)
    parser.add_argument("--check", action="store_true", help="only compare with --output; exit 1 if it differs")
    args = parser.parse_args(argv)
    text = render(build(yaml.safe_load(args.harbor.read_text())))
    if args.check:
        same = args.output.is_file() and args.output.read_text() == text
        print(f"{args.output}: {'up to date' if same else 'differs from what the generator makes'}")
        return 0 if same else 1
    args.output.write_text(text)
    count = sum(1 for item in yaml.safe_load(text)["paths"].values() for m in item if m in HTTP_METHODS)
    print(f"{args.output}: {count} operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
