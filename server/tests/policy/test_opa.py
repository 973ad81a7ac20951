"""The OPA engine's own guarantees: a lost or restarted server, refused policies, stale modules."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opa_client import AsyncOpaClient
from saferefer_server.policy import OpaEngine, OpaProcess, build_engine
from saferefer_server.policy import _opa as opa_module
from saferefer_server.policy._opa import RELOAD_INTERVAL_S


def _freeze(pid: int) -> None:
    """SIGSTOP `pid` and wait until every thread of it has stopped.

    kill() returns before the signal has reached all of OPA's threads; a request sent in that
    window may still be answered.
    """
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        states = {
            Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()[0]
            for task in os.listdir(f"/proc/{pid}/task")
        }
        if states <= {"T", "t"}:
            return
        time.sleep(0.005)
    raise AssertionError("OPA did not stop")


REPO = Path(__file__).resolve().parents[3]
SCHEMA_DIR = REPO / "spec" / "schemas"
ALLOWED = {"purpose": "assistance", "data_categories": ["identity"], "context": {}}
PolicyWriter = Callable[..., Path]


def _opa_engine(policy_dir: Path, opa: OpaProcess, **kwargs: Any) -> OpaEngine:
    engine = build_engine(
        kind="opa", policy_dir=policy_dir, opa_url=opa.url, schema_dir=SCHEMA_DIR, **kwargs
    )
    assert isinstance(engine, OpaEngine)
    return engine


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        getattr(r, "policy_failure", "") for r in caplog.records if r.name.startswith("saferefer")
    ]


async def test_decide_fails_closed_when_opa_is_killed(
    toy_policy_dir: Path, opa_server: OpaProcess, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _opa_engine(toy_policy_dir, opa_server)
    try:
        assert (await engine.decide(ALLOWED)).allow is True

        opa_server.kill()
        decision = await engine.decide(ALLOWED)
        healthy = await engine.check_health()
    finally:
        await engine.aclose()

    assert (decision.allow, decision.engine_failure) == (False, True)
    assert healthy is False
    assert _failures(caplog) == ["unavailable"]


async def test_decide_fails_closed_when_opa_freezes(
    toy_policy_dir: Path, opa_server: OpaProcess, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _opa_engine(toy_policy_dir, opa_server, timeout_s=0.5)
    assert opa_server.pid is not None
    try:
        assert (await engine.decide(ALLOWED)).allow is True
        _freeze(opa_server.pid)  # a hung sidecar: connections open, no answers
        try:
            frozen = await engine.decide(ALLOWED)
        finally:
            os.kill(opa_server.pid, signal.SIGCONT)
        thawed = await engine.decide(ALLOWED)
    finally:
        await engine.aclose()

    assert frozen.engine_failure is True
    assert _failures(caplog) == ["timeout"]
    assert (thawed.allow, thawed.engine_failure) == (True, False)


async def test_decide_stops_waiting_for_upload_when_opa_is_frozen_at_start(
    toy_policy_dir: Path,
    opa_server: OpaProcess,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(opa_module, "LOAD_WAIT_S", 0.3)
    engine = _opa_engine(toy_policy_dir, opa_server, timeout_s=0.1)
    assert opa_server.pid is not None
    _freeze(opa_server.pid)
    try:
        started = time.perf_counter()
        decision = await engine.decide(ALLOWED)
        waited = time.perf_counter() - started
    finally:
        os.kill(opa_server.pid, signal.SIGCONT)
        await engine.aclose()

    assert decision.engine_failure is True
    assert waited < 2
    assert _failures(caplog) == ["unavailable"]


async def test_decide_pushes_policies_again_when_opa_restarts_empty(
    toy_policy_dir: Path, opa_server: OpaProcess
) -> None:
    engine = _opa_engine(toy_policy_dir, opa_server)
    try:
        assert (await engine.decide(ALLOWED)).allow is True
        opa_server.kill()
        opa_server.start()  # same port, no policies: a restarted sidecar

        during = await engine.decide(ALLOWED)  # undefined on the empty server: fails closed
        await asyncio.sleep(RELOAD_INTERVAL_S)
        after = await engine.decide(ALLOWED)
        healthy = await engine.check_health()
    finally:
        await engine.aclose()

    assert during.engine_failure is True
    assert (after.allow, after.engine_failure) == (True, False)
    assert healthy is True


async def test_load_completes_when_first_caller_stops_waiting(
    toy_policy_dir: Path, opa_server: OpaProcess
) -> None:
    engine = _opa_engine(toy_policy_dir, opa_server)
    try:
        with pytest.raises(TimeoutError):  # a readiness probe with a tight deadline
            await asyncio.wait_for(engine.check_health(), 0.001)

        decision = await engine.decide(ALLOWED)  # well within RELOAD_INTERVAL_S
    finally:
        await engine.aclose()

    assert (decision.allow, decision.engine_failure) == (True, False)


async def test_decide_fails_closed_when_opa_is_not_running(toy_policy_dir: Path) -> None:
    stopped = OpaProcess()  # never started: nothing listens on its port
    engine = _opa_engine(toy_policy_dir, stopped)
    try:
        decision = await engine.decide(ALLOWED)
        healthy = await engine.check_health()
    finally:
        await engine.aclose()

    assert decision.engine_failure is True
    assert healthy is False


UNDEFINED_FUNCTION = """\
package saferefer.sharing

