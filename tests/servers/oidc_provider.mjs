// A real OAuth 2.0 authorization server (npm oidc-provider@9) for the end-to-end tests.
//
//     node oidc_provider.mjs --port P [--access-ttl SECONDS] [--rotate]
//                            [--authorization-path /auth] [--token-path /token]
//                            [--default-resource URL] [--default-scope SCOPE] [--pkce-optional]
//                            [--registration] [--login-form] [--redirect-uri URI]...
//                            [--token-claims JSON]
//
// Issuer http://127.0.0.1:P, in-memory storage, a fresh RS256 signing key per run. Clients:
//   cc-basic    client_credentials, client_secret_basic, secret `s3cr:t%+ &=x`
//   cc-post     client_credentials, client_secret_post, secret `post-secret`
//   web-app     authorization_code + refresh_token, client_secret_post, secret `web-secret`
//   public-app  authorization_code + refresh_token, public (token_endpoint_auth_method none)
//   docs-client authorization_code + refresh_token + client_credentials, client_secret_basic,
//               secret `docs-secret`: the client of the product documentation's examples
// web-app and public-app accept http://127.0.0.1/callback and
// https://app.example.com/oauth/callback (exact match: web clients get no loopback port leniency);
// docs-client accepts https://your-redirect-uri.com/callback. The authorization and token
// endpoints are at --authorization-path and --token-path (default /auth and /token).
// PKCE S256 is required (with --pkce-optional only when a request carries a code_challenge). A `resource` parameter (RFC 8707) yields a JWT access token whose `aud` is
// that resource and whose scope is `mcp:tools`; without one the access token is opaque.
// Authorization-code clients always get a refresh token; --rotate turns refresh-token rotation on
// (replaying a rotated refresh token then revokes the whole grant). Access tokens live
// --access-ttl seconds (default 3600). With --default-resource URL, a token request that names no
// resource is for URL (a JWT with aud URL), as at a provider set up for one API; with
// --default-scope SCOPE an authorization request that names no scope asks for SCOPE (providers
// grant their default scopes then; oidc-provider alone would deny a request for nothing).
// --token-claims JSON adds the members of that object to every JWT access token (a tenant or
// role claim, as an enterprise provider is set up to add).
//
// Login and consent need no browser: GET /interaction/:uid signs in account `e2e-user` and grants
// everything requested. With --login-form it is a sign-in page instead, for a real browser: any
// login with password `e2e-password` signs in as the account named by the login (so two users are
// two accounts), which is granted everything requested; another password shows the form again
// with an error. --redirect-uri adds a redirect URI (repeatable) to web-app and public-app.
// Test endpoints:
//   GET  /_stats          {token_requests, by_grant: {...}, refresh_failures, injected_failures,
//                          revocations (RFC 7009 requests at /token/revocation answered 200)}
//   GET  /_token_log      [{grant_type, client_id, client_auth, status, error}] per token request
//   POST /_revoke_all     revokes every grant of e2e-user and the tokens issued from it
//   POST /_fail_token/:n  the next n token requests answer 503 {"error": "temporarily_unavailable"}
// Every POST to the token endpoint is counted, including those answered with an injected 503;
// refresh_failures counts refresh_token requests refused (not those answered with an injected 503).
// Unlike stock oidc-provider, a client must use its registered token_endpoint_auth_method
// (401 invalid_client otherwise), so a test can tell HTTP Basic from client_secret_post.
// Prints `ready` on stdout once listening.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import * as querystring from 'node:querystring';
import { fileURLToPath, pathToFileURL } from 'node:url';

// oidc-provider lives in the repository's .deps/node (installed by infra/scripts/test-deps.sh), not
// next to this script: resolve it there.
const modules = fileURLToPath(new URL('../../.deps/node/node_modules/', import.meta.url));
if (!fs.existsSync(`${modules}oidc-provider/package.json`)) {
  process.stderr.write(
    `oidc-provider is missing from ${modules}: run \`bash infra/scripts/test-deps.sh\`\n`,
  );
  process.exit(1);
}
const { default: Provider } = await import(
  pathToFileURL(createRequire(modules).resolve('oidc-provider')).href
);

