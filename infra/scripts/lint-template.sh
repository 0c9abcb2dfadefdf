#!/usr/bin/env bash
# Lints the SAM template with cfn-lint (installed into ./.deps/venv by test-deps.sh, idempotently).
# Exits non-zero on any cfn-lint error or warning. Extra arguments go to cfn-lint.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash infra/scripts/test-deps.sh
echo "==> cfn-lint template.yaml"
.deps/venv/bin/cfn-lint "$@" template.yaml
echo "==> template.yaml: cfn-lint clean"
