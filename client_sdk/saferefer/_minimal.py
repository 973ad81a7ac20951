"""Build the smallest referral payload a policy decision permits.

A case system exports a record; the policy (through ``client.policy.check``) answers which data
categories may go to this recipient for this purpose. :func:`minimal_payload` keeps exactly the
permitted categories that the record has something for, drops empty values inside them, and
never returns a category the decision did not permit — whatever the record contains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._exceptions import FieldError, InvalidRequestError
from ._spec import codelist_codes

__all__ = ["MinimalPayload", "minimal_payload"]


@dataclass(frozen=True)
class MinimalPayload:
    """The payload to send and its categories; ``withheld`` names what the record had but may not go."""

    payload: dict[str, Any]
    data_categories: list[str]
    withheld: list[str]


def minimal_payload(
    record: Mapping[str, Any],
    permitted_categories: Iterable[str],
    *,
    field_categories: Mapping[str, str] | None = None,
    needed: Iterable[str] | None = None,
) -> MinimalPayload:
    """The smallest payload from ``record`` that stays inside ``permitted_categories``.

    ``record`` is keyed by data category (``{"identity": {...}, "health": {...}}``), or — with
    ``field_categories`` — a flat case export whose fields are mapped to categories
    (``{"first_name": "identity", "phone": "contact"}``); unmapped fields are never sent.
    ``needed`` narrows further to what the purpose needs. Values that are ``None``, blank strings, or
    empty containers are dropped, and a category left empty is not sent at all.
    """
    known = set(codelist_codes("data-categories"))
    allowed = {c for c in permitted_categories if c in known}
    if needed is not None:
        allowed &= set(needed)
    grouped = _group(record, field_categories) if field_categories is not None else dict(record)
    if field_categories is not None:
        wrong = [
            FieldError(f"#/field_categories/{f}", f"unknown data category {c!r}")
            for f, c in sorted(field_categories.items())
            if c not in known
        ]
        if wrong:
            raise InvalidRequestError(
                "field_categories names unknown data categories", errors=wrong
            )
    payload: dict[str, Any] = {}
    withheld: list[str] = []
    for category in sorted(grouped):
        if category not in known:
            withheld.append(category)
            continue
        value = _prune(grouped[category])
        if _is_empty(value):
            continue
        if category in allowed:
            payload[category] = value
        else:
            withheld.append(category)
    return MinimalPayload(payload=payload, data_categories=sorted(payload), withheld=withheld)


def _group(record: Mapping[str, Any], field_categories: Mapping[str, str]) -> dict[str, Any]:
    grouped: dict[str, dict[str, Any]] = {}
    for field, value in record.items():
        category = field_categories.get(field)
        if category is not None:
            grouped.setdefault(category, {})[field] = value
    return dict(grouped)


def _prune(value: Any) -> Any:
    if isinstance(value, Mapping):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if not _is_empty(v)}
    if isinstance(value, list | tuple):
        return [v for v in (_prune(item) for item in value) if not _is_empty(v)]
    return value


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip() == ""
    return value is None or (isinstance(value, list | tuple | Mapping) and len(value) == 0)
