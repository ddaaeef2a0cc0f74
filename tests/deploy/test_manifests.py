"""Every file under deploy/ parses, is used, and every resource matches its schema."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from tests.deploy.manifests import (
    BASE,
    DEPLOY,
    REPO,
    Manifest,
    kustomization,
    load_yaml,
    overlays,
    resources,
    yaml_files,
)
from tests.deploy.validation import describe, validate

BASE_RESOURCES = resources(BASE)


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_file_parses_into_kubernetes_objects(path):
    docs = load_yaml(path)
    assert docs, f"{path} holds no document"
    for doc in docs:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), (
            f"{path}: every document needs apiVersion and kind"
        )


def test_every_yaml_file_is_applied_by_a_kustomization():
    # A manifest nobody lists is never applied; it only looks as if it were.
    used: set = set()
    for directory in [BASE, *overlays()]:
        k = kustomization(directory)
        entries = k.get("resources", []) + [p["path"] for p in k.get("patches", []) if "path" in p]
        used |= {(directory / e).resolve() for e in entries}
    orphans = [p for p in yaml_files() if p.name != "kustomization.yaml" and p.resolve() not in used]
    assert not orphans, f"not listed in any kustomization: {[str(p.relative_to(REPO)) for p in orphans]}"


@pytest.mark.parametrize("manifest", BASE_RESOURCES, ids=str)
def test_resource_matches_its_schema(manifest: Manifest):
    try:
        validate(manifest.doc)
    except jsonschema.ValidationError as exc:
        pytest.fail(f"{manifest}: {describe(exc)}")


@pytest.mark.parametrize("overlay", overlays(), ids=lambda p: p.name)
def test_overlay_patches_and_images_target_base_resources(overlay):
    k = kustomization(overlay)
    built = {(m.kind, m.name) for m in resources(overlay)}
    for patch in k.get("patches", []):
        for doc in load_yaml(overlay / patch["path"]):
            assert (doc["kind"], doc["metadata"]["name"]) in built, f"{patch['path']} patches nothing"
    images = {
        c["image"].split(":")[0]
        for m in resources(overlay)
        if m.kind in ("Deployment", "Job")
        for c in m.doc["spec"]["template"]["spec"]["containers"]
    }
    for image in k.get("images", []):
        assert image["name"] in images, f"images: {image['name']} matches no container image"


# Guards against a validator that accepts anything: each of these breaks a real manifest in
# a way a cluster (or KEDA) would reject, and the validation must say so.
Mutation = Callable[[dict[str, Any]], None]


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]["containers"][0]


MUTATIONS: dict[str, tuple[str, Mutation]] = {
    "replicas as a string": ("Deployment", lambda d: d["spec"].update(replicas="2")),
    "misspelt probe field": ("Deployment", lambda d: _container(d).update(livenessprobe={})),
    "grace period as a string": (
        "Deployment",
        lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds="35"),
    ),
    "port number as a string": (
        "Deployment",
        lambda d: _container(d)["ports"][0].update(containerPort="9100"),
    ),
    "job without containers": ("Job", lambda d: d["spec"]["template"]["spec"].pop("containers")),
    "configmap value not a string": ("ConfigMap", lambda d: d["data"].update(PREFETCH=1)),
    "pdb budget as a list": ("PodDisruptionBudget", lambda d: d["spec"].update(maxUnavailable=[1])),
    "keda target without name": ("ScaledObject", lambda d: d["spec"]["scaleTargetRef"].pop("name")),
    "keda min replicas as a string": ("ScaledObject", lambda d: d["spec"].update(minReplicaCount="1")),
    "keda trigger value as a number": (
        "ScaledObject",
        lambda d: d["spec"]["triggers"][0]["metadata"].update(value=20),
    ),
    "keda misspelt spec field": ("ScaledObject", lambda d: d["spec"].update(maxReplicas=10)),
    "keda auth without key": (
        "TriggerAuthentication",
        lambda d: d["spec"]["secretTargetRef"][0].pop("key"),
    ),
    "unknown kind": ("ConfigMap", lambda d: d.update(apiVersion="example.com/v1", kind="Widget")),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_validation_rejects_a_broken_copy(mutation):
    kind, mutate = MUTATIONS[mutation]
    original = next(m.doc for m in BASE_RESOURCES if m.kind == kind)
    broken = copy.deepcopy(original)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
