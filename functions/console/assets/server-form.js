// The form that creates an MCP server config: URL, timeout and authentication of any type. The
// API tests the connection before it stores anything; the form shows what the test found as it
// comes back (the tools, or where and why it failed). An authorization-code server needs a
// connected account first: the form creates the auth config, sends the browser to the provider,
// and resumes here with the config connected.

import { api, callbackUrl, consoleUrl, listAll, may } from './api.js';
import { startAuthorization } from './oauth.js';
import { announce, h, link, problemBox, render, testResult } from './ui.js';

const DRAFT = 'server-draft';

const AUTH_MODES = [
  ['none', 'No authentication'],
  ['headers', 'API key or custom headers'],
  ['BASIC', 'HTTP Basic (username and password)'],
  ['CLIENT_CREDENTIALS', 'OAuth 2.0 client credentials'],
  ['AUTHORIZATION_CODE', 'OAuth 2.0 authorization code (connect in the browser)'],
  ['existing', 'An existing auth config'],
];

/** A labelled input; `field` is the API's name for it, so a 400 can point at it. */
function field(id, label, attrs = {}, hint) {
  const input = h(attrs.tag ?? 'input', { id, name: id, 'data-field': attrs.field ?? id, ...attrs, tag: undefined, field: undefined });
  const describedBy = [];
  const parts = [h('label', { for: id }, label, attrs.required ? h('span', { className: 'req', 'aria-hidden': 'true' }, ' *') : null), input];
  if (hint) {
    describedBy.push(`${id}-hint`);
    parts.push(h('p', { className: 'hint', id: `${id}-hint` }, hint));
  }
  if (describedBy.length) input.setAttribute('aria-describedby', describedBy.join(' '));
  return h('div', { className: 'field' }, parts);
}

function select(id, label, options, attrs = {}) {
  return h('div', { className: 'field' },
    h('label', { for: id }, label),
    h('select', { id, name: id, 'data-field': attrs.field ?? id },
      options.map(([value, text]) => h('option', { value }, text))));
}

function headerRow(container) {
  const index = container.children.length;
  const row = h('div', { className: 'header-row' },
    field(`header-name-${index}`, 'Header name', { placeholder: 'X-Api-Key', autocomplete: 'off', field: 'auth_config.custom_headers' }),
    field(`header-value-${index}`, 'Value', { type: 'password', autocomplete: 'off', field: 'auth_config.custom_headers' }),
    h('button', { type: 'button', className: 'link-button', onclick: () => row.remove(), 'aria-label': `Remove header ${index + 1}` }, 'Remove'));
  container.append(row);
  return row;
}

/** The auth fields of each mode. */
function authFields(mode, configs) {
  switch (mode) {
    case 'headers': {
      const rows = h('div', { className: 'header-rows' });
      headerRow(rows);
      return [rows, h('button', { type: 'button', className: 'secondary', onclick: () => headerRow(rows).querySelector('input').focus() }, 'Add a header')];
    }
    case 'BASIC':
      return [
        field('username', 'Username', { autocomplete: 'off', required: true, field: 'auth_config.username' }),
        field('password', 'Password', { type: 'password', autocomplete: 'new-password', required: true, field: 'auth_config.password' }),
      ];
    case 'CLIENT_CREDENTIALS':
      return [
        field('token_url', 'Token URL', { type: 'url', required: true, field: 'auth_config.token_url' }),
        field('client_id', 'Client id', { autocomplete: 'off', required: true, field: 'auth_config.client_id' }),
        field('client_secret', 'Client secret', { type: 'password', autocomplete: 'new-password', required: true, field: 'auth_config.client_secret' }),
        field('scopes', 'Scopes', { autocomplete: 'off', field: 'auth_config.scopes' }, 'Space-separated; optional.'),
        field('audience', 'Audience', { autocomplete: 'off', field: 'auth_config.audience' }, 'Optional.'),
      ];
    case 'AUTHORIZATION_CODE':
      return [
        field('authorization_url', 'Authorization URL', { type: 'url', required: true }),
        field('token_url', 'Token URL', { type: 'url', required: true }),
        field('client_id', 'Client id', { autocomplete: 'off', required: true }),
        field('client_secret', 'Client secret', { type: 'password', autocomplete: 'new-password' }, 'Optional: leave empty for a public client (PKCE).'),
        field('scopes', 'Scopes', { autocomplete: 'off' }, 'Space-separated; optional.'),
        select('connection_mode', 'Whose account', [['shared', 'One shared account'], ['per_user', 'Each user connects their own']]),
        h('p', { className: 'hint' }, 'The auth config allows this console\u2019s callback page, ', h('code', {}, callbackUrl),
          ', as redirect URI: register it at the provider too. After you connect, this form comes back to finish.'),
      ];
    case 'existing':
      return [configs.length
        ? select('auth_config_id', 'Auth config', configs.map((c) => [c.id, `${c.name} (${c.auth_type})`]))
        : h('p', { className: 'muted' }, 'No auth configs yet.')];
    default:
      return [];
  }
}

