"""docs/cost.md and the template's sizing defaults follow from the measured figures and the prices."""

from __future__ import annotations

import json
import math

from scripts.cost import KINDS, MEMORY_SIZES, Inputs, break_even, chosen_memory, main, on_demand_per_million

from tests.support.lambda_runtime import ROOT, template

FIGURES = json.loads((ROOT / "bench" / "figures" / "deploy.json").read_text())


def test_the_cost_page_shows_what_the_figures_and_prices_give() -> None:
    assert main(["--check"]) == 0, "run `python scripts/cost.py --write` (or `make cost`)"


def test_the_template_defaults_are_the_measured_choices() -> None:
    parameters = template()["Parameters"]
    assert parameters["MemorySize"]["Default"] == chosen_memory(Inputs.load())
    assert parameters["ManagedConcurrency"]["Default"] == FIGURES["managed_instances"]["chosen_concurrency"]


def test_every_memory_size_was_measured_with_lambdas_cpu_share() -> None:
    measured = FIGURES["on_demand"]["measured"]
    for memory in MEMORY_SIZES:
        assert measured["sizes"][str(memory)]["method"] in {"cgroup", "duty-cycle"}
        assert math.isclose(measured["cpu_share"][str(memory)], memory / 1769, abs_tol=0.001)
        for kind in KINDS:
            assert measured["sizes"][str(memory)][kind]["n"] >= 3


def test_the_model_behaves_as_the_bills_do() -> None:
    inputs = Inputs.load()
    for kind in KINDS:
        costs = [on_demand_per_million(inputs, kind, m, snapstart=False) for m in MEMORY_SIZES]
        assert costs == sorted(costs)  # a request waiting on its upstream costs more with more memory
        assert 0 < break_even(inputs, kind, 512) < math.inf
    # the longer a request waits on its upstream, the sooner managed instances pay
    assert break_even(inputs, "stream_10s", 512) < break_even(inputs, "completion_2s", 512)
    assert break_even(inputs, "completion_2s", 512) < break_even(inputs, "cache_hit", 512)
