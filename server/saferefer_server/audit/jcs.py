"""RFC 8785 JSON Canonicalization Scheme, for the JSON the node hashes and signs.

Members are sorted by their UTF-16 code units, strings keep non-ASCII characters as they are and
escape only what JSON requires, and numbers use the ECMAScript shortest form (integral floats
lose their `.0`).
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import Any

from saferefer._jcs import canonicalize as sdk_canonicalize


def _number(value: float) -> str:
    # Floats are rare in what the node signs; the SDK's encoder spells ECMAScript's
    # Number.prototype.toString in full (e.g. 0.00001, where Python's repr gives 1e-05), and a
    # signature only verifies when both sides produce the same bytes.
    return sdk_canonicalize(value).decode("ascii")


def _encode(value: Any, out: list[str]) -> None:
    # `encode_basestring` is what `json.dumps(text, ensure_ascii=False)` runs for a string, without
    # building an encoder per call (every audit entry and signed payload goes through here).
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, key in enumerate(sorted(value, key=lambda k: str(k).encode("utf-16-be"))):
            if index:
                out.append(",")
            out.append(encode_basestring(str(key)))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"JCS cannot encode {type(value).__name__}")


def canonicalize(value: Any) -> bytes:
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
