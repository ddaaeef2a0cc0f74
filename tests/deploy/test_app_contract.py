"""The manifests against the application itself: its CLI, its settings, its queues."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from cryptography.fernet import Fernet

from infra.config import load_settings
from tests.deploy.manifests import BASE, REPO, WORKLOAD_KINDS, of_kind, pod_template, resources

WORKLOADS = [m for m in resources(BASE) if m.kind in WORKLOAD_KINDS]
SECRET_KEYS = {"DATABASE_URL", "AMQP_URL", "HARVEST_SYNC_SECRET_KEY"}
PLACEHOLDER = "REPLACE_ME"
APP_PACKAGES = ("infra", "consumers", "producers", "harvest_sync", "domain")


@pytest.mark.parametrize("workload", WORKLOADS, ids=str)
def test_container_command_is_accepted_by_the_cli(workload):
    from harvest_sync.cli import main

    for c in pod_template(workload)["spec"]["containers"]:
        program, *args = c["command"] + c.get("args", [])
        assert program == "harvest-sync"
        ctx = click.Context(main, info_name=program)
        name, command, rest = main.resolve_command(ctx, args)
        assert command is not None, f"{workload}: unknown subcommand {args[0]}"
        # Raises click.UsageError on an unknown or malformed option.
        command.make_context(name, rest, parent=ctx)


def test_configmap_values_pass_the_settings_validation(config_data):
    secrets = {
        "DATABASE_URL": "postgresql+psycopg2://harvest:pw@postgres:5432/harvest_sync",
        "AMQP_URL": "amqp://harvest:pw@rabbitmq:5672/%2F",
        "HARVEST_SYNC_SECRET_KEY": Fernet.generate_key().decode(),
    }
    settings = load_settings({**config_data, **secrets})
    assert settings.log_format == "json" and settings.log_level == "info"
    # The probes' port and the port the process serves on are the same setting.
    assert settings.metrics_port == int(config_data["METRICS_PORT"])


def test_every_configmap_key_is_read_by_the_application(config_data):
    # A misspelt key is silently ignored and the default applies; the app's source must name it.
    source = "\n".join(p.read_text() for pkg in APP_PACKAGES for p in Path(REPO, pkg).rglob("*.py"))
    unread = sorted(key for key in config_data if f'"{key}"' not in source)
    assert not unread, f"ConfigMap keys the application never reads: {unread}"


def test_secret_template_holds_the_credentials_as_placeholders_only(base):
    (secret,) = of_kind(base, "Secret").values()
    data = secret.doc.get("stringData", {})
    assert set(data) == SECRET_KEYS and "data" not in secret.doc
    # A real credential committed here would be applied to every cluster and kept in git.
    assert all(value == PLACEHOLDER for value in data.values()), "the Secret template holds a real value"


def test_configmap_holds_no_credentials(config_data):
    assert not SECRET_KEYS & set(config_data)
    for key, value in config_data.items():
        assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{key} carries a password"
