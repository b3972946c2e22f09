"""Draw the operator's dashboard (template.yaml's GatewayDashboard) as an SVG picture of its widget grid.

    python scripts/dashboard_picture.py            write docs/dashboard.svg
    python scripts/dashboard_picture.py --check    exit 1 if docs/dashboard.svg is not what the template draws

The picture comes from the dashboard body itself (CloudWatch's 24-column grid, each widget's title, view,
series and axes; alarm widgets with each alarm's name and condition from the template), never from a
screenshot, so it changes when the template does. No data is drawn: it shows what an operator will find
where, not numbers anybody measured.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
PICTURE = ROOT / "docs" / "dashboard.svg"

COLUMN = 44  # px per grid column (CloudWatch dashboards are 24 columns wide)
ROW = 38  # px per grid row
GAP = 6
MARGIN = 12
SAMPLE = {"AWS::Region": "us-east-1", "Stage": "prod", "DeploymentMode": "on-demand"}
"""What the picture shows for the template's placeholders (its parameters' defaults, as deployed)."""

COMPARISONS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "shared"))
    from llm_gateway.aws.tables import load_template as load

    return load(path)


def _substitute(text: str, variables: Mapping[str, str]) -> str:
    """``Fn::Sub`` for the picture: ``${Name}``, ``${Res.Attr}`` and ``${AWS::X}`` from ``variables`` (a
    resource attribute becomes the resource's logical id), ``${!...}`` stays literal."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in variables:
            return variables[name]
        return name.split(".", 1)[0]

    return re.sub(r"\$\{([^}]+)\}", replace, text)


def dashboard_body(template: Mapping[str, Any]) -> dict[str, Any]:
    """The dashboard's JSON body as CloudFormation would send it (placeholders filled with SAMPLE)."""
    sub = template["Resources"]["GatewayDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    text, local = (sub, {}) if isinstance(sub, str) else sub
    variables = dict(SAMPLE)
    for name in local:
        variables[name] = "GatewayFunction" if name == "ServingFunction" else name
    body: dict[str, Any] = json.loads(_substitute(text, variables))
    return body


def alarm_summaries(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical id -> "name: condition" for each alarm in the template."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        name = props["AlarmName"]
        name = _substitute(name["Fn::Sub"] if isinstance(name, dict) else name, SAMPLE)
        if "Metrics" in props:
            what = next(m.get("Label") or m["Expression"] for m in props["Metrics"] if m.get("ReturnData"))
        else:
            what = f"{props['MetricName']} {props['Statistic'].lower()}"
        condition = f"{what} {COMPARISONS[props['ComparisonOperator']]} {props['Threshold']}"
        points = props.get("DatapointsToAlarm", props["EvaluationPeriods"])
        minutes = props["EvaluationPeriods"] * int(props.get("Period", 60)) // 60
        found[logical_id] = f"{name}: {condition} ({points} of {minutes} min)"
    return found


def _series(row: list[Any]) -> tuple[str, bool]:
    """A metric row's legend text, and whether it is drawn on the right axis (hidden rows: empty text)."""
    options = row[-1] if row and isinstance(row[-1], dict) else {}
    if options.get("visible") is False:
        return "", False
    right = options.get("yAxis") == "right"
    if "expression" in options:
        search = re.match(r"SEARCH\('\{[^}]*\} MetricName=\"(\w+)\"[^']*', '(\w+)'", options["expression"])
        if search:
            label = options.get("label") or search.group(1)
            return f"{label} - each model ({search.group(1)}, {search.group(2)})", right
        return options.get("label") or options["expression"], right
    namespace, metric = row[0], row[1]
    label = options.get("label") or metric
    stat = options.get("stat", "")
    return f"{label} ({namespace} {metric}{', ' + stat if stat else ''})", right


def _text(x: float, y: float, text: str, size: int = 11, *, weight: str = "normal", fill: str = "#16191f") -> str:
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" font-weight="{weight}" fill="{fill}">{escape(text)}</text>'
    )


def _fit(text: str, width_px: float, size: int = 11) -> str:
    limit = max(4, int(width_px / (size * 0.56)))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _widget(widget: Mapping[str, Any], alarms: Mapping[str, str]) -> list[str]:
    x = MARGIN + widget["x"] * COLUMN
    y = MARGIN + widget["y"] * ROW
    width = widget["width"] * COLUMN - GAP
    height = widget["height"] * ROW - GAP
    props = widget["properties"]
    out = [f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="3" fill="#ffffff" stroke="#d1d5db"/>']
    if widget["type"] == "text":
        plain = re.sub(r"\*\*(.*?)\*\*", r"\1", props["markdown"])
        out.append(_text(x + 8, y + height / 2 + 4, _fit(plain, width - 16), 12, weight="bold"))
        return out
    out.append(_text(x + 8, y + 16, _fit(props.get("title", ""), width - 16), 12, weight="bold"))
    if widget["type"] == "alarm":
        for i, arn in enumerate(props["alarms"]):
            line_y = y + 38 + i * 18
            out.append(f'<circle cx="{x + 14}" cy="{line_y - 4}" r="4" fill="#9ca3af"/>')
            out.append(_text(x + 24, line_y, _fit(alarms.get(arn, arn), width - 32)))
        return out
    legend = [item for item in (_series(row) for row in props["metrics"]) if item[0]]
    view = props.get("view", "timeSeries")
    if view == "singleValue":
        out.append(_text(x + 8, y + 52, "—", 26, weight="bold", fill="#9ca3af"))
        for i, (label, _right) in enumerate(legend):
            out.append(_text(x + 44, y + 44 + i * 14, _fit(label, width - 52), 10, fill="#4b5563"))
        return out
    plot_top, plot_bottom = y + 26, y + height - 12 - 13 * len(legend)
    left, right_edge = x + 30, x + width - (30 if any(r for _, r in legend) else 10)
    out.append(f'<line x1="{left}" y1="{plot_top}" x2="{left}" y2="{plot_bottom}" stroke="#9ca3af"/>')
    out.append(f'<line x1="{left}" y1="{plot_bottom}" x2="{right_edge}" y2="{plot_bottom}" stroke="#9ca3af"/>')
    if any(r for _, r in legend):
        out.append(f'<line x1="{right_edge}" y1="{plot_top}" x2="{right_edge}" y2="{plot_bottom}" stroke="#9ca3af"/>')
    for step in (1, 2, 3):
        grid_y = plot_bottom - (plot_bottom - plot_top) * step / 4
        out.append(
            f'<line x1="{left}" y1="{grid_y:.0f}" x2="{right_edge}" y2="{grid_y:.0f}" stroke="#eef0f3" '
            'stroke-dasharray="3,3"/>'
        )
    if props.get("stacked"):
        out.append(_text(right_edge - 44, plot_top + 10, "stacked", 9, fill="#6b7280"))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for i, (label, on_right) in enumerate(legend):
        line_y = plot_bottom + 14 + i * 13
        colour = palette[i % len(palette)]
        out.append(f'<rect x="{x + 8}" y="{line_y - 8}" width="10" height="3" fill="{colour}"/>')
        text = label + ("  [right axis]" if on_right else "")
        out.append(_text(x + 22, line_y, _fit(text, width - 30, 10), 10, fill="#374151"))
    return out


def render(template: Mapping[str, Any]) -> str:
    body = dashboard_body(template)
    alarms = alarm_summaries(template)
    widgets = body["widgets"]
    width = MARGIN * 2 + 24 * COLUMN - GAP
    height = MARGIN * 2 + max(w["y"] + w["height"] for w in widgets) * ROW - GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#f2f3f3"/>',
    ]
    for widget in widgets:
        parts += _widget(widget, alarms)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with docs/dashboard.svg instead of writing")
    args = parser.parse_args()
    picture = render(load_template())
    if args.check:
        if not PICTURE.exists() or PICTURE.read_text(encoding="utf-8") != picture:
            print(f"{PICTURE.relative_to(ROOT)} is out of date: run `make dashboard-picture`", file=sys.stderr)
            return 1
        return 0
    PICTURE.parent.mkdir(exist_ok=True)
    PICTURE.write_text(picture, encoding="utf-8")
    print(f"wrote {PICTURE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
