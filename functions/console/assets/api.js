// The API client of the console: where the console and the API are (derived from this module's
// own address, so a stage prefix such as /prod is kept), JSON calls with the session cookie, and
// RFC 9457 problems turned into errors that carry the whole problem body.

const assets = new URL('.', import.meta.url).pathname; // <prefix>/console/assets/
/** The console's base path, e.g. `/console` or `/prod/console`. */
export const consoleBase = assets.replace(/\/assets\/$/, '');
/** The API's base path, e.g. `/ai/api/v1` or `/prod/ai/api/v1`. */
export const apiBase = `${consoleBase.replace(/\/console$/, '')}/ai/api/v1`;
/** The hosted callback page shared by every auth config (configs that allow it keep working). */
export const callbackUrl = `${window.location.origin}${consoleBase}/oauth/callback`;

/**
 * The hosted callback page of one auth config, to register as its redirect URI: a code sent
 * there finishes only that config's authorization, so an authorization server that bounces a
 * user to another (a mix-up) cannot have its code redeemed at the wrong token endpoint.
 */
export function callbackUrlFor(configId) {
  return `${callbackUrl}/${encodeURIComponent(configId)}`;
}

/** A failed API call: `status` and the problem body (`title`, `detail`, `errors`, …). */
export class ApiFailure extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
  }
}

/**
 * Calls the API: `path` below the API base (with its query), an optional JSON body and extra
 * headers (e.g. If-Match). Resolves to the JSON answer (null for 204); rejects with an ApiFailure.
 */
export async function api(method, path, body, headers = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${apiBase}${path}`, init);
  } catch (e) {
    throw new ApiFailure(0, { title: 'Network error', detail: `The API could not be reached (${e.message}).` });
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = { title: `HTTP ${response.status}`, detail: 'The answer was not JSON.' };
    }
  }
  if (!response.ok) throw new ApiFailure(response.status, json);
  return json;
}

/** Every item of a paginated list (follows `next_token`, at most `max` items). */
export async function listAll(path, max = 500) {
  const items = [];
  let token = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', `${path}${sep}limit=200${token ? `&next_token=${encodeURIComponent(token)}` : ''}`);
    items.push(...page.items);
    token = page.next_token;
  } while (token && items.length < max);
  return items;
}

/** A console address for `route` (`/servers/new` → `<prefix>/console/servers/new`). */
export function consoleUrl(route) {
  return `${consoleBase}${route}`;
}

/**
 * `candidate` if it is an address of this console (a path under its base, nothing else), or
 * null: where a finished authorization may send the browser back to, never off-site.
 */
export function safeReturn(candidate) {
  if (typeof candidate !== 'string' || !candidate.startsWith(`${consoleBase}/`)) return null;
  try {
    const url = new URL(candidate, window.location.origin);
    if (url.origin !== window.location.origin || !url.pathname.startsWith(`${consoleBase}/`)) return null;
    return `${url.pathname}${url.search}`;
  } catch {
    return null;
  }
}

let caller = null;

/**
 * Who is signed in (`GET /me`: tenant, user, role, and the operations the role may call), asked
 * once per page load. Rejects like any call (401 without a session).
 */
export function me() {
  caller ??= api('GET', '/me').catch((failure) => {
    caller = null;
    throw failure;
  });
  return caller;
}

/**
 * Whether the signed-in role may call `operation` (`'POST /config/mcp-server'`, a route template
 * below the API base, as the API's role table names it). The API still decides: a control this
 * hides would be refused with 403 anyway.
 */
export async function may(operation) {
  const [method, path] = operation.split(' ');
  const { allowed } = await me();
  return allowed.includes(`${method} /ai/api/v1${path}`);
}
