// The console's read-mostly pages: overview, MCP servers (health, tools, pending tool changes
// with their diff and approval), auth configs (token state, connected users, Connect), agents
// and their tool catalogue, the caller's own connections, and the audit log. Secrets are never
// shown: the API answers `{"set": true}` (or a Secrets Manager reference) for each, and so do we.

import { api, consoleUrl, listAll, may } from './api.js';
import { connectControl } from './oauth.js';
import {
  actionButton, announce, badge, facts, h, json, link, problemBox, render, table, testResult, toolChanges, when,
} from './ui.js';

const enc = encodeURIComponent;

/** A secret field as the API shows it: whether one is stored, never its value. */
function secret(view) {
  if (!view) return 'not set';
  if (view.secret_arn) return `Secrets Manager reference${view.json_key ? ` (key ${view.json_key})` : ''}`;
  return 'stored';
}

/** The token's status badge of an OAuth config; undefined for a config without tokens. */
function tokenBadge(config) {
  return config.auth_type === 'AUTHORIZATION_CODE' || config.auth_type === 'CLIENT_CREDENTIALS'
    ? badge(config.token_status ?? 'NOT_AUTHORIZED') : undefined;
}

const NEEDS_USER = new Set(['REAUTHORIZATION_REQUIRED', 'INSUFFICIENT_SCOPE', 'AUTHORIZATION_SERVER_CHANGED', 'EXPIRED']);

/** `/console/`: what exists and what needs attention. */
export async function overviewPage() {
  const [servers, configs, agents, creates] = await Promise.all([
    listAll('/config/mcp-server'), listAll('/auth_configs'), listAll('/config/agent'), may('POST /config/mcp-server'),
  ]);
  const attention = [
    ...servers.filter((s) => s.health && s.health.status !== 'healthy' && !(s.health.status === 'tools_changed' && s.pending_tools)).map((s) =>
      h('li', {}, link(`/servers/${enc(s.id)}`, s.name), ' ', badge(s.health.status))),
    ...servers.filter((s) => s.pending_tools).map((s) =>
      h('li', {}, link(`/servers/${enc(s.id)}`, s.name), ': tool changes to review')),
    ...configs.filter((c) => NEEDS_USER.has(c.token_status)).map((c) =>
      h('li', {}, link(`/auth-configs/${enc(c.id)}`, c.name), ' ', badge(c.token_status))),
  ];
  render('Overview',
    h('ul', { className: 'stats' },
      h('li', {}, link('/servers', h('strong', {}, String(servers.length)), ' MCP servers')),
      h('li', {}, link('/auth-configs', h('strong', {}, String(configs.length)), ' auth configs')),
      h('li', {}, link('/agents', h('strong', {}, String(agents.length)), ' agents'))),
    h('h2', {}, 'Needs attention'),
    attention.length ? h('ul', { className: 'attention' }, attention) : h('p', { className: 'muted' }, 'Nothing: every server is healthy and every token usable.'),
    creates ? h('p', {}, link('/servers/new', 'Add an MCP server')) : null);
}

/** `/console/servers`. */
export async function serversPage() {
  const [servers, creates] = await Promise.all([listAll('/config/mcp-server'), may('POST /config/mcp-server')]);
  render('MCP servers',
    creates ? h('p', {}, h('a', { href: consoleUrl('/servers/new'), 'data-nav': true, className: 'button primary' }, 'New MCP server')) : null,
    table('MCP servers', [
      ['Name', (s) => link(`/servers/${enc(s.id)}`, s.name)],
      ['URL', (s) => h('code', { className: 'url' }, s.url)],
      ['Health', (s) => badge(s.health?.status)],
      ['Tools', (s) => String(s.tool_names.length)],
      ['Pending', (s) => (s.pending_tools ? `${s.pending_tools.added.length + s.pending_tools.changed.length} to review` : '—')],
    ], servers, 'No MCP servers yet.'));
}

