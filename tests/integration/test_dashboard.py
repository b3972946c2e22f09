"""The operator's dashboard and alarms: built on metrics the gateway really writes, in both deployment
modes, and pictured in docs/ from the template's own dashboard body."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from scripts.dashboard_picture import PICTURE, alarm_summaries, dashboard_body, render

from llm_gateway.telemetry.metrics import UNITS
from tests.integration.test_template import MODES, in_mode, translated
from tests.support.cfn_conditions import deployed
from tests.support.lambda_runtime import ROOT, template

pytestmark = pytest.mark.slow

WRITTEN = set(UNITS)
"""Every metric the gateway's EMF writer (Powertools' ``Metrics``, fed by ``request_metrics``) emits, each
with its unit."""


def _dashboard_metrics(body: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], str):
                found.add((row[0], row[1]))
            else:
                search = re.search(r"\{(\w+),[^}]*\} MetricName=\"(\w+)\"", row[0].get("expression", ""))
                if search:
                    found.add((search.group(1), search.group(2)))
    return found


def test_the_picture_in_docs_is_drawn_from_the_template_as_it_is() -> None:
    assert PICTURE.read_text(encoding="utf-8") == render(template()), "run `make dashboard-picture`"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dashboard_picture.py"), "--check"], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_dashboard_shows_what_an_operator_needs_from_metrics_the_gateway_writes() -> None:
    metrics = _dashboard_metrics(dashboard_body(template()))
    ours = {name for namespace, name in metrics if namespace == "LlmGateway"}
    assert ours <= WRITTEN, ours - WRITTEN
    needed = {
        "Requests",
        "ServerErrors",
        "ClientErrors",
        "RateLimited",
        "Latency",
        "TimeToFirstToken",
        "PromptTokens",
        "CompletionTokens",
        "CostUSD",
        "CacheHits",
        "Cooldowns",
        "AllDeploymentsCooling",
        "UpstreamErrors",
    }
    assert needed <= ours, needed - ours
    assert {("AWS/Lambda", "Throttles"), ("AWS/Lambda", "Invocations")} <= metrics
    titles = " | ".join(w["properties"].get("title", "") for w in dashboard_body(template())["widgets"])
    for words in ("p50 / p99", "by model", "Cache hit rate", "Errors by class", "cooldowns", "Rate-limit"):
        assert words in titles


def test_percentile_widgets_ask_for_percentiles() -> None:
    body = json.dumps(dashboard_body(template()))
    for metric in ("Latency", "TimeToFirstToken"):
        for stat in ("p50", "p99"):
            assert re.search(rf'MetricName=\\"{metric}\\"[^\']*\', \'{stat}\'', body), (metric, stat)


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_deploys_the_dashboard_and_its_alarms(mode: str) -> None:
    resources = in_mode(mode)["Resources"]
    dashboards = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert len(dashboards) == 1
    alarms = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) >= 3
    assert {"ServerErrorRateAlarm", "UpstreamErrorRateAlarm", "ThrottlingAlarm", "AllDeploymentsCoolingAlarm"} <= set(
        alarms
    )
    serving = "GatewayFunction" if mode.startswith("on-demand") else "ManagedGatewayFunction"
    assert alarms["ThrottlingAlarm"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": serving}}]
    substitutions = dashboards[0]["Properties"]["DashboardBody"]["Fn::Sub"][1]
    assert substitutions == {"ServingFunction": {"Ref": serving}}
    body = dashboards[0]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    for alarm in alarms:
        assert "${" + alarm + ".Arn}" in body  # the alarm widget lists every alarm
    for props in alarms.values():
        assert "AlarmActions" not in props  # no e-mail given: no topic


def test_alarms_read_the_service_totals_of_metrics_the_gateway_writes() -> None:
    resources = in_mode("on-demand")["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        stats = [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        if "MetricName" in props:
            stats.append({k: props[k] for k in ("Namespace", "MetricName", "Dimensions")})
        assert stats, logical_id
        for metric in stats:
            if metric["Namespace"] == "LlmGateway":
                assert metric["MetricName"] in WRITTEN, (logical_id, metric["MetricName"])
                assert metric["Dimensions"] == [{"Name": "service", "Value": {"Fn::Sub": "llm-gateway-${Stage}"}}]
    summaries = alarm_summaries(template())
    assert summaries["ServerErrorRateAlarm"].startswith("llm-gateway-prod-server-errors: 5xx % > 5")


def test_an_alarm_email_gets_a_topic_every_alarm_notifies() -> None:
    resources = deployed(translated(), {"AlarmEmail": "ops@example.com"})["Resources"]
    assert resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert resources["AlarmEmailSubscription"]["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    for resource in resources.values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            assert resource["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
            assert resource["Properties"]["OKActions"] == [{"Ref": "AlarmTopic"}]
