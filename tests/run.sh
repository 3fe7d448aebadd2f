#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it.
# System packages: git-lfs (checks our pointers byte for byte), openssh-server
# (the ssh remote tests start a real sshd on loopback), man-db (`man git-model-push` finds
# the pages the build installs into .venv/share/man).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git-lfs >/dev/null 2>&1 || need+=(git-lfs)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v man >/dev/null 2>&1 || need+=(man-db)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# The shims git runs find `git-model` on PATH.
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest -q "$@"
