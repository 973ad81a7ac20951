"""The referral state machine, read from spec/codelists/referral-states.json (the one table)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from saferefer_server.domain_spec import codelist

SENDER = "sender"
RECIPIENT = "recipient"
SYSTEM = "system"


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    actor: str
    reason_required: bool
    reason_codelist: str | None


@lru_cache(maxsize=1)
def transitions() -> tuple[Transition, ...]:
    return tuple(
        Transition(
            source=row["from"],
            target=row["to"],
            actor=row["actor"],
            reason_required=bool(row.get("reason_required")),
            reason_codelist=row.get("reason_codelist"),
        )
        for row in codelist("referral-states")["transitions"]
    )


def initial_state() -> str:
    return str(codelist("referral-states")["initial_state"])


@lru_cache(maxsize=1)
def terminal_states() -> frozenset[str]:
    return frozenset(e["code"] for e in codelist("referral-states")["entries"] if e.get("terminal"))


def allowed_from(state: str, actor: str) -> list[Transition]:
    return [t for t in transitions() if t.source == state and t.actor == actor]


def find(state: str, target: str, actor: str) -> Transition | None:
    for transition in transitions():
        if transition.source == state and transition.target == target and transition.actor == actor:
            return transition
    return None
