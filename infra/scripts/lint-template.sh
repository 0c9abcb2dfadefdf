#!/usr/bin/env bash
# Lints the SAM template: cfn-lint (installed into ./.deps/venv by test-deps.sh) and
# `sam validate --lint` (the AWS SAM CLI, installed into ./.deps/deploy by deploy-deps.sh), both
# idempotently installed. Exits non-zero on any error or warning. Extra arguments go to cfn-lint.
# Neither contacts AWS: the SAM CLI gets placeholder credentials and a region.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash infra/scripts/test-deps.sh
echo "==> cfn-lint template.yaml"
.deps/venv/bin/cfn-lint "$@" template.yaml
echo "==> template.yaml: cfn-lint clean"
bin="$(bash infra/scripts/deploy-deps.sh | tail -n 1)"
echo "==> sam validate --lint"
AWS_ACCESS_KEY_ID=placeholder AWS_SECRET_ACCESS_KEY=placeholder SAM_CLI_TELEMETRY=0 \
  "$bin/sam" validate --lint --template template.yaml --region us-east-1
