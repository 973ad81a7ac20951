"""The fast input hand-over gives rego-cpp exactly what parsing the JSON text would."""

from __future__ import annotations

import json
from typing import Any

import pytest
import regopy
from saferefer_server.policy._rego_input import set_input

ECHO = """\
package t

import rego.v1

echo := {"input": input, "keys": [k | input.o[k]], "same": input.s == "say \\"hi\\"\\n"}
"""
DOCUMENTS = {
    "tricky-strings": {"s": 'say "hi"\n', "o": {'k"q\\': 1, "é😀": 2, "\u0001": None}},
    "integers": {"s": "", "o": {"big": 2**63 - 1, "neg": -(2**63), "zero": 0}},
    "floats": {"s": "", "o": {"tiny": 2.5e-7, "third": 1 / 3, "z": 0.0}},
    "nesting": {"s": "x", "o": {"a": [[], {}, [1, [True, False]], {"b": {"c": "d"}}]}},
    "beyond-int64": {"s": "x", "o": {"huge": 2**70}},
}


@pytest.fixture(scope="module")
def bundle() -> regopy.Bundle:
    builder = regopy.Interpreter()
    builder.add_module("t.rego", ECHO)
    return builder.build(None, ["t/echo"])


def _echo(bundle: regopy.Bundle, hand_over: Any) -> str:
    interpreter = regopy.Interpreter()
    interpreter.log_level = regopy.LogLevel.NONE
    hand_over(interpreter)
    return str(interpreter.query_bundle_entrypoint(bundle, "t/echo"))


@pytest.mark.parametrize("document", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_set_input_equals_parsed_json_text(bundle: regopy.Bundle, document: dict[str, Any]) -> None:
    text = json.dumps(document, ensure_ascii=False)

    fast = _echo(bundle, lambda i: set_input(i, document))
    parsed = _echo(bundle, lambda i: i.set_input_term(text))

    assert fast == parsed
    assert json.loads(fast)["expressions"][0]["input"] == document


@pytest.mark.parametrize(
    "document",
    [{"s": {1, 2}}, {"s": float("nan")}, {"s": float("inf")}, {1: "x"}, {"s": b"bytes"}],
    ids=["set", "nan", "inf", "int-key", "bytes"],
)
def test_set_input_refuses_what_is_not_json(document: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        set_input(regopy.Interpreter(), document)
