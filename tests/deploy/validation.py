"""Schema validation of one manifest: built-in kinds against the Kubernetes OpenAPI schemas
bundled in kubernetes-validate (offline, strict: unknown fields are errors, as they would be
with `kubectl apply --validate=strict`), KEDA kinds against the schemas in schemas/.

Both raise jsonschema.ValidationError; a kind with no schema at all raises too, so a new
custom resource cannot slip in unchecked.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

# The oldest Kubernetes minor the manifests must apply to.
KUBERNETES_VERSION = "1.29"

SCHEMAS = Path(__file__).parent / "schemas"
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication.json",
}


@cache
def _custom_validator(filename: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / filename).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate(doc: dict[str, Any]) -> None:
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CUSTOM_KINDS:
        _custom_validator(CUSTOM_KINDS[key]).validate(doc)
        return
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise jsonschema.ValidationError(exc.message) from None


def describe(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(document)"
    return f"{path}: {error.message}"
