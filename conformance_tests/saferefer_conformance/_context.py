"""What a check receives: clients per test organisation, the standard as data, and assertions.

One :class:`Context` is created per run. Checks never share mutable state through it except the
caches of tokens and of the capability document; every check that creates data uses fresh subject
references (:meth:`Context.fresh_subject_ref`), so the suite can run again and again against the
same server.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import httpx

from . import _spec
from ._config import Config, OrgCredentials
from ._failures import CheckFailed, Failure, Skipped, curl_command, describe_response
from ._http import OrgClient

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Context:
    """The run-wide state handed to every check."""

    def __init__(self, config: Config, *, http: httpx.Client | None = None) -> None:
        if not config.base_url:
            raise ValueError("a base URL is required (--base-url or base_url in the config)")
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.http = http or httpx.Client(
            base_url=self.base_url, timeout=config.timeout_seconds, follow_redirects=False
        )
        self.run_id = uuid.uuid4().hex[:12]
        self._clients: dict[str, OrgClient] = {}
        self._capability: dict[str, Any] | None = None
        self.current_requirement: str | None = None

    def close(self) -> None:
        self.http.close()

    # -- endpoints ---------------------------------------------------------------------------
    @property
    def token_endpoint(self) -> str:
        """Where token requests go: the standard's token path under the base URL under test."""
        return self.base_url + "/oauth/token"

    @property
    def audience(self) -> str:
        """What client assertions name as ``aud``: the token endpoint URL the node publishes in its
        capability document (RFC 7523 §3; SR-AUTH-004), not one built from ``--base-url``, so a
        node reached through another address (a proxy, a port forward) still recognises itself."""
        published = (self.capability().get("endpoints") or {}).get("token")
        return str(published) if published else self.token_endpoint

    def _address_note(self) -> str:
        """Why a node may refuse every assertion: it is tested through an address it does not
        publish (empty when --base-url is the published base URL)."""
        published = str(self.capability().get("base_url") or "").rstrip("/")
        if not published or published == self.base_url:
            return ""
        return (
            f"--base-url {self.base_url} differs from the node's published base URL {published}; "
            f"the assertion named aud {self.audience}, the token endpoint the node publishes. If "
            f"the node expects another audience, run with --base-url {published}."
        )

    def capability(self) -> dict[str, Any]:
        if self._capability is None:
            response = self.http.get(
                "/.well-known/saferefer", headers={"Accept": "application/json"}
            )
            self.expect_status(response, 200, "The capability document is not served")
            document = self.json(response, "The capability document is not JSON")
            if not isinstance(document, dict):
                self.fail("The capability document is not a JSON object", "", response=response)
            self._capability = document
        return self._capability

    def claims_profile(self, profile: str) -> bool:
        """Whether the capability document lists ``profile`` (it lists exactly what the server
        implements, SR-CONF-002)."""
        return profile in (self.capability().get("profiles") or [])

    def require_profile(self, profile: str) -> None:
        """Skip the calling check unless the server claims ``profile``."""
        if not self.claims_profile(profile):
            raise Skipped(
                f"the server does not claim the {profile} profile (capability document, profiles)"
            )

    # -- organisations -------------------------------------------------------------------------
    def has(self, slot: str) -> bool:
        return slot in self.config.organisations

    def credentials(self, slot: str) -> OrgCredentials:
        try:
            return self.config.organisations[slot]
        except KeyError:
            raise Skipped(
                f"the configuration has no '{slot}' organisation; add [organisations.{slot}]"
            ) from None

    def org(self, slot: str) -> OrgClient:
        if slot not in self._clients:
            self._clients[slot] = OrgClient(
                self.http,
                self.credentials(slot),
                token_endpoint=self.token_endpoint,
                audience=self.audience,
                refusal_note=self._address_note(),
            )
        return self._clients[slot]

    @property
    def sender(self) -> OrgClient:
        return self.org("sender")

    @property
    def recipient(self) -> OrgClient:
        return self.org("recipient")

    def outsider(self) -> OrgClient:
        """An organisation that is neither the sender nor the recipient."""
        for slot in (
            "outsider",
            "police",
            "national_rapporteur",
            "immigration_authority",
            "embassy_of_origin",
        ):
            if slot in self.config.organisations:
                creds = self.config.organisations[slot]
                if creds.org_id not in (self.sender.org_id, self.recipient.org_id):
                    return self.org(slot)
        raise Skipped(
            "needs a third organisation: add [organisations.outsider] to the configuration"
        )

    @property
    def anonymous(self) -> OrgClient:
        if "" not in self._clients:
            # An anonymous client signs no assertion, so it needs no audience.
            self._clients[""] = OrgClient(
                self.http, None, token_endpoint=self.token_endpoint, audience=""
            )
        return self._clients[""]

    # -- fresh data ----------------------------------------------------------------------------
    def fresh_subject_ref(self, label: str = "s") -> str:
        """A subject reference no earlier run used (a random pseudonym, never personal data)."""
        return f"conf-{self.run_id}-{label}-{uuid.uuid4().hex[:10]}"

    # -- failing ------------------------------------------------------------------------------
    def fail(
        self,
        title: str,
        message: str,
        *,
        expected: str = "",
        actual: str = "",
        response: httpx.Response | None = None,
        requirement: str | None = None,
    ) -> NoReturn:
        raise CheckFailed(
            [
                self.failure(
                    title,
                    message,
                    expected=expected,
                    actual=actual,
                    response=response,
                    requirement=requirement,
                )
            ]
        )

    def failure(
        self,
        title: str,
        message: str,
        *,
        expected: str = "",
        actual: str = "",
        response: httpx.Response | None = None,
        requirement: str | None = None,
    ) -> Failure:
        return Failure(
            title=title,
            message=message,
            expected=expected,
            actual=actual or (describe_response(response) if response is not None else ""),
            curl=curl_command(response.request) if response is not None else None,
            status_code=response.status_code if response is not None else None,
            requirement=requirement or self.current_requirement,
        )

    @contextmanager
    def requirement(self, requirement_id: str) -> Iterator[None]:
        """Attribute failures raised inside the block to one requirement id."""
        previous, self.current_requirement = self.current_requirement, requirement_id
        try:
            yield
        finally:
            self.current_requirement = previous

    # -- expectations -------------------------------------------------------------------------
    def json(self, response: httpx.Response, title: str) -> Any:
        try:
            return response.json()
        except ValueError:
            self.fail(
                title, "The response body is not JSON.", expected="a JSON body", response=response
            )

    def expect_status(
        self,
        response: httpx.Response,
        expected: int | Collection[int],
        title: str,
        message: str = "",
    ) -> None:
        allowed = {expected} if isinstance(expected, int) else set(expected)
        if response.status_code not in allowed:
            self.fail(
                title,
                message
                or f"{response.request.method} {response.request.url.path} "
                f"answered {response.status_code}.",
                expected="status " + " or ".join(str(s) for s in sorted(allowed)),
                response=response,
            )

    def expect_success(self, response: httpx.Response, title: str) -> Any:
        """A 2xx JSON answer to a request the check needs to succeed; returns its body."""
        if not 200 <= response.status_code < 300:
            self.fail(
                title,
                f"{response.request.method} {response.request.url.path} was refused, but the check "
                "needs it to succeed (the request is valid under the standard).",
                expected="a 2xx status",
                response=response,
            )
        return self.json(response, title) if response.content else None

    def problem_errors(
        self,
        response: httpx.Response,
        status: int | Collection[int] | None = None,
        slug: str | Collection[str] | None = None,
    ) -> list[str]:
        """What is wrong with ``response`` as a problem document (empty when it is right)."""
        errors: list[str] = []
        statuses = (
            None if status is None else ({status} if isinstance(status, int) else set(status))
        )
        if statuses is not None and response.status_code not in statuses:
            errors.append(
                f"status {response.status_code}, expected {' or '.join(map(str, sorted(statuses)))}"
            )
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != PROBLEM_MEDIA_TYPE:
            errors.append(f"media type {media or '(none)'}, expected {PROBLEM_MEDIA_TYPE}")
            return errors
        try:
            body = response.json()
        except ValueError:
            return [*errors, "body is not JSON"]
        if _spec.has_schema("problem.schema.json"):
            errors += [
                f"problem schema: {e}" for e in _spec.schema_errors("problem.schema.json", body)
            ]
        if not isinstance(body, dict):
            return errors
        problem_type = body.get("type")
        known = {_spec.PROBLEM_BASE + code for code in _spec.codes("problem-types")}
        if problem_type not in known:
            errors.append(f"type {problem_type!r} is not a registered problem type")
        if body.get("status") != response.status_code:
            errors.append(
                f"member status {body.get('status')!r} differs from HTTP {response.status_code}"
            )
        if slug is not None:
            slugs = {slug} if isinstance(slug, str) else set(slug)
            wanted = {_spec.PROBLEM_BASE + s for s in slugs}
            if problem_type not in wanted:
                errors.append(f"type {problem_type!r}, expected {' or '.join(sorted(wanted))}")
        return errors

    def expect_problem(
        self,
        response: httpx.Response,
        status: int | Collection[int],
        slug: str | Collection[str] | None,
        title: str,
        message: str = "",
    ) -> dict[str, Any]:
        errors = self.problem_errors(response, status, slug)
        if errors:
            statuses = [status] if isinstance(status, int) else sorted(status)
            slugs = [slug] if isinstance(slug, str) else sorted(slug or [])
            self.fail(
                title,
                message or "; ".join(errors),
                expected=f"status {' or '.join(map(str, statuses))}, application/problem+json"
                + (f", type …/problems/{' or '.join(slugs)}" if slugs else ""),
                response=response,
            )
        body: dict[str, Any] = response.json()
        return body

    def expect_schema(
        self,
        document: Any,
        schema_file: str,
        title: str,
        response: httpx.Response | None = None,
        pointer: str = "",
    ) -> None:
        if not _spec.has_schema(schema_file):
            return
        errors = _spec.schema_errors(schema_file, document, pointer)
        if errors:
            self.fail(
                title,
                "The document does not validate against "
                f"{schema_file}{'#' + pointer if pointer else ''}.",
                expected=f"a document valid against {schema_file}",
                actual="; ".join(errors),
                response=response,
            )
