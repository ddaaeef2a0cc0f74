"""Cross-references a schema cannot see: names, selectors and queues must agree across files."""

from __future__ import annotations

from infra.amqp import QUEUES
from tests.deploy.manifests import WORKLOAD_KINDS, Manifest, matches, of_kind, pod_template

APP_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"


def test_every_resource_and_pod_carries_the_app_and_component_labels(base):
    for m in base:
        labels = m.doc["metadata"].get("labels", {})
        assert labels.get(APP_LABEL) == "harvest-sync", f"{m}: {APP_LABEL} must be harvest-sync"
        assert labels.get(COMPONENT_LABEL), f"{m}: no {COMPONENT_LABEL}"
        assert "namespace" not in m.doc["metadata"], f"{m}: the base is namespace-agnostic"
        if m.kind in WORKLOAD_KINDS:
            pod_labels = pod_template(m)["metadata"]["labels"]
            assert pod_labels.get(COMPONENT_LABEL) == labels[COMPONENT_LABEL], f"{m}: pod component label"


def test_every_queue_has_exactly_one_worker_deployment(workers):
    # The workers fixture already refuses a queue consumed by two Deployments.
    assert sorted(workers) == sorted(QUEUES)


def test_every_worker_is_scaled_by_keda_on_each_of_its_queues(base, workers, config_data):
    prefix = config_data["AMQP_PREFIX"]
    by_target = {m.doc["spec"]["scaleTargetRef"]["name"]: m for m in of_kind(base, "ScaledObject").values()}
    for queue, deployment in workers.items():
        scaled = by_target.get(deployment.name)
        assert scaled, f"{deployment}: no ScaledObject targets it"
        spec = scaled.doc["spec"]
        # The work queue is {AMQP_PREFIX}.{queue} (infra/amqp/topology.py Names.work).
        (trigger,) = [t for t in spec["triggers"] if t["metadata"]["queueName"] == f"{prefix}.{queue}"]
        assert trigger["type"] == "rabbitmq", f"{scaled}: scale on the RabbitMQ queue"
        assert trigger["metadata"]["mode"] == "QueueLength"
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], f"{scaled}: replica bounds"
        assert "cooldownPeriod" in spec, f"{scaled}: set cooldownPeriod explicitly"


def test_scaled_objects_target_existing_deployments(base, deployments):
    for m in of_kind(base, "ScaledObject").values():
        ref = m.doc["spec"]["scaleTargetRef"]
        assert ref.get("kind", "Deployment") == "Deployment", f"{m}: only Deployments are scaled"
        assert ref["name"] in deployments, f"{m}: targets missing Deployment {ref['name']}"


def test_keda_scaled_deployments_leave_replicas_to_keda(base, deployments):
    # A `replicas` in the manifest would reset KEDA's choice on every apply.
    for m in of_kind(base, "ScaledObject").values():
        target = deployments[m.doc["spec"]["scaleTargetRef"]["name"]]
        assert "replicas" not in target.doc["spec"], f"{target}: drop replicas, KEDA owns it"


def test_trigger_authentication_reads_existing_secret_keys(base):
    secrets = of_kind(base, "Secret")
    auths = of_kind(base, "TriggerAuthentication")
    for m in of_kind(base, "ScaledObject").values():
        for trigger in m.doc["spec"]["triggers"]:
            ref = trigger.get("authenticationRef")
            if ref:
                assert ref["name"] in auths, f"{m}: no TriggerAuthentication {ref['name']}"
            else:
                assert "hostFromEnv" in trigger["metadata"], f"{m}: the trigger has no broker address"
    for auth in auths.values():
        for ref in auth.doc["spec"]["secretTargetRef"]:
            assert ref["name"] in secrets, f"{auth}: no Secret {ref['name']}"
            secret = secrets[ref["name"]].doc
            keys = {*secret.get("stringData", {}), *secret.get("data", {})}
            assert ref["key"] in keys, f"{auth}: Secret {ref['name']} has no key {ref['key']}"


