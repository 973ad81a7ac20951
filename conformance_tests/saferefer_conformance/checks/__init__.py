"""The built-in checks. Importing this package registers every check in the registry."""

from . import (  # noqa: F401 - imported for their registrations
    audit,
    auth,
    consent,
    contract,
    discovery,
    errors,
    events,
    federation,
    idempotency,
    policy,
    referrals,
    signing,
    statistics,
)
