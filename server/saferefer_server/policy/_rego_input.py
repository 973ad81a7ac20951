"""Handing a JSON input document to rego-cpp, fast and with strings intact.

regopy 1.5.2 offers two ways, and neither will do:

* `Interpreter.set_input_term(json_text)` parses the text with rego-cpp's Rego parser: correct,
  but about 0.4-0.8 ms of CPU for a typical 1.2 KB SafeRefer input, most of the 1 ms budget.
* `Interpreter.set_input(regopy.Input(value))` builds the document node by node through the C
  API, but passes strings raw, while rego-cpp keeps every string it parsed (policy literals, data,
  term input) in its JSON-escaped form. A quote, backslash or control character in the input then
  compares unequal to the same text in a policy and makes the output invalid JSON.

`set_input` here builds the document through the same C API calls as `regopy.Input`, but hands
over each string (and object key) in the escaped form, without the quotes: the result is
byte-for-byte what `set_input_term` produces (tests/policy/test_engine.py and the differential
test check it), at about a quarter of the cost. A document holding a float or an integer
outside int64 goes through `set_input_term` instead: the C API takes no integer beyond int64 and
rounds floats to six decimal places (policy inputs carry no floats; the schema has integers only).

This uses regopy's ctypes handle (`regopy.rego_shared.rego`) and `Interpreter._impl`, which regopy
does not document as public; regopy is pinned exactly (`regopy==1.5.2`) for that reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._native import rego_shared, regopy

_C = rego_shared.rego  # the ctypes library regopy loaded, argtypes and restypes already set
_OK = 0
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_escape = json.JSONEncoder(ensure_ascii=False).encode


class _NeedsText(Exception):
    """The C API would change this value; parse the document as text instead."""


def set_input(interpreter: regopy.Interpreter, document: Mapping[str, Any]) -> None:
    """Make `document` the interpreter's input. Raises TypeError/ValueError if it is not JSON."""
    handle = _C.regoNewInput()
    try:
        try:
            _add(handle, document)
        except _NeedsText:
            interpreter.set_input_term(json.dumps(document, allow_nan=False, ensure_ascii=False))
            return
        if _C.regoSetInput(interpreter._impl, handle) != _OK:
            raise regopy.RegoError("rego-cpp refused the input")
    finally:
        _C.regoFreeInput(handle)


def _text(value: str) -> bytes:
    escaped: str = _escape(value)
    return escaped[1:-1].encode()


def _check(code: int) -> None:
    if code != _OK:
        raise regopy.RegoError("rego-cpp refused part of the input")


def _add(handle: Any, value: object) -> None:
    # Order matters: bool is an int, str is a Sequence.
    if value is True or value is False:
        _check(_C.regoInputBoolean(handle, value))
    elif isinstance(value, str):
        _check(_C.regoInputString(handle, _text(value)))
    elif isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _NeedsText
        _check(_C.regoInputInt(handle, value))
    elif isinstance(value, float):
        raise _NeedsText  # json.dumps(allow_nan=False) then refuses NaN and infinity
    elif value is None:
        _check(_C.regoInputNull(handle))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("object keys must be strings")
            _check(_C.regoInputString(handle, _text(key)))
            _add(handle, item)
            _check(_C.regoInputObjectItem(handle))
        _check(_C.regoInputObject(handle, len(value)))
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for item in value:
            _add(handle, item)
        _check(_C.regoInputArray(handle, len(value)))
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")
