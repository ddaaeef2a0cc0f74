"""The ``simulator`` click command: option parsing, token from the environment, shutdown."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import requests
from click.testing import CliRunner

from simulator.cli import simulator_command


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(simulator_command, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--port",
        "--seed",
        "--people",
        "--entries-per-day",
        "--token-env",
        "--rate-limit",
        "--no-rate-limit",
        "--error-rate",
        "--slow-seconds",
        "--retry-after-s",
        "--updated-since-inclusive",
    ):
        assert option in result.output


def test_bad_rate_limit_is_rejected() -> None:
    result = CliRunner().invoke(simulator_command, ["--rate-limit", "fast"])
    assert result.exit_code == 2 and "REQUESTS/SECONDS" in result.output


def test_bad_retry_after_is_rejected() -> None:
    result = CliRunner().invoke(simulator_command, ["--retry-after-s", "-2"])
    assert result.exit_code == 2 and "--retry-after-s" in result.output


def test_serves_with_token_from_env_until_sigterm() -> None:
    env = {**os.environ, "MY_SIM_TOKEN": "from-env"}
    args = [sys.executable, "-m", "simulator", "--port", "0", "--people", "3", "--projects", "2",
            "--clients", "1", "--days", "5", "--account-id", "77", "--token-env", "MY_SIM_TOKEN",
            "--rate-limit", "50/10", "--retry-after-s", "3", "--end-date", "2024-01-31"]  # fmt: skip
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"(http://\S+/v2) account_id=77", line)
        assert match, line + process.stderr.read()  # type: ignore[union-attr]
        base_url = match.group(1)
        headers = {"Harvest-Account-Id": "77", "User-Agent": "cli test (t@example.com)"}
        ok = requests.get(f"{base_url}/users/me", headers={**headers, "Authorization": "Bearer from-env"})
        assert ok.status_code == 200
        default = requests.get(
            f"{base_url}/users/me", headers={**headers, "Authorization": "Bearer sim-token"}
        )
        assert default.status_code == 401
        config = requests.get(base_url.replace("/v2", "/_sim/config")).json()
        assert (config["rate_limit_requests"], config["rate_limit_window_s"]) == (50, 10.0)
        assert config["retry_after_s"] == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]


def test_default_token_when_env_var_unset() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SIMULATOR_TOKEN"}
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--people", "1", "--days", "1"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = re.search(r"(http://\S+/v2)", process.stdout.readline()).group(1)  # type: ignore[union-attr]
        headers = {
            "Harvest-Account-Id": "1000001",
            "User-Agent": "t (t@e.com)",
            "Authorization": "Bearer sim-token",
        }
        assert requests.get(f"{base_url}/company", headers=headers).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]
