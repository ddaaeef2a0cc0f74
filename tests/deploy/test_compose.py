"""docker-compose.yml: parses, every dependency is declared with a condition the depended-on
service can meet, and every command is one the CLI accepts. (No Docker engine here to run it.)"""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner

from harvest_sync.cli import main

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


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