function parseArgs(argv) {
  const args = {
    port: undefined,
    accessTtl: 3600,
    rotate: false,
    authorizationPath: '/auth',
    tokenPath: '/token',
    defaultResource: undefined,
    defaultScope: undefined,
    pkceOptional: false,
    registration: false,
    loginForm: false,
    redirectUris: [],
    tokenClaims: {},
  };
  for (let i = 0; i < argv.length; i += 1) {
    switch (argv[i]) {
      case '--port': args.port = Number(argv[(i += 1)]); break;
      case '--access-ttl': args.accessTtl = Number(argv[(i += 1)]); break;
      case '--rotate': args.rotate = true; break;
      case '--authorization-path': args.authorizationPath = argv[(i += 1)]; break;
      case '--token-path': args.tokenPath = argv[(i += 1)]; break;
      case '--default-resource': args.defaultResource = argv[(i += 1)]; break;
      case '--default-scope': args.defaultScope = argv[(i += 1)]; break;
      case '--pkce-optional': args.pkceOptional = true; break;
      case '--registration': args.registration = true; break;
      case '--login-form': args.loginForm = true; break;
      case '--redirect-uri': args.redirectUris.push(argv[(i += 1)]); break;
      case '--token-claims': args.tokenClaims = JSON.parse(argv[(i += 1)]); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!Number.isInteger(args.port) || args.port <= 0) throw new Error('--port P is required');
  if (!Number.isInteger(args.accessTtl) || args.accessTtl <= 0) {
    throw new Error('--access-ttl must be a positive integer');
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const issuer = `http://127.0.0.1:${args.port}`;
const ACCOUNT = 'e2e-user';
const RESOURCE_SCOPE = 'mcp:tools';
const SCOPES = new Set(['openid', 'offline_access', RESOURCE_SCOPE]);
const redirectUris = [
  'http://127.0.0.1/callback',
  'https://app.example.com/oauth/callback',
  ...args.redirectUris,
];
const LOGIN_PASSWORD = 'e2e-password';

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomUUID(),
  use: 'sig',
  alg: 'RS256',
};

const CLIENTS = [
  {
    client_id: 'cc-basic',
    client_secret: 's3cr:t%+ &=x',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'cc-post',
    client_secret: 'post-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    client_id: 'web-app',
    client_secret: 'web-secret',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    client_id: 'docs-client',
    client_secret: 'docs-secret',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: ['https://your-redirect-uri.com/callback'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'public-app',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    token_endpoint_auth_method: 'none',
  },
];
const REGISTERED_METHOD = Object.fromEntries(
  CLIENTS.map((c) => [c.client_id, c.token_endpoint_auth_method]),
);

const provider = new Provider(issuer, {
  clients: CLIENTS,
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: [...SCOPES],
  pkce: { required: () => !args.pkceOptional },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // --registration: open dynamic client registration (RFC 7591) at /reg.
    registration: { enabled: args.registration },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? args.defaultResource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => ({
        scope: RESOURCE_SCOPE,
        audience: resource,
        accessTokenFormat: 'jwt',
        accessTokenTTL: args.accessTtl,
      }),
    },
  },
  routes: { authorization: args.authorizationPath, token: args.tokenPath },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  extraTokenClaims: () => args.tokenClaims,
  issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => args.rotate,
  expiresWithSession: () => false,
  ttl: { AccessToken: args.accessTtl, ClientCredentials: args.accessTtl },
});

// Bookkeeping for the test endpoints.
const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'];
const stats = {
  token_requests: 0,
  by_grant: Object.fromEntries(GRANT_TYPES.map((g) => [g, 0])),
  refresh_failures: 0,
  injected_failures: 0,
  revocations: 0,
};
const tokenLog = [];
const grantIds = new Set();
let failNext = 0;

provider.on('grant.saved', (grant) => {
  if (grant.accountId === ACCOUNT) grantIds.add(grant.jti);
});

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// Who the token request says it is and how it authenticates.
function clientOf(ctx, form) {
  const header = ctx.get('authorization');
  if (header.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const id = decoded.split(':')[0];
    try {
      return { id: decodeURIComponent(id.replace(/\+/g, ' ')), method: 'client_secret_basic' };
    } catch {
      return { id, method: 'client_secret_basic' };
    }
  }
  const id = typeof form.client_id === 'string' ? form.client_id : null;
  if (form.client_secret !== undefined) return { id, method: 'client_secret_post' };
  if (form.client_assertion !== undefined) return { id, method: 'client_assertion' };
  return { id, method: 'none' };
}

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
}

// The token endpoint: count, maybe answer 503, insist on each client's registered authentication
// method (oidc-provider itself takes client_secret_basic and client_secret_post interchangeably),
// then let the provider handle the request. The body is read here and handed to the provider as a
// string (its documented fallback for an upstream parser), so the count and grant type are exact
// whatever the provider answers.
async function tokenEndpoint(ctx, next) {
  const raw = await readBody(ctx.req);
  ctx.req.body = raw;
  const form = ctx.is('application/x-www-form-urlencoded') ? querystring.parse(raw) : {};
  const grantType = typeof form.grant_type === 'string' ? form.grant_type : undefined;
  stats.token_requests += 1;
  if (grantType) stats.by_grant[grantType] = (stats.by_grant[grantType] ?? 0) + 1;
  const client = clientOf(ctx, form);
  const entry = { grant_type: grantType ?? null, client_id: client.id, client_auth: client.method };
  tokenLog.push(entry);

  if (failNext > 0) {
    failNext -= 1;
    stats.injected_failures += 1;
    json(ctx, 503, { error: 'temporarily_unavailable', error_description: 'injected failure' });
    Object.assign(entry, { status: 503, error: 'temporarily_unavailable' });
    return;
  }

  const registered = REGISTERED_METHOD[client.id];
  if (registered && registered !== client.method) {
    json(ctx, 401, {
      error: 'invalid_client',
      error_description: `${client.id} must authenticate with ${registered}, not ${client.method}`,
    });
    if (grantType === 'refresh_token') stats.refresh_failures += 1;
    Object.assign(entry, { status: 401, error: 'invalid_client' });
    return;
  }

  await next();
  let error = null;
  if (ctx.status !== 200) {
    try {
      const body = typeof ctx.body === 'string' ? JSON.parse(ctx.body) : ctx.body;
      error = body?.error ?? null;
    } catch {
      error = null;
    }
    if (grantType === 'refresh_token') stats.refresh_failures += 1;
  }
  Object.assign(entry, { status: ctx.status, error });
}

