"""The decision document, checked before anyone acts on it.

An engine's raw answer becomes a `PolicyDecision` only after it passed `DecisionReader.read`: it
must exist (an undefined result is a failure, never a silent allow or deny), validate against
spec/schemas/policy-decision.schema.json, and be consistent (an allow carries no violations).
Anything else becomes `PolicyDecision.fail_closed()`: a deny with the `policy_engine_unavailable`
violation and `engine_failure=True`, which the API answers with 503 rather than 403.

Lists whose order carries no meaning (violations, obligations, permitted categories) are sorted
here, so two engines that emit a set in different orders still give equal decisions.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

logger = logging.getLogger("saferefer_server.policy")

DECISION_SCHEMA_FILE = "policy-decision.schema.json"
ENGINE_UNAVAILABLE_CODE = "policy_engine_unavailable"

# As in spec/codelists/violation-codes.json (test_decision.py keeps the two equal).
_ENGINE_UNAVAILABLE_VIOLATION: dict[str, Any] = {
    "code": ENGINE_UNAVAILABLE_CODE,
    "rule": "R30",
    "level": "MUST",
    "message": "The policy engine could not decide; the disclosure is refused",
    "legal_basis": "GDPR arts 5(1)(f), 25 (fail closed, design)",
    "fix": "Retry later; the node answers 503 until its policy engine is healthy again.",
}


class Failure(enum.Enum):
    """Why an engine failed closed. Logged and asserted on; never part of the API answer."""

    UNAVAILABLE = "unavailable"  # the engine or its policies are not there
    ERROR = "error"  # the evaluation raised (runtime error, conflicting outputs, bad input)
    TIMEOUT = "timeout"
    UNDEFINED = "undefined"  # the decision rule produced nothing
    INVALID = "invalid"  # the result does not match the decision schema or contradicts itself


@dataclass(frozen=True)
class PolicyDecision:
    """What the policy decided about one disclosure."""

    allow: bool
    violations: list[dict[str, Any]]
    permitted_categories: list[str]
    obligations: list[dict[str, Any]]
    engine_failure: bool = field(default=False)

    def to_document(self) -> dict[str, Any]:
        """The decision as a policy-decision.schema.json document (deep copy)."""
        return {
            "allow": self.allow,
            "violations": [dict(v) for v in self.violations],
            "permitted_categories": list(self.permitted_categories),
            "obligations": [dict(o) for o in self.obligations],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PolicyDecision:
        """Build a decision from a schema-valid document, in canonical list order."""
        return cls(
            allow=bool(document["allow"]),
            violations=sorted((dict(v) for v in document["violations"]), key=_finding_order),
            permitted_categories=sorted(document["permitted_categories"]),
            obligations=sorted((dict(o) for o in document["obligations"]), key=_finding_order),
        )

    @classmethod
    def fail_closed(cls) -> PolicyDecision:
        """The deny every engine gives when it cannot decide."""
        return cls(
            allow=False,
            violations=[dict(_ENGINE_UNAVAILABLE_VIOLATION)],
            permitted_categories=[],
            obligations=[],
            engine_failure=True,
        )


def canonical_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A decision document with its unordered lists sorted (for comparing engines and vectors)."""
    return PolicyDecision.from_document(document).to_document()


_RULE_NUMBER = re.compile(r"(\d+)")


def _finding_order(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    # R2 before R10 (natural order), then code, then the whole object as a stable tie-break.
    rule = str(finding.get("rule", ""))
    natural = tuple(int(p) if p.isdigit() else p for p in _RULE_NUMBER.split(rule))
    return (natural, str(finding.get("code", "")), json.dumps(finding, sort_keys=True))


class InvalidDecision(Exception):
    """The engine answered, but not with a usable decision (carries the reason, never values)."""

    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


class DecisionReader:
    """Turns an engine's raw result into a `PolicyDecision`, or refuses it.

    Validation runs on every decision, inside the 1 ms budget: jsonschema-rs checks a decision in
    about a microsecond where the pure-Python jsonschema takes about 150.
    """

    def __init__(self, schema: Mapping[str, Any], resources: list[tuple[str, Any]]) -> None:
        registry = jsonschema_rs.Registry(resources) if resources else None
        self._validator = jsonschema_rs.validator_for(dict(schema), registry=registry, offline=True)

    @classmethod
    def from_schema_dir(cls, schema_dir: Path) -> DecisionReader:
        return _reader_for(schema_dir.resolve())

    def read(self, result: object) -> PolicyDecision:
        """Check `result` (None means undefined) and return it as a decision.

        Raises InvalidDecision. The detail names the schema location that failed, never the
        offending value: decision documents can echo input values.
        """
        if result is None:
            raise InvalidDecision(Failure.UNDEFINED, "the decision rule is undefined")
        if not self._validator.is_valid(result):
            error = next(iter(self._validator.iter_errors(result)))
            where = "/".join(str(p) for p in error.instance_path) or "(root)"
            keyword = error.schema_path[-1] if error.schema_path else "schema"
            raise InvalidDecision(
                Failure.INVALID, f"decision fails the schema at {where} ({keyword})"
            )
        assert isinstance(result, Mapping)  # the schema requires an object
        if result["allow"] and result["violations"]:
            raise InvalidDecision(Failure.INVALID, "decision allows and has violations")
        return PolicyDecision.from_document(result)


@lru_cache(maxsize=4)
def _reader_for(schema_dir: Path) -> DecisionReader:
    # Compiled once per process and schema directory; every engine shares it. The other schemas
    # of the standard are registered so that a `$ref` into them resolves offline.
    resources: list[tuple[str, Any]] = []
    schema: dict[str, Any] | None = None
    for path in sorted(schema_dir.glob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        if path.name == DECISION_SCHEMA_FILE:
            schema = contents
        if "$id" in contents:
            resources.append((contents["$id"], contents))
    if schema is None:
        raise FileNotFoundError(f"{DECISION_SCHEMA_FILE} not found in {schema_dir}")
    return DecisionReader(schema, resources)


def log_failure(engine: str, failure: Failure, detail: str) -> None:
    """One warning per failed-closed decision: engine and reason only, never input values."""
    logger.warning(
        "policy engine %s failed closed (%s): %s",
        engine,
        failure.value,
        detail,
        extra={"policy_engine": engine, "policy_failure": failure.value},
    )