def test_workloads_load_the_existing_configmap_and_secret(base):
    configmaps, secrets = of_kind(base, "ConfigMap"), of_kind(base, "Secret")
    for m in base:
        if m.kind not in WORKLOAD_KINDS:
            continue
        for container in pod_template(m)["spec"]["containers"]:
            sources = container.get("envFrom", [])
            cm = [s["configMapRef"]["name"] for s in sources if "configMapRef" in s]
            sec = [s["secretRef"]["name"] for s in sources if "secretRef" in s]
            assert cm and all(n in configmaps for n in cm), f"{m}: configMapRef {cm} must exist"
            assert sec and all(n in secrets for n in sec), f"{m}: secretRef {sec} must exist"
            # optional: true would start a pod with no credentials instead of failing visibly.
            assert not any(s.get(k, {}).get("optional") for s in sources for k in s), f"{m}: optional ref"


def test_each_selector_picks_exactly_its_own_pods(base, deployments):
    pods: list[tuple[Manifest, dict[str, str]]] = [
        (m, pod_template(m)["metadata"]["labels"]) for m in base if m.kind in WORKLOAD_KINDS
    ]
    for m in [*deployments.values(), *of_kind(base, "PodDisruptionBudget").values()]:
        selected = [w for w, labels in pods if matches(m.doc["spec"]["selector"], labels)]
        assert len(selected) == 1, f"{m}: selector matches {[str(w) for w in selected]}, want one"
        if m.kind == "Deployment":
            assert selected[0] is m, f"{m}: selector does not match its own pod template"


def test_scheduler_runs_two_replicas_and_keeps_one_through_disruptions(base, deployments):
    # Two are safe: slots are claimed in PostgreSQL, so each is published once.
    (scheduler,) = [
        m for m in deployments.values() if m.doc["metadata"]["labels"][COMPONENT_LABEL] == "scheduler"
    ]
    container = pod_template(scheduler)["spec"]["containers"][0]
    assert container["command"][:2] == ["harvest-sync", "scheduler"]
    assert scheduler.doc["spec"]["replicas"] == 2
    budgets = [
        p
        for p in of_kind(base, "PodDisruptionBudget").values()
        if matches(p.doc["spec"]["selector"], pod_template(scheduler)["metadata"]["labels"])
    ]
    assert [p.doc["spec"].get("minAvailable") for p in budgets] == [1]


def test_every_worker_has_a_disruption_budget_of_one(base, workers):
    budgets = of_kind(base, "PodDisruptionBudget").values()
    for deployment in workers.values():
        labels = pod_template(deployment)["metadata"]["labels"]
        (budget,) = [p for p in budgets if matches(p.doc["spec"]["selector"], labels)]
        assert budget.doc["spec"].get("maxUnavailable") == 1, f"{budget}"


def test_the_migrate_job_exists_and_cleans_up_after_itself(base):
    jobs = [
        m
        for m in of_kind(base, "Job").values()
        if pod_template(m)["spec"]["containers"][0]["command"] == ["harvest-sync", "migrate"]
    ]
    assert len(jobs) == 1, "one migrate Job"
    spec = jobs[0].doc["spec"]
    assert spec.get("backoffLimit") is not None and spec.get("ttlSecondsAfterFinished") is not None
    assert spec["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")


def test_every_service_selects_exactly_one_workloads_pods(base):
    pods = [(m, pod_template(m)["metadata"]["labels"]) for m in base if m.kind in WORKLOAD_KINDS]
    for service in of_kind(base, "Service").values():
        selector = {"matchLabels": service.doc["spec"]["selector"]}
        selected = [w for w, labels in pods if matches(selector, labels)]
        assert len(selected) == 1, f"{service}: selects {[str(w) for w in selected]}"


def test_the_console_listens_on_all_interfaces_behind_its_service(base, deployments):
    (console,) = [
        m for m in deployments.values() if m.doc["metadata"]["labels"][COMPONENT_LABEL] == "console"
    ]
    (container,) = pod_template(console)["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["harvest-sync", "console"]
    # The default 127.0.0.1 would be unreachable from the Service.
    assert command[command.index("--host") + 1] == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(command[command.index("--port") + 1]) == ports["http"]
    labels = pod_template(console)["metadata"]["labels"]
    (service,) = [
        s
        for s in of_kind(base, "Service").values()
        if matches({"matchLabels": s.doc["spec"]["selector"]}, labels)
    ]
    assert [p["targetPort"] for p in service.doc["spec"]["ports"]] == ["http"]