/**
 * Pending tool changes: what was added, how each changed tool differs, and Approve (for a role
 * that may). Approving names the version shown (If-Match): if the tools changed since this page
 * was loaded, the API refuses (412) instead of approving definitions nobody reviewed.
 */
function pendingSection(server, reload, approves) {
  const pending = server.pending_tools;
  if (!pending) return null;
  const diffs = pending.diff.map((d) => h('details', { className: 'diff' },
    h('summary', {}, `${d.name}: ${Object.keys(d.fields).join(', ') || 'definition unknown'}`),
    Object.entries(d.fields).map(([name, change]) => h('div', { className: 'diff-field' },
      h('h4', {}, name),
      h('div', { className: 'diff-sides' },
        h('div', {}, h('p', { className: 'diff-label' }, 'Approved'), json(change.approved ?? null)),
        h('div', {}, h('p', { className: 'diff-label' }, 'Offered now'), json(change.offered ?? null)))))));
  const added = pending.tools.filter((t) => pending.added.includes(t.name));
  return h('section', { className: 'pending', 'aria-labelledby': 'pending-heading' },
    h('h2', { id: 'pending-heading' }, 'Tool changes to review'),
    h('p', {}, 'Agents do not see these until they are approved.'),
    added.length ? [h('h3', {}, 'New tools'), added.map((t) => h('details', { className: 'diff' },
      h('summary', {}, t.name), t.description ? h('p', {}, t.description) : null, json(t.input_schema)))] : null,
    diffs.length ? [h('h3', {}, 'Changed tools'), diffs] : null,
    approves ? actionButton('Approve all', 'Approving…', async () => {
      try {
        await api('POST', `/config/mcp-server/${enc(server.id)}/tools/approve`, { all: true },
          { 'If-Match': `"${server.version}"` });
        announce('Approved.');
        await reload();
      } catch (failure) {
        const title = failure?.status === 412 ? 'Not approved: the tools changed since this page was loaded; review them again' : 'Not approved';
        document.getElementById('server-messages').replaceChildren(problemBox(failure, title));
      }
    }, 'primary') : h('p', { className: 'muted', id: 'approve-needs-admin' }, 'An admin reviews and approves tool changes.'));
}

/** `/console/servers/{id}`: details, health and its history, tools, test, pending changes. */
export async function serverPage(id) {
  const [server, health, approves] = await Promise.all([
    api('GET', `/config/mcp-server/${enc(id)}`),
    api('GET', `/config/mcp-server/${enc(id)}/health?limit=10`).catch(() => null),
    may('POST /config/mcp-server/{id}/tools/approve'),
  ]);
  const reload = () => serverPage(id);
  const testOutput = h('div', { className: 'outcome' });
  const latest = server.health;
  render(server.name,
    h('div', { id: 'server-messages' }),
    facts([
      ['URL', h('code', { className: 'url' }, server.url)],
      ['Description', server.description || undefined],
      ['Timeout', `${server.timeout_seconds} s`],
      ['Auth config', server.auth_config_id ? link(`/auth-configs/${enc(server.auth_config_id)}`, 'view') : 'none'],
      ['Health', latest ? h('span', {}, badge(latest.status), ` since ${when(latest.since)}`) : badge(null)],
      ['Last check', latest ? when(latest.checked_at) : undefined],
      ['Next check', health?.next_check_at ? when(health.next_check_at) : undefined],
      ['Last failure', latest?.last_failure ? `${when(latest.last_failure.at)}: ${latest.last_failure.message}` : undefined],
    ]),
    h('div', { className: 'actions' },
      actionButton('Test now', 'Testing…', async () => {
        testOutput.replaceChildren(h('p', { role: 'status' }, 'Testing the connection…'));
        try {
          const result = await api('POST', `/config/mcp-server/${enc(id)}/test`);
          testOutput.replaceChildren(testResult(result));
          announce(result.status === 'SUCCESS' ? `Connected: ${result.tool_count} tools.` : 'The connection test failed.');
          if (result.tool_changes && (result.tool_changes.added.length || result.tool_changes.changed.length)) {
            testOutput.append(h('p', {}, actionButton('Review the changes', 'Loading…', reload)));
          }
        } catch (failure) {
          testOutput.replaceChildren(problemBox(failure));
        }
      }, 'primary')),
    testOutput,
    pendingSection(server, reload, approves),
    h('h2', {}, `Tools (${server.tool_names.length})`),
    server.tool_names.length ? h('ul', { className: 'tool-names' }, server.tool_names.map((n) => h('li', {}, h('code', {}, n)))) : h('p', { className: 'muted' }, 'No tools listed yet.'),
    server.last_test?.result?.tool_changes ? [h('h3', {}, 'Changes at the last test'), toolChanges(server.last_test.result.tool_changes)] : null,
    h('h2', {}, 'Recent checks'),
    table('Recent health checks', [
      ['When', (c) => when(c.checked_at)],
      ['Status', (c) => badge(c.status)],
      ['Stage', (c) => c.stage ?? '—'],
      ['Category', (c) => c.category ?? '—'],
      ['Took', (c) => `${c.elapsed_ms} ms`],
    ], health?.history ?? [], 'No checks yet.'));
}