// Browserless login and consent: sign in e2e-user and grant every requested scope.
async function interaction(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (args.loginForm && !details.session?.accountId) return loginForm(ctx, details.uid, null);
  return finishInteraction(ctx, details, details.session?.accountId ?? ACCOUNT);
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// --login-form: the sign-in page a browser fills in.
function loginForm(ctx, uid, error) {
  ctx.status = error ? 401 : 200;
  ctx.type = 'html';
  ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><h1>Sign in to the test provider</h1>${error ? `<p id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Login <input id="login" name="login" autocomplete="username" required></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password" required></label>
<button id="submit" type="submit">Sign in and allow</button></form></body></html>`;
}

async function loginSubmit(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const body = await new Promise((resolve, reject) => {
    let data = '';
    ctx.req.setEncoding('utf8');
    ctx.req.on('data', (chunk) => { data += chunk; });
    ctx.req.on('end', () => resolve(querystring.parse(data)));
    ctx.req.on('error', reject);
  });
  const login = String(body.login ?? '').trim();
  if (!login || body.password !== LOGIN_PASSWORD) {
    return loginForm(ctx, details.uid, 'Wrong login or password.');
  }
  return finishInteraction(ctx, details, login);
}

async function finishInteraction(ctx, details, accountId) {
  const { prompt, params } = details;

  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  grant ??= new provider.Grant({ accountId, clientId: params.client_id });

  const requested = String(params.scope ?? '').split(' ').filter(Boolean);
  // Every requested scope the provider knows counts as an OIDC scope too (that is what its consent
  // check compares), so one round trip settles both login and consent.
  const oidcScopes = new Set([
    ...requested.filter((s) => SCOPES.has(s)),
    ...(prompt.details.missingOIDCScope ?? []),
  ]);
  if (oidcScopes.size) grant.addOIDCScope([...oidcScopes].join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);

  const resources = params.resource === undefined ? [] : [params.resource].flat();
  for (const resource of resources) {
    if (requested.includes(RESOURCE_SCOPE)) grant.addResourceScope(resource, RESOURCE_SCOPE);
  }
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }

  const grantId = await grant.save();
  grantIds.add(grantId);
  ctx.respond = false;
  await provider.interactionFinished(
    ctx.req,
    ctx.res,
    { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

async function revokeAll() {
  let revoked = 0;
  for (const grantId of grantIds) {
    await Promise.all([
      provider.AccessToken.revokeByGrantId(grantId),
      provider.RefreshToken.revokeByGrantId(grantId),
      provider.AuthorizationCode.revokeByGrantId(grantId),
    ]);
    const grant = await provider.Grant.find(grantId);
    if (grant) {
      await grant.destroy();
      revoked += 1;
    }
    grantIds.delete(grantId);
  }
  return revoked;
}

provider.use(async (ctx, next) => {
  const { method, path } = ctx;
  if (method === 'POST' && path === args.tokenPath) return tokenEndpoint(ctx, next);
  if (method === 'POST' && path === '/token/revocation') {
    await next();
    if (ctx.status === 200) stats.revocations += 1;
    return undefined;
  }
  if (method === 'GET' && path === args.authorizationPath && args.defaultScope && !ctx.query.scope) {
    ctx.querystring = new URLSearchParams({ ...ctx.query, scope: args.defaultScope }).toString();
  }
  if (method === 'GET' && /^\/interaction\/[^/]+$/.test(path)) return interaction(ctx);
  if (method === 'POST' && /^\/interaction\/[^/]+\/login$/.test(path)) return loginSubmit(ctx);
  if (method === 'GET' && path === '/_stats') return json(ctx, 200, stats);
  if (method === 'GET' && path === '/_token_log') return json(ctx, 200, tokenLog);
  if (method === 'POST' && path === '/_revoke_all') {
    return json(ctx, 200, { revoked: await revokeAll() });
  }
  const fail = method === 'POST' ? /^\/_fail_token\/(\d+)$/.exec(path) : null;
  if (fail) {
    failNext = Number(fail[1]);
    return json(ctx, 200, { fail_next: failNext });
  }
  return next();
});

http.createServer(provider.callback()).listen(args.port, '127.0.0.1', () => {
  process.stdout.write('ready\n');
});
