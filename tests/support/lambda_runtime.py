"""What Lambda does around our code, without Docker: resolve a function from template.yaml, import its
handler the way the runtime does, call it with an event and a context; build and run the SAM artifact."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from llm_gateway.aws.tables import load_template

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
ENV_JSON = ROOT / "env.json"
LAMBDA_TASK_ROOT = "/var/task"
BUILD_DIR = ROOT / ".aws-sam" / "build"
HOST_BUILD_DIR = ROOT / ".aws-sam" / "build-host"
SAM_VENV = ROOT / ".venv-sam"

_module_ids = itertools.count()


@dataclass
class FakeLambdaContext:
    function_name: str = "BufferedFunction"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:llm-gateway-BufferedFunction"
    log_group_name: str = "/aws/lambda/llm-gateway-BufferedFunction"
    log_stream_name: str = "2026/11/25/[$LATEST]0123456789abcdef"
    function_version: str = "$LATEST"
    deadline: float = field(default_factory=lambda: time.monotonic() + 900)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    properties: dict[str, Any]
    environment: dict[str, Any]


def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge (the function wins), lists concatenate (Globals first), scalars override."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def function_spec(logical_id: str, doc: dict[str, Any] | None = None) -> FunctionSpec:
    """A function's properties with the template's Globals applied as SAM applies them."""
    doc = doc or template()
    resource = doc["Resources"][logical_id]
    assert resource["Type"] == "AWS::Serverless::Function", f"{logical_id} is not a function"
    properties = _merge_globals(doc.get("Globals", {}).get("Function", {}), resource["Properties"])
    environment = properties.get("Environment", {}).get("Variables", {})
    return FunctionSpec(logical_id, ROOT / properties["CodeUri"], properties["Handler"], properties, environment)


def import_handler(spec: FunctionSpec) -> tuple[Callable[[dict[str, Any], Any], dict[str, Any]], ModuleType]:
    """Import ``module.attr`` from the function's code directory as a fresh module (a fresh container)."""
    module_name, _, attr = spec.handler.rpartition(".")
    path = spec.code_dir / f"{module_name.replace('.', '/')}.py"
    unique = f"_lambda_{spec.logical_id}_{next(_module_ids)}"
    module_spec = importlib.util.spec_from_file_location(unique, path)
    assert module_spec is not None and module_spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[unique] = module
    module_spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = getattr(module, attr)
    return handler, module


def local_env(logical_id: str, code_dir: Path) -> dict[str, str]:
    """env.json's values for a function, with /var/task paths pointing at ``code_dir``."""
    values: dict[str, str] = json.loads(ENV_JSON.read_text())[logical_id]
    return {k: v.replace(LAMBDA_TASK_ROOT, str(code_dir)) for k, v in values.items()}


def python313() -> str:
    return subprocess.check_output([str(ROOT / "scripts" / "python313.sh")], text=True).strip()


def make(*targets: str, timeout: float = 900) -> None:
    done = subprocess.run(
        ["make", "-s", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"make {' '.join(targets)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


def sam_tool(name: str) -> str:
    path = SAM_VENV / "bin" / name
    assert path.exists(), f"{path} is missing: run `make sam-venv`"
    return str(path)


def iter_python_files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*.py"):
        if "__pycache__" not in path.parts:
            yield path
