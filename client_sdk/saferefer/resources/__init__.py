"""The API resources, each a sync class and its async twin with the same method names."""

from .audit import AsyncAudit, Audit
from .consents import AsyncConsents, Consents
from .events import AsyncEventFeed, AsyncEvents, EventFeed, Events
from .organisations import AsyncOrganisations, Organisations
from .policy import AsyncPolicy, Policy
from .referrals import AsyncReferrals, Referrals
from .statistics import AsyncStatistics, Statistics
from .subscriptions import AsyncSubscriptions, Subscriptions

__all__ = [
    "AsyncAudit",
    "AsyncConsents",
    "AsyncEventFeed",
    "AsyncEvents",
    "AsyncOrganisations",
    "AsyncPolicy",
    "AsyncReferrals",
    "AsyncStatistics",
    "AsyncSubscriptions",
    "Audit",
    "Consents",
    "EventFeed",
    "Events",
    "Organisations",
    "Policy",
    "Referrals",
    "Statistics",
    "Subscriptions",
]
