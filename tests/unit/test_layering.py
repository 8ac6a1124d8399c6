"""The layering. `make lint` checks the import-linter contracts of pyproject.toml: no service
imports another service's package, the gateway included; the contracts (`services.contracts`)
and the kernel (`services.common`) import no service; every domain imports no framework; the
gateway imports no store. Here: that those contracts name every package of `services`, and
that the kernel's modules import each other without a cycle, which import-linter does not see."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "services"
SHARED = ("common", "contracts")
PYPROJECT = tomllib.loads((ROOT.parent / "pyproject.toml").read_text(encoding="utf-8"))
CONTRACTS = PYPROJECT["tool"]["importlinter"]["contracts"]


def contract(name: str) -> dict:
    return next(c for c in CONTRACTS if c["name"] == name)


def test_the_import_contracts_name_every_service_package():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    services = {f"services.{name}" for name in packages - set(SHARED)}
    assert set(contract("Services are independent of each other, the gateway included")["modules"]) == services
    assert set(contract("The contracts import no service")["forbidden_modules"]) == services
    assert set(contract("The kernel imports no service and no contract")["forbidden_modules"]) == {
        *services,
        "services.contracts",
    }
    domains = {f"services.{name}.domain" for name in packages if (ROOT / name / "domain").is_dir()}
    assert set(contract("Every domain imports no framework")["source_modules"]) == domains
    stores = {f"services.{name}.store" for name in packages if (ROOT / name / "store.py").exists()}
    assert set(contract("The gateway imports no store")["forbidden_modules"]) == stores


def test_the_kernels_modules_import_each_other_without_a_cycle():
    """Imports inside functions count: a local import that hides a cycle is still a cycle."""
    kernel = ROOT / "common"
    names = {path.stem for path in kernel.glob("*.py")}
    graph = {}
    for path in kernel.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module} if node.module else {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("services.common."):
                found.add(node.module.split(".")[2])
        graph[path.stem] = found & names - {path.stem}

    def cycle_from(start, path):
        for module in sorted(graph[path[-1]]):
            if module == start:
                return [*path, module]
            if module not in path and (found := cycle_from(start, [*path, module])):
                return found
        return None

    cycles = [" → ".join(c) for module in sorted(graph) if (c := cycle_from(module, [module]))]
    assert cycles == []
