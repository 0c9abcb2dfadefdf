"""An MCP client of the Python SDK family (FastMCP's Client) against an agent's MCP endpoint.

Usage: fastmcp_client.py URL TOKEN TOOL ARGUMENTS_JSON
Connects with the API token as a bearer credential, lists the tools, calls TOOL with the
arguments, and prints one JSON object: {"tools": [{name, inputSchema, outputSchema}],
"result": {content, structuredContent, isError}}. Exits non-zero on a protocol error.
"""

import asyncio
import json
import sys

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport


async def main(url: str, token: str, tool: str, arguments: dict) -> None:
    transport = StreamableHttpTransport(url, auth=token)
    async with Client(transport) as client:
        tools = await client.list_tools()
        result = await client.call_tool(tool, arguments, raise_on_error=False)
    print(
        json.dumps(
            {
                "tools": [
                    {"name": t.name, "inputSchema": t.inputSchema, "outputSchema": t.outputSchema}
                    for t in tools
                ],
                "result": {
                    "content": [c.model_dump(mode="json") for c in result.content],
                    "structuredContent": result.structured_content,
                    "isError": result.is_error,
                },
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])))
