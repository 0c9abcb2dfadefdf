// The browser side of the OAuth authorization-code flow: Connect (authorize, then off to the
// provider), the hosted callback page (finish, then clean the address bar), the hosted connect
// page a tool call links to, and the local sign-in page.

import { api, ApiFailure, callbackUrl, callbackUrlFor, consoleUrl, may, safeReturn } from './api.js';
import { actionButton, badge, facts, h, link, problemBox, render, when } from './ui.js';

const PENDING = 'authorize:';

/**
 * The hosted callback page `config` allows: its own (preferred), else the shared one; null if
 * it allows neither.
 */
export function allowedCallback(config) {
  const allowed = config.allowed_redirect_uris ?? [];
  return [callbackUrlFor(config.id), callbackUrl].find((uri) => allowed.includes(uri)) ?? null;
}

/**
 * Starts an authorization of `config` with a hosted callback page it allows as redirect URI,
 * remembers where to come back to (a console address only), and sends the browser to the
 * provider.
 */
export async function startAuthorization(config, returnTo) {
  const redirectUri = allowedCallback(config) ?? callbackUrl;
  const answer = await api('POST',
    `/oauth/${encodeURIComponent(config.id)}/authorize?redirect_uri=${encodeURIComponent(redirectUri)}`);
  const target = new URL(answer.authorization_url);
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new ApiFailure(0, { title: 'Refused', detail: 'The authorization URL is not an http(s) address.' });
  }
  window.sessionStorage.setItem(`${PENDING}${answer.state}`, JSON.stringify({
    auth_config_id: config.id,
    auth_config_name: config.name,
    return_to: safeReturn(returnTo),
  }));
  window.location.assign(target.href);
}

/**
 * The Connect control of an AUTHORIZATION_CODE config: a button, and when the config does not
 * allow the hosted callback page yet, the exact address to allow, with a button that adds it
 * (`edits`: the signed-in role may change the config). A shared config's tokens act for every
 * user: only an admin connects it, so a member is told so instead.
 */
export function connectControl(config, returnTo, label = 'Connect', edits = false) {
  const messages = h('div', { className: 'connect-messages' });
  const allowed = config.allowed_redirect_uris ?? [];
  if (config.connection_mode !== 'per_user' && !edits) {
    return h('p', { className: 'muted', id: 'connect-needs-admin' },
      'This config\u2019s tokens are shared by every user: an admin connects it.');
  }
  const connect = actionButton(label, 'Opening the provider…', async () => {
    messages.replaceChildren();
    try {
      await startAuthorization(config, returnTo);
    } catch (failure) {
      messages.replaceChildren(problemBox(failure, 'The authorization could not start'));
    }
  }, 'primary');
  if (allowedCallback(config)) return h('div', { className: 'connect' }, connect, messages);
  const own = callbackUrlFor(config.id);
  if (!edits) {
    return h('div', { className: 'connect' },
      h('p', { className: 'alert warn' },
        'This auth config does not list the console\u2019s callback page among its redirect URIs: ',
        h('code', {}, own), '. Ask an admin to add it.'),
      messages);
  }
  const allow = actionButton('Allow the console\u2019s callback', 'Saving…', async () => {
    messages.replaceChildren();
    try {
      const updated = await api('PATCH', `/auth_configs/${encodeURIComponent(config.id)}`,
        { allowed_redirect_uris: [...allowed, own] });
      config.allowed_redirect_uris = updated.allowed_redirect_uris;
      messages.replaceChildren(h('p', { className: 'alert good', role: 'status' }, 'Allowed. You can connect now.'));
    } catch (failure) {
      messages.replaceChildren(problemBox(failure, 'The redirect URI could not be added'));
    }
  });
  const parts = [
    h('p', { className: 'alert warn' },
      'This auth config does not list its console callback page among its redirect URIs: ',
      h('code', {}, own),
      '. Add it (the provider must accept it too) to connect from here.'),
    h('div', { className: 'actions' }, allow, connect),
    messages,
  ];
  return h('div', { className: 'connect' }, parts);
}

/**
 * `/console/oauth/callback?code=…&state=…` (or `/console/oauth/callback/{config id}?…`):
 * finishes the authorization the provider sent back. The query goes to the API unchanged, `iss`
 * included; a per-config page sends it to that config's callback, which finishes only that
 * config's authorization.
 */
