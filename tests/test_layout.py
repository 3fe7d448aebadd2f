"""The package's shape: layers that import only downwards, no cycles, lint and types clean.

The contracts live in pyproject.toml ([tool.importlinter]); these tests run the
same tools CI would, so an upward import or a new cycle fails the suite.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LAYERS = ("git", "model", "filter", "transfer", "pipeline", "commands", "cli")


def tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or pytest.fail(f"{name} is not installed"))


def run(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)


def test_import_contracts_hold() -> None:
    proc = run(tool("lint-imports"), "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.split("Contracts:")[-1].split("kept")[0]


def test_an_upward_function_level_import_breaks_the_contract(tmp_path: Path) -> None:
    """lint-imports reads imports inside functions too (grimp parses the whole AST)."""
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "src/gitmodel/store/atomic.py", "a") as handle:
        handle.write("\n\ndef _upward() -> None:\n    from gitmodel.commands import status  # noqa: F401\n")
    proc = run(tool("lint-imports"), "--no-cache", cwd=tmp_path,
               env={"PYTHONPATH": str(tmp_path / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gitmodel.store.atomic -> gitmodel.commands.status" in proc.stdout


def test_no_import_cycle_between_modules() -> None:
    """Within a layer too (commands/ modules may import each other, never in a circle)."""
    graph = grimp.build_graph("gitmodel")
    cycles = sorted(f"{a} -> {b} -> ... -> {a}"
                    for a in graph.modules for b in graph.find_modules_directly_imported_by(a)
                    if graph.find_shortest_chain(importer=b, imported=a) is not None)
    assert not cycles
    # Function-level imports are in the graph: the CLI imports every command inside its function.
    assert graph.direct_import_exists(importer="gitmodel.cli.main", imported="gitmodel.commands.status")


def test_importing_the_store_loads_no_upper_layer() -> None:
    code = ("import sys, pkgutil, importlib, gitmodel.store\n"
            "for m in pkgutil.iter_modules(gitmodel.store.__path__, 'gitmodel.store.'):\n"
            "    importlib.import_module(m.name)\n"
            "print('\\n'.join(sys.modules))")
    proc = run(sys.executable, "-c", code)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.split()
    assert "gitmodel.store.objects" in loaded
    upper = [m for m in loaded if m.split(".")[:2] in (["gitmodel", layer] for layer in LAYERS)]
    assert not upper and "click" not in loaded, upper


def test_ruff_is_clean() -> None:
    proc = run(tool("ruff"), "check", "--no-cache", "src", "tests", "bench")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean() -> None:
    proc = run(tool("mypy"), "--no-incremental")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_only_the_git_layer_starts_git() -> None:
    """One door to git (gitmodel/git/repo.py): every other module asks it. The pipeline runner
    also starts processes, but only the stage commands .gitmodel declares."""
    starters = {}
    for path in sorted((ROOT / "src/gitmodel").rglob("*.py")):
        rel = path.relative_to(ROOT / "src/gitmodel").as_posix()
        text = path.read_text()
        if rel == "git/repo.py":
            continue
        if "import subprocess" in text or '["git"' in text or "'git'," in text:
            starters[rel] = "subprocess" if "import subprocess" in text else "git argv"
    assert starters == {"pipeline/runner.py": "subprocess"}
    runner = (ROOT / "src/gitmodel/pipeline/runner.py").read_text()
    assert runner.count("subprocess.Popen(") == 1 and "subprocess.run(" not in runner
