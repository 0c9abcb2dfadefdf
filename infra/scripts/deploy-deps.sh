#!/usr/bin/env bash
# Installs the deployment tools, idempotently, into ./.deps/deploy (a Python venv, git-ignored):
# cargo-lambda (builds Lambda artifacts), Zig (its cross-linker, from PyPI `ziglang`) and the AWS
# SAM CLI (`sam validate --lint`, `sam deploy`). Prints the venv's bin directory on the last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.deps/deploy"

command -v python3 >/dev/null 2>&1 || {
  echo "error: python3 is required (apt-get install python3 python3-venv)" >&2
  exit 1
}
if [ ! -x "$venv/bin/cargo-lambda" ] || [ ! -x "$venv/bin/sam" ] \
  || ! "$venv/bin/python" -c 'import ziglang' 2>/dev/null; then
  echo "==> installing cargo-lambda, Zig and the AWS SAM CLI (Python venv .deps/deploy)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'cargo-lambda>=1.9,<2' 'ziglang>=0.13,<0.14' 'aws-sam-cli>=1.140,<2' >&2
fi
echo "$venv/bin"
