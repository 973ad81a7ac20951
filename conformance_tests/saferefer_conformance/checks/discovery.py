"""Discovery: the capability document, the node's keys and the OpenAPI document it serves."""

from __future__ import annotations

import re

import yaml

from .. import _spec
from .._context import Context
from .._failures import FailureCollector
from .._flows import CAPABILITY, JWKS, ORGANISATIONS, list_all
from .._registry import check

KNOWN_PROFILES = {"core", "events", "federation"}
NODE_ID = re.compile(r"^urn:saferefer:node:([A-Z]{2}):[a-z0-9][a-z0-9-]{1,62}$")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@check(
    id="SRC-001",
    name="capability_document_complete",
    title="The capability document is public, complete and consistent",
    severity="must",
    requirements=[
        "SR-CONF-002",
        "SR-CONF-003",
        "SR-CONF-004",
        "SR-ID-002",
        "SR-VER-001",
    ],
    profile="core",
)
def capability_document_complete(ctx: Context) -> None:
    response = ctx.anonymous.get(CAPABILITY, authenticated=False)
    ctx.expect_status(response, 200, "The capability document is not served without authentication")
    document = ctx.json(response, "The capability document is not JSON")
    ctx.expect_schema(
        document, "capability.schema.json", "The capability document is incomplete", response
    )
    found = FailureCollector()
    match = NODE_ID.match(str(document.get("node_id", "")))
    if not match or match.group(1) != document.get("country"):
        found.add(
            ctx.failure(
                "The node id is malformed or names another country",
                "node_id must be urn:saferefer:node:<CC>:<code> with <CC> the node's country.",
                expected="urn:saferefer:node:<country>:<code>",
                actual=str(document.get("node_id")),
                response=response,
                requirement="SR-ID-002",
            )
        )
    if not str(document.get("spec_version", "")).startswith("0.1"):
        found.add(
            ctx.failure(
                "The spec version is not 0.1.x",
                "This suite verifies SafeRefer 0.1.",
                expected="0.1.x",
                actual=str(document.get("spec_version")),
                response=response,
                requirement="SR-VER-001",
            )
        )
    profiles = set(document.get("profiles") or [])
    if "core" not in profiles:
        found.add(
            ctx.failure(
                "The core profile is not claimed",
                "Every SafeRefer server implements core.",
                expected="'core' in profiles",
                actual=str(sorted(profiles)),
                response=response,
                requirement="SR-CONF-003",
            )
        )
    if "federation" in profiles and "events" not in profiles:
        found.add(
            ctx.failure(
                "federation is claimed without events",
                "The federation profile builds on events.",
                expected="'events' in profiles",
                actual=str(sorted(profiles)),
                response=response,
                requirement="SR-CONF-003",
            )
        )
    codelists = document.get("codelists") or {}
    for name in (
        "roles",
        "purposes",
        "data-categories",
        "referral-states",
        "event-types",
        "problem-types",
    ):
        published = _spec.codelist(name)["version"]
        advertised = codelists.get(name)
        if advertised is None or advertised.split(".")[:2] != published.split(".")[:2]:
            found.add(
                ctx.failure(
                    f"Code list {name} is missing or of another minor version",
                    "The capability document names the version of every code list the server uses.",
                    expected=f"{name}: {published}",
                    actual=str(advertised),
                    response=response,
                    requirement="SR-CONF-004",
                )
            )
    found.raise_if_any()


