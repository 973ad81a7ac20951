"""SafeRefer Python SDK: consent-based, minimal-data referrals through a SafeRefer node.

>>> import saferefer
>>> client = saferefer.Client(credentials_file="var/demo/credentials/NL-demo-ngo.json")  # doctest: +SKIP

Everything public is listed in ``__all__``; modules whose names start with ``_`` are private.
"""

from . import types, webhooks
from ._client import DEFAULT_TIMEOUT, AsyncClient, Client
from ._credentials import Credentials
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    EventGapError,
    FieldError,
    IdempotencyKeyReuseError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PayloadSignatureError,
    PermissionDeniedError,
    PolicyEngineUnavailableError,
    PolicyViolationError,
    RateLimitError,
    SafeReferError,
    UnsupportedMediaTypeError,
    ValidationError,
    Violation,
    WebhookVerificationError,
)
from ._minimal import MinimalPayload, minimal_payload
from ._pagination import AsyncPage, AsyncPaginator, SyncPage
from ._pseudonyms import subject_ref
from ._retry import DEFAULT_MAX_RETRIES
from ._signing import sign_consent, sign_payload, verify_payload_signature
from ._types import NOT_GIVEN, NotGiven
from ._version import SPEC_VERSION, __version__

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "SPEC_VERSION",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncPage",
    "AsyncPaginator",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "Credentials",
    "EventGapError",
    "FieldError",
    "IdempotencyKeyReuseError",
    "InternalServerError",
    "InvalidRequestError",
    "MinimalPayload",
    "NotFoundError",
    "NotGiven",
    "PayloadSignatureError",
    "PermissionDeniedError",
    "PolicyEngineUnavailableError",
    "PolicyViolationError",
    "RateLimitError",
    "SafeReferError",
    "SyncPage",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "Violation",
    "WebhookVerificationError",
    "__version__",
    "minimal_payload",
    "sign_consent",
    "sign_payload",
    "subject_ref",
    "types",
    "verify_payload_signature",
    "webhooks",
]
