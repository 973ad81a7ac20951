"""The standard's messages as pydantic models, under stable names.

The classes are generated from spec/schemas into ``saferefer._models`` (never edited by hand);
this module gives them the names the SDK documents. Request methods accept either these models
or plain dicts; responses are always these models.
"""

from ._models import (
    AuditEntry,
    AuditVerificationResult,
    CapabilityDocument,
    ConsentReceipt,
    ConsentRecord,
    ConsentWithdrawal,
    ErasureAcknowledgement,
    Organisation,
    PolicyDecision,
    PolicyDecisionInput,
    Referral,
    Statistics,
    TokenResponse,
)
from ._models.consent_create_schema import ConsentRecordRequest as ConsentCreate
from ._models.erasure_acknowledgement_schema import Record as ErasureAcknowledgementRecord
from ._models.event_schema import EventCloudevents10 as Event
from ._models.problem_schema import ProblemDetailsRfc9457 as Problem
from ._models.referral_create_schema import ReferralCreateRequest as ReferralCreate
from ._models.referral_transition_schema import Record as ReferralTransition
from ._models.referral_transition_schema import Request as ReferralTransitionRequest
from ._models.subscription_schema import Create as SubscriptionCreate
from ._models.subscription_schema import Delivery as SubscriptionDelivery
from ._models.subscription_schema import WebhookSubscription as Subscription

__all__ = [
    "AuditEntry",
    "AuditVerificationResult",
    "CapabilityDocument",
    "ConsentCreate",
    "ConsentReceipt",
    "ConsentRecord",
    "ConsentWithdrawal",
    "ErasureAcknowledgement",
    "ErasureAcknowledgementRecord",
    "Event",
    "Organisation",
    "PolicyDecision",
    "PolicyDecisionInput",
    "Problem",
    "Referral",
    "ReferralCreate",
    "ReferralTransition",
    "ReferralTransitionRequest",
    "Statistics",
    "Subscription",
    "SubscriptionCreate",
    "SubscriptionDelivery",
    "TokenResponse",
]