@check(
    id="SRC-002",
    name="openapi_document_served",
    title="The served OpenAPI document has exactly the operations of spec/openapi.yaml",
    severity="must",
    requirements=["SR-CONF-005"],
    profile="core",
)
def openapi_document_served(ctx: Context) -> None:
    url = (ctx.capability().get("endpoints") or {}).get("openapi")
    if not url:
        ctx.fail(
            "The capability document names no OpenAPI endpoint", "endpoints.openapi is required."
        )
    response = ctx.http.get(url, headers={"Accept": "application/yaml, application/json"})
    ctx.expect_status(response, 200, "The OpenAPI document is not served")
    try:
        served = yaml.safe_load(response.text)
    except yaml.YAMLError:
        ctx.fail("The served OpenAPI document is not YAML or JSON", "", response=response)

    def operations(document: dict) -> set[tuple[str, str]]:  # type: ignore[type-arg]
        return {
            (method.upper(), path)
            for path, item in (document.get("paths") or {}).items()
            for method in item
            if method in HTTP_METHODS
        }

    expected = operations(_spec.openapi())
    actual = operations(served if isinstance(served, dict) else {})
    if expected != actual:
        missing = sorted(f"{m} {p}" for m, p in expected - actual)
        extra = sorted(f"{m} {p}" for m, p in actual - expected)
        ctx.fail(
            "The served OpenAPI document differs from the standard's",
            "The server serves the OpenAPI document of the version it implements.",
            expected="the operations of spec/openapi.yaml",
            actual=f"missing: {missing[:10]}; not in the standard: {extra[:10]}",
            response=response,
        )


@check(
    id="SRC-003",
    name="jwks_publishes_node_keys",
    title="/jwks.json publishes ES256 P-256 public keys with unique kids and no private members",
    severity="must",
    requirements=["SR-SIGN-005"],
    profile="core",
)
def jwks_publishes_node_keys(ctx: Context) -> None:
    response = ctx.anonymous.get(JWKS, authenticated=False)
    ctx.expect_status(response, 200, "/jwks.json is not served without authentication")
    document = ctx.json(response, "/jwks.json is not JSON")
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        ctx.fail(
            "/jwks.json has no keys",
            "A node publishes its signing keys.",
            expected='{"keys": [...]}',
            response=response,
        )
    kids = [k.get("kid") for k in keys]
    problems = []
    if len(set(kids)) != len(kids) or None in kids:
        problems.append("every key needs a unique kid")
    for key in keys:
        if key.get("kty") != "EC" or key.get("crv") != "P-256":
            problems.append(f"key {key.get('kid')} is not an EC P-256 key")
        if any(member in key for member in ("d", "p", "q", "dp", "dq", "qi", "k")):
            problems.append(f"key {key.get('kid')} exposes private key material")
        if key.get("use", "sig") != "sig" or key.get("alg", "ES256") != "ES256":
            problems.append(f"key {key.get('kid')} is not an ES256 signing key")
    if problems:
        ctx.fail(
            "The node's JWKS is not as the standard requires",
            "; ".join(problems),
            response=response,
        )


@check(
    id="SRC-004",
    name="organisation_directory_well_formed",
    title=(
        "Every organisation in the directory has a well-formed id in the node's country or a "
        "known one"
    ),
    severity="must",
    requirements=["SR-ID-001"],
    profile="core",
)
def organisation_directory_well_formed(ctx: Context) -> None:
    organisations = list_all(ctx, ctx.sender, ORGANISATIONS)
    pattern = re.compile(r"^urn:saferefer:org:([A-Z]{2}):[a-z0-9][a-z0-9-]{1,62}$")
    ids = [str(o.get("id") or o.get("org_id")) for o in organisations]
    if ctx.sender.org_id not in ids:
        ctx.fail(
            "The directory does not list the sender",
            "",
            expected=ctx.sender.org_id,
            actual=f"{len(ids)} organisations",
        )
    bad = [i for i in ids if not pattern.match(i)]
    if bad:
        ctx.fail(
            "Organisation ids are malformed",
            "",
            expected="urn:saferefer:org:<CC>:<local-code>",
            actual=str(bad[:5]),
        )
    for organisation in organisations[:20]:
        ctx.expect_schema(
            organisation, "organisation.schema.json", "A directory entry does not match its schema"
        )


@check(
    id="SRC-005",
    name="capability_names_policy_bundle",
    title="The capability document names the policy engine and bundle revision",
    severity="should",
    requirements=["SR-POLICY-023"],
    profile="core",
)
def capability_names_policy_bundle(ctx: Context) -> None:
    policy = ctx.capability().get("policy") or {}
    if not policy.get("bundle_revision"):
        ctx.fail(
            "The policy bundle revision is not published",
            "",
            expected="policy.bundle_revision",
            actual=str(policy),
        )
