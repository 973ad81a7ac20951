"""The RFC 8785 canonical form the audit and signing checks rely on."""

from __future__ import annotations

import pytest
from saferefer_conformance._jcs import canonicalize


def test_canonicalize_sorts_keys_and_drops_whitespace() -> None:
    assert (
        canonicalize({"b": [1, True, None], "a": {"d": "é", "c": 1.0}})
        == '{"a":{"c":1,"d":"é"},"b":[1,true,null]}'.encode()
    )


def test_canonicalize_sorts_by_utf16_code_units() -> None:
    # U+1F600 (surrogate pair D83D…) sorts before U+FB33 in UTF-16, after it in code points.
    assert canonicalize({"\ufb33": 1, "\U0001f600": 2}).decode() == '{"\U0001f600":2,"\ufb33":1}'


@pytest.mark.parametrize(
    ("value", "text"), [(1e21, "1e+21"), (0.5, "0.5"), (-0.0, "0"), (1e-7, "1e-7")]
)
def test_canonicalize_numbers_like_ecmascript(value: float, text: str) -> None:
    assert canonicalize(value).decode() == text


def test_canonicalize_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        canonicalize(float("nan"))
