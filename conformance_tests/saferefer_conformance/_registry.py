"""The check registry: every conformance check is one registered function with fixed metadata.

A check is a plain function ``def claim_in_snake_case(ctx: Context) -> None`` decorated with
:func:`check`. It passes by returning, fails by raising :class:`~saferefer_conformance.CheckFailed`
(usually through ``ctx.fail``) and is skipped by raising :class:`~saferefer_conformance.Skipped`
(for example when the configuration lacks an organisation of a role the check needs). A check
of the ``events`` or ``federation`` profile is skipped before it starts when the server's
capability document does not claim that profile.

The metadata is what makes the report useful to an implementer: a stable ``id`` (``SRC-NNN``,
never reused), the ``name`` that states the claim, a ``title``, the ``severity`` (a failing ``must``
check makes the run fail), the requirement ids of spec/standard.md it verifies, and the profile it
belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._context import Context

Severity = Literal["must", "should"]
Profile = Literal["core", "events", "federation"]
PROFILES: tuple[Profile, ...] = ("core", "events", "federation")
SEVERITIES: tuple[Severity, ...] = ("must", "should")

CheckFunction = Callable[["Context"], None]

_ID = re.compile(r"^SRC-\d{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_REQUIREMENT = re.compile(r"^SR-[A-Z]+-\d{3}$")


@dataclass(frozen=True)
class Check:
    """One registered conformance check."""

    id: str
    name: str
    title: str
    severity: Severity
    requirements: tuple[str, ...]
    profile: Profile
    function: CheckFunction

    def run(self, ctx: Context) -> None:
        # Every server implements core; the other profiles are judged only where claimed, so a
        # check of such a profile cannot forget to ask.
        if self.profile != "core":
            ctx.require_profile(self.profile)
        self.function(ctx)


class RegistryError(ValueError):
    """A check was registered with invalid or duplicate metadata."""


class Registry:
    """An ordered collection of checks, unique by id and by name."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, entry: Check) -> None:
        if not _ID.match(entry.id):
            raise RegistryError(f"check id {entry.id!r} must look like SRC-001")
        if not _NAME.match(entry.name):
            raise RegistryError(f"check name {entry.name!r} must be snake_case stating a claim")
        if entry.severity not in SEVERITIES:
            raise RegistryError(f"{entry.name}: severity must be one of {SEVERITIES}")
        if entry.profile not in PROFILES:
            raise RegistryError(f"{entry.name}: profile must be one of {PROFILES}")
        if not entry.requirements:
            raise RegistryError(f"{entry.name}: a check must verify at least one requirement")
        for requirement in entry.requirements:
            if not _REQUIREMENT.match(requirement):
                raise RegistryError(f"{entry.name}: {requirement!r} is not a requirement id")
        for other in self._checks.values():
            if other.id == entry.id:
                raise RegistryError(f"check id {entry.id} is used by {other.name} and {entry.name}")
        if entry.name in self._checks:
            raise RegistryError(f"check name {entry.name} is registered twice")
        self._checks[entry.name] = entry

    def __iter__(self) -> Iterator[Check]:
        return iter(sorted(self._checks.values(), key=lambda c: c.id))

    def __len__(self) -> int:
        return len(self._checks)

    def __contains__(self, name: object) -> bool:
        return name in self._checks

    def get(self, name: str) -> Check:
        try:
            return self._checks[name]
        except KeyError:
            raise KeyError(f"no check named {name!r}") from None

    def names(self) -> list[str]:
        return [c.name for c in self]

    def select(
        self, *, profiles: Sequence[str] = ("core",), names: Sequence[str] = ()
    ) -> list[Check]:
        """The checks of the given profiles, narrowed to ``names`` when given."""
        unknown = [n for n in names if n not in self._checks]
        if unknown:
            raise KeyError("unknown check name(s): " + ", ".join(sorted(unknown)))
        wanted = set(profiles)
        chosen = [c for c in self if c.profile in wanted]
        if names:
            chosen = [c for c in chosen if c.name in set(names)]
        return chosen

    def by_requirement(self) -> dict[str, list[Check]]:
        mapping: dict[str, list[Check]] = {}
        for entry in self:
            for requirement in entry.requirements:
                mapping.setdefault(requirement, []).append(entry)
        return mapping


#: The registry every check module registers into (imported from ``saferefer_conformance.checks``).
REGISTRY = Registry()


def check(
    *,
    id: str,
    name: str,
    title: str,
    severity: Severity,
    requirements: Sequence[str],
    profile: Profile,
    registry: Registry | None = None,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as a conformance check."""

    def decorate(function: CheckFunction) -> CheckFunction:
        entry = Check(
            id=id,
            name=name,
            title=title,
            severity=severity,
            requirements=tuple(requirements),
            profile=profile,
            function=function,
        )
        (REGISTRY if registry is None else registry).add(entry)
        return function

    return decorate


def load_registry() -> Registry:
    """The registry with every built-in check module imported."""
    from . import checks  # noqa: F401 - importing registers the checks

    return REGISTRY
