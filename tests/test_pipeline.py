"""Commit-aligned training: stages in .gitmodel run from the pre-commit hook, with real commits.

The project here trains a one-weight linear model in pure Python so the tests
need no torch: every run appends its stage name to a log outside the repository,
which is how "retrained exactly once" is checked.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, git, gm

TRAIN = """\
import json, os, struct, sys
open(os.environ["RUNLOG"], "a").write("train\\n")
p = json.load(open("params.json"))
if p.get("fail"):
    print("diverged", file=sys.stderr)
    sys.exit(3)
rows = [tuple(map(float, l.split(","))) for l in open("data/train.csv").read().split()[1:]]
w = 0.0
for _ in range(p["epochs"]):
    w -= p["lr"] * sum(2 * (w * x - y) * x for x, y in rows) / len(rows)
print(f"w={w:.6f}")
open("model.safetensors", "wb").write(struct.pack("<d", w) * 200)
"""

EVALUATE = """\
import json, os, struct, sys
open(os.environ["RUNLOG"], "a").write("evaluate\\n")
if os.path.exists("fail-evaluate"):
    sys.exit(5)
w = struct.unpack("<d", open("model.safetensors", "rb").read(8))[0]
rows = [tuple(map(float, l.split(","))) for l in open("data/train.csv").read().split()[1:]]
mse = sum((w * x - y) ** 2 for x, y in rows) / len(rows)
json.dump({"train": {"mse": round(mse, 9)}, "w": round(w, 9)}, open("metrics.json", "w"))
"""

GITMODEL = """\
[stage "evaluate"]
\tcmd = python evaluate.py
\tdeps = evaluate.py
\tdeps = model.safetensors
\tdeps = data/
\tmetrics = metrics.json
[stage "train"]
\tcmd = python train.py
\tdeps = train.py
\tdeps = data/*.csv
\tdeps = params.json
\touts = model.safetensors
[remote "origin"]
\turl = /elsewhere
"""


@pytest.fixture
def runlog(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "runs.log"
    path.write_text("")
    monkeypatch.setenv("RUNLOG", str(path))
    return path


def runs(runlog: Path) -> list[str]:
    """Stage names run since the last call."""
    names = runlog.read_text().split()
    runlog.write_text("")
    return names


def write_project(path: Path, lr: float = 0.01) -> None:
    (path / "data").mkdir(exist_ok=True)
    (path / "data" / "train.csv").write_text("x,y\n1,2\n2,4\n3,6.5\n")
    (path / "train.py").write_text(TRAIN)
    (path / "evaluate.py").write_text(EVALUATE)
    (path / ".gitmodel").write_text(GITMODEL)
    set_params(path, lr=lr)


def set_params(path: Path, **params) -> None:
    body = {"lr": 0.01, "epochs": 40, **params}
    (path / "params.json").write_text(json.dumps(body) + "\n")


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    """A repository (git-model installed) whose first commit ran both stages; built once."""
    path = tmp_path_factory.mktemp("template") / "repo"
    path.mkdir()
    log = path.parent / "runs.log"
    env = {**os.environ, "RUNLOG": str(log)}
    git(path, "init", "-q")
    gm(path, "install", "--local")
    gm(path, "track", "*.safetensors")
    write_project(path)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "first", env=env)
    assert log.read_text().split() == ["train", "evaluate"]
    return path


@pytest.fixture
def project(template, tmp_path, runlog) -> Path:
    """A fresh copy of the template (its .git, model cache included) for one test to change."""
    path = tmp_path / "repo"
    shutil.copytree(template, path, symlinks=True)
    return path


def show(repo: Path, name: str) -> bytes:
    return git(repo, "cat-file", "blob", name).stdout


def committed_oid(repo: Path, rev: str, path: str) -> str:
    pointer = show(repo, f"{rev}:{path}").decode()
    return pointer.split("oid sha256:")[1].split()[0]


def index_state(repo: Path) -> tuple[str, str]:
    return (git(repo, "rev-parse", "HEAD").stdout.decode(),
            git(repo, "ls-files", "-s").stdout.decode())


def test_first_commit_holds_model_metrics_and_lock(project):
    lock = json.loads(show(project, "HEAD:.gitmodel.lock"))
    model = (project / "model.safetensors").read_bytes()
    oid = hashlib.sha256(model).hexdigest()
    assert committed_oid(project, "HEAD", "model.safetensors") == oid
    assert lock["stages"]["train"]["outs"] == {"model.safetensors": f"sha256:{oid}"}
    assert lock["stages"]["evaluate"]["deps"]["model.safetensors"] == f"sha256:{oid}"
    assert "remote" not in json.dumps(lock)
    w = struct.unpack("<d", model[:8])[0]
    assert json.loads(show(project, "HEAD:metrics.json"))["w"] == round(w, 9)
    assert git(project, "status", "--porcelain").stdout == b""


def test_changing_a_dep_retrains_once_and_commits_matching_results(project, runlog):
    old_oid = committed_oid(project, "HEAD", "model.safetensors")
    set_params(project, lr=0.02)
    git(project, "add", "params.json")
    proc = git(project, "commit", "-m", "lr 0.02")
    assert runs(runlog) == ["train", "evaluate"]
    assert b"train | w=" in proc.stderr and b"dep params.json changed" in proc.stderr
    new_oid = committed_oid(project, "HEAD", "model.safetensors")
    assert new_oid != old_oid
    assert hashlib.sha256((project / "model.safetensors").read_bytes()).hexdigest() == new_oid
    w = struct.unpack("<d", (project / "model.safetensors").read_bytes()[:8])[0]
    assert json.loads(show(project, "HEAD:metrics.json"))["w"] == round(w, 9)
    changed = git(project, "show", "--name-only", "--format=", "HEAD").stdout.decode().split()
    assert sorted(changed) == [".gitmodel.lock", "metrics.json", "model.safetensors",
                               "params.json"]
    assert git(project, "status", "--porcelain").stdout == b""
    gm(project, "run")
    assert runs(runlog) == []


def test_commit_touching_no_dep_does_not_retrain(project, runlog):
    (project / "README.md").write_text("notes\n")
    git(project, "add", "README.md")
    git(project, "commit", "-qm", "docs")
    assert runs(runlog) == []
    assert git(project, "show", "--name-only", "--format=", "HEAD").stdout.split() == [b"README.md"]


def test_evaluate_only_change_does_not_retrain_the_model(project, runlog):
    (project / "evaluate.py").write_text(EVALUATE + "# tweak\n")
    git(project, "add", "evaluate.py")
    git(project, "commit", "-qm", "eval tweak")
    assert runs(runlog) == ["evaluate"]


def test_failing_stage_blocks_commit_and_leaves_index_and_head(project, runlog):
    set_params(project, fail=True)
    git(project, "add", "params.json")
    before = index_state(project)
    proc = git(project, "commit", "-m", "broken", check=False)
    assert proc.returncode != 0
    assert b"train | diverged" in proc.stderr
    assert b"stage 'train' failed (exit code 3)" in proc.stderr
    assert runs(runlog) == ["train"]
    assert index_state(project) == before


def test_failure_in_a_later_stage_restores_the_index(project, runlog):
    set_params(project, lr=0.03)
    git(project, "add", "params.json")
    (project / "fail-evaluate").write_text("")
    before = index_state(project)
    proc = git(project, "commit", "-m", "lr", check=False)
    assert proc.returncode != 0 and b"exit code 5" in proc.stderr
    assert runs(runlog) == ["train", "evaluate"]
    assert index_state(project) == before  # the retrained model was staged, then unstaged


def test_hook_exit_code_is_the_stage_exit_code(project, runlog):
    set_params(project, fail=True)
    git(project, "add", "params.json")
    assert gm(project, "hook", "pre-commit", check=False).returncode == 3


def test_check_policy_refuses_a_stale_commit(project, runlog):
    git(project, "config", "model.onCommit", "check")
    set_params(project, lr=0.05)
    git(project, "add", "params.json")
    before = index_state(project)
    proc = git(project, "commit", "-m", "lr", check=False)
    assert proc.returncode != 0
    assert b"train: dep params.json changed" in proc.stderr
    assert b"evaluate: upstream stage train is stale" in proc.stderr
    assert b"git model run" in proc.stderr
    assert runs(runlog) == [] and index_state(project) == before
    gm(project, "run")
    assert runs(runlog) == ["train", "evaluate"]
    git(project, "commit", "-qm", "lr")
    assert runs(runlog) == []
    assert git(project, "status", "--porcelain").stdout == b""


def test_off_policy_and_no_verify_skip_the_hook(project, runlog):
    set_params(project, lr=0.05)
    git(project, "add", "params.json")
    git(project, "commit", "-qm", "skip", "--no-verify")
    git(project, "config", "model.onCommit", "off")
    set_params(project, lr=0.06)
    git(project, "add", "params.json")
    git(project, "commit", "-qm", "off")
    assert runs(runlog) == []
    assert b"train: stale: dep params.json changed" in gm(project, "stages").stdout


def test_unknown_policy_is_one_line(project):
    git(project, "config", "model.onCommit", "sometimes")
    proc = gm(project, "hook", "pre-commit", check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip().splitlines() == [
        "git-model: error: git config model.onCommit is 'sometimes': expected one of run, "
        "check, off"]


def test_unstaged_change_to_a_dep_is_refused_by_name(project, runlog):
    set_params(project, lr=0.07)
    git(project, "add", "params.json")
    (project / "train.py").write_text(TRAIN + "# unstaged\n")
    proc = git(project, "commit", "-m", "lr", check=False)
    assert proc.returncode != 0
    assert b"train.py has changes that are not staged" in proc.stderr
    assert runs(runlog) == []
    (project / "data" / "extra.csv").write_text("x,y\n")
    git(project, "add", "train.py")
    proc = git(project, "commit", "-m", "lr", check=False)
    assert b"data/extra.csv has changes that are not staged" in proc.stderr


def test_checkout_of_an_older_commit_restores_its_model_and_metrics(project, runlog):
    first_model = (project / "model.safetensors").read_bytes()
    first_metrics = (project / "metrics.json").read_bytes()
    for lr in (0.02, 0.03):
        set_params(project, lr=lr)
        git(project, "commit", "-qam", f"lr {lr}")
    assert (project / "model.safetensors").read_bytes() != first_model
    git(project, "checkout", "-q", "HEAD~2")
    assert (project / "model.safetensors").read_bytes() == first_model
    assert (project / "metrics.json").read_bytes() == first_metrics
    assert b"fresh" in gm(project, "stages").stdout
    git(project, "checkout", "-q", "main")
    assert runs(runlog) == ["train", "evaluate"] * 2


def test_merge_commit_never_retrains(project, runlog):
    git(project, "checkout", "-qb", "side")
    set_params(project, lr=0.02)
    git(project, "commit", "-qam", "side lr")
    git(project, "checkout", "-q", "main")
    (project / "README.md").write_text("x\n")
    git(project, "add", "README.md")
    git(project, "commit", "-qm", "readme")
    runs(runlog)
    git(project, "merge", "-q", "--no-ff", "--no-edit", "side")
    assert runs(runlog) == []


def test_run_and_stages_commands(project, runlog):
    assert gm(project, "stages").stdout == b"train: fresh\nevaluate: fresh\n"
    assert gm(project, "run").stdout.endswith(b"all stages are fresh\n")
    gm(project, "run", "evaluate", "--force")
    assert runs(runlog) == ["evaluate"]
    (project / "data" / "train.csv").write_text("x,y\n1,2\n2,4\n3,6\n")
    git(project, "add", "data")
    out = gm(project, "stages").stdout.decode()
    assert "train: stale: dep data/*.csv changed" in out
    assert "evaluate: stale: dep data/ changed; upstream stage train is stale" in out
    gm(project, "run", "train")
    assert runs(runlog) == ["train"]
    assert gm(project, "stages").stdout.decode().startswith("train: fresh\nevaluate: stale")
    (project / "model.safetensors").unlink()
    git(project, "rm", "-q", "--cached", "model.safetensors")
    assert "model.safetensors is missing from the index" in gm(project, "stages").stdout.decode()
    assert gm(project, "run", "nope", check=False).stderr.decode().startswith(
        "git-model: error: no stage named 'nope'")


@pytest.mark.parametrize("text, message", [
    ('[stage "a"]\n\tdeps = x\n', "stage 'a' has no cmd"),
    ('[stage "a"]\n\tcmd = x\n\tcolour = red\n', "unknown key 'colour' in stage 'a'"),
    ('[stage "a"]\n\tcmd = x\n\touts = ../m\n', "give a path inside the repository"),
    ('[stage "a"]\n\tcmd = x\n\touts = m/*.bin\n', "must be a file path"),
    ('[stage "a"]\n\tcmd = x\n\tdeps = b.out\n\touts = a.out\n'
     '[stage "b"]\n\tcmd = y\n\tdeps = a.out\n\touts = b.out\n',
     "cycle: a -> b -> a"),
    ('[stage "a"\n', "not valid git-config syntax"),
])
def test_bad_gitmodel_is_one_clear_line(repo, text, message):
    (repo / ".gitmodel").write_text(text)
    proc = gm(repo, "stages", check=False)
    assert proc.returncode == 1
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_order_follows_data_not_file_order(tmp_path):
    from gitmodel.pipeline.stages import load
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitmodel").write_text(
        '[stage "report"]\n\tcmd = r\n\tdeps = metrics/\n'
        '[stage "eval"]\n\tcmd = e\n\tdeps = models/m.bin\n\tmetrics = metrics/m.json\n'
        '[stage "train"]\n\tcmd = t\n\tdeps = data\n\touts = models/m.bin\n'
        '[stage "prep"]\n\tcmd = p\n\touts = data/clean.csv\n')
    assert [s.name for s in load(tmp_path)] == ["prep", "train", "eval", "report"]


def test_yaml_metrics_log_and_diff(project, runlog):
    (project / "evaluate.py").write_text(EVALUATE.replace(
        'json.dump({"train": {"mse": round(mse, 9)}, "w": round(w, 9)}, open("metrics.json", "w"))',
        'open("metrics.yaml", "w").write(f"train:\\n  mse: {mse:.9f}\\nw: {w:.9f}\\nnote: hi\\n")'))
    gitmodel = (project / ".gitmodel").read_text().replace("metrics.json", "metrics.yaml")
    (project / ".gitmodel").write_text(gitmodel)
    git(project, "rm", "-q", "metrics.json")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "yaml metrics")
    set_params(project, lr=0.02)
    git(project, "commit", "-qam", "lr 0.02")
    diff = json.loads(gm(project, "metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert set(diff) == {"train.mse", "w"}
    assert diff["w"]["diff"] == pytest.approx(diff["w"]["new"] - diff["w"]["old"])
    table = gm(project, "metrics", "diff", "HEAD~1", "HEAD").stdout.decode().splitlines()
    assert table[0].split() == ["Metric", "HEAD~1", "HEAD", "Change"]
    assert table[2].split()[0] == "w" and table[2].split()[3].startswith("+")
    log = gm(project, "log").stdout.decode().splitlines()
    assert log[0].endswith(" lr 0.02") and log[1].split()[0] == "model.safetensors"
    oid = committed_oid(project, "HEAD", "model.safetensors")
    assert log[1].split()[1] == oid[:12] and "train.mse=" in log[2]
    shown = json.loads(gm(project, "metrics", "HEAD", "--json").stdout)
    assert shown["HEAD"]["w"] == diff["w"]["new"]


def test_metrics_errors_are_one_line(project):
    (project / "metrics.json").write_text("{oops")
    proc = gm(project, "metrics", check=False)
    assert proc.returncode == 1 and "metrics.json (workspace) is not valid JSON" in proc.stderr.decode()
    proc = gm(project, "metrics", "diff", "nosuchrev", check=False)
    assert proc.stderr.decode().strip() == "git-model: error: unknown revision 'nosuchrev'"


def test_plot(project, tmp_path):
    pytest.importorskip("matplotlib")
    set_params(project, lr=0.02)
    git(project, "commit", "-qam", "lr 0.02")
    out = tmp_path / "w.png"
    assert b"(2 commits)" in gm(project, "plot", "w", "--out", str(out)).stdout
    assert out.read_bytes().startswith(b"\x89PNG")
    assert b"no commit has a metric named 'nope'" in gm(project, "plot", "nope", check=False).stderr
    out = gm(project, "plot", "w", "train.mse", "--log").stdout.decode().strip()
    where = Path(out.split()[1])  # "wrote PATH (2 commits)": a temporary file, not the work tree
    assert out.endswith("(2 commits)") and not where.is_relative_to(project), out
    assert where.read_bytes().startswith(b"\x89PNG")
    where.unlink()
    assert git(project, "status", "--porcelain").stdout == b""
    (project / ".gitmodel").write_text("")
    proc = gm(project, "plot", "w", check=False)
    assert "declares metrics" in proc.stderr.decode() and "PATH" not in proc.stderr.decode()


def test_the_hook_loads_nothing_heavy_when_nothing_is_stale(project):
    """On commits that touch no stage, the hook's fast path imports neither the cache (zstd,
    xxhash) nor the pipeline: what keeps its cost to its start (the bench's history rows
    time it; a pass/fail test does not). Commits whose stages are fresh pass it too."""
    with open(project / "README.md", "a") as handle:
        handle.write("x\n")
    git(project, "add", "README.md")
    git(project, "commit", "-qm", "x")
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    imported = gm(project, "hook", "pre-commit", env=env).stderr.decode()
    assert " gitmodel.commands.hooks\n" in imported  # the listing is of the hook's imports
    for heavy in ("zstandard", "xxhash", "gitmodel.store.objects", "gitmodel.pipeline.runner"):
        assert f" {heavy}\n" not in imported
    with open(project / ".gitmodel", "a") as handle:
        handle.write("# relevant to the hook, yet every stage stays fresh\n")
    git(project, "add", ".gitmodel")
    git(project, "commit", "-qm", "comment")
    assert git(project, "status", "--porcelain").stdout == b""


def _framework_repo(path: Path, hooks_repo: dict, env: dict) -> None:
    """`path` uses the pre-commit framework (not git-model's shim) for its pre-commit hook."""
    (path / ".git" / "hooks" / "pre-commit").unlink()
    config = {"repos": [hooks_repo]}
    (path / ".pre-commit-config.yaml").write_text(json.dumps(config))  # JSON is YAML
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=path, env=env,
                   check=True, capture_output=True)


def _framework_env(tmp_path: Path) -> dict:
    return {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}


def _commit_through_framework(path: Path, runlog: Path, env: dict) -> None:
    git(path, "add", "-A", env=env)
    git(path, "commit", "-qm", "first", env=env)
    assert runs(runlog) == ["train", "evaluate"]
    assert git(path, "status", "--porcelain").stdout == b""
    set_params(path, lr=0.02)
    git(path, "add", "params.json")
    proc = git(path, "commit", "-m", "lr 0.02", env=env)
    assert b"git-model stages" in proc.stdout + proc.stderr
    assert runs(runlog) == ["train", "evaluate"]
    committed = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert committed_oid(path, "HEAD", "model.safetensors") == committed
    assert git(path, "status", "--porcelain").stdout == b""


def test_pre_commit_framework_with_the_published_hook(repo, runlog, tmp_path):
    """The hook as .pre-commit-hooks.yaml defines it, run by the real pre-commit package.

    It runs as a `repo: local` hook with language `system` (the git-model under
    test is on PATH) so that no virtualenv has to be built.
    """
    yaml = pytest.importorskip("yaml")
    pytest.importorskip("pre_commit")
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "git-model-stages" and hook["language"] == "python"
    env = _framework_env(tmp_path)
    write_project(repo)
    _framework_repo(repo, {"repo": "local", "hooks": [{**hook, "language": "system"}]}, env)
    _commit_through_framework(repo, runlog, env)


def test_pre_commit_framework_from_a_clone_of_this_project(repo, runlog, tmp_path):
    """What a team's .pre-commit-config.yaml does: `repo:` a clone of git-model at a commit."""
    pytest.importorskip("pre_commit")
    source = tmp_path / "git-model"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache", "examples",
        "out", ".venv-dvc", ".demo-venv", ".hypothesis"))  # bench/out holds GBs of workload
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "snapshot")
    rev = git(source, "rev-parse", "HEAD").stdout.decode().strip()
    env = _framework_env(tmp_path)
    write_project(repo)
    _framework_repo(repo, {"repo": str(source), "rev": rev,
                           "hooks": [{"id": "git-model-stages"}]}, env)
    _commit_through_framework(repo, runlog, env)


def test_partial_commit_commits_outputs_and_says_how_to_update_the_index(project, runlog):
    set_params(project, lr=0.02)
    proc = git(project, "commit", "-m", "lr", "params.json")
    assert runs(runlog) == ["train", "evaluate"]
    assert b"partial commit" in proc.stderr
    assert b"git add model.safetensors metrics.json .gitmodel.lock" in proc.stderr
    committed = hashlib.sha256((project / "model.safetensors").read_bytes()).hexdigest()
    assert committed_oid(project, "HEAD", "model.safetensors") == committed
    git(project, "add", "model.safetensors", "metrics.json", ".gitmodel.lock")
    assert git(project, "status", "--porcelain").stdout == b""


def test_damaged_lock_is_one_line(project):
    (project / ".gitmodel.lock").write_text('{"version": 1, "stages": {"train": {"deps": []}}}')
    git(project, "add", ".gitmodel.lock")
    proc = gm(project, "stages", check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip().splitlines() == [
        "git-model: error: .gitmodel.lock in the index is not a lock file git-model can read: "
        "remove it (git rm --cached .gitmodel.lock) and run `git model run`"]


def test_stages_show_working_tree_changes_json_and_quiet(project):
    assert gm(project, "stages").stdout.decode().splitlines() == ["train: fresh", "evaluate: fresh"]
    assert gm(project, "stages", "--quiet").returncode == 0
    set_params(project, lr=0.05)  # edited, not added
    lines = gm(project, "stages").stdout.decode().splitlines()
    assert lines[0] == "train: fresh (not staged: params.json changed in the working tree)", lines
    quiet = gm(project, "stages", "-q", check=False)
    assert quiet.returncode == 1 and quiet.stdout == b""
    git(project, "add", "params.json")
    items = json.loads(gm(project, "stages", "--json").stdout)
    assert [(i["name"], i["stale"], i["unstaged"]) for i in items] == [
        ("train", True, []), ("evaluate", True, [])]
    assert items[0]["reasons"] == ["dep params.json changed"]


def test_log_json_and_metrics_keep_the_order_asked_and_exact_values(project):
    set_params(project, lr=0.02)
    git(project, "commit", "-qam", "lr 0.02")
    entries = json.loads(gm(project, "log", "--json").stdout)
    assert [e["subject"] for e in entries] == ["lr 0.02", "first"]
    assert entries[0]["models"][0]["oid"] == committed_oid(project, "HEAD", "model.safetensors")
    assert set(entries[0]["metrics"]) == {"train.mse", "w"}
    shown = json.loads(gm(project, "metrics", "--json", "HEAD~1", "HEAD").stdout)
    assert list(shown) == ["HEAD~1", "HEAD"]
    diff = json.loads(gm(project, "metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)
    for name, row in diff.items():
        assert row["diff"] == row["new"] - row["old"], name  # exact, not rounded


def test_run_and_stages_without_stages(tmp_path, repo):
    for verb in ("run", "stages"):
        out = gm(repo, verb).stdout.decode()
        assert out.startswith("no stages: declare them in .gitmodel"), out
