"""Request counts and latency for Prometheus.

gunicorn runs several worker processes; when PROMETHEUS_MULTIPROC_DIR is set (before the first
import of prometheus_client), every worker writes its samples there and /metrics sums them all.
Otherwise each worker reports only its own requests.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "<unmatched>"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self._registry = CollectorRegistry()
        self._requests = Counter(
            "chuyi_gateway_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self._registry,
        )
        self._latency = Histogram(
            "chuyi_gateway_request_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self._registry,
        )

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        route = route or UNMATCHED_ROUTE
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self._registry)
