"""docker-compose.yml: a compose implementation (podman-compose) accepts it, every dependency is
declared with a condition the depended-on service can meet, and every command is one the CLI
accepts. The stack itself is not started here: its postgres and rabbitmq images come from a
registry this machine cannot reach (the harvest-sync image is built and run in test_image.py)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harvest_sync.cli import main
from tests.conftest import IN_CI

COMPOSE_FILE = Path(__file__).parents[2] / "docker-compose.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "simulator", "worker", "scheduler", "demo")


def podman_compose() -> str:
    found = shutil.which("podman-compose", path=str(Path(sys.executable).parent)) or shutil.which(
        "podman-compose"
    )
    if found is None:
        if IN_CI:
            pytest.fail("podman-compose not installed (the dev extra)")
        pytest.skip("podman-compose not installed (pip install -e '.[dev]')")
    # podman-compose asks `podman version` before it reads the file.
    if shutil.which("podman") is None:
        if IN_CI:
            pytest.fail("podman not installed (.ci/run installs Debian's podman)")
        pytest.skip("podman not installed (Debian's podman; .ci/run installs it)")
    return found


def test_podman_compose_accepts_the_file_and_resolves_what_it_shares():
    done = subprocess.run(
        [podman_compose(), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},  # no HARVEST_SYNC_SECRET_KEY of ours: the file's demo default
    )
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    assert set(resolved) == set(SERVICES)
    for name in APP_SERVICES:  # the x-app anchor merged into each
        service = resolved[name]
        assert service["image"] == "harvest-sync:local" and "build" in service, name
        assert service["environment"]["DATABASE_URL"].endswith("@postgres:5432/harvest_sync"), name
        assert service["environment"]["HARVEST_SYNC_SECRET_KEY"], f"{name}: the key did not interpolate"
    assert resolved["simulator"]["environment"]["SIMULATOR_TOKEN"] == "demo-token"  # merged, not replaced
    for name, service in resolved.items():
        assert service.get("depends_on", {}) == SERVICES[name].get("depends_on", {}), name


def test_the_stack_has_every_part_of_the_demo_path():
    assert {"postgres", "rabbitmq", "migrate", "simulator", "worker", "scheduler", "demo", "console"} <= set(
        SERVICES
    )
    assert "15672:15672" in SERVICES["rabbitmq"]["ports"]  # the management UI
    # The console: on all interfaces inside its container, published on the host's loopback only.
    assert SERVICES["console"]["command"][:2] == ["harvest-sync", "console"]
    assert "0.0.0.0" in SERVICES["console"]["command"]
    assert SERVICES["console"]["ports"] == ["127.0.0.1:8000:8000"]


def test_dependencies_exist_and_their_conditions_can_be_met():
    for name, service in SERVICES.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in SERVICES, (name, dep)
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dep], (
                    f"{name} waits for {dep} to be healthy, it has no healthcheck"
                )
            else:
                assert condition in ("service_completed_successfully", "service_started"), condition


def test_long_running_services_have_healthchecks_and_workers_can_scale():
    for name in ("postgres", "rabbitmq", "simulator", "worker", "scheduler", "console"):
        assert "healthcheck" in SERVICES[name], name
    assert (
        "container_name" not in SERVICES["worker"] and "ports" not in SERVICES["worker"]
    )  # --scale worker=N


def test_every_command_is_accepted_by_the_cli():
    runner = CliRunner()
    for name, service in SERVICES.items():
        command = service.get("command")
        if not command or name == "demo":
            continue
        args = command if isinstance(command, list) else shlex.split(command)
        assert args[0] == "harvest-sync", name
        result = runner.invoke(main, [*args[1:], "--help"])
        assert result.exit_code == 0, (name, result.output)
    # The demo's shell line: each `harvest-sync ...` it runs names real subcommands.
    script = SERVICES["demo"]["command"][0].replace("(", " ").replace(")", " ")
    for part in script.replace("||", "&&").split("&&"):
        words = [w for w in shlex.split(part) if not w.startswith("HARVEST_TOKEN=")]
        if words and words[0] == "harvest-sync":
            subcommand = [w for w in words[1:] if not w.startswith("-")][:3]
            result = runner.invoke(main, [*subcommand, "--help"])
            assert result.exit_code == 0, (part, result.output)
