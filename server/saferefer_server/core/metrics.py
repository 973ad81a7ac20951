"""Prometheus metrics of the node, served at `/metrics`.

Domain code reports through the small functions here (`record_decision`,
`register_outbox_depth`) rather than touching prometheus_client, so metric names stay in one place.
One process serves one node, so the metrics are process-wide; the outbox probe is handed a
database session of the app being scraped, so several apps in one test process stay correct.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from sqlalchemy.ext.asyncio import AsyncSession

OutboxDepthProbe = Callable[[AsyncSession], Awaitable[int]]
# Values by label tuple (empty tuple for an unlabelled gauge).
GaugeProbe = Callable[[AsyncSession], Awaitable[Mapping[tuple[str, ...], float]]]

log = logging.getLogger("saferefer.metrics")

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "saferefer_http_requests",
            "HTTP requests answered, by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "saferefer_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "saferefer_policy_decisions",
            "Policy decisions, by outcome (allow, deny, engine_failure)",
            ["outcome"],
            registry=self.registry,
        )
        self.violations = Counter(
            "saferefer_policy_violations",
            "Violations reported by denying policy decisions, by violation code",
            ["code"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "saferefer_outbox_depth",
            "Events waiting in the outbox for delivery",
            registry=self.registry,
        )
        self.outbox_probe: OutboxDepthProbe | None = None
        self.gauges: dict[str, tuple[Gauge, GaugeProbe]] = {}

    async def render(self, db_session: AsyncSession) -> bytes:
        # A failing probe leaves its gauge stale but never breaks the scrape.
        if self.outbox_probe is not None:
            try:
                self.outbox_depth.set(await self.outbox_probe(db_session))
            except Exception as exc:
                log.warning(
                    "metrics probe failed",
                    extra={"metric": "saferefer_outbox_depth", "exception": type(exc).__name__},
                )
        for name, (gauge, probe) in self.gauges.items():
            try:
                values = await probe(db_session)
            except Exception as exc:
                log.warning(
                    "metrics probe failed", extra={"metric": name, "exception": type(exc).__name__}
                )
                continue
            gauge.clear()
            for labels, value in values.items():
                (gauge.labels(*labels) if labels else gauge).set(value)
        return generate_latest(self.registry)


_metrics = NodeMetrics()


def current() -> NodeMetrics:
    return _metrics


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    node_metrics = current()
    node_metrics.requests.labels(method, route, str(status)).inc()
    node_metrics.latency.labels(method, route).observe(seconds)


def record_decision(allow: bool, codes: Iterable[str], *, engine_failure: bool = False) -> None:
    """Count one policy decision and each violation code it reported."""
    node_metrics = current()
    outcome = "engine_failure" if engine_failure else ("allow" if allow else "deny")
    node_metrics.decisions.labels(outcome).inc()
    for code in codes:
        node_metrics.violations.labels(code).inc()


def register_outbox_depth(probe: OutboxDepthProbe) -> None:
    """Install the coroutine that counts undelivered outbox events; awaited on every scrape with
    a fresh session of the app being scraped. Register it once, at import of the events module."""
    current().outbox_probe = probe


def register_gauge(
    name: str, documentation: str, probe: GaugeProbe, labelnames: tuple[str, ...] = ()
) -> None:
    """A gauge whose values `probe(db_session)` computes on every scrape, e.g.
    `register_gauge("saferefer_federation_outbox_depth", "...", probe, ("status",))` with a probe
    returning `{("pending",): 3, ("dead",): 1}`. Registering a name again replaces its probe."""
    node_metrics = current()
    if name in node_metrics.gauges:
        node_metrics.gauges[name] = (node_metrics.gauges[name][0], probe)
        return
    gauge = Gauge(name, documentation, labelnames, registry=node_metrics.registry)
    node_metrics.gauges[name] = (gauge, probe)
