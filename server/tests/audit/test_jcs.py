"""The node's JCS form is the clients' (the SDK signs with it) for the JSON the node handles."""

from __future__ import annotations

import json

import pytest
from saferefer._jcs import canonicalize as sdk_canonicalize
from saferefer_server.audit.jcs import canonicalize

DOCUMENTS = [
    None,
    True,
    False,
    0,
    -17,
    "plain",
    'quote " backslash \\ slash /',
    "controls \b\f\n\r\t \u0000 \u001f \u007f",
    "non-ASCII é ß 東京 \U0001f600 \u2028",
    {"b": [1, True, None], "a": {"d": "é", "c": 1.0}, "": "empty key"},
    {"\ufb33": 1, "\U0001f600": 2, "é": [[], {}], "z\n": "key with a newline"},
    {"identity": {"name": "Ana", "aliases": ["A.", "Anna"]}, "age": 17, "flags": [False]},
    # Numbers where ECMAScript and Python's repr differ (1e-05 vs 0.00001), and their edges.
    [0.00001, -0.0000025, 0.000001, 1e-7, 0.0001, 123.456, 1e21, 1.5e300, -0.0, 2.0**53],
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_canonical_form_is_the_sdks(document: object) -> None:
    assert canonicalize(document) == sdk_canonicalize(document)


@pytest.mark.parametrize("text", [d for d in DOCUMENTS if isinstance(d, str)])
def test_strings_are_escaped_as_json_does_without_ascii_escapes(text: str) -> None:
    assert canonicalize(text) == json.dumps(text, ensure_ascii=False).encode()
    assert json.loads(canonicalize({text: text})) == {text: text}
