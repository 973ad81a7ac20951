"""The forged federation messages of SRC-111 are wrong only where they are meant to be.

A forged envelope that a node refused for its shape would prove nothing about signature checking,
so every attack envelope must be valid against federation-envelope.schema.json, and the signature
the forger made must verify with the forger's key over the RFC 8785 form of the envelope.
"""

from __future__ import annotations

import base64
import json
import re

from joserfc import jws
from joserfc.jwk import ECKey
from saferefer_conformance import _spec
from saferefer_conformance._jcs import canonicalize
from saferefer_conformance.checks.federation import UNKNOWN_NODE, _envelope, _signed, _uuid7

NODE = "urn:saferefer:node:NL:demo"
PEER = "urn:saferefer:node:MD:conformance-peer"
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_uuid7_is_version_7_and_time_ordered() -> None:
    first, second = _uuid7(), _uuid7()
    assert UUID7.match(first)
    assert UUID7.match(second)
    assert first[:8] <= second[:8]


def test_attack_envelopes_match_the_envelope_schema() -> None:
    key = ECKey.generate_key("P-256", private=True)
    for envelope in (
        _signed(_envelope(UNKNOWN_NODE, NODE), key, "conformance"),
        _signed(_envelope(PEER, NODE), key, "peer-key-1"),
        _signed(_envelope(PEER, NODE), key, "peer-key-1", alg="none"),
    ):
        assert _spec.schema_errors("federation-envelope.schema.json", envelope) == []


def test_forged_signature_is_a_valid_detached_jws_over_the_jcs_form() -> None:
    key = ECKey.generate_key("P-256", private=True)
    envelope = _signed(_envelope(PEER, NODE), key, "peer-key-1")
    protected, empty, signature = envelope["signature"].split(".")
    assert empty == ""
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    assert header == {"alg": "ES256", "kid": "peer-key-1"}
    unsigned = {k: v for k, v in envelope.items() if k != "signature"}
    payload = base64.urlsafe_b64encode(canonicalize(unsigned)).rstrip(b"=").decode()
    jws.deserialize_compact(f"{protected}.{payload}.{signature}", key, algorithms=["ES256"])


def test_unsigned_envelope_says_alg_none() -> None:
    envelope = _signed(_envelope(PEER, NODE), ECKey.generate_key("P-256"), "peer-key-1", "none")
    protected = envelope["signature"].split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    assert header["alg"] == "none"
