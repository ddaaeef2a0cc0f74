"""The layers, as the imports show them: domain imports no other layer and no I/O library;
infra (the adapters) imports no consumer, producer or wiring; producers never import
consumers; only harvest_sync (the wiring above the layers) brings them together."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a layer may not import: another layer's package, or a library that does I/O.
IO_LIBRARIES = {"sqlalchemy", "psycopg2", "pika", "requests", "structlog"}
FORBIDDEN = {
    "domain": {"infra", "consumers", "producers", "harvest_sync", *IO_LIBRARIES},
    "infra": {"consumers", "producers", "harvest_sync"},
    "consumers": {"producers", "harvest_sync", "sqlalchemy", "psycopg2", "pika"},
    "producers": {"consumers", "harvest_sync"},
}


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module the file imports, at module level or in a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(layer: str) -> list[Path]:
    return sorted(p for p in (ROOT / layer).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_only_what_is_below_it(layer: str):
    broken = {
        str(path.relative_to(ROOT)): sorted(imports_of(path) & FORBIDDEN[layer]) for path in _modules(layer)
    }
    assert {k: v for k, v in broken.items() if v} == {}


def test_the_check_sees_imports_made_inside_functions(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("def late():\n    from consumers.pipeline import Pipeline\n    import pika.spec\n")
    assert imports_of(sample) == {"consumers", "pika"}


def test_consumers_run_no_sql_and_touch_no_connection():
    # Handlers work through the unit of work's repositories, never through a connection.
    touching = {
        str(path.relative_to(ROOT)): sorted(
            {
                node.attr
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Attribute) and node.attr in {"conn", "connection", "exec_driver_sql"}
            }
        )
        for path in _modules("consumers")
    }
    assert {k: v for k, v in touching.items() if v} == {}
