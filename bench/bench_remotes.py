#!/usr/bin/env python3
"""Push and clone+pull of one model over a local remote: git-model beside git-lfs and DVC.

Usage: bench_remotes.py WORKLOAD_DIR OUT_DIR [--dvc /path/to/dvc]

WORKLOAD_DIR is the output of shared/workloads/make_models.py (v0_base and
v1_head are used). git-model pushes to a directory remote through the pre-push
hook; git-lfs pushes to a file:// git remote (its standalone file transfer);
DVC pushes to a local directory remote. Every tool runs in the same run, on
the same file, with its own throwaway HOME. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(cwd: Path, *args: str, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stderr.decode()}")
    return time.perf_counter() - start


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def environment(out: Path) -> dict:
    home = out / "home"
    home.mkdir(parents=True)
    env = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@b", PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ["PATH"])
    subprocess.run(["git", "config", "--global", "init.defaultBranch", "main"], env=env, check=True)
    return env


def git_model(work: Path, out: Path, env: dict) -> dict:
    origin, store, repo = out / "gm-origin.git", out / "gm-store", out / "gm-repo"
    run(out, "git", "init", "-q", "--bare", str(origin), env=env)
    run(out, "git", "init", "-q", str(repo), env=env)
    for args in (("git", "model", "install"), ("git", "model", "track", "*.safetensors"),
                 ("git", "model", "remote", "add", "shared", str(store)),
                 ("git", "remote", "add", "origin", str(origin))):
        run(repo, *args, env=env)
    shutil.copyfile(work / "v0_base.safetensors", repo / "model.safetensors")
    result = {"add_s": run(repo, "git", "add", ".", env=env)}
    run(repo, "git", "commit", "-qm", "v0", env=env)
    result["push_s"] = run(repo, "git", "push", "-q", "origin", "main", env=env)
    result["pushed_bytes_v0"] = tree_bytes(store)
    shutil.copyfile(work / "v1_head.safetensors", repo / "model.safetensors")
    run(repo, "git", "commit", "-qam", "v1", env=env)
    result["push_v1_s"] = run(repo, "git", "push", "-q", "origin", "main", env=env)
    result["pushed_bytes_v1"] = tree_bytes(store) - result["pushed_bytes_v0"]
    clone = out / "gm-clone"
    start = time.perf_counter()
    run(out, "git", "clone", "-q", str(origin), str(clone), env=env)
    run(clone, "git", "model", "install", env=env)
    run(clone, "git", "model", "pull", env=env)
    result["clone_pull_s"] = time.perf_counter() - start
    assert (clone / "model.safetensors").read_bytes() == (repo / "model.safetensors").read_bytes()
    return result


def git_lfs(work: Path, out: Path, env: dict) -> dict:
    origin, repo = out / "lfs-origin.git", out / "lfs-repo"
    run(out, "git", "lfs", "install", "--skip-repo", env=env)
    run(out, "git", "init", "-q", "--bare", str(origin), env=env)
    run(out, "git", "init", "-q", str(repo), env=env)
    run(repo, "git", "lfs", "track", "*.safetensors", env=env)
    run(repo, "git", "remote", "add", "origin", f"file://{origin}", env=env)
    shutil.copyfile(work / "v0_base.safetensors", repo / "model.safetensors")
    result = {"add_s": run(repo, "git", "add", ".", env=env)}
    run(repo, "git", "commit", "-qm", "v0", env=env)
    result["push_s"] = run(repo, "git", "lfs", "push", "origin", "main", env=env)
    run(repo, "git", "push", "-q", "--no-verify", "origin", "main", env=env)
    result["pushed_bytes_v0"] = tree_bytes(origin / "lfs")
    shutil.copyfile(work / "v1_head.safetensors", repo / "model.safetensors")
    run(repo, "git", "commit", "-qam", "v1", env=env)
    result["push_v1_s"] = run(repo, "git", "lfs", "push", "origin", "main", env=env)
    run(repo, "git", "push", "-q", "--no-verify", "origin", "main", env=env)
    result["pushed_bytes_v1"] = tree_bytes(origin / "lfs") - result["pushed_bytes_v0"]
    clone = out / "lfs-clone"
    start = time.perf_counter()
    run(out, "git", "clone", "-q", f"file://{origin}", str(clone),
        env=dict(env, GIT_LFS_SKIP_SMUDGE="1"))
    run(clone, "git", "lfs", "pull", env=env)
    result["clone_pull_s"] = time.perf_counter() - start
    return result


def dvc(work: Path, out: Path, env: dict, dvc_bin: str) -> dict:
    origin, store, repo = out / "dvc-origin.git", out / "dvc-store", out / "dvc-repo"
    env = dict(env, DVC_NO_ANALYTICS="1")
    run(out, "git", "init", "-q", "--bare", str(origin), env=env)
    run(out, "git", "init", "-q", str(repo), env=env)
    for args in ((dvc_bin, "init", "-q"), (dvc_bin, "remote", "add", "-d", "local", str(store)),
                 ("git", "remote", "add", "origin", str(origin))):
        run(repo, *args, env=env)
    shutil.copyfile(work / "v0_base.safetensors", repo / "model.safetensors")
    result = {"add_s": run(repo, dvc_bin, "add", "-q", "model.safetensors", env=env)}
    run(repo, "git", "add", ".", env=env)
    run(repo, "git", "commit", "-qm", "v0", env=env)
    result["push_s"] = run(repo, dvc_bin, "push", "-q", env=env)
    result["pushed_bytes_v0"] = tree_bytes(store)
    shutil.copyfile(work / "v1_head.safetensors", repo / "model.safetensors")
    run(repo, dvc_bin, "add", "-q", "model.safetensors", env=env)
    run(repo, "git", "commit", "-qam", "v1", env=env)
    result["push_v1_s"] = run(repo, dvc_bin, "push", "-q", env=env)
    result["pushed_bytes_v1"] = tree_bytes(store) - result["pushed_bytes_v0"]
    run(repo, "git", "push", "-q", "origin", "main", env=env)
    clone = out / "dvc-clone"
    start = time.perf_counter()
    run(out, "git", "clone", "-q", str(origin), str(clone), env=env)
    run(clone, dvc_bin, "pull", "-q", env=env)
    result["clone_pull_s"] = time.perf_counter() - start
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dvc", default=None, help="the dvc executable (its own venv)")
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    env = environment(args.out)
    size = (args.workload / "v0_base.safetensors").stat().st_size
    results = {"model_bytes": size, "git-model": git_model(args.workload, args.out, env),
               "git-lfs": git_lfs(args.workload, args.out, env)}
    if args.dvc:
        results["dvc"] = dvc(args.workload, args.out, env, args.dvc)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
