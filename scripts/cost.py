"""What the gateway costs to run, per million requests, recomputed from prices and measured figures.

    python scripts/cost.py            print the tables
    python scripts/cost.py --write    put them into docs/cost.md (between its cost:begin / cost:end marks)
    python scripts/cost.py --check    exit 1 if docs/cost.md does not show what the figures give

Inputs: scripts/cost_prices.json (list prices, with their sources) and bench/figures/deploy.json (what
`make measure-deploy` measured: each request kind's duration, CPU and log bytes with the CPU of each memory
size; INIT; what one managed-instances environment sustains). The assumptions that are not measurements are
the constants below; docs/cost.md states each.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PRICES = ROOT / "scripts" / "cost_prices.json"
FIGURES = ROOT / "bench" / "figures" / "deploy.json"
PAGE = ROOT / "docs" / "cost.md"
BEGIN, END = "<!-- cost:begin (scripts/cost.py --write) -->", "<!-- cost:end -->"

MONTH_SECONDS = 730 * 3600  # AWS's month of 730 hours
GIB = 1024**3
KINDS = {"cache_hit": "cache hit", "completion_2s": "2 s completion", "stream_10s": "10 s stream"}
MEMORY_SIZES = (256, 512, 1024)
RATES = (0.5, 1, 5, 10, 50, 100)

COLD_START_SHARE = 0.01
"""Share of on-demand requests that find no warm environment (a new one starts: INIT, or a restore)."""
RESTORE_BILLED_S = 0.3
"""Billed duration of one SnapStart restore (runtime restore plus the after-restore hook): not measurable
outside Lambda; a round figure for a Python function of this size."""
SNAPSHOT_VERSIONS = 1
"""Published versions with SnapStart kept active (each cached snapshot is billed)."""
MANAGED_MEMORY_MB = 4096
MANAGED_VCPUS = 2  # 4,096 MB at 2 GiB per vCPU (template defaults)
MANAGED_MIN_ENVIRONMENTS = 3
CPU_TARGET = 0.6

INIT_BOUND_S = 4.0
"""The longest INIT the default memory size may take with the CPU Lambda gives it: what a cold start costs a
client when SnapStart is off, and what a SnapStart snapshot takes to make."""
OVERHEAD_BOUND_S = 0.025
"""How much longer than with a full core a request may take at the default memory size."""
RSS_SHARE_BOUND = 0.6
"""The gateway's peak resident memory may use at most this share of the function's memory."""


@dataclass(frozen=True)
class Inputs:
    prices: dict[str, Any]
    figures: dict[str, Any]

    @classmethod
    def load(cls) -> Inputs:
        return cls(json.loads(PRICES.read_text()), json.loads(FIGURES.read_text()))

    def measured(self, memory: int | None) -> dict[str, Any]:
        sizes: dict[str, Any] = self.figures["on_demand"]["measured"]["sizes"]
        found: dict[str, Any] = sizes[str(memory) if memory else "uncapped"]
        return found

    def init_s(self, memory: int) -> float:
        """INIT with the CPU of ``memory``: its CPU time over the CPU share, and never less than INIT with a
        full core (the measured wall time under the cap also carries the shared machine's contention)."""
        measured = self.figures["on_demand"]["measured"]
        cpu_share = float(measured["cpu_share"][str(memory)])
        return max(self.measured(None)["init"]["wall_s"], self.measured(memory)["init"]["cpu_s"] / cpu_share)

    @property
    def concurrency(self) -> int:
        return int(self.figures["managed_instances"]["chosen_concurrency"])


def _logs(inputs: Inputs, kind: str) -> float:
    """Log ingestion per request (the access line and the EMF document)."""
    log_bytes = inputs.measured(None)[kind]["log_bytes"]
    return float(log_bytes / GIB * inputs.prices["cloudwatch"]["logs_ingested_gb"])


def on_demand_per_million(inputs: Inputs, kind: str, memory: int, *, snapstart: bool) -> float:
    """Lambda on demand behind API Gateway: requests, duration, cold starts, logs (SnapStart's cache is a
    fixed monthly charge: :func:`snapstart_cache_monthly`)."""
    prices, lam = inputs.prices, inputs.prices["lambda"]
    gb = memory / 1024
    figures = inputs.measured(memory)
    per_request = figures[kind]["wall_s"] * gb * lam["arm64_gb_second"]
    if snapstart:
        restore = prices["snapstart_python"]["restore_gb"] * gb + RESTORE_BILLED_S * gb * lam["arm64_gb_second"]
        per_request += COLD_START_SHARE * restore
    else:
        per_request += COLD_START_SHARE * inputs.init_s(memory) * gb * lam["arm64_gb_second"]
    per_request += _logs(inputs, kind)
    fixed = lam["requests_per_million"] + prices["api_gateway_rest"]["requests_per_million"]
    return per_request * 1e6 + fixed


def snapstart_cache_monthly(inputs: Inputs, memory: int) -> float:
    return SNAPSHOT_VERSIONS * memory / 1024 * MONTH_SECONDS * inputs.prices["snapstart_python"]["cache_gb_second"]


def managed_instances(inputs: Inputs, kind: str, rate: float) -> tuple[float, int]:
    """Monthly cost and instances at ``rate`` requests a second, all of ``kind``: environments for the
    concurrency (rate x duration, ManagedConcurrency each) and for the CPU (at the capacity provider's
    target), at least the minimum; instances for their vCPUs, at least three."""
    mi = inputs.prices["managed_instances"]
    figures = inputs.measured(None)[kind]
    by_concurrency = math.ceil(rate * figures["wall_s"] / inputs.concurrency)
    by_cpu = math.ceil(rate * figures["cpu_s"] / (MANAGED_VCPUS * CPU_TARGET))
    environments = max(MANAGED_MIN_ENVIRONMENTS, by_concurrency, by_cpu)
    instances = max(mi["minimum_instances"], math.ceil(environments * MANAGED_VCPUS / mi["instance_vcpus"]))
    compute = instances * mi["instance_hourly"] * (1 + mi["management_fee"]) * MONTH_SECONDS / 3600
    requests = rate * MONTH_SECONDS
    usage = requests * (inputs.prices["lambda"]["requests_per_million"] / 1e6 + _logs(inputs, kind))
    return compute + usage, instances


def managed_per_million(inputs: Inputs, kind: str, rate: float) -> float:
    monthly, _ = managed_instances(inputs, kind, rate)
    return monthly / (rate * MONTH_SECONDS / 1e6)


def break_even(inputs: Inputs, kind: str, memory: int) -> float:
    """The steady rate (requests a second) above which managed instances cost less than on demand."""
    per_request = on_demand_per_million(inputs, kind, memory, snapstart=True) / 1e6
    fixed = snapstart_cache_monthly(inputs, memory)

    def cheaper_on_managed(rate: float) -> bool:
        return managed_instances(inputs, kind, rate)[0] < per_request * rate * MONTH_SECONDS + fixed

    low, high = 0.001, 100_000.0
    if not cheaper_on_managed(high):
        return math.inf
    for _ in range(100):
        middle = math.sqrt(low * high)
        low, high = (low, middle) if cheaper_on_managed(middle) else (middle, high)
    return high


def memory_check(inputs: Inputs, memory: int) -> dict[str, Any]:
    """Whether ``memory`` keeps INIT, request overheads and resident memory within their bounds."""
    full, capped = inputs.measured(None), inputs.measured(memory)
    overheads = {kind: capped[kind]["wall_s"] - full[kind]["wall_s"] for kind in KINDS}
    rss = inputs.figures["on_demand"]["measured"].get("peak_rss_mb", 0.0)
    return {
        "init_ok": inputs.init_s(memory) <= INIT_BOUND_S,
        "overhead_ok": all(value <= OVERHEAD_BOUND_S for value in overheads.values()),
        "rss_ok": rss <= RSS_SHARE_BOUND * memory,
        "overheads": overheads,
    }


def chosen_memory(inputs: Inputs) -> int:
    """The default MemorySize: the smallest measured size (the cheapest: durations barely depend on it)
    within every bound."""
    for memory in MEMORY_SIZES:
        if all(value for key, value in memory_check(inputs, memory).items() if key.endswith("_ok")):
            return memory
    return MEMORY_SIZES[-1]


def _money(value: float) -> str:
    return f"${value:,.2f}" if value < 1000 else f"${value:,.0f}"


def tables(inputs: Inputs) -> str:
    lines: list[str] = []
    memory = chosen_memory(inputs)
    lines += [
        "### Lambda on demand (API Gateway REST in front), per 1M requests",
        "",
        "| request | memory | duration | with SnapStart | without SnapStart |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind, label in KINDS.items():
        for size in MEMORY_SIZES:
            duration = inputs.measured(size)[kind]["wall_s"]
            with_snap = on_demand_per_million(inputs, kind, size, snapstart=True)
            without = on_demand_per_million(inputs, kind, size, snapstart=False)
            mark = " (default)" if size == memory else ""
            lines.append(
                f"| {label} | {size} MB{mark} | {duration * 1000:,.0f} ms | {_money(with_snap)} | {_money(without)} |"
            )
    lines += [
        "",
        "SnapStart also bills its snapshot cache while a version is active: "
        + ", ".join(f"{_money(snapstart_cache_monthly(inputs, s))} a month at {s} MB" for s in MEMORY_SIZES)
        + " (one version).",
        "",
        "### Lambda Managed Instances (Function URL in front), per 1M requests at a steady rate",
        "",
        "| request | " + " | ".join(f"{r:g} req/s" for r in RATES) + " |",
        "| --- |" + " --- |" * len(RATES),
    ]
    for kind, label in KINDS.items():
        cells = []
        for rate in RATES:
            _, instances = managed_instances(inputs, kind, rate)
            cells.append(f"{_money(managed_per_million(inputs, kind, rate))} ({instances})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    mi = inputs.prices["managed_instances"]
    lines += [
        "",
        f"(instances of {mi['instance']} in brackets; {_managed_note(inputs)})",
        "",
        "### Break-even: the steady rate above which managed instances cost less",
        "",
        f"(on demand at {memory} MB with SnapStart, all requests of one kind)",
        "",
        "| request | break-even | requests a month |",
        "| --- | --- | --- |",
    ]
    for kind, label in KINDS.items():
        rate = break_even(inputs, kind, memory)
        if math.isinf(rate):
            lines.append(f"| {label} | never | - |")
        else:
            lines.append(f"| {label} | {rate:,.2f} req/s | {rate * MONTH_SECONDS / 1e6:,.1f} M |")
    check = memory_check(inputs, memory)
    lines += [
        "",
        f"Default MemorySize: {memory} MB (INIT {inputs.init_s(memory):.2f} s at its CPU; "
        + ", ".join(f"{KINDS[k]} +{v * 1000:.1f} ms" for k, v in check["overheads"].items())
        + " over a full core).",
    ]
    return "\n".join(lines) + "\n"


def _managed_note(inputs: Inputs) -> str:
    return (
        f"{MANAGED_MEMORY_MB} MB environments with {MANAGED_VCPUS} vCPUs serving up to {inputs.concurrency} "
        f"requests each, at least {MANAGED_MIN_ENVIRONMENTS} environments and "
        f"{inputs.prices['managed_instances']['minimum_instances']} instances"
    )


def render_page(page: str, generated: str) -> str:
    start, end = page.index(BEGIN) + len(BEGIN), page.index(END)
    return page[:start] + "\n" + generated + page[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    inputs = Inputs.load()
    generated = tables(inputs)
    if not (args.write or args.check):
        print(generated, end="")
        return 0
    page = PAGE.read_text(encoding="utf-8")
    wanted = render_page(page, generated)
    if args.check:
        if wanted != page:
            print("docs/cost.md is out of date: run `python scripts/cost.py --write`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(wanted, encoding="utf-8")
    print("wrote docs/cost.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
