"""Model-aware inspection (issue 5): `git model show/diff` and git's own diff output.

Every check goes through real commits and the CLI, on the shared workload.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import copy, git, gm

VERSIONS = ["v0_base", "v1_head", "v2_full", "v3_reorder", "v4_vocab", "v5_adapter"]
MODEL = "model.safetensors"


def _new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    gm(path, "install", "--local")
    gm(path, "track", "*.safetensors", "*.bin", "*.pt")
    return path


@pytest.fixture(scope="module")
def history(tmp_path_factory, workload) -> Path:
    """One commit per workload version of model.safetensors, each tagged by its name."""
    path = _new_repo(tmp_path_factory.mktemp("inspect") / "repo")
    for version in VERSIONS:
        copy(workload / f"{version}.safetensors", path / MODEL)
        git(path, "add", MODEL)
        git(path, "commit", "-q", "-m", version)
        git(path, "tag", version)
    return path


def _diff_json(repo: Path, *args: str) -> dict:
    lines = gm(repo, "diff", "--json", *args).stdout.decode().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def _by_status(result: dict) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for tensor in result["tensors"]:
        groups.setdefault(tensor["status"], set()).add(tensor["name"])
    return groups


def _read_bf16(path: Path, name: str) -> np.ndarray:
    """A tensor straight from a safetensors file, as float32 (the test's own reader)."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        info = json.loads(handle.read(length))[name]
        begin, end = info["data_offsets"]
        handle.seek(8 + length + begin)
        bits = np.frombuffer(handle.read(end - begin), dtype="<u2")
    return (bits.astype(np.uint32) << 16).view(np.float32)


def test_head_finetune_changes_exactly_last_two_blocks_and_lm_head(history, workload):
    layers = json.loads((workload / "workload.json").read_text())["layers"]
    result = _diff_json(history, "v0_base", "v1_head")
    assert (result["path"], result["from"], result["to"]) == (MODEL, "v0_base", "v1_head")
    groups = _by_status(result)
    last = (f"blocks.{layers - 2}.", f"blocks.{layers - 1}.")
    expected = {t["name"] for t in result["tensors"]
                if t["name"].startswith(last) or t["name"] == "lm_head.weight"}
    assert len(expected) == 13
    assert groups.pop("changed") == expected
    assert set(groups) == {"unchanged"}
    for tensor in result["tensors"]:
        if tensor["status"] == "changed":
            assert 0 < tensor["fraction_changed"] <= 1 and tensor["max_abs_change"] > 0


def test_reorder_is_all_unchanged_and_reads_only_small_chunks(history):
    result = _diff_json(history, "v1_head", "v3_reorder")
    assert set(_by_status(result)) == {"unchanged"}
    assert result["metadata"] == {"note": {"from": None, "to": "reordered"}}
    # In-process, counting what is decoded: no large tensor's chunk may be read.
    from gitmodel.commands.diff import diff
    from gitmodel.git.repo import Repo
    from gitmodel.store.objects import Store
    decoded = []
    original = Store.read_chunk

    def counting(self, cid, size):
        decoded.append(size)
        return original(self, cid, size)

    Store.read_chunk = counting
    try:
        [file_diff] = list(diff(Repo.discover(history), ["v1_head", "v3_reorder"]))
    finally:
        Store.read_chunk = original
    assert file_diff.counts()["unchanged"] == len(file_diff.tensors)
    assert max(decoded) <= 1 << 20 and sum(decoded) < 8 << 20  # header + small-tensor groups


def test_vocab_growth_reports_the_two_reshaped_tensors(history):
    result = _diff_json(history, "v1_head", "v4_vocab")
    groups = _by_status(result)
    assert groups.pop("reshaped") == {"embed.weight", "lm_head.weight"}
    assert set(groups) == {"unchanged"}
    embed = next(t for t in result["tensors"] if t["name"] == "embed.weight")
    assert embed["shape"][0] == embed["from_shape"][0] + 256


def test_full_finetune_changes_every_matrix_with_measured_fractions(history, workload):
    result = _diff_json(history, "v0_base", "v2_full")
    matrices = [t for t in result["tensors"] if len(t["shape"]) == 2]
    assert matrices and all(t["status"] == "changed" for t in matrices)
    assert all(0 < t["fraction_changed"] < 1 for t in matrices)
    # Check one tensor's statistics against numpy on the original files.
    old = _read_bf16(workload / "v0_base.safetensors", "embed.weight")
    new = _read_bf16(workload / "v2_full.safetensors", "embed.weight")
    embed = next(t for t in matrices if t["name"] == "embed.weight")
    assert embed["changed_elements"] == int(np.count_nonzero(old != new))
    assert embed["fraction_changed"] == pytest.approx(np.mean(old != new))
    assert embed["max_abs_change"] == pytest.approx(float(np.max(np.abs(new - old))))
    delta = (new - old).astype(np.float64)
    rel = np.linalg.norm(delta) / np.linalg.norm(old.astype(np.float64))
    assert embed["rel_l2_change"] == pytest.approx(rel, rel=1e-4)
    text = gm(history, "diff", "v0_base", "v2_full").stdout.decode()
    assert "of elements differ" in text
    assert f"{len(result['tensors'])} changed" in text.splitlines()[-1]


def test_git_diff_log_and_show_print_model_summaries(history):
    layers = len([t for t in _diff_json(history, "HEAD~1", "HEAD")["tensors"]
                  if t["status"] == "added"]) // 2
    out = git(history, "diff", "HEAD~1", "--", MODEL).stdout.decode()
    assert "oid sha256:" not in out
    assert "added     blocks.0.attn.qkv.lora_A" in out
    assert f"{2 * layers} added" in out.splitlines()[-1]
    ours = gm(history, "diff", "HEAD~1", "HEAD").stdout.decode()
    assert ours.splitlines()[1:] == out.splitlines()[1:]  # same body, labels differ
    shown = git(history, "show", "HEAD").stdout.decode()
    assert "oid sha256:" not in shown
    assert "+tensor blocks.0.attn.qkv.lora_A BF16 [16, 256]" in shown
    log = git(history, "log", "-p", "-2").stdout.decode()
    assert "oid sha256:" not in log
    assert "-metadata note = reordered" in log and "+tensor" in log


def test_show_lists_tensors_and_storage(history):
    info = json.loads(gm(history, "show", "v1_head:model.safetensors", "--json").stdout)
    assert info["format"] == "safetensors" and info["metadata"] == {"step": "1000"}
    assert info["parameters"] == sum(int(np.prod(t["shape"])) for t in info["tensors"])
    storage = info["storage"]
    assert storage["logical_bytes"] == info["size"]
    assert 0 < storage["stored_bytes"] < storage["logical_bytes"]
    assert storage["parent"]["rev"] == "v1_head^"
    assert 0 < storage["parent"]["shared_bytes"] < storage["logical_bytes"]
    text = gm(history, "show", "v1_head:model.safetensors").stdout.decode()
    assert "lm_head.weight" in text and "shares" in text


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, offset = {}, 0
    tensors = {name: array.astype("<f4") for name, array in tensors.items()}
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw
                     + b"".join(a.tobytes() for a in tensors.values()))


