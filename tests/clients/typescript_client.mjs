// An MCP client of the TypeScript SDK (@modelcontextprotocol/sdk) against an agent's MCP endpoint.
//
// Usage: node typescript_client.mjs URL TOKEN TOOL ARGUMENTS_JSON, with MCP_SDK_DIR naming the
// SDK's package folder (the test dependencies install it under .deps/node). Connects with the API
// token as a bearer credential, lists the tools, calls TOOL with the arguments, and prints one
// JSON object: {"tools": [{name, inputSchema, outputSchema}], "result": <CallToolResult>}.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const sdk = process.env.MCP_SDK_DIR;
const load = (file) => import(pathToFileURL(join(sdk, 'dist/esm', file)).href);
const { Client } = await load('client/index.js');
const { StreamableHTTPClientTransport } = await load('client/streamableHttp.js');

const [url, token, tool, args] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: 'e2e-typescript', version: '1.0.0' });
await client.connect(transport);
const { tools } = await client.listTools();
const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
console.log(
  JSON.stringify({
    tools: tools.map((t) => ({ name: t.name, inputSchema: t.inputSchema, outputSchema: t.outputSchema })),
    result,
  }),
);
await client.close();
