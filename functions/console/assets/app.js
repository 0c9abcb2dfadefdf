// The console's entry point: the navigation, the router (the address decides the page; links
// navigate without reloading), and what a page shows when the API refuses it.

import { approvalPage, approvalsPage } from './approvals.js';
import { consoleBase, consoleUrl, may, me } from './api.js';
import { callbackPage, connectPage, signInPage } from './oauth.js';
import {
  agentPage, agentsPage, auditPage, authConfigPage, authConfigsPage, connectionsPage, overviewPage,
  serverPage, serversPage,
} from './pages.js';
import { newServerPage } from './server-form.js';
import { h, problemBox, render } from './ui.js';

const NAV = [
  ['/', 'Overview'],
  ['/servers', 'MCP servers'],
  ['/auth-configs', 'Auth configs'],
  ['/agents', 'Agents'],
  ['/approvals', 'Approvals'],
  ['/connections', 'My connections'],
  ['/audit', 'Audit log'],
];

/** [pattern, page]: the first pattern that matches the route (the address below the base) wins. */
const ROUTES = [
  [/^\/?$/, overviewPage],
  [/^\/servers$/, serversPage],
  [/^\/servers\/new$/, newServerPage],
  [/^\/servers\/([^/]+)$/, serverPage],
  [/^\/auth-configs$/, authConfigsPage],
  [/^\/auth-configs\/([^/]+)$/, authConfigPage],
  [/^\/agents$/, agentsPage],
  [/^\/agents\/([^/]+)$/, agentPage],
  [/^\/approvals$/, approvalsPage],
  [/^\/approvals\/([^/]+)$/, approvalPage],
  [/^\/connections$/, connectionsPage],
  [/^\/audit$/, auditPage],
  [/^\/connect\/([^/]+)$/, connectPage],
  [/^\/oauth\/callback$/, callbackPage],
  [/^\/oauth\/callback\/([^/]+)$/, callbackPage],
  [/^\/sign-in$/, signInPage],
];

function route() {
  const path = window.location.pathname;
  return path.startsWith(consoleBase) ? path.slice(consoleBase.length) || '/' : '/';
}

/** Pages a role may not open stay out of the navigation (the API refuses them anyway). */
const NAV_NEEDS = { '/audit': 'GET /audit' };

async function renderNav() {
  const current = route();
  const hidden = new Set();
  let who = null;
  try {
    who = await me();
    for (const [target, operation] of Object.entries(NAV_NEEDS)) {
      if (!(await may(operation))) hidden.add(target);
    }
  } catch {
    // Signed out: the page itself says so.
  }
  const items = NAV.filter(([target]) => !hidden.has(target)).map(([target, label]) => {
    const active = target === '/' ? current === '/' : current === target || current.startsWith(`${target}/`);
    return h('li', {}, h('a', { href: consoleUrl(target), 'data-nav': true, 'aria-current': active ? 'page' : undefined }, label));
  });
  if (who) {
    items.push(h('li', { className: 'who' }, `${who.user_id} `, h('span', { className: 'badge neutral', id: 'role' }, who.role)));
  }
  document.getElementById('nav').replaceChildren(...items);
}

let shown = null;

async function show() {
  shown = `${window.location.pathname}${window.location.search}`;
  await renderNav();
  const path = route();
  for (const [pattern, page] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    try {
      await page(...match.slice(1).map(decodeURIComponent));
    } catch (failure) {
      if (failure?.status === 401) {
        render('Sign in',
          h('p', {}, 'Your session is missing or has expired. Sign in to Agent Studio, then come back.'),
          h('p', {}, h('a', { href: consoleUrl('/sign-in'), 'data-nav': true }, 'Sign in with a session id (local stack)')));
      } else if (failure?.status === 403) {
        render('Not for your role', problemBox(failure), h('p', {}, h('a', { href: consoleUrl('/'), 'data-nav': true }, 'Overview')));
      } else if (failure?.status === 404) {
        render('Not found', problemBox(failure), h('p', {}, h('a', { href: consoleUrl('/'), 'data-nav': true }, 'Overview')));
      } else {
        render('Something went wrong', problemBox(failure));
      }
    }
    return;
  }
  render('Not found', h('p', {}, 'The console has no such page.'), h('p', {}, h('a', { href: consoleUrl('/'), 'data-nav': true }, 'Overview')));
}

/** Follows a console link without reloading (modified clicks open tabs as usual). */
function onClick(event) {
  const anchor = event.target.closest('a[data-nav]');
  if (!anchor || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(anchor.href, window.location.href);
  if (url.origin !== window.location.origin || !url.pathname.startsWith(consoleBase)) return;
  event.preventDefault();
  if (`${url.pathname}${url.search}` !== `${window.location.pathname}${window.location.search}`) {
    window.history.pushState(null, '', `${url.pathname}${url.search}`);
  }
  show();
}

document.getElementById('brand').setAttribute('href', consoleUrl('/'));
document.getElementById('brand').setAttribute('data-nav', '');
document.addEventListener('click', onClick);
// Back and forward re-render; a jump to a fragment (the skip link) stays on the page.
window.addEventListener('popstate', () => {
  if (`${window.location.pathname}${window.location.search}` !== shown) show();
});
show();
