#!/usr/bin/env bash
# Builds the Lambda artifacts the templates deploy: one `bootstrap.zip` per function under
# target/lambda/<function>/, for arm64 (provided.al2023), in one cargo build (the shared dependency
# graph is compiled once for all of them). cargo-lambda and Zig come from deploy-deps.sh.
#
#   bash infra/scripts/package.sh                 # every function
#   bash infra/scripts/package.sh authorizer      # only the functions named
#
# When the arm64 Rust target cannot be installed on this machine (rustup has no network access),
# it says so and builds x86_64 artifacts instead: deploy those with
# `--parameter-overrides Architecture=x86_64`. The architecture built is written to
# target/lambda/ARCHITECTURE.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bin="$(bash infra/scripts/deploy-deps.sh | tail -n 1)"
# cargo-lambda finds Zig through the venv's python (`python3 -m ziglang`).
export PATH="$bin:$PATH"

all=()
for dir in functions/*/; do
  all+=("$(basename "$dir")")
done
functions=("$@")
if [ ${#functions[@]} -eq 0 ]; then
  functions=("${all[@]}")
fi
packages=()
for f in "${functions[@]}"; do
  if [ ! -f "functions/$f/Cargo.toml" ]; then
    echo "error: no function '$f' (functions/: ${all[*]})" >&2
    exit 2
  fi
  packages+=(-p "$f")
done

arch=arm64
if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  echo "==> installing the Rust target aarch64-unknown-linux-gnu"
  if ! rustup target add aarch64-unknown-linux-gnu; then
    arch=x86_64
    echo "WARNING: the arm64 Rust target could not be installed here; building x86_64 artifacts." >&2
    echo "WARNING: deploy them with --parameter-overrides Architecture=x86_64 (SAM) or" >&2
    echo "WARNING: ARCHITECTURE=x86_64 (CDK); the default arm64 stack cannot run them." >&2
  fi
fi

echo "==> building ${functions[*]} for $arch (release)"
flag=--arm64
[ "$arch" = x86_64 ] && flag=--x86-64
cargo lambda build --release "$flag" --output-format zip "${packages[@]}"
mkdir -p target/lambda
echo "$arch" > target/lambda/ARCHITECTURE

echo "==> artifacts ($arch)"
for f in "${functions[@]}"; do
  zip="target/lambda/$f/bootstrap.zip"
  if [ ! -f "$zip" ]; then
    echo "error: $zip was not built" >&2
    exit 1
  fi
  printf '%-16s %8d bytes  %s\n' "$f" "$(stat -c %s "$zip")" "$zip"
done
