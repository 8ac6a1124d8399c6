"""The layering, read from the source (import-linter's independence contract, by hand): no
service imports another service's package, the gateway included; each may import only the
kernel (`services.common`) and the contracts (`services.contracts`). The kernel and the
contracts import no service. Imports inside functions count too."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "services"
SERVICES = ("applications", "review", "funding", "notify", "gateway")
SHARED = ("common", "contracts")


def imported_modules(package: str) -> set[str]:
    """Every module a package's files import (`from a.b import c` counts as `a.b`)."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
    return found


def crossings(package: str, allowed: tuple[str, ...]) -> set[tuple[str, str]]:
    """The imports of another package of `services` than `package` and `allowed`."""
    return {(package, module) for module in imported_modules(package)
            if module.startswith("services.") and module.split(".")[1] not in (package, *allowed)}


def test_no_service_imports_another_services_package():
    crossing = set().union(*(crossings(service, SHARED) for service in SERVICES))
    assert sorted(crossing) == [], "import the contract from services.contracts instead"


def test_the_kernel_and_the_contracts_import_no_service():
    assert crossings("common", ()) == set()
    assert crossings("contracts", ("common",)) == set()


def test_every_service_package_is_checked():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages == {*SERVICES, *SHARED}


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
