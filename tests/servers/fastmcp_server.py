"""A real MCP server (FastMCP) for the end-to-end tests.

    python fastmcp_server.py --port P [--auth none|bearer|apikey] [--transport http|sse]

Tools: echo(message), add(a, b). With --auth bearer it accepts only `Authorization: Bearer
test-token-123` (401 otherwise); with --auth apikey only `X-Api-Key: test-key-456`. Every request it
receives is recorded and listed by GET /_requests, so tests can count what a client sent.
"""

import argparse
import json

import uvicorn
from fastmcp import FastMCP
from fastmcp.server.auth.providers.jwt import StaticTokenVerifier

BEARER_TOKEN = "test-token-123"
API_KEY = "test-key-456"


def build(auth: str) -> FastMCP:
    verifier = None
    if auth == "bearer":
        verifier = StaticTokenVerifier(tokens={BEARER_TOKEN: {"client_id": "e2e", "scopes": []}})
    mcp = FastMCP("e2e-fastmcp", auth=verifier)

    @mcp.tool
    def echo(message: str) -> str:
        """Echo the message back."""
        return message

    @mcp.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return mcp


class Recorder:
    """ASGI middleware: records every request; enforces the API key when asked to."""

    def __init__(self, app, require_api_key: bool):
        self.app = app
        self.require_api_key = require_api_key
        self.seen = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == "/_requests":
            body = json.dumps(self.seen).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        self.seen.append({"method": scope["method"], "path": scope["path"]})
        if self.require_api_key:
            headers = dict(scope["headers"])
            if headers.get(b"x-api-key") != API_KEY.encode():
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'{"error": "invalid api key"}'})
                return
        return await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth", choices=["none", "bearer", "apikey"], default="none")
    parser.add_argument("--transport", choices=["http", "sse"], default="http")
    args = parser.parse_args()
    mcp = build(args.auth)
    app = mcp.http_app(transport=args.transport)
    uvicorn.run(Recorder(app, args.auth == "apikey"), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
