"""Property tests (hypothesis) for issue 18: ref names, remote names, URLs and stage paths drawn
from hostile alphabets (leading `-`, `:`, `*`, newlines, very long) never reach git as an option
or pathspec magic, never write outside the repository, and give a value or a one-line error."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodel.errors import UserError
from gitmodel.git.repo import Repo
from gitmodel.pipeline import stages
from gitmodel.transfer import remotes

QUICK = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
HOSTILE = "-:*!?[]^~@{}/.\\\n\t =abcx0"
hostile = st.one_of(st.sampled_from(["--output=../pwned", "-n", "--end-of-options", "-h",
                                     ":!x", ":(glob)**", "--", "-oProxyCommand=touch x"]),
                    st.text(HOSTILE, min_size=1, max_size=40),
                    st.builds(lambda s: "-" + s, st.text(HOSTILE, max_size=20)),
                    st.builds(lambda s: ":" + s, st.text(HOSTILE, max_size=20)),
                    st.text(HOSTILE, min_size=3000, max_size=5000))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> tuple[Repo, Path]:
    """A repository with one commit, and an empty folder beside it that nothing may touch."""
    top = tmp_path_factory.mktemp("fuzz")
    path = top / "repo"
    path.mkdir()
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return Repo.discover(path), top


def _only(top: Path) -> set[str]:
    return {p.name for p in top.iterdir()}


@QUICK
@given(hostile)
def test_a_hostile_rev_is_a_rev_or_a_one_line_error(sandbox, rev):
    repo, top = sandbox
    before = _only(top)
    for call in (lambda: repo.tree_entries(rev), lambda: repo.commit(rev)):
        try:
            call()
        except UserError as exc:
            assert "\n" not in str(exc).strip() or "\n" in rev
    assert _only(top) == before, "a rev wrote outside the repository"


names = st.one_of(hostile, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True))


@QUICK
@given(names, hostile)
def test_a_hostile_remote_name_or_url_is_refused_or_stored_verbatim(sandbox, name, url):
    repo, top = sandbox
    (repo.top / ".gitmodel").unlink(missing_ok=True)
    before = _only(top)
    try:
        remotes.add(repo, name, url)
    except UserError:
        assert not (repo.top / ".gitmodel").exists() or name not in {
            r.name for r in remotes.list_remotes(repo)}
    else:
        found = {r.name: r.url for r in remotes.list_remotes(repo)}
        assert found == {name: url}, "the value changed on its way through git config"
        assert not remotes.secret_in(url)
    assert _only(top) == before


SECRET = "pwSECRETzz"
plain = st.text("abc0.-_", max_size=9)


@settings(max_examples=500, deadline=None)
@given(hostile, st.sampled_from(["https", "s3", "ssh", "sftp", "file", "http"]), plain, plain)
def test_redact_never_raises_and_hides_credentials(noise, scheme, user, host):
    assert isinstance(remotes.redact(noise), str) and isinstance(remotes.redact_text(noise), str)
    for url in (f"{scheme}://{user}:{SECRET}@{host}/x", f"https://{SECRET}@{host}/x"):
        assert SECRET not in remotes.redact(url), url
        assert SECRET not in remotes.redact_text(f"fatal: {url}: no"), url
        assert remotes.secret_in(url)


@settings(max_examples=500, deadline=None)
@given(hostile)
def test_a_stage_path_is_inside_the_repository_and_never_magic(value):
    try:
        path = stages._clean_path("s", "outs", value)
    except UserError as exc:
        assert "\n" not in str(exc).replace(repr(value), "")
        return
    assert not path.startswith((":", "/", "../")) and path not in ("..", ".")
    assert "\n" not in path
