"""The event feed's gap detection (SR-EVENT-006), against scripted pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import saferefer
from saferefer._resources import spec_dir

ORG = "urn:saferefer:org:NL:made-up"
JSON = {"content-type": "application/json"}
TEMPLATE = json.loads(
    (spec_dir() / "examples" / "valid" / "event" / "referral-submitted.json").read_text()
)


def _event(seq: int) -> dict[str, Any]:
    return TEMPLATE | {"id": f"01936f5e-8a7b-7c3d-9e4f-{seq:012x}", "sequence": f"{seq:020d}"}


def _page(*seqs: int, cursor: str = "c") -> dict[str, Any]:
    return {"items": [_event(s) for s in seqs], "next_cursor": cursor}


def _client(server: Any, key: Path) -> saferefer.Client:
    return saferefer.Client(
        base_url=server.base_url,
        org_id=ORG,
        private_key_file=key,
        node_id="urn:saferefer:node:NL:x",
    )


def test_feed_rereads_once_and_continues_when_the_gap_fills(
    scripted_server: Any, org_key_file: Path
) -> None:
    scripted_server.on(
        "/v1/events",
        (200, JSON, _page(1, 2, cursor="c2")),
        (200, JSON, _page(4, cursor="c4")),  # 3 is missing ...
        (200, JSON, _page(3, 4, cursor="c4")),  # ... and there on the re-read
        (200, JSON, _page(cursor="c4")),
    )
    with _client(scripted_server, org_key_file) as client:
        feed = client.events.iterate()
        assert [int(e.sequence) for e in feed] == [1, 2, 3, 4]
        assert feed.cursor == "c4"
    afters = [c.path.partition("after=")[2] for c in scripted_server.calls("/v1/events")]
    assert afters == ["", "c2", "c2", "c4"]


def test_feed_raises_on_a_persistent_gap(scripted_server: Any, org_key_file: Path) -> None:
    scripted_server.on(
        "/v1/events", (200, JSON, _page(1, 2, cursor="c2")), (200, JSON, _page(5, cursor="c5"))
    )
    with (
        _client(scripted_server, org_key_file) as client,
        pytest.raises(saferefer.EventGapError) as info,
    ):
        list(client.events.iterate())
    assert (info.value.expected_sequence, info.value.received_sequence) == (3, 5)


def test_subject_ref_is_pairwise_and_stable() -> None:
    secret = b"k" * 32
    a = saferefer.subject_ref(secret, "urn:saferefer:org:NL:demo-shelter", "C-1")
    assert a == saferefer.subject_ref(secret, "urn:saferefer:org:NL:demo-shelter", "C-1")
    assert a != saferefer.subject_ref(secret, "urn:saferefer:org:NL:demo-police", "C-1")
    assert a.startswith("srp1.")
    assert len(a) == 48
    with pytest.raises(saferefer.ConfigurationError):
        saferefer.subject_ref(b"short", "x", "y")
