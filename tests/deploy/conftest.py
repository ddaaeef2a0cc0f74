"""Fixtures over deploy/base: the resources `kubectl apply -k deploy/base` would create."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import BASE, Manifest, of_kind, resources, worker_queues


@pytest.fixture(scope="session")
def base() -> list[Manifest]:
    return resources(BASE)


@pytest.fixture(scope="session")
def deployments(base: list[Manifest]) -> dict[str, Manifest]:
    return of_kind(base, "Deployment")


@pytest.fixture(scope="session")
def workers(deployments: dict[str, Manifest]) -> dict[str, Manifest]:
    """Worker Deployments by each queue they consume."""
    found: dict[str, Manifest] = {}
    for m in deployments.values():
        for queue in worker_queues(m) or ():
            assert queue not in found, f"{queue} is consumed by both {found[queue]} and {m}"
            found[queue] = m
    return found


@pytest.fixture(scope="session")
def config_data(base: list[Manifest]) -> dict[str, str]:
    (configmap,) = of_kind(base, "ConfigMap").values()
    return configmap.doc["data"]