export async function callbackPage(configId) {
  const query = window.location.search;
  const target = configId ? `/oauth/${encodeURIComponent(configId)}/callback` : '/oauth/callback';
  const params = new URLSearchParams(query);
  const state = params.get('state');
  // The code and state leave the address bar (and the history entry) before anything else runs.
  window.history.replaceState(null, '', window.location.pathname);
  if (!state) {
    render('Nothing to finish',
      h('p', {}, 'This page finishes an authorization the provider sends back here; this address carries none.'),
      h('p', {}, link('/auth-configs', 'Auth configs')));
    return;
  }
  const key = `${PENDING}${state}`;
  const pending = JSON.parse(window.sessionStorage.getItem(key) ?? 'null');
  window.sessionStorage.removeItem(key);
  render('Finishing the authorization…', h('p', { className: 'muted', role: 'status' }, 'Exchanging the code for tokens.'));
  const back = pending?.return_to ? safeReturn(pending.return_to) : null;
  try {
    const config = await api('GET', `${target}${query}`);
    const next = back ?? consoleUrl(`/auth-configs/${encodeURIComponent(config.id)}`);
    render('Connected',
      h('div', { className: 'alert good', role: 'status' },
        h('p', { className: 'alert-title' }, `${config.name} is connected.`),
        facts([
          ['Token status', badge(config.token_status)],
          ['Expires', when(config.token_expires_at)],
          ['Scopes', (config.granted_scopes ?? []).join(' ') || '—'],
        ])),
      h('p', {}, h('a', { href: next, 'data-nav': true, className: 'button primary', id: 'continue' }, 'Continue')));
  } catch (failure) {
    render('Authorization failed',
      problemBox(failure, 'The provider\u2019s answer could not be used'),
      h('p', {}, 'Nothing was stored. Start again from the auth config: a code and its state work once.'),
      h('p', {}, pending?.auth_config_id
        ? link(`/auth-configs/${encodeURIComponent(pending.auth_config_id)}`, `Back to ${pending.auth_config_name ?? 'the auth config'}`)
        : link('/auth-configs', 'Auth configs')));
  }
}

/**
 * `/console/connect/{id}?return_to=…`: where a tool call's `authorization-required` answer sends
 * a user to connect their own account in one click, and come back.
 */
export async function connectPage(id) {
  const returnTo = safeReturn(new URLSearchParams(window.location.search).get('return_to'))
    ?? consoleUrl('/connections');
  const [config, edits] = await Promise.all([
    api('GET', `/auth_configs/${encodeURIComponent(id)}`), may('PATCH /auth_configs/{id}'),
  ]);
  if (config.auth_type !== 'AUTHORIZATION_CODE') {
    render(`Connect ${config.name}`, h('p', {}, 'This auth config does not use the authorization-code flow: there is nothing to connect.'));
    return;
  }
  const perUser = config.connection_mode === 'per_user';
  render(`Connect ${config.name}`,
    h('p', {}, perUser
      ? 'This connection is your own: the provider asks you to sign in, and the tools you call through it act as you.'
      : 'This connection is shared: the account you sign in with is used for every agent run that uses it.'),
    facts([
      ['Provider', providerHost(config.authorization_url)],
      // Where the code (and its PKCE verifier) is redeemed, when that is another host.
      ['Tokens from', providerHost(config.token_url) !== providerHost(config.authorization_url) ? providerHost(config.token_url) : undefined],
      ['Scopes', (config.scopes ?? []).join(' ') || '—'],
      ['Status', badge(config.token_status)],
    ]),
    connectControl(config, returnTo, `Connect ${config.name}`, edits));
}

/** The host of an authorization URL, as the user will see it in the address bar. */
function providerHost(url) {
  try {
    return new URL(url).host;
  } catch {
    return '—';
  }
}

/**
 * `/console/sign-in`: a session for the console on the local stack (in a deployment, Agent
 * Studio's own login sets the cookie). The link `studio-local serve` prints carries the session
 * in the fragment, which never reaches a server; it only fills the form: signing in takes a
 * click, so another site cannot sign a browser into a session of its choosing.
 */
export async function signInPage() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const offered = fragment.get('session') ?? '';
  const returnTo = safeReturn(new URLSearchParams(window.location.search).get('return_to'));
  if (window.location.hash) window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}`);
  const signedIn = await api('GET', '/auth_configs?limit=1').then(() => true, () => false);
  const input = h('input', { id: 'session', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false', value: offered });
  const messages = h('div', { role: 'status' });
  const form = h('form', { className: 'form', novalidate: true },
    signedIn ? h('p', { className: 'alert warn' }, 'This browser is already signed in. Signing in again replaces that session.') : null,
    offered ? h('p', {}, 'The link you opened carries a session id. Sign in with it only if you started the server that printed it.') : null,
    h('div', { className: 'field' },
      h('label', { for: 'session' }, 'Session id'),
      input,
      h('p', { className: 'hint' }, 'studio-local serve prints a sign-in link and the dev session; studio-local session create makes another.')),
    h('button', { type: 'submit', className: 'primary', id: 'sign-in' }, 'Sign in'),
    messages);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!input.value.trim()) {
      messages.replaceChildren(h('p', { className: 'alert bad' }, 'Enter a session id.'));
      return;
    }
    setSession(input.value.trim(), messages, returnTo);
  });
  render('Sign in', form);
}

/**
 * Sets the session cookie and checks it. `SameSite=Lax`, as session cookies are: the provider's
 * redirect back to the callback page is a navigation from another site, which a `Strict` cookie
 * would not accompany.
 */
async function setSession(session, messages, returnTo) {
  const secure = window.location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `sessionid=${encodeURIComponent(session)}; path=/; SameSite=Lax${secure}`;
  try {
    await api('GET', '/auth_configs?limit=1');
    window.location.replace(returnTo ?? consoleUrl('/'));
  } catch (failure) {
    document.cookie = 'sessionid=; path=/; max-age=0';
    messages.replaceChildren(problemBox(failure, 'That session is not valid'));
  }
}
