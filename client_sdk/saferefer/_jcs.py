"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes a payload signature covers."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["canonicalize"]


def canonicalize(value: Any) -> bytes:
    """The JCS form of ``value`` as UTF-8 bytes (sorted members, no whitespace, ES6 numbers)."""
    return _serialize(value).encode("utf-8")


def _serialize(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Mapping):
        items = sorted(
            ((str(k), v) for k, v in value.items()), key=lambda kv: kv[0].encode("utf-16-be")
        )
        return "{" + ",".join(f"{_serialize(k)}:{_serialize(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_serialize(v) for v in value) + "]"
    raise TypeError(f"not JSON data: {type(value).__name__}")


def _number(value: float) -> str:
    """ECMAScript Number.prototype.toString for a finite double (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(value):
        raise TypeError("NaN and Infinity are not JSON numbers")
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)  # shortest round-trip digits, like ECMAScript
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return text
    digits = mantissa.replace(".", "").replace("-", "").rstrip("0") or "0"
    exp = int(exponent)
    sign = "-" if value < 0 else ""
    # decimal point position n as in ECMAScript: value = 0.digits * 10**n
    n = exp + 1
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    body = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{body}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
