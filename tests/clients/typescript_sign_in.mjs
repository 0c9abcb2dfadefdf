// An MCP client of the TypeScript SDK (@modelcontextprotocol/sdk) that signs in by itself: it
// connects to an agent's MCP endpoint without a credential, follows the 401's RFC 9728 challenge
// to the endpoint's metadata and the authorization server it names, signs in there (the
// authorization-code grant with PKCE, as the SDK does it, as the pre-registered public client
// `public-app`), and connects again with the token.
//
// Usage: node typescript_sign_in.mjs URL TOOL ARGUMENTS_JSON, with MCP_SDK_DIR naming the SDK's
// package folder. The "browser" is a fetch loop through the test authorization server's
// browserless login (cookies carried by hand) that stops at the redirect URI. Prints one JSON
// object: {"authorization": {resource, scope}, "tools": [{name}], "result": <CallToolResult>}.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const sdk = process.env.MCP_SDK_DIR;
const load = (file) => import(pathToFileURL(join(sdk, 'dist/esm', file)).href);
const { Client } = await load('client/index.js');
const { StreamableHTTPClientTransport } = await load('client/streamableHttp.js');
const { UnauthorizedError } = await load('client/auth.js');

const REDIRECT_URI = 'http://127.0.0.1/callback';
const [url, tool, args] = process.argv.slice(2);

/** Follows `start` through the authorization server's pages; the code it redirects back with. */
async function browse(start) {
  const cookies = new Map();
  let at = new URL(start);
  for (let hop = 0; hop < 10; hop += 1) {
    const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(at, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const set of response.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const location = response.headers.get('location');
    if (!location) throw new Error(`${at} answered ${response.status} without a redirect`);
    at = new URL(location, at);
    if (at.href.startsWith(REDIRECT_URI)) {
      const code = at.searchParams.get('code');
      if (!code) throw new Error(`redirected back without a code: ${at}`);
      return code;
    }
  }
  throw new Error('too many redirects');
}

const seen = {};
const provider = {
  get redirectUrl() {
    return REDIRECT_URI;
  },
  get clientMetadata() {
    return {
      client_name: 'e2e-typescript',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  clientInformation: () => ({ client_id: 'public-app' }),
  tokens() {
    return this.saved;
  },
  saveTokens(tokens) {
    this.saved = tokens;
  },
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  },
  codeVerifier() {
    return this.verifier;
  },
  async redirectToAuthorization(authorizationUrl) {
    seen.authorization = {
      resource: authorizationUrl.searchParams.get('resource'),
      scope: authorizationUrl.searchParams.get('scope'),
    };
    this.code = await browse(authorizationUrl);
  },
};

const connect = async () => {
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const client = new Client({ name: 'e2e-typescript', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
};

let client;
try {
  ({ client } = await connect());
  throw new Error('the endpoint let a client without a credential in');
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
  // Signed in during the failed attempt: finish with the code, as an app does after the
  // browser comes back, and connect again.
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  await transport.finishAuth(provider.code);
  ({ client } = await connect());
}
const { tools } = await client.listTools();
const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
console.log(JSON.stringify({ ...seen, tools: tools.map((t) => ({ name: t.name })), result }));
await client.close();