/** `/console/auth-configs`. */
export async function authConfigsPage() {
  const configs = await listAll('/auth_configs');
  render('Auth configs',
    table('Auth configs', [
      ['Name', (c) => link(`/auth-configs/${enc(c.id)}`, c.name)],
      ['Type', (c) => c.auth_type],
      ['Token', (c) => tokenBadge(c) ?? h('span', { className: 'muted' }, 'n/a')],
      ['Expires', (c) => when(c.token_expires_at)],
      ['Connected users', (c) => (c.connection_mode === 'per_user' ? String(c.connected_users ?? 0) : '—')],
    ], configs, 'No auth configs yet. They are created with a server, or through the API.'));
}

/** `/console/auth-configs/{id}`: every field but secret values; Connect for the authorization code. */
export async function authConfigPage(id) {
  const [config, edits] = await Promise.all([api('GET', `/auth_configs/${enc(id)}`), may('PATCH /auth_configs/{id}')]);
  const oauth = config.auth_type === 'AUTHORIZATION_CODE';
  const headers = Object.keys(config.custom_headers ?? {});
  render(config.name,
    facts([
      ['Type', config.auth_type],
      ['Description', config.description || undefined],
      ['Token status', tokenBadge(config)],
      ['Token expires', config.token_expires_at ? when(config.token_expires_at) : undefined],
      ['Next refresh', config.next_refresh_at ? when(config.next_refresh_at) : undefined],
      ['Last refresh error', config.last_refresh_error || undefined],
      ['Connection', config.connection_mode ? (config.connection_mode === 'per_user' ? `each user connects their own (${config.connected_users ?? 0} connected)` : 'shared') : undefined],
      ['Granted scopes', config.granted_scopes?.length ? config.granted_scopes.join(' ') : undefined],
      ['Required scopes', config.required_scopes?.length ? config.required_scopes.join(' ') : undefined],
      ['Scopes', config.scopes?.length ? config.scopes.join(' ') : undefined],
      ['Authorization URL', config.authorization_url ? h('code', { className: 'url' }, config.authorization_url) : undefined],
      ['Token URL', config.token_url ? h('code', { className: 'url' }, config.token_url) : undefined],
      ['Client id', config.client_id ?? undefined],
      ['Client secret', config.client_id ? secret(config.client_secret) : undefined],
      ['Username', config.username ?? undefined],
      ['Password', config.auth_type === 'BASIC' ? secret(config.password) : undefined],
      ['Custom headers', headers.length ? headers.map((name) => `${name}: ${secret(config.custom_headers[name])}`).join(', ') : undefined],
      ['Redirect URIs', config.allowed_redirect_uris?.length ? h('ul', {}, config.allowed_redirect_uris.map((u) => h('li', {}, h('code', {}, u)))) : undefined],
      ['Sent only to', config.allowed_origins?.length ? config.allowed_origins.join(', ') : 'the first server that uses it'],
      ['Updated', when(config.updated_at)],
    ]),
    oauth ? [h('h2', {}, 'Connect'), connectControl(config, consoleUrl(`/auth-configs/${enc(id)}`), 'Connect', edits)] : null);
}

