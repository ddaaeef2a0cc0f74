"""Observability: Prometheus metrics and the /healthz, /readyz, /metrics endpoints.

* ``metrics`` — every metric, on a registry per App, and the small recording functions the
  consumer runtime, the Harvest client, the dispatcher and the scheduler call through hooks;
* ``database`` — what is read from PostgreSQL for probes and scrapes (SELECT 1, sync ages,
  ledger size), on a pool of its own with short timeouts;
* ``health`` — the WSGI app and the HTTP server on a daemon thread;
* ``wiring`` — starting the server for a worker or the scheduler from ``METRICS_PORT``.

Handlers never import this package: they are measured from the outside.
"""

from infra.observability.metrics import HarvestHooks, Metrics, path_template

__all__ = ["HarvestHooks", "Metrics", "path_template"]
