"""The federation state of one node process, and the lifespan that starts and stops it.

`app.state.federation` holds a `FederationRuntime`: the node's identity, the trust list in force,
how to get the current node signing key, and the wake-up signal of the delivery worker. Nothing in
it is needed to decide anything another worker process would decide differently: the outbox and
inbox live in the database, and each process polls the same trust list source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from joserfc.jwk import ECKey

from saferefer_server.federation.errors import TrustListError
from saferefer_server.federation.settings import FederationSettings
from saferefer_server.federation.trustlist import (
    TrustListSource,
    TrustListStore,
    load_anchor,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger("saferefer.federation")


@dataclass
class FederationRuntime:
    node_id: str
    country: str
    settings: FederationSettings
    trust: TrustListStore
    # Returns the node's current ES256 signing key (with kid); called at every delivery attempt
    # so a node key rotation applies to messages already queued.
    signing_key: Callable[[], ECKey]
    wake_event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        """Tell the delivery worker that a message was committed to the outbox."""
        self.wake_event.set()

    @property
    def max_clock_skew(self) -> timedelta:
        return timedelta(seconds=self.settings.max_clock_skew_s)


def build_runtime(
    *,
    node_id: str,
    country: str,
    settings: FederationSettings,
    signing_key: Callable[[], ECKey],
) -> FederationRuntime:
    if settings.trust_list is None or settings.trust_anchor is None:
        raise TrustListError(
            "federation needs both SAFEREFER_FEDERATION_TRUST_LIST and "
            "SAFEREFER_FEDERATION_TRUST_ANCHOR"
        )
    store = TrustListStore(TrustListSource(settings.trust_list), load_anchor(settings.trust_anchor))
    return FederationRuntime(
        node_id=node_id, country=country, settings=settings, trust=store, signing_key=signing_key
    )


async def poll_trust_list(runtime: FederationRuntime, stop: asyncio.Event) -> None:
    """Re-read the trust list source every poll interval until `stop` is set; a bad list never
    replaces a good one. A read in progress finishes (it may run in a worker thread)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):  # not wait_for: see DeliveryWorker.run
            async with asyncio.timeout(runtime.settings.poll_interval_s):
                await stop.wait()
        if not stop.is_set():
            await refresh_trust_list(runtime)


async def refresh_trust_list(runtime: FederationRuntime) -> None:
    try:
        if await runtime.trust.refresh():
            current = runtime.trust.current
            assert current is not None
            logger.info(
                "trust list in force",
                extra={
                    "trust_list_sequence": current.sequence,
                    "nodes": len(current.document.peers),
                },
            )
            runtime.wake()  # a peer may have become reachable or trusted
    except TrustListError as exc:
        logger.warning("trust list refused", extra={"reason": str(exc)})


def _node_signing_key(app: FastAPI) -> Callable[[], ECKey]:
    """The platform's node key store: the same keys the node publishes at /jwks.json."""
    store: Any = app.state.node_keys

    def current() -> ECKey:
        node_key = store.signing_key()
        key: ECKey = node_key.key
        if key.kid != node_key.kid:
            key = ECKey.import_key(key.as_dict(private=True), {"kid": node_key.kid})
        return key

    return current


@contextlib.asynccontextmanager
async def run(app: FastAPI, settings: FederationSettings | None = None) -> AsyncIterator[None]:
    """Load the trust list and run the poller and the delivery worker for the app's lifetime.

    With no trust list configured, federation stays off: `app.state.federation` is None, the
    `/federation/v1` routes answer 404, and nothing is ever sent to another node.
    """
    from saferefer_server.federation.worker import DeliveryWorker

    settings = settings or FederationSettings()
    app.state.federation = None
    if not settings.enabled:
        yield
        return
    node_settings = app.state.settings
    try:
        if node_settings.production and (settings.trust_list or "").startswith("http://"):
            raise TrustListError(
                "production mode refuses SAFEREFER_FEDERATION_TRUST_LIST over plain http"
            )
        runtime = build_runtime(
            node_id=node_settings.node_id,
            country=node_settings.country,
            settings=settings,
            signing_key=_node_signing_key(app),
        )
    except TrustListError as exc:
        # A background task cannot stop the server; federation stays off (routes answer 404,
        # nothing is sent) and the reason is logged at error level for the operator.
        logger.error("federation disabled", extra={"reason": str(exc)})
        yield
        return
    app.state.federation = runtime
    await refresh_trust_list(runtime)
    worker = DeliveryWorker(
        runtime=runtime, sessionmaker=app.state.sessionmaker, app_state=app.state
    )
    stop_polling = asyncio.Event()
    poller = asyncio.create_task(
        poll_trust_list(runtime, stop_polling), name="federation-trust-list"
    )
    delivery = asyncio.create_task(worker.run(), name="federation-delivery")
    try:
        yield
    finally:
        stop_polling.set()
        worker.stop()
        for task, grace_s in ((delivery, settings.delivery_timeout_s + 5), (poller, 15.0)):
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, grace_s)
        await worker.aclose()
        app.state.federation = None


async def serve(app: FastAPI) -> None:
    """`run` as a background task (`domain_routers.BACKGROUND_TASKS`): until cancelled."""
    async with run(app):
        await asyncio.Event().wait()


def runtime_of(app: FastAPI) -> FederationRuntime | None:
    """The app's federation runtime; None while federation is off or not started yet."""
    runtime: FederationRuntime | None = getattr(app.state, "federation", None)
    return runtime