/** `/console/agents`. */
export async function agentsPage() {
  const agents = await listAll('/config/agent');
  render('Agents',
    table('Agents', [
      ['Name', (a) => link(`/agents/${enc(a.id)}`, a.name)],
      ['MCP servers', (a) => String(a.mcp_server_config_ids.length)],
      ['Updated', (a) => when(a.updated_at)],
    ], agents, 'No agents yet.'));
}

/** `/console/agents/{id}`: the agent and its tool catalogue. */
export async function agentPage(id) {
  const [agent, catalogue] = await Promise.all([
    api('GET', `/config/agent/${enc(id)}`),
    api('GET', `/agent/${enc(id)}/tools`),
  ]);
  render(agent.name,
    facts([
      ['Description', agent.description || undefined],
      ['Prompt', agent.prompt],
    ]),
    h('h2', {}, 'Servers'),
    table('Servers of the agent', [
      ['Server', (s) => link(`/servers/${enc(s.id)}`, s.name)],
      ['Tools', (s) => String(s.tool_count)],
      ['Listed', (s) => when(s.listed_at)],
      ['Notes', (s) => [s.error ?? '', s.pending_tools?.length ? `${s.pending_tools.length} pending approval` : ''].filter(Boolean).join('; ') || '—'],
    ], catalogue.servers),
    h('h2', {}, `Tool catalogue (${catalogue.tools.length})`),
    table('Tool catalogue', [
      ['Tool', (t) => h('code', {}, t.name)],
      ['Server', (t) => t.server_name],
      ['Description', (t) => t.description ?? '—'],
    ], catalogue.tools, 'No tools.'));
}

/** `/console/connections`: the caller's own connections, with Disconnect. */
export async function connectionsPage() {
  const connections = await listAll('/oauth/connections');
  const messages = h('div', {});
  render('My connections',
    h('p', { className: 'muted' }, 'Your own accounts at the providers of per-user auth configs. Disconnecting revokes your token there and deletes it here; other users stay connected.'),
    messages,
    table('My connections', [
      ['Auth config', (c) => link(`/auth-configs/${enc(c.auth_config_id)}`, c.auth_config_name)],
      ['Status', (c) => badge(c.token_status)],
      ['Scopes', (c) => (c.granted_scopes ?? []).join(' ') || '—'],
      ['Expires', (c) => when(c.token_expires_at)],
      ['Connected', (c) => when(c.connected_at)],
      ['', (c) => actionButton('Disconnect', 'Disconnecting…', async () => {
        try {
          await api('DELETE', `/oauth/connections/${enc(c.auth_config_id)}`);
          announce(`Disconnected from ${c.auth_config_name}.`);
          await connectionsPage();
        } catch (failure) {
          messages.replaceChildren(problemBox(failure, 'Not disconnected'));
        }
      }, 'danger')],
    ], connections, 'You have no per-user connections.'));
}

/** `/console/audit`: newest first, a page at a time. */
export async function auditPage() {
  const body = h('div', {});
  const more = h('div', {});
  const entries = [];
  const load = async (token) => {
    const page = await api('GET', `/audit?limit=50${token ? `&next_token=${enc(token)}` : ''}`);
    entries.push(...page.items);
    body.replaceChildren(table('Audit log', [
      ['When', (e) => when(e.at)],
      ['Who', (e) => e.actor],
      ['Action', (e) => h('code', {}, e.action)],
      ['Target', (e) => e.target ?? '—'],
      ['Outcome', (e) => h('span', {}, badge(e.outcome), ` ${e.status}`)],
    ], entries, 'Nothing audited yet.'));
    more.replaceChildren(page.next_token ? actionButton('Older entries', 'Loading…', () => load(page.next_token)) : '');
  };
  await load(null);
  render('Audit log', body, more);
}
