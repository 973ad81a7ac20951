"""What a webhook URL must be before a subscription stores it, checked on its own terms.

The request's schema validation (`domain_spec`) already asserts `format: uri` and the pattern;
this check repeats the URI test with the same jsonschema-rs check (`domain_spec.string_format`)
so that it stands alone, and adds what a schema cannot say: a host `urlsplit` cannot read (a
bracket outside an IPv6 host made it raise, which answered 500) and, in production, SR-EVENT-015.

Every error names `#/url` and says what to change; none repeats the URL (it may carry a secret).
"""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import SplitResult, urlsplit

from saferefer_server.core.problems import ProblemError
from saferefer_server.domain_spec import string_format

HTTPS_PORT = 443


def bad_url(detail: str) -> ProblemError:
    """A 422 validation-error that locates the problem at the subscription's `url`."""
    return ProblemError(
        422,
        "validation-error",
        "The request is invalid",
        f"url: {detail}",
        errors=[{"pointer": "#/url", "detail": detail}],
    )


async def check_webhook_url(url: str, *, production: bool) -> None:
    """Refuse a URL that is no RFC 3986 URI or that carries user information; in production also
    anything but https to a public address (SR-EVENT-015).

    User information is refused everywhere (and by the schema's pattern): the URL is stored and
    listed in clear, and deliveries are authenticated by their signature, not by a password.
    """
    if not string_format("uri")(url):
        raise bad_url(
            "must be an RFC 3986 URI: percent-encode non-ASCII characters, spaces, a literal % "
            'and any of " < > \\ ^ ` { | }, and use [ ] only around an IPv6 host'
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # a bracketed host Python cannot read
        raise bad_url("has a host that is not a valid IPv6 address or host name") from exc
    if "@" in parts.netloc:
        raise bad_url(
            "must not carry user information (user:password@); deliveries are authenticated "
            "by their SafeRefer-Signature"
        )
    if production:
        await _check_public_https(parts)


async def _check_public_https(parts: SplitResult) -> None:
    """https, and a host that resolves to public addresses only, so a subscription cannot make
    the node call into its own network."""
    if parts.scheme != "https" or not parts.hostname:
        raise bad_url("must be an https URL in production")
    try:
        port = parts.port or HTTPS_PORT
    except ValueError as exc:
        raise bad_url("has a port outside 0-65535") from exc
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port)
    except (OSError, UnicodeError) as exc:  # UnicodeError: an empty or over-long DNS label
        raise bad_url("the host name does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise bad_url("resolves to a loopback, link-local or private address")