import rego.v1

decision := {"allow": no_such_function(input), "violations": [], "permitted_categories": [],
	"obligations": []}
"""


async def test_decide_fails_closed_when_opa_refuses_policy(
    write_policies: PolicyWriter, opa_server: OpaProcess, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _opa_engine(
        write_policies({"saferefer/sharing/bad.rego": UNDEFINED_FUNCTION}), opa_server
    )
    try:
        decision = await engine.decide(ALLOWED)
        healthy = await engine.check_health()
    finally:
        await engine.aclose()

    assert decision.engine_failure is True
    assert healthy is False
    assert _failures(caplog) == ["unavailable"]
    assert "saferefer/sharing/bad.rego" in caplog.text
    assert "no_such_function" in caplog.text


async def test_load_deletes_stale_modules_when_server_held_older_policies(
    toy_policy_dir: Path, opa_server: OpaProcess
) -> None:
    # An old revision's module: its `finding` rule conflicts with the new set's `finding`
    # function, so the new set cannot even compile while it is there.
    stale = "package saferefer.sharing\n\nfinding := 1\n"
    async with AsyncOpaClient(host="127.0.0.1", port=opa_server.port) as client:
        await client.update_policy_from_string(stale, "saferefer/old/stale.rego", rego_compat=False)
    engine = _opa_engine(toy_policy_dir, opa_server)
    try:
        decision = await engine.decide(ALLOWED)
        async with AsyncOpaClient(host="127.0.0.1", port=opa_server.port) as client:
            held = sorted(await client.get_policies_list())
    finally:
        await engine.aclose()

    assert (decision.allow, decision.engine_failure) == (True, False)
    assert held == ["saferefer/sharing/a_decision.rego", "saferefer/sharing/lib.rego"]


async def test_load_succeeds_when_two_engines_replace_stale_modules_at_once(
    toy_policy_dir: Path, opa_server: OpaProcess
) -> None:
    async with AsyncOpaClient(host="127.0.0.1", port=opa_server.port) as client:
        for n in range(5):
            module = f"package old{n}\n\nx := {n}\n"
            await client.update_policy_from_string(module, f"old/{n}.rego", rego_compat=False)
    first, second = _opa_engine(toy_policy_dir, opa_server), _opa_engine(toy_policy_dir, opa_server)
    try:
        decisions = await asyncio.gather(first.decide(ALLOWED), second.decide(ALLOWED))
    finally:
        await first.aclose()
        await second.aclose()

    assert [d.engine_failure for d in decisions] == [False, False]


async def test_check_health_reports_false_when_policies_were_deleted(
    toy_policy_dir: Path, opa_server: OpaProcess
) -> None:
    engine = _opa_engine(toy_policy_dir, opa_server)
    try:
        assert await engine.check_health() is True
        async with AsyncOpaClient(host="127.0.0.1", port=opa_server.port) as client:
            await client.delete_policy("saferefer/sharing/a_decision.rego")

        healthy = await engine.check_health()
    finally:
        await engine.aclose()

    assert healthy is False


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8181", "ftp://127.0.0.1:8181", "http://127.0.0.1:8181/v1"]
)
def test_build_engine_rejects_malformed_opa_url(toy_policy_dir: Path, url: str) -> None:
    with pytest.raises(ValueError, match="OPA URL"):
        build_engine(kind="opa", policy_dir=toy_policy_dir, opa_url=url, schema_dir=SCHEMA_DIR)


def test_opa_process_stops_when_context_exits() -> None:
    with OpaProcess() as opa:
        assert opa.healthy() is True
        pid = opa.pid
    assert pid is not None
    assert opa.running is False
    assert opa.healthy() is False


# --- integrity: OPA holds exactly the node's policy set ---------------------------------------

# What someone who can write to OPA would put there: a decision that allows everything.
ALLOW_EVERYTHING = """\
package saferefer.sharing

import rego.v1

# MARKER-evil-module
decision := {"allow": true, "violations": [], "permitted_categories": input.data_categories,
	"obligations": []}
