"""Reading deploy/ the way kustomize would, without the kustomize binary.

A kustomization's `resources` are expanded recursively (files and directories); patches and
image overrides are not applied here — tests/deploy/test_kustomize_build.py checks the real
build where kubectl is installed. Each document keeps the file it came from, for messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BASE = DEPLOY / "base"
OVERLAYS = DEPLOY / "overlays"
# Prometheus rules and their promtool tests, not Kubernetes objects (tests/deploy/test_monitoring.py).
MONITORING = DEPLOY / "monitoring"

WORKLOAD_KINDS = ("Deployment", "Job")


@dataclass(frozen=True)
class Manifest:
    path: Path
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.doc["kind"]

    @property
    def name(self) -> str:
        return self.doc["metadata"]["name"]

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({self.path.relative_to(REPO)})"


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML file (an empty `---` section is not a resource)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def yaml_files() -> list[Path]:
    """The Kubernetes manifests under deploy/."""
    return sorted(
        p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml") and MONITORING not in p.parents
    )


def kustomization(directory: Path) -> dict[str, Any]:
    (doc,) = load_yaml(directory / "kustomization.yaml")
    return doc


def resources(directory: Path) -> list[Manifest]:
    """The resources a kustomization lists, with nested kustomizations expanded."""
    found: list[Manifest] = []
    for entry in kustomization(directory).get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            found.extend(resources(target))
        else:
            found.extend(Manifest(target, doc) for doc in load_yaml(target))
    return found


def overlays() -> list[Path]:
    return sorted(p.parent for p in OVERLAYS.glob("*/kustomization.yaml"))


def containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod_spec.get("initContainers", [])
    yield from pod_spec["containers"]


def pod_template(m: Manifest) -> dict[str, Any]:
    return m.doc["spec"]["template"]


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels semantics (the only form used in deploy/; matchExpressions are refused)."""
    assert set(selector) <= {"matchLabels"}, f"unsupported selector {selector}"
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9}


def quantity_bytes(value: str | int) -> float:
    """A Kubernetes memory quantity in bytes ("256Mi", "200M", 1073741824)."""
    text = str(value)
    for suffixes in (_BINARY, _DECIMAL):
        for suffix, factor in suffixes.items():
            if text.endswith(suffix):
                return float(text[: -len(suffix)]) * factor
    return float(text)


def cpu_cores(value: str | int | float) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    """Resources of one kind by name; a duplicate name would be a kustomize build error."""
    found: dict[str, Manifest] = {}
    for m in manifests:
        if m.kind == kind:
            assert m.name not in found, f"two {kind}s named {m.name}: {found[m.name]} and {m}"
            found[m.name] = m
    return found


def worker_queues(m: Manifest) -> list[str] | None:
    """The queues a worker Deployment consumes (`harvest-sync worker --queues Q1,Q2`), else None."""
    (container,) = pod_template(m)["spec"]["containers"]
    command = container.get("command", []) + container.get("args", [])
    if command[:2] != ["harvest-sync", "worker"]:
        return None
    assert "--queues" in command, f"{m}: a worker must name its queues"
    return command[command.index("--queues") + 1].split(",")