def test_working_tree_defaults(tmp_path):
    repo = _new_repo(tmp_path / "repo")
    rng = np.random.default_rng(1)
    tensors = {"a": rng.standard_normal((256, 128)), "b": rng.standard_normal(64),
               "c": np.zeros((2, 3))}
    _write_safetensors(repo / MODEL, tensors)
    git(repo, "add", MODEL)
    git(repo, "commit", "-q", "-m", "base")
    assert gm(repo, "diff").stdout == b""
    tensors["a"] = tensors["a"].copy()
    tensors["a"][0, :32] += 1.0
    tensors["c"] = np.zeros((3, 2))
    del tensors["b"]
    _write_safetensors(repo / MODEL, tensors)
    unstaged = _diff_json(repo)
    assert (unstaged["from"], unstaged["to"]) == ("index", "working tree")
    assert {t["name"]: t["status"] for t in unstaged["tensors"]} == {
        "a": "changed", "b": "removed", "c": "reshaped"}
    changed = unstaged["tensors"][0]
    assert changed["changed_elements"] == 32 and changed["max_abs_change"] == pytest.approx(1.0)
    git(repo, "add", MODEL)
    assert gm(repo, "diff").stdout == b""
    against_head = _diff_json(repo, "HEAD", "--", MODEL)
    assert against_head["tensors"] == unstaged["tensors"]
    assert "reshaped  c" in git(repo, "diff", "--cached").stdout.decode()
    shown = json.loads(gm(repo, "show", MODEL, "--json").stdout)
    assert shown["rev"] == "working tree" and shown["storage"]["parent"]["rev"] == "HEAD"
    assert [t["name"] for t in shown["tensors"]] == ["a", "c"]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def test_torch_checkpoint_diff(tmp_path, torch):
    repo = _new_repo(tmp_path / "repo")
    torch.manual_seed(0)
    state = {"layer.weight": torch.randn(256, 256).to(torch.bfloat16),
             "layer.bias": torch.zeros(256), "head": {"w": torch.randn(10, 64)}, "step": 1}
    torch.save(state, repo / "ckpt.pt")
    git(repo, "add", "ckpt.pt")
    git(repo, "commit", "-q", "-m", "c0")
    state["layer.bias"][:64] += 0.5
    state["head"]["w"] = torch.randn(12, 64)
    state["extra"] = torch.ones(3)
    state["step"] = 2
    torch.save(state, repo / "ckpt.pt")
    git(repo, "commit", "-q", "-a", "-m", "c1")
    result = _diff_json(repo, "HEAD~1", "HEAD")
    statuses = {t["name"]: t["status"] for t in result["tensors"]}
    assert statuses == {"layer.weight": "unchanged", "layer.bias": "changed",
                        "head.w": "reshaped", "extra": "added"}
    bias = next(t for t in result["tensors"] if t["name"] == "layer.bias")
    assert bias["fraction_changed"] == 0.25 and bias["max_abs_change"] == 0.5
    assert result["metadata"] == {"step": {"from": "1", "to": "2"}}
    shown = json.loads(gm(repo, "show", "HEAD:ckpt.pt", "--json").stdout)
    assert shown["format"] == "torch" and shown["parameters"] == 256 * 256 + 256 + 12 * 64 + 3


