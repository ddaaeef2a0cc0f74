"""deploy/monitoring: the alert rules pass their promtool unit tests, the dashboard's queries are
valid PromQL, and every metric the rules and the dashboard name is one the code exports.

promtool comes with Debian's `prometheus` package (.ci/run installs it); without it the two
promtool tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.observability.broker import BrokerGauges
from infra.observability.database import DatabaseGauges, Snapshot
from infra.observability.health import Readiness, ReadinessGauge
from infra.observability.metrics import Metrics
from tests.conftest import IN_CI

MONITORING = Path(__file__).parents[2] / "deploy" / "monitoring"
RULES = MONITORING / "alerts.yml"
RULE_TESTS = sorted(MONITORING.glob("*.test.yml"))
DASHBOARD = json.loads((MONITORING / "dashboard.json").read_text())


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool not installed (Debian package prometheus): alert rules not run"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def run_promtool(*args: str) -> str:
    done = subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]


def test_alert_rules_pass_their_unit_tests():
    assert RULE_TESTS, "no promtool unit tests beside the rules"
    run_promtool("check", "rules", str(RULES))
    out = run_promtool("test", "rules", *map(str, RULE_TESTS))
    assert out.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_has_a_unit_test():
    tested = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            tested |= {case["alertname"] for case in test.get("alert_rule_test", [])}
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert len(alerts) == 6 and alerts == tested


def test_the_dashboard_queries_are_valid_promql(tmp_path):
    # promtool parses rule expressions: each query becomes one, Grafana's variables filled in.
    filled = [expr.replace("$__rate_interval", "5m").replace("$account", ".*") for expr in dashboard_exprs()]
    checked = tmp_path / "dashboard-queries.yml"
    checked.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "dashboard",
                        "rules": [
                            {"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(filled)
                        ],
                    }
                ]
            }
        )
    )
    run_promtool("check", "rules", str(checked))


def test_the_dashboard_shows_what_operators_asked_for():
    titles = " | ".join(panel["title"] for panel in DASHBOARD["panels"]).lower()
    asked = ("syncs by outcome", "durations", "harvest requests", "429", "entries per second", "learned rate")
    for wanted in asked:
        assert wanted in titles
    assert "ledger size" in titles and "since the last successful sync, per account" in titles
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(set(ids)) == len(ids)
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in DASHBOARD["panels"])


# -- the names ----------------------------------------------------------------------------

KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric (and recording rule) names a PromQL expression reads."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\boffset\s+\S+", "", expr)
    found = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        followed_by = expr[match.end() :].lstrip()[:1]
        if followed_by != "(" and match.group() not in KEYWORDS:  # functions and aggregations
            found.add(match.group())
    return found


def test_names_are_found_through_promql():
    assert metric_names(
        'sum by (queue) (rate(harvest_sync_mesages_total{queue=~"a|b", x="y{z}"}[5m])) / ignoring(x) '
        "max without (pod) (up offset 1d) > bool 0.5 and histogram_quantile(0.9, sum by (le) "
        "(rate(harvest_sync_handler_duration_seconds_bucket[$__rate_interval]))) "
        "or max_over_time(harvest_sync:ledger_entries:total[1d:5m])"
    ) == {
        "harvest_sync_mesages_total",
        "up",
        "harvest_sync_handler_duration_seconds_bucket",
        "harvest_sync:ledger_entries:total",
    }


def exported_names() -> set[str]:
    """Every series name the code's collectors export, as a scrape would show them."""
    metrics = Metrics()
    metrics.watch_database(
        DatabaseGauges(
            lambda: Snapshot(
                accounts_by_status={"active": 1},
                ledger_by_reason={"role_unknown": 1},
                last_success=[(1, "actuals", 0)],
                learned_limits=[(1, "api", 50.0)],
            )
        )
    )
    metrics.watch("broker", BrokerGauges(lambda: {"entities": 0}, ttl_s=0))
    metrics.watch("readiness", ReadinessGauge(Readiness({}), "worker"))
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
        "gauge": ("",),
    }
    return {family.name + suffix for family in metrics.registry.collect() for suffix in suffixes[family.type]}


def test_every_metric_named_by_the_rules_and_the_dashboard_is_exported_by_the_code():
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    named = set()
    for expr in [rule["expr"] for rule in rules()] + dashboard_exprs():
        named |= metric_names(expr)
    assert named - exported_names() - recorded == set()
    # and the checks bite: the alert metrics are all in there
    for name in (
        "harvest_sync_dead_letters",
        "harvest_sync_ready",
        "harvest_sync_ledger_entries",
        "harvest_sync_harvest_learned_rate_limit",
    ):
        assert name in named