function value(form, id) {
  const el = form.querySelector(`#${id}`);
  return el ? el.value.trim() : '';
}

const optional = (text) => (text ? text : undefined);
const scopeList = (text) => (text ? text.split(/\s+/).filter(Boolean) : undefined);

/** The inline auth config of the chosen mode (undefined for none and existing). */
function inlineAuth(form, mode, serverName) {
  const name = `${serverName || 'MCP server'} credentials`;
  switch (mode) {
    case 'headers': {
      const headers = {};
      for (const row of form.querySelectorAll('.header-row')) {
        const [key, val] = [...row.querySelectorAll('input')].map((i) => i.value.trim());
        if (key) headers[key] = val;
      }
      return { name, auth_type: 'NONE', custom_headers: headers };
    }
    case 'BASIC':
      return { name, auth_type: 'BASIC', username: value(form, 'username'), password: value(form, 'password') };
    case 'CLIENT_CREDENTIALS':
      return {
        name, auth_type: 'CLIENT_CREDENTIALS', token_url: value(form, 'token_url'), client_id: value(form, 'client_id'),
        client_secret: value(form, 'client_secret'), scopes: scopeList(value(form, 'scopes')), audience: optional(value(form, 'audience')),
      };
    default:
      return undefined;
  }
}

/** Marks the inputs a 400 names, with the message next to each. */
function markErrors(form, errors) {
  for (const old of form.querySelectorAll('.field-error')) old.remove();
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const error of errors ?? []) {
    const inputs = [...form.querySelectorAll('[data-field]')];
    const input = inputs.find((el) => el.dataset.field === error.field)
      ?? inputs.find((el) => error.field.startsWith(`${el.dataset.field}.`));
    if (!input) continue;
    input.setAttribute('aria-invalid', 'true');
    const id = `${input.id}-error`;
    if (!document.getElementById(id)) {
      input.insertAdjacentElement('afterend', h('p', { className: 'field-error', id }, error.message));
      input.setAttribute('aria-describedby', `${input.getAttribute('aria-describedby') ?? ''} ${id}`.trim());
    }
  }
}

/** Empties every secret input: a value typed once is sent once and not kept on the page. */
function forgetSecrets(form) {
  for (const input of form.querySelectorAll('input[type=password]')) input.value = '';
}

