"""`sam build` output: complete, for the right architecture, with bytecode Lambda will actually use."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from bench.cold_start import measure
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.lambda_runtime import ROOT, iter_python_files

pytestmark = pytest.mark.slow

ELF_MACHINE = {183: "aarch64", 62: "x86_64"}


def _layer_requirements() -> list[Requirement]:
    lines = (ROOT / "shared" / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.strip().startswith("#")]


def _installed_distributions(site: Path) -> set[str]:
    names = set()
    for dist_info in site.glob("*.dist-info"):
        names.add(canonicalize_name(dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0]))
    return names


def _elf_machine(path: Path) -> str:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    (machine,) = struct.unpack("<H", header[18:20])
    return ELF_MACHINE.get(machine, str(machine))


def test_build_has_both_functions_and_the_layer(sam_build: Path) -> None:
    for function in ("GatewayFunction", "BufferedFunction"):
        code = sam_build / function
        assert (code / "gateway.py").exists()
        assert (code / "config.yaml").exists(), "the bundled config ships with the code"
        assert (code / "run.sh").stat().st_mode & 0o111, "run.sh must stay executable"
    assert (sam_build / "SharedLayer" / "python" / "llm_gateway" / "gateway.py").exists()
    assert (sam_build / "template.yaml").exists()


def test_layer_holds_every_runtime_dependency(sam_build: Path) -> None:
    site = sam_build / "SharedLayer" / "python"
    installed = _installed_distributions(site)
    missing = [str(r) for r in _layer_requirements() if canonicalize_name(r.name) not in installed]
    assert not missing, f"not in the layer: {missing}"
    assert "boto3" not in installed, "boto3 comes with the Lambda runtime"


def test_native_code_is_built_for_arm64(sam_build: Path) -> None:
    libraries = list((sam_build / "SharedLayer" / "python").rglob("*.so"))
    assert libraries, "expected compiled extensions (pydantic-core, orjson, uvloop, ...)"
    machines = {_elf_machine(path) for path in libraries}
    assert machines == {"aarch64"}, machines
    assert all("cpython-313" in p.name or "abi3" in p.name or ".cpython" not in p.name for p in libraries)


def test_every_module_ships_unchecked_hash_bytecode_for_python313(sam_build: Path) -> None:
    """Lambda's code is read-only and `sam package` zips with 1980 timestamps: only unchecked-hash .pyc work."""
    roots = [sam_build / "GatewayFunction", sam_build / "BufferedFunction", sam_build / "SharedLayer" / "python"]
    checked = 0
    for root in roots:
        for source in iter_python_files(root):
            compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
            assert compiled.exists(), f"no bytecode for {source.relative_to(sam_build)}"
            (flags,) = struct.unpack("<I", compiled.read_bytes()[4:8])
            assert flags == 0b01, f"{compiled.relative_to(sam_build)} is not unchecked-hash (flags={flags})"
            checked += 1
    assert checked > 500


def test_built_artifact_alone_imports_the_handler_builds_the_app_and_answers(host_build: Path) -> None:
    """A fresh python3.13 with only the build output on sys.path (as in Lambda): nothing may be missing.
    The child answers a buffered invocation with a 200 or fails the run; how long it takes is for the
    benchmark (``make cold-start``), not for a test."""
    results = measure(host_build, runs=1)
    assert results[0]["boto3"] is False, "boto3 must be imported lazily, not at start-up"
