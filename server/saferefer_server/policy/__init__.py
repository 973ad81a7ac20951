"""Policy decisions: the Rego policies in `policies/`, evaluated by one of two engines.

`build_engine(kind=...)` returns a `PolicyEngine`:

* `embedded` (default): rego-cpp in-process through regopy, one interpreter per worker thread;
* `opa`: an Open Policy Agent server (a sidecar; `OpaProcess` starts one) reached through
  opa-python-client.

Both load the same `PolicySet`, query the decision object `data.saferefer.sharing.decision`,
check the answer against spec/schemas/policy-decision.schema.json and fail closed: an error, a
timeout, an undefined or invalid answer is a deny with the `policy_engine_unavailable` violation
and `engine_failure=True`. `decide()` never raises.
"""

from ._decision import ENGINE_UNAVAILABLE_CODE, PolicyDecision, canonical_document
from ._embedded import EmbeddedEngine
from ._engine import ENGINE_KINDS, PolicyEngine, build_engine
from ._opa import OpaEngine
from ._opa_process import OpaProcess, find_opa_binary, opa_authz_policy
from ._sources import DECISION_REF, PolicyLoadError, PolicySet, opa_ignore_args
from ._vectors import DecisionVector, load_vectors

__all__ = [
    "DECISION_REF",
    "ENGINE_KINDS",
    "ENGINE_UNAVAILABLE_CODE",
    "DecisionVector",
    "EmbeddedEngine",
    "OpaEngine",
    "OpaProcess",
    "PolicyDecision",
    "PolicyEngine",
    "PolicyLoadError",
    "PolicySet",
    "build_engine",
    "canonical_document",
    "find_opa_binary",
    "load_vectors",
    "opa_authz_policy",
    "opa_ignore_args",
]
