"""``--accounts N``: one simulator serving many accounts, each behind its own token."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import requests

from simulator.cli import tenant_token


def test_each_account_answers_its_own_token_only() -> None:
    args = [sys.executable, "-m", "simulator", "--port", "0", "--people", "2", "--projects", "1",
            "--clients", "1", "--days", "3", "--account-id", "500", "--accounts", "3"]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"(http://\S+/v2) account_id=500\.\.502", line)
        assert match, line
        base_url = match.group(1)

        def status(account_id: int, token: str) -> int:
            headers = {
                "Harvest-Account-Id": str(account_id),
                "User-Agent": "tenants test (t@example.com)",
                "Authorization": f"Bearer {token}",
            }
            return requests.get(f"{base_url}/users/me", headers=headers, timeout=10).status_code

        for index in range(3):
            assert status(500 + index, tenant_token("sim-token", index)) == 200
        assert tenant_token("sim-token", 0) == "sim-token"
        assert status(501, "sim-token") == 401  # the first account's token opens no other
        assert status(502, tenant_token("sim-token", 1)) == 401
        assert requests.get(base_url.replace("/v2", "/_sim/accounts"), timeout=10).json() == [500, 501, 502]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]
