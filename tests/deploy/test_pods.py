"""What every pod must have: non-root and locked down, bounded resources, probes, graceful stop."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import (
    BASE,
    WORKLOAD_KINDS,
    Manifest,
    containers,
    cpu_cores,
    pod_template,
    quantity_bytes,
    resources,
)

WORKLOADS = [m for m in resources(BASE) if m.kind in WORKLOAD_KINDS]
DEPLOYMENTS = [m for m in WORKLOADS if m.kind == "Deployment"]

# The uid the Dockerfile creates; a uid (not the user name) lets the kubelet verify non-root.
IMAGE_UID = 10001
# consumers: a worker stops consuming on SIGTERM and exits within this many seconds.
WORKER_STOP_DEADLINE_S = 30
# Design target: at most 200 MB RSS per worker; the memory limit must leave room for it.
WORKER_RSS_TARGET_BYTES = 200 * 10**6


@pytest.mark.parametrize("workload", WORKLOADS, ids=str)
def test_runs_as_non_root_with_nothing_to_escalate(workload: Manifest):
    pod = pod_template(workload)["spec"]
    ctx = pod.get("securityContext", {})
    assert ctx.get("runAsNonRoot") is True, f"{workload}: runAsNonRoot"
    assert ctx.get("runAsUser") == IMAGE_UID, f"{workload}: runAsUser {IMAGE_UID}"
    assert pod.get("automountServiceAccountToken") is False, f"{workload}: no API access is needed"
    for c in containers(pod):
        sc = c.get("securityContext", {})
        assert sc.get("allowPrivilegeEscalation") is False, f"{workload}/{c['name']}: privilege escalation"
        assert sc.get("readOnlyRootFilesystem") is True, f"{workload}/{c['name']}: read-only root"
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{workload}/{c['name']}: drop ALL"
        assert sc.get("runAsUser", IMAGE_UID) == IMAGE_UID and sc.get("privileged") is not True


@pytest.mark.parametrize("workload", WORKLOADS, ids=str)
def test_requests_and_limits_are_set_and_consistent(workload: Manifest):
    for c in containers(pod_template(workload)["spec"]):
        res = c.get("resources", {})
        requests, limits = res.get("requests", {}), res.get("limits", {})
        assert {"cpu", "memory"} <= set(requests) & set(limits), f"{workload}: cpu and memory, both"
        assert cpu_cores(requests["cpu"]) <= cpu_cores(limits["cpu"]), f"{workload}: cpu request > limit"
        assert quantity_bytes(requests["memory"]) <= quantity_bytes(limits["memory"]), f"{workload}: memory"


@pytest.mark.parametrize("workload", WORKLOADS, ids=str)
def test_uses_the_one_overridable_image(workload: Manifest):
    # Kustomize `images:` rewrites by name: every container must use the harvest-sync image.
    for c in containers(pod_template(workload)["spec"]):
        assert c["image"].split(":")[0] == "harvest-sync", f"{workload}: image {c['image']}"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=str)
def test_probes_and_metrics_use_the_configured_port(deployment: Manifest, config_data):
    port = int(config_data["METRICS_PORT"])
    template = pod_template(deployment)
    (c,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    assert ports.get("metrics") == port, f"{deployment}: port `metrics` must be METRICS_PORT {port}"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        assert get.get("path") == path, f"{deployment}: {probe} must GET {path}"
        assert get.get("port") in ("metrics", port), f"{deployment}: {probe} on the metrics port"
    annotations = template["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") == "true":
        assert annotations.get("prometheus.io/port") == str(port), f"{deployment}: scrape port"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=str)
def test_is_given_time_to_stop_gracefully(deployment: Manifest):
    grace = pod_template(deployment)["spec"].get("terminationGracePeriodSeconds", 30)
    assert grace > WORKER_STOP_DEADLINE_S, f"{deployment}: SIGKILL would cut a graceful stop short"


def test_worker_memory_limit_fits_the_design_target(workers):
    for deployment in workers.values():
        (c,) = pod_template(deployment)["spec"]["containers"]
        limit = quantity_bytes(c["resources"]["limits"]["memory"])
        assert WORKER_RSS_TARGET_BYTES < limit <= 256 * 2**20, f"{deployment}: memory limit {limit}"