/** `/console/servers/new`. */
export async function newServerPage() {
  if (!(await may('POST /config/mcp-server'))) {
    render('New MCP server',
      h('p', { className: 'alert warn', id: 'create-needs-admin' }, 'Only an admin adds MCP servers: the connection test sends the credentials you choose to the server you name.'),
      h('p', {}, link('/servers', 'MCP servers')));
    return;
  }
  const params = new URLSearchParams(window.location.search);
  const draft = params.has('resume') ? JSON.parse(window.sessionStorage.getItem(DRAFT) ?? 'null') : null;
  window.sessionStorage.removeItem(DRAFT);
  const configs = await listAll('/auth_configs');

  const authArea = h('div', { className: 'auth-fields' });
  const modeSelect = select('auth-mode', 'Authentication', AUTH_MODES, { field: 'auth_config' });
  const status = h('div', { className: 'status', role: 'status', 'aria-live': 'polite' });
  const outcome = h('div', { className: 'outcome' });
  const submit = h('button', { type: 'submit', className: 'primary' }, 'Test and create');
  const form = h('form', { className: 'form', novalidate: true, 'aria-describedby': 'form-intro' },
    h('p', { id: 'form-intro', className: 'muted' }, 'The connection is tested first (MCP initialize and tools/list); nothing is stored if it fails.'),
    field('name', 'Name', { required: true, autocomplete: 'off' }),
    field('description', 'Description', { autocomplete: 'off' }),
    field('url', 'Server URL', { type: 'url', required: true, placeholder: 'https://mcp.example.com/mcp', autocomplete: 'off', inputmode: 'url' }),
    field('timeout_seconds', 'Timeout (seconds)', { type: 'number', min: '1', max: '300', value: '30', inputmode: 'numeric' }),
    h('fieldset', {}, h('legend', {}, 'Credentials'), modeSelect, authArea),
    h('div', { className: 'actions' }, submit, link('/servers', 'Cancel')),
    status);
  const mode = modeSelect.querySelector('select');
  const showMode = () => authArea.replaceChildren(...authFields(mode.value, configs));
  mode.addEventListener('change', showMode);

  let notice = null;
  if (draft) {
    for (const id of ['name', 'description', 'url', 'timeout_seconds']) {
      if (draft[id] !== undefined) form.querySelector(`#${id}`).value = draft[id];
    }
    mode.value = 'existing';
    showMode();
    const chosen = form.querySelector('#auth_config_id');
    if (chosen && draft.auth_config_id) chosen.value = draft.auth_config_id;
    notice = h('p', { className: 'alert good', role: 'status' }, 'The account is connected. Check the details and press Test and create.');
  } else {
    showMode();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = value(form, 'name');
    const chosen = mode.value;
    const body = {
      name,
      description: optional(value(form, 'description')),
      url: value(form, 'url'),
      timeout_seconds: value(form, 'timeout_seconds') ? Number(value(form, 'timeout_seconds')) : undefined,
    };
    outcome.replaceChildren();
    submit.disabled = true;
    try {
      if (chosen === 'AUTHORIZATION_CODE') {
        await connectFirst(form, body);
        return;
      }
      if (chosen === 'existing') body.auth_config_id = optional(value(form, 'auth_config_id'));
      else body.auth_config = inlineAuth(form, chosen, name);
      status.textContent = `Testing the connection to ${body.url || 'the server'}…`;
      const created = await api('POST', '/config/mcp-server', body);
      forgetSecrets(form);
      markErrors(form, []);
      status.textContent = 'Created.';
      outcome.replaceChildren(
        h('p', { className: 'alert good' }, `${created.name} was created. `, link(`/servers/${encodeURIComponent(created.id)}`, 'Open it')),
        testResult(created.connection_test_result));
      announce(`Created ${created.name}: ${created.connection_test_result?.tool_count ?? 0} tools.`);
      outcome.querySelector('h2')?.setAttribute('tabindex', '-1');
      outcome.querySelector('h2')?.focus();
    } catch (failure) {
      status.textContent = '';
      const problem = failure.problem ?? {};
      markErrors(form, problem.errors);
      outcome.replaceChildren(problemBox(failure, failure.status === 422 ? 'Nothing was saved' : undefined),
        problem.connection_test_result ? testResult(problem.connection_test_result) : null,
        problem.discovery_failure ? h('p', {}, `Discovery failed at ${problem.discovery_failure.step}: ${problem.discovery_failure.message}`) : null);
      announce(problem.title ?? 'The server was not created.');
      outcome.querySelector('[role=alert]')?.setAttribute('tabindex', '-1');
      outcome.querySelector('[role=alert]')?.focus();
    } finally {
      submit.disabled = false;
    }
  });

  render('New MCP server', notice, form, outcome);
}

/** Authorization code: create the auth config, keep the rest of the form, and connect. */
async function connectFirst(form, body) {
  const config = await api('POST', '/auth_configs', {
    name: `${body.name || 'MCP server'} OAuth`,
    auth_type: 'AUTHORIZATION_CODE',
    authorization_url: value(form, 'authorization_url'),
    token_url: value(form, 'token_url'),
    client_id: value(form, 'client_id'),
    client_secret: optional(value(form, 'client_secret')),
    scopes: scopeList(value(form, 'scopes')),
    connection_mode: value(form, 'connection_mode') || undefined,
    use_pkce: true,
    allowed_redirect_uris: [callbackUrl],
  });
  forgetSecrets(form);
  window.sessionStorage.setItem(DRAFT, JSON.stringify({ ...body, auth_config_id: config.id }));
  await startAuthorization(config, consoleUrl('/servers/new?resume=1'));
}
