"""Every example runs, as a user would run it, against the demo node — and says what it should."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import saferefer

EXAMPLES = Path(__file__).resolve().parents[1]


def run(example: str, demo_server: Any, *extra: str, state_dir: Path | None = None) -> str:
    command = [
        sys.executable,
        str(EXAMPLES / example),
        "--credentials-dir",
        str(demo_server.credentials_dir),
        *extra,
    ]
    if state_dir is not None:
        command += ["--state-dir", str(state_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ngo_to_shelter_sends_only_permitted_categories(demo_server: Any) -> None:
    out = run("ngo_to_shelter.py", demo_server)
    assert "NGO-2026-0142: no consent to a shelter referral; nothing sent" in out
    assert "NGO-2026-0141: sent referral" in out
    assert "NGO-2026-0143: sent referral" in out
    sent = [line for line in out.splitlines() if "  sent " in line]
    withheld = [line for line in out.splitlines() if "withheld" in line]
    assert sent
    assert not [
        line for line in sent if "immigration_status" in line or "exploitation_account" in line
    ]
    assert all("immigration_status" in line for line in withheld)


def test_labour_inspectorate_to_ngo_and_the_firewall(demo_server: Any) -> None:
    out = run("labour_inspectorate_to_ngo.py", demo_server)
    assert "sent referral" in out
    assert "urn:saferefer:org:NL:demo-ngo: submitted" in out
    assert "dry-run to urn:saferefer:org:NL:demo-immigration: denied" in out
    assert "(R17)" in out
    assert "send refused by the node" in out


def test_recipient_processes_inbox_and_resumes(demo_server: Any, tmp_path: Path) -> None:
    run("ngo_to_shelter.py", demo_server)
    first = run("recipient_inbox.py", demo_server, state_dir=tmp_path)
    assert "signature verified" in first
    assert "accepted " in first
    second = run("recipient_inbox.py", demo_server, state_dir=tmp_path)
    assert "handled 0 new event(s)" in second  # the saved cursor: nothing handled twice


def test_consent_withdrawal_as_each_party_sees_it(demo_server: Any) -> None:
    out = run("consent_withdrawal.py", demo_server)
    assert "shelter before: referral submitted, payload released" in out
    assert "NGO: consent withdrawn, referral revoked" in out
    assert "shelter after: referral revoked, payload withheld" in out
    assert "shelter event: org.saferefer.consent.withdrawn" in out
    assert "shelter event: org.saferefer.erasure.requested" in out
    assert "shelter: erased and acknowledged" in out
    assert "NGO: a new referral under the withdrawn consent is refused" in out
    assert "NGO event: org.saferefer.erasure.acknowledged" in out


def test_webhook_receiver_verifies_deliveries(demo_server: Any) -> None:
    command = [
        sys.executable,
        str(EXAMPLES / "webhook_receiver.py"),
        "--port",
        "0",
        "--subscribe",
        "--credentials-dir",
        str(demo_server.credentials_dir),
    ]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as receiver:
        try:
            assert receiver.stdout is not None
            first = receiver.stdout.readline()
            assert first.startswith("subscribed "), first + receiver.stdout.read()
            run("ngo_to_shelter.py", demo_server)
            deadline = time.monotonic() + 60
            printed = ""
            while (
                time.monotonic() < deadline
                and "verified org.saferefer.referral.submitted" not in printed
            ):
                printed += receiver.stdout.readline()
            assert "verified org.saferefer.referral.submitted" in printed
            assert "rejected" not in printed
        finally:
            receiver.terminate()
            receiver.wait(timeout=10)
        # stopped, it removed its subscription: the node does not retry a receiver that is gone
        subscription_id = first.split(" as ")[1].strip()
        assert f"unsubscribed {subscription_id}" in receiver.stdout.read()
    with (
        saferefer.Client(
            credentials_file=demo_server.credentials_dir / "NL-demo-shelter.json"
        ) as shelter,
        pytest.raises(saferefer.NotFoundError),
    ):
        shelter.subscriptions.retrieve(subscription_id)
