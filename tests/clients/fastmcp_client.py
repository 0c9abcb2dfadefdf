"""An MCP client of the Python SDK family (FastMCP's Client), configured as MCP hosts are.

Usage: fastmcp_client.py CONFIG_JSON TOOL ARGUMENTS_JSON
CONFIG_JSON is an `mcpServers` configuration with one server (its `url` and `headers`), as the
README's client snippet gives it. Connects, lists the tools, calls TOOL with the arguments, and
prints one JSON object: {"tools": [{name, inputSchema, outputSchema}], "result": {content,
structuredContent, isError}}. Exits non-zero on a protocol error.
"""

import asyncio
import json
import sys

from fastmcp import Client


async def main(config: dict, tool: str, arguments: dict) -> None:
    async with Client(config) as client:
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
    asyncio.run(main(json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])))
