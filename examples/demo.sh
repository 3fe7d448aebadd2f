#!/usr/bin/env bash
# git-model demo: every commit that changes what the model depends on carries the
# retrained model and its metrics; checking out an old commit brings both back.
#
#   bash examples/demo.sh            (needs only python3 >= 3.10 and git)
#
# Creates a virtualenv (reused on later runs; GITMODEL_DEMO_VENV moves it), installs
# git-model from this checkout plus the CPU build of torch 2.13.0, then builds a
# fresh repository from examples/tiny-regression in a temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${GITMODEL_DEMO_VENV:-$ROOT/.demo-venv}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/git-model-demo.XXXXXX")

# colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	bold=$(printf '\033[1m') dim=$(printf '\033[2m') plain=$(printf '\033[0m')
else
	bold='' dim='' plain=''
fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$plain"; "$@"; }
set_param() {  # set_param KEY VALUE: edit params.json
	python - "$1" "$2" <<'PY'
import json, sys
params = json.load(open("params.json"))
params[sys.argv[1]] = json.loads(sys.argv[2])
open("params.json", "w").write(json.dumps(params, indent=2, sort_keys=True) + "\n")
PY
}

say "environment: $VENV"
if [ ! -x "$VENV/bin/python" ]; then
	python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
if ! python -c "import gitmodel.cli.main, gitmodel.filter.process, torch" 2>/dev/null; then  # all of its deps
	python -m pip install --quiet --upgrade pip
	python -m pip install --quiet -e "$ROOT" "torch==2.13.0"
fi
export PYTHONWARNINGS="ignore:Failed to initialize NumPy"  # torch without numpy says so on import
python -c "import torch, gitmodel; print('torch', torch.__version__, '| git-model', gitmodel.__version__)"

say "a fresh repository: $WORK/tiny-regression"
cp -R "$ROOT/examples/tiny-regression" "$WORK/tiny-regression"
cd "$WORK/tiny-regression"
git init -q
git symbolic-ref HEAD refs/heads/main
git config user.name >/dev/null || git config user.name "git-model demo"
git config user.email >/dev/null || git config user.email "demo@example.com"
git config advice.detachedHead false
run git model install --local
run git model track '*.safetensors'
run cat .gitmodel
run git model stages

say "commit 1: the pre-commit hook runs prepare -> train -> evaluate and adds their outputs"
git add -A
run git commit -q -m "tiny regression, lr 0.01"
first_model=$(sha256sum model.safetensors | cut -d' ' -f1)
cp metrics.json "$WORK/metrics-1.json"
run git show --stat --format='%h %s' HEAD

say "commit 2: change a hyper-parameter; only train and evaluate run again"
set_param lr 0.003
git add params.json
run git commit -q -m "lr 3e-3"

say "commit 3: a wider network"
set_param hidden 64
git add params.json
run git commit -q -m "hidden 64"

say "commit 4: a change no stage depends on retrains nothing"
echo "A tiny regression model, versioned with git-model." > NOTES.md
git add NOTES.md
start=$(date +%s.%N)
run git commit -q -m "notes"
python -c "import sys; print(f'commit took {float(sys.argv[2]) - float(sys.argv[1]):.2f}s')" "$start" "$(date +%s.%N)"
run git model stages

say "history: model and metrics per commit"
run git model log
run git model metrics diff HEAD~3 HEAD

say "checkout of the first commit restores its model and its metrics"
run git checkout -q HEAD~3
now_model=$(sha256sum model.safetensors | cut -d' ' -f1)
echo "model.safetensors sha256 at commit 1: $first_model"
echo "model.safetensors sha256 now:         $now_model"
pointer_oid=$(git cat-file blob HEAD:model.safetensors | sed -n 's/^oid sha256://p')
if [ "$now_model" = "$first_model" ] && [ "$now_model" = "$pointer_oid" ] \
	&& cmp -s metrics.json "$WORK/metrics-1.json"; then
	echo "OK: model (byte for byte) and metrics.json are those of commit 1"
else
	echo "MISMATCH: the checkout did not restore commit 1's model and metrics" >&2
	exit 1
fi
run cat metrics.json
run git checkout -q main

say "done: the demo repository is $WORK/tiny-regression"
