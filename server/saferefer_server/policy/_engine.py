"""The one interface every policy engine implements, and the factory that picks one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._decision import DecisionReader, PolicyDecision
from ._embedded import EmbeddedEngine
from ._opa import OpaEngine
from ._sources import PolicySet

ENGINE_KINDS = ("embedded", "opa")


@runtime_checkable
class PolicyEngine(Protocol):
    """Decides disclosures with the policies of `data.saferefer.sharing.decision`."""

    name: str

    async def decide(self, policy_input: Mapping[str, Any]) -> PolicyDecision:
        """The decision for `policy_input`. Never raises: any failure is a fail-closed deny."""
        ...

    async def check_health(self) -> bool:
        """True when the engine can decide right now (for /readyz)."""
        ...

    async def aclose(self) -> None:
        """Release threads, connections and temporary files."""
        ...


def _default_schema_dir() -> Path:
    from saferefer._resources import spec_dir

    return spec_dir() / "schemas"


def build_engine(
    *,
    kind: str,
    policy_dir: Path,
    opa_url: str | None = None,
    opa_token: str | None = None,
    timeout_s: float = 0.5,
    schema_dir: Path | None = None,
    max_workers: int | None = None,
    queue_timeout_s: float | None = None,
) -> PolicyEngine:
    """Load the policy set under `policy_dir` and return the engine `kind` deciding with it.

    `embedded` compiles the policies here and raises `PolicyLoadError` if rego-cpp cannot; `opa`
    pushes them to the server at `opa_url` on first use (see `OpaEngine`), sending `opa_token`
    as a bearer token with every request if given. `schema_dir` holds
    policy-decision.schema.json (default: the standard's `spec/schemas`). For the embedded
    engine, `max_workers` bounds its evaluation threads (default: one per core, at most four)
    and `queue_timeout_s` how long a decision may wait for a free one (default: four times
    `timeout_s`, at least 2 s); `timeout_s` bounds the evaluation itself.
    """
    if kind not in ENGINE_KINDS:
        raise ValueError(f"unknown policy engine {kind!r}; choose one of {', '.join(ENGINE_KINDS)}")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    if queue_timeout_s is not None and queue_timeout_s <= 0:
        raise ValueError("queue_timeout_s must be positive")
    if kind == "opa" and not opa_url:
        raise ValueError("the opa policy engine needs opa_url")
    policy_set = PolicySet.load(policy_dir)
    reader = DecisionReader.from_schema_dir(schema_dir or _default_schema_dir())
    if kind == "embedded":
        return EmbeddedEngine(
            policy_set,
            reader,
            timeout_s=timeout_s,
            max_workers=max_workers,
            queue_timeout_s=queue_timeout_s,
        )
    assert opa_url is not None
    return OpaEngine(policy_set, reader, opa_url=opa_url, timeout_s=timeout_s, token=opa_token)
