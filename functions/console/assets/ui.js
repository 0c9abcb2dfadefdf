// DOM helpers of the console. Everything shown is built with createElement and textContent:
// names, tool descriptions and diagnoses come from users and remote MCP servers, and never
// become markup.

import { consoleUrl } from './api.js';

/** An element: `attrs` are properties (`className`, `onclick`, …) or attributes (`aria-*`, `data-*`, `for`). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'className' || key === 'textContent' || key === 'value' || key === 'checked') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A link to a console route, navigated without reloading the page. */
export function link(route, ...children) {
  return h('a', { href: consoleUrl(route), 'data-nav': true }, ...children);
}

/** Replaces the page's content, sets the title and moves focus to the heading. */
export function render(title, ...children) {
  const main = document.getElementById('main');
  main.replaceChildren(h('h1', { tabindex: '-1' }, title), ...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  document.title = `${title} · Agent Studio Connect`;
  main.querySelector('h1').focus({ preventScroll: false });
}

/** Says `message` to screen readers (and nothing visually). */
export function announce(message) {
  const region = document.getElementById('announce');
  region.textContent = '';
  window.setTimeout(() => { region.textContent = message; }, 50);
}

/** RFC 3339 → a short local date and time (or a dash). */
export function when(value) {
  if (!value) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

const TONES = {
  VALID: 'good', healthy: 'good', SUCCESS: 'good', success: 'good',
  NOT_AUTHORIZED: 'neutral', degraded: 'warn', tools_changed: 'warn', EXPIRED: 'warn',
  INSUFFICIENT_SCOPE: 'bad', REAUTHORIZATION_REQUIRED: 'bad', AUTHORIZATION_SERVER_CHANGED: 'bad',
  auth_required: 'bad', insufficient_scope: 'bad', unreachable: 'bad', FAILED: 'bad', failure: 'bad',
  pending: 'warn', approved: 'good', denied: 'bad',
};

/** A status badge (colour and text: never colour alone). */
export function badge(value) {
  if (!value) return h('span', { className: 'badge neutral' }, 'unknown');
  return h('span', { className: `badge ${TONES[value] ?? 'neutral'}` }, String(value).replaceAll('_', ' ').toLowerCase());
}

/**
 * A table that reads as cards on a narrow screen: `columns` are [header, row => cell]; each
 * cell carries its header for the narrow layout.
 */
export function table(caption, columns, rows, empty = 'None yet.') {
  if (!rows.length) return h('p', { className: 'muted' }, empty);
  return h('div', { className: 'table-wrap' },
    h('table', { className: 'cards' },
      h('caption', { className: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, columns.map(([header]) => h('th', { scope: 'col' }, header)))),
      h('tbody', {}, rows.map((row) => h('tr', {}, columns.map(([header, cell]) => h('td', { 'data-label': header }, cell(row))))))));
}

/** A definition list of [term, value] pairs (pairs with an undefined value are left out). */
export function facts(pairs) {
  return h('dl', { className: 'facts' },
    pairs.filter(([, value]) => value !== undefined).map(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '—')]));
}

/** A failed call as an alert: the problem's title, detail, field errors and request id. */
export function problemBox(failure, heading) {
  const problem = failure?.problem ?? {};
  return h('div', { className: 'alert bad', role: 'alert' },
    h('p', { className: 'alert-title' }, heading ?? problem.title ?? 'Something went wrong'),
    h('p', {}, problem.detail ?? failure?.message ?? String(failure)),
    problem.errors?.length
      ? h('ul', {}, problem.errors.map((e) => h('li', {}, h('code', {}, e.field), `: ${e.message}`)))
      : null,
    problem.request_id ? h('p', { className: 'muted' }, `Request id ${problem.request_id}`) : null);
}

/** A button that shows progress while `action` runs, and cannot be pressed twice meanwhile. */
export function actionButton(label, busyLabel, action, className = '') {
  const button = h('button', { type: 'button', className });
  button.textContent = label;
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = busyLabel;
    try {
      await action(button);
    } catch (failure) {
      // Actions show their own outcome; one that fails unexpectedly says so next to the button.
      button.insertAdjacentElement('afterend', problemBox(failure));
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  });
  return button;
}

/** The tools of a connection test or catalogue: name, title and description (as text). */
export function toolList(tools) {
  if (!tools?.length) return h('p', { className: 'muted' }, 'No tools.');
  return h('ul', { className: 'tools' }, tools.map((t) =>
    h('li', {},
      h('code', { className: 'tool-name' }, t.name),
      t.title ? h('span', { className: 'tool-title' }, ` — ${t.title}`) : null,
      t.description ? h('p', { className: 'tool-desc' }, t.description) : null)));
}

/** A connection test result: tools on success, the stage/category diagnosis on failure. */
export function testResult(result) {
  if (!result) return null;
  if (result.status === 'SUCCESS') {
    return h('section', { className: 'result good', 'aria-labelledby': 'result-heading' },
      h('h2', { id: 'result-heading' }, `Connected: ${result.tool_count} tool${result.tool_count === 1 ? '' : 's'}`),
      facts([
        ['Server', result.server_info ? `${result.server_info.name} ${result.server_info.version ?? ''}`.trim() : undefined],
        ['Protocol', result.protocol_version ?? undefined],
        ['Transport', result.transport ?? undefined],
        ['Took', `${result.elapsed_ms} ms`],
      ]),
      result.tool_changes ? toolChanges(result.tool_changes) : null,
      toolList(result.tools),
      result.tools_omitted ? h('p', { className: 'muted' }, 'More tools than shown here.') : null);
  }
  return h('section', { className: 'result bad', role: 'alert', 'aria-labelledby': 'result-heading' },
    h('h2', { id: 'result-heading' }, 'Connection test failed'),
    facts([
      ['Stage', result.stage ?? '—'],
      ['Category', result.category ?? '—'],
      ['HTTP status', result.http_status ?? undefined],
      ['Took', `${result.elapsed_ms} ms`],
    ]),
    h('p', { className: 'diagnosis' }, result.message),
    result.reauthorization ? h('p', {}, result.reauthorization.action, ' ',
      // The API says whether connecting helps (`connect_url`); the link keeps the console's prefix.
      result.reauthorization.connect_url
        ? link(`/connect/${encodeURIComponent(result.reauthorization.auth_config_id)}`, 'Connect the account')
        : null) : null);
}

/** Added, removed and changed tool names. */
export function toolChanges(changes) {
  const parts = [['Added', changes.added], ['Removed', changes.removed], ['Changed', changes.changed]]
    .filter(([, names]) => names?.length);
  if (!parts.length) return h('p', { className: 'muted' }, 'No tool changes since the last test.');
  return h('ul', { className: 'changes' }, parts.map(([label, names]) => h('li', {}, `${label}: `, names.join(', '))));
}

/** Pretty JSON as preformatted text. */
export function json(value) {
  return h('pre', { className: 'json' }, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}