class _Payload:
    """Unpickling this writes a file: what a malicious checkpoint would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (exec, (f"open({str(self.target)!r}, 'w').write('pwned')",))


def test_malicious_checkpoint_is_refused_and_never_executed(tmp_path, torch):
    repo = _new_repo(tmp_path / "repo")
    marker = tmp_path / "pwned"
    torch.save({"w": torch.ones(4), "payload": _Payload(marker)}, repo / "evil.pt")
    assert not marker.exists()
    (repo / "README").write_text("checkpoints\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "readme")
    git(repo, "add", "evil.pt")
    git(repo, "commit", "-q", "-m", "evil")
    proc = gm(repo, "diff", "HEAD~1", "HEAD", check=False)  # each CLI run imports torch: ~4 s
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "refused to load this torch checkpoint" in err and "exec" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "refused" in git(repo, "show", "HEAD").stdout.decode()  # textconv: a line, no abort
    assert not marker.exists()
    # The payload is real: an unrestricted load runs it.
    torch.load(repo / "evil.pt", weights_only=False)
    assert marker.read_text() == "pwned"


def test_bad_input_is_one_line(history):
    for args in (["diff", "no-such-rev"], ["show", "HEAD:missing.safetensors"],
                 ["show", "missing.safetensors"]):
        proc = gm(history, *args, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err


def test_install_configures_and_uninstall_removes_the_diff_driver(tmp_path):
    repo = _new_repo(tmp_path / "repo")
    assert git(repo, "config", "diff.model.textconv").stdout.strip().endswith(b"git-model textconv")
    assert git(repo, "config", "diff.model.command").stdout.strip().endswith(b"git-model diff-driver")
    gm(repo, "uninstall", "--local")
    assert git(repo, "config", "--get-regexp", "^diff\\.model", check=False).stdout == b""
