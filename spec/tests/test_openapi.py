"""spec/openapi.yaml: it covers the whole HTTP surface, keeps the conventions every operation must
follow (Idempotency-Key on POST, problem+json errors, examples, unique operationIds), every `$ref`
resolves into the schema files, and every example in it validates against its schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).resolve().parent.parent
OPENAPI_PATH = SPEC_DIR / "openapi.yaml"
OPENAPI_URI = "https://saferefer.org/spec/v0.1/openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PROBLEM = "application/problem+json"
# The HTTP surface the design fixes: (method, path).
SURFACE = {
    ("get", "/.well-known/saferefer"), ("post", "/oauth/token"), ("get", "/jwks.json"),
    ("get", "/v1/organisations"), ("get", "/v1/organisations/{org_id}"),
    ("post", "/v1/consents"), ("get", "/v1/consents"), ("get", "/v1/consents/{consent_id}"),
    ("post", "/v1/consents/{consent_id}/withdraw"), ("get", "/v1/consents/{consent_id}/receipt"),
    ("post", "/v1/referrals"), ("get", "/v1/referrals"), ("get", "/v1/referrals/{referral_id}"),
    ("get", "/v1/referrals/{referral_id}/transitions"),
    ("post", "/v1/referrals/{referral_id}/transitions"),
    ("post", "/v1/referrals/{referral_id}/erasure-acknowledgements"),
    ("post", "/v1/policy/decisions"), ("get", "/v1/events"),
    ("post", "/v1/subscriptions"), ("get", "/v1/subscriptions"),
    ("get", "/v1/subscriptions/{subscription_id}"),
    ("delete", "/v1/subscriptions/{subscription_id}"),
    ("get", "/v1/subscriptions/{subscription_id}/deliveries"),
    ("get", "/v1/audit"), ("get", "/v1/audit/verify"), ("get", "/v1/statistics"),
    ("post", "/federation/v1/messages"), ("get", "/federation/v1/trust-list"),
    ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"),
    ("get", "/openapi.json"), ("get", "/openapi.yaml"),
}  # fmt: skip
PUBLIC = {
    "/.well-known/saferefer", "/oauth/token", "/jwks.json", "/federation/v1/messages",
    "/federation/v1/trust-list", "/healthz", "/readyz", "/metrics", "/openapi.json",
    "/openapi.yaml",
}  # fmt: skip


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for section in ("paths", "webhooks"):
        for path, item in document.get(section, {}).items():
            for method in METHODS:
                if method in item:
                    found.append((method, path, item[method]))
    return found


def _registry(document: dict[str, Any]) -> Registry[Any]:
    """The OpenAPI document and every schema file, each under the URI it is referenced by."""
    resources = [(OPENAPI_URI, Resource.from_contents(document, default_specification=DRAFT202012))]
    for path in sorted((SPEC_DIR / "schemas").glob("*.schema.json")):
        schema = yaml.safe_load(path.read_text(encoding="utf-8"))
        resources.append(
            (urljoin(OPENAPI_URI, f"schemas/{path.name}"), Resource.from_contents(schema))
        )
    return Registry().with_resources(resources)  # type: ignore[arg-type]


def _deref(document: dict[str, Any], node: Any) -> Any:
    """Follow local `#/components/...` references (one hop at a time) to the object they name."""
    while isinstance(node, dict) and str(node.get("$ref", "")).startswith("#/"):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _walk(node: Any, pointer: str = "") -> Any:
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{index}")


def test_openapi_is_3_1_with_the_2020_12_dialect(openapi: dict[str, Any]) -> None:
    assert openapi["openapi"].startswith("3.1.")
    assert openapi["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"


def test_openapi_covers_the_http_surface(openapi: dict[str, Any]) -> None:
    present = {(method, path) for method, path, _ in _operations(openapi) if path.startswith("/")}
    assert sorted(SURFACE - present) == []
    assert "saferefer-event" in openapi["webhooks"]


def test_operation_ids_are_unique_and_camel_case(openapi: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(openapi)]
    assert len(ids) == len(set(ids))
    assert all(i[0].islower() and i.isalnum() for i in ids), ids


def test_every_post_accepts_an_idempotency_key(openapi: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(openapi):
        if method != "post" or not path.startswith("/"):
            continue
        names = {_deref(openapi, p)["name"] for p in operation.get("parameters", [])}
        if "Idempotency-Key" not in names:
            missing.append(path)
    assert missing == []
    parameter = openapi["components"]["parameters"]["IdempotencyKey"]
    assert parameter["in"] == "header"


def test_every_error_response_is_problem_json(openapi: dict[str, Any]) -> None:
    problem_ref = "#/components/schemas/Problem"
    wrong = []
    for method, path, operation in _operations(openapi):
        if not path.startswith("/"):
            continue
        for status, response in operation["responses"].items():
            if str(status)[0] not in "45":
                continue
            content = _deref(openapi, response).get("content", {})
            if path == "/readyz" and status == "503":
                continue  # readiness answers with the health document, so probes read one format
            if list(content) != [PROBLEM] or content[PROBLEM]["schema"] != {"$ref": problem_ref}:
                wrong.append(f"{method} {path} {status}")
    assert wrong == []
    assert openapi["components"]["schemas"]["Problem"] == {"$ref": "schemas/problem.schema.json"}


def test_every_operation_documents_rate_limiting_and_internal_errors(
    openapi: dict[str, Any],
) -> None:
    missing = [
        f"{method} {path}"
        for method, path, operation in _operations(openapi)
        if path.startswith("/") and not {"429", "500"} <= set(operation["responses"])
    ]
    assert missing == []


def test_authenticated_operations_document_401_and_403(openapi: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(openapi):
        if not path.startswith("/"):
            continue
        public = operation.get("security", openapi["security"]) == []
        assert public == (path in PUBLIC), f"{method} {path}: security does not match the design"
        if not public and not {"401", "403"} <= set(operation["responses"]):
            missing.append(f"{method} {path}")
    assert missing == []


def test_every_operation_has_examples(openapi: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(openapi):
        request = _deref(openapi, operation.get("requestBody"))
        if request and not all(media.get("examples") for media in request["content"].values()):
            missing.append(f"{method} {path} request")
        successes = [
            _deref(openapi, r) for s, r in operation["responses"].items() if str(s).startswith("2")
        ]
        with_content = [r for r in successes if r.get("content")]
        if path.startswith("/") and method != "delete" and not with_content:
            missing.append(f"{method} {path} has no success content")
        for response in with_content:
            if not all(media.get("examples") for media in response["content"].values()):
                missing.append(f"{method} {path} response")
    assert missing == []


def test_every_ref_resolves(openapi: dict[str, Any]) -> None:
    resolver = _registry(openapi).resolver(OPENAPI_URI)
    refs = [
        node["$ref"]
        for _, node in _walk(openapi)
        if isinstance(node, dict) and isinstance(node.get("$ref"), str)
    ]
    assert refs
    for ref in refs:
        resolver.lookup(ref)  # raises on a dangling reference


def test_components_refer_to_the_schema_files(openapi: dict[str, Any]) -> None:
    """Single source: named schemas are plain references to schemas/ files, never copies."""
    schemas = openapi["components"]["schemas"]
    for name, schema in schemas.items():
        if name.endswith("Page"):
            continue
        assert set(schema) == {"$ref"}, name
        assert schema["$ref"].startswith("schemas/"), name
    inline = [
        pointer
        for pointer, node in _walk(openapi["paths"])
        if isinstance(node, dict)
        and "properties" in node
        and pointer.endswith("/schema")
        and "x-www-form-urlencoded" not in pointer
    ]
    assert inline == []


def _media_examples(openapi: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    found = []
    for pointer, node in _walk(openapi):
        if not (isinstance(node, dict) and "schema" in node and "examples" in node):
            continue
        if "/parameters/" in pointer:
            continue
        for name, example in node["examples"].items():
            found.append(
                (f"{pointer}/examples/{name}", node["schema"], _deref(openapi, example)["value"])
            )
    return found


def test_every_example_in_the_openapi_document_validates(openapi: dict[str, Any]) -> None:
    registry = _registry(openapi)
    examples = _media_examples(openapi)
    assert len(examples) > 40
    failures = []
    for pointer, schema, value in examples:
        if isinstance(schema, dict) and schema.get("type") == "string":
            continue  # text/plain metrics
        # Inline schemas are validated in place (by pointer), so their refs resolve as in the file.
        target = (
            schema["$ref"]
            if "$ref" in schema
            else "#" + pointer.rsplit("/examples/", 1)[0] + "/schema"
        )
        validator = Draft202012Validator(
            {"$ref": urljoin(OPENAPI_URI, target)},
            registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        failures += [f"{pointer}: {e.message}" for e in validator.iter_errors(value)]
    assert failures == []


@pytest.mark.parametrize("scheme", ["oauth2"])
def test_oauth2_scopes_are_one_per_role(
    openapi: dict[str, Any], all_codelists: dict[str, Any], scheme: str
) -> None:
    flows = openapi["components"]["securitySchemes"][scheme]["flows"]
    assert set(flows) == {"clientCredentials"}
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth/token"
    roles = [entry["code"] for entry in all_codelists["roles"]["entries"]]
    assert sorted(flows["clientCredentials"]["scopes"]) == sorted(f"role:{r}" for r in roles)
    assert "private_key_jwt" in openapi["components"]["securitySchemes"][scheme]["description"]


def test_list_operations_return_cursor_pages(openapi: dict[str, Any]) -> None:
    for name, schema in openapi["components"]["schemas"].items():
        if name.endswith("Page"):
            assert set(schema["properties"]) == {"items", "next_cursor"}, name
            assert schema["additionalProperties"] is False
    for _, path, operation in _operations(openapi):
        if operation["operationId"].startswith("list"):
            content = _deref(openapi, operation["responses"]["200"])["content"]["application/json"]
            assert content["schema"]["$ref"].endswith("Page"), path


def test_webhook_delivery_is_signed(openapi: dict[str, Any]) -> None:
    delivery = openapi["webhooks"]["saferefer-event"]["post"]
    names = [_deref(openapi, p)["name"] for p in delivery["parameters"]]
    assert names == ["SafeRefer-Signature", "SafeRefer-Delivery-Id", "SafeRefer-Delivery-Attempt"]
    signature = openapi["components"]["parameters"]["SafeReferSignature"]
    assert signature["required"] is True
    assert "ES256" in signature["description"]
    body = _deref(openapi, delivery["requestBody"])
    assert body["content"]["application/cloudevents+json"]["schema"] == {
        "$ref": "#/components/schemas/Event"
    }


def test_problem_examples_use_listed_types_with_their_status(
    openapi: dict[str, Any], all_codelists: dict[str, Any]
) -> None:
    statuses = {e["type_uri"]: e["status"] for e in all_codelists["problem-types"]["entries"]}
    checked = 0
    for method, path, operation in _operations(openapi):
        for status, response in operation["responses"].items():
            media = _deref(openapi, response).get("content", {}).get(PROBLEM)
            for example in (media or {}).get("examples", {}).values():
                problem = _deref(openapi, example)["value"]
                assert problem["type"] in statuses, (method, path, problem["type"])
                assert problem["status"] == int(status) == statuses[problem["type"]], (path, status)
                checked += 1
    assert checked > 100