"""
DENIED = {"purpose": "criminal_investigation", "data_categories": ["identity"], "context": {}}


def _integrity_records(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [r for r in caplog.records if r.getMessage().startswith("OPA holds policies or data")]


def _opa_client(opa: OpaProcess) -> AsyncOpaClient:
    return AsyncOpaClient(host="127.0.0.1", port=opa.port, token=opa.token)


async def test_check_health_fails_closed_and_pushes_again_when_a_module_is_replaced(
    toy_policy_dir: Path, opa_server: OpaProcess, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _opa_engine(toy_policy_dir, opa_server)
    try:
        assert (await engine.decide(DENIED)).allow is False
        async with _opa_client(opa_server) as client:
            await client.update_policy_from_string(
                ALLOW_EVERYTHING, "saferefer/sharing/a_decision.rego", rego_compat=False
            )

        healthy_after_tampering = await engine.check_health()
        restored = await engine.decide(DENIED)  # waits for the new push, never uses the fake
        healthy_after_push = await engine.check_health()
    finally:
        await engine.aclose()

    assert healthy_after_tampering is False
    assert (restored.allow, restored.engine_failure) == (False, False)
    assert healthy_after_push is True
    (record,) = _integrity_records(caplog)
    assert record.opa_modules_changed == ["saferefer/sharing/a_decision.rego"]
    assert "MARKER-evil-module" not in caplog.text


async def test_check_health_detects_an_added_module_and_changed_data(
    toy_policy_dir: Path, opa_server: OpaProcess, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _opa_engine(toy_policy_dir, opa_server)
    try:
        assert await engine.check_health() is True
        async with _opa_client(opa_server) as client:
            await client.update_policy_from_string(
                "package saferefer.extra\n\nx := 1\n", "extra.rego", rego_compat=False
            )
            # Nothing is "never shared" any more.
            await client.patch_data(
                "saferefer/sharing", [{"op": "replace", "path": "/never", "value": []}]
            )

        healthy = await engine.check_health()
        never_shared = await engine.decide({**ALLOWED, "data_categories": ["criminal_record"]})
        async with _opa_client(opa_server) as client:
            held = sorted(await client.get_policies_list())
    finally:
        await engine.aclose()

    assert healthy is False
    (record,) = _integrity_records(caplog)
    assert record.opa_modules_added == ["extra.rego"]
    assert record.opa_data_changed == ["data.saferefer.sharing.never"]
    assert [v["code"] for v in never_shared.violations] == ["category_never_shared"]
    assert held == ["saferefer/sharing/a_decision.rego", "saferefer/sharing/lib.rego"]


async def test_decision_path_checks_at_most_once_per_interval_and_restores_the_policies(
    toy_policy_dir: Path,
    opa_server: OpaProcess,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(opa_module, "VERIFY_INTERVAL_S", 0.5)
    engine = _opa_engine(toy_policy_dir, opa_server)
    checks = 0
    differences = engine._differences

    async def counted() -> Any:
        nonlocal checks
        checks += 1
        return await differences()

    monkeypatch.setattr(engine, "_differences", counted)
    try:
        assert (await engine.decide(DENIED)).allow is False  # loaded and checked once
        for _ in range(20):
            await engine.decide(DENIED)
        checks_within_interval = checks
        async with _opa_client(opa_server) as client:
            await client.update_policy_from_string(
                ALLOW_EVERYTHING, "saferefer/sharing/a_decision.rego", rego_compat=False
            )
        await asyncio.sleep(0.6)
        await engine.decide(DENIED)  # due: starts the check in the background
        assert engine._verifying is not None
        await engine._verifying
        after = await engine.decide(DENIED)
    finally:
        await engine.aclose()

    assert checks_within_interval == 1
    assert (after.allow, after.engine_failure) == (False, False)
    assert len(_integrity_records(caplog)) == 1


async def test_engine_sends_its_token_to_an_opa_that_requires_one(toy_policy_dir: Path) -> None:
    token = "opa-token-for-the-test"
    with OpaProcess(token=token) as opa:
        async with AsyncOpaClient(host="127.0.0.1", port=opa.port) as anonymous:
            with pytest.raises(Exception, match="unauthorized"):
                await anonymous.update_policy_from_string(
                    ALLOW_EVERYTHING, "saferefer/sharing/a_decision.rego", rego_compat=False
                )
        with_token = _opa_engine(toy_policy_dir, opa, opa_token=token)
        without_token = _opa_engine(toy_policy_dir, opa)
        try:
            allowed = await with_token.decide(ALLOWED)
            healthy = await with_token.check_health()  # OPA's system.authz module is not ours
            refused = await without_token.decide(ALLOWED)
            healthy_without_token = await without_token.check_health()
        finally:
            await with_token.aclose()
            await without_token.aclose()

    assert (allowed.allow, allowed.engine_failure, healthy) == (True, False, True)
    assert (refused.engine_failure, healthy_without_token) == (True, False)
