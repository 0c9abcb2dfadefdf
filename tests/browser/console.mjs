// Drives the web console in a real browser (Debian's chromium through npm puppeteer-core, which
// never downloads a browser) for the end-to-end tests:
//
//     node console.mjs <scenario> '<JSON parameters>'
//
// Every scenario gets {base, session} (the local stack's origin and a session id, set as the
// `sessionid` cookie) and its own parameters; it prints one JSON line with what it saw, which the
// Rust test asserts on, and exits 1 with the reason when a step fails. Console errors of the page
// (a Content-Security-Policy violation, a script error) are reported as `page_errors`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const modules = fileURLToPath(new URL('../../.deps/node/node_modules/', import.meta.url));
if (!fs.existsSync(`${modules}puppeteer-core/package.json`)) {
  process.stderr.write(`puppeteer-core is missing from ${modules}: run \`bash infra/scripts/test-deps.sh\`\n`);
  process.exit(1);
}
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) {
  process.stderr.write(`no browser at ${CHROMIUM}: run \`bash infra/scripts/test-deps.sh\` (apt-get install chromium)\n`);
  process.exit(1);
}
const { default: puppeteer } = await import(pathToFileURL(createRequire(modules).resolve('puppeteer-core')).href);

const [scenario, rawParams] = process.argv.slice(2);
const params = JSON.parse(rawParams ?? '{}');
const STEP_TIMEOUT = 30_000;

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const pageErrors = [];
const page = await browser.newPage();
page.setDefaultTimeout(STEP_TIMEOUT);
// Refused API calls (a 422, say) are logged by the browser as failed loads: expected, not errors.
page.on('console', (message) => {
  if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text());
});
page.on('pageerror', (error) => pageErrors.push(String(error)));
await page.setViewport({ width: 1280, height: 800 });
// The session cookie as Agent Studio (or the local sign-in page) sets it: SameSite=Lax.
if (scenario !== 'sign-in') {
  await page.setCookie({ name: 'sessionid', value: params.session, url: params.base, sameSite: 'Lax' });
}

const open = async (route) => {
  await page.goto(`${params.base}${route}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('main h1');
};
const heading = () => page.$eval('main h1', (el) => el.textContent.trim());
const waitForHeading = (...texts) => page.waitForFunction(
  (wanted) => wanted.includes(document.querySelector('main h1')?.textContent.trim()), {}, texts);
const textOf = (selector) => page.$eval(selector, (el) => el.innerText.trim()).catch(() => null);
const html = () => page.content();
const facts = (selector) => page.$$eval(`${selector} dl.facts dt`, (dts) => Object.fromEntries(
  dts.map((dt) => [dt.textContent.trim(), dt.nextElementSibling?.innerText.trim() ?? ''])));
const containsAny = (text, secrets) => (secrets ?? []).filter((s) => s && text.includes(s));

async function fillServerForm({ name, url, mode, headerName, headerValue }) {
  await open('/console/servers/new');
  await page.type('#name', name);
  await page.type('#url', url);
  if (mode) await page.select('#auth-mode', mode);
  if (headerName) {
    await page.type('#header-name-0', headerName);
    await page.type('#header-value-0', headerValue);
  }
  await page.click('form button[type=submit]');
  await page.waitForSelector('.outcome .result, .outcome [role=alert]');
  // Every field the outcome shows has arrived once the result's heading is there.
  return {
    status_text: await textOf('.status'),
    result_class: await page.$eval('.outcome .result, .outcome [role=alert]', (el) => el.className),
    result_heading: await textOf('.outcome .result h2'),
    tools: await page.$$eval('.outcome .tools .tool-name', (els) => els.map((e) => e.textContent)),
    facts: await facts('.outcome .result'),
    diagnosis: await textOf('.outcome .diagnosis'),
    alert: await textOf('.outcome .alert'),
    focused: await page.evaluate(() => document.activeElement?.textContent.trim().slice(0, 80)),
    secret_inputs_empty: await page.$$eval('input[type=password]', (els) => els.every((e) => e.value === '')),
    secrets_on_page: containsAny(await html(), params.secrets),
  };
}

const SCENARIOS = {
  /** The link `studio-local serve` prints: no cookie yet, the session in the fragment. */
  async 'sign-in'() {
    await page.goto(`${params.base}/console/servers`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('main h1');
    const withoutSession = { url: page.url(), heading: await heading() };
    // The link is opened as from a terminal: a fresh load, not a jump within the page.
    await page.goto('about:blank');
    await page.goto(`${withoutSession.url}#session=${params.session}`, { waitUntil: 'networkidle0' });
    await waitForHeading('Sign in');
    const beforeClick = {
      url: page.url(),
      cookie: (await browser.cookies()).some((c) => c.name === 'sessionid'),
      prefilled: await page.$eval('#session', (el) => el.value === '' ? 'empty' : 'filled'),
    };
    await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('#sign-in')]);
    await page.waitForSelector('main h1');
    await waitForHeading('MCP servers');
    const cookies = await browser.cookies();
    return {
      without_session: withoutSession,
      before_click: beforeClick,
      url: page.url(),
      heading: await heading(),
      cookie: cookies.find((c) => c.name === 'sessionid') ?? null,
    };
  },

  /** The create form: a server that works shows its tools; one that fails, its diagnosis. */
  async 'create-server'() {
    return fillServerForm(params);
  },

  /** Only the keyboard: Tab through the form, type, Enter to submit. */
  async keyboard() {
    await open('/console/servers/new');
    const describe = () => page.evaluate(() => {
      const el = document.activeElement;
      return el?.id || el?.getAttribute('href') || el?.textContent.trim() || el?.tagName;
    });
    // A page starts focused on its heading: the first Tab is the first field.
    const focusedAtLoad = await page.evaluate(() => document.activeElement?.tagName);
    await page.keyboard.press('Tab');
    const afterHeading = await describe();
    // The skip link (first in the page) leads past the navigation to the content.
    await page.focus('.skip');
    const skip = await describe();
    await page.keyboard.press('Enter');
    const skipTarget = await describe();
    await page.keyboard.press('Tab');
    const order = [focusedAtLoad, afterHeading, skip, skipTarget, await describe()];
    await page.keyboard.type(params.name);
    const formOrder = ['name'];
    for (let i = 0; i < 6; i += 1) {
      await page.keyboard.press('Tab');
      const here = await describe();
      formOrder.push(here);
      if (here === 'url') await page.keyboard.type(params.url);
      if (here === 'Test and create') break;
    }
    await page.keyboard.press('Enter');
    await page.waitForSelector('.outcome .result');
    return {
      order,
      form_order: formOrder,
      result_heading: await textOf('.outcome .result h2'),
      tools: await page.$$eval('.outcome .tools .tool-name', (els) => els.map((e) => e.textContent)),
      focused: await page.evaluate(() => document.activeElement?.textContent.trim()),
      focus_visible: await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle),
    };
  },

  /** Connect: from a console page to the provider's sign-in, back on the callback page. */
  async connect() {
    await open(params.start);
    const before = await heading();
    const navigation = page.waitForNavigation({ waitUntil: 'load' });
    const clicked = await page.$$eval('main button', (buttons) => {
      const connect = buttons.find((b) => b.textContent.startsWith('Connect'));
      connect?.click();
      return Boolean(connect);
    });
    if (!clicked) {
      navigation.catch(() => {});
      throw new Error(`no Connect button on ${params.start}`);
    }
    await navigation;
    const provider = new URL(page.url()).origin;
    await page.waitForSelector('#login');
    await page.type('#login', params.login);
    await page.type('#password', params.password);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#submit')]);
    await waitForHeading('Connected', 'Authorization failed');
    const landed = page.url();
    const result = {
      before,
      provider,
      landed,
      heading: await heading(),
      alert: await textOf('main .alert'),
      facts: await facts('main .alert'),
      history_length: await page.evaluate(() => window.history.length),
    };
    if (result.heading === 'Connected') {
      await page.click('#continue');
      // The address changes at once; the page it leads to renders once its data is in, which
      // replaces the callback page's heading.
      await page.waitForFunction((was) => window.location.href !== was, {}, landed);
      await page.waitForFunction(() => {
        const text = document.querySelector('main h1')?.textContent;
        return text && text !== 'Connected' && !text.startsWith('Finishing');
      });
      result.after_continue = page.url();
      result.heading_after = await heading();
      result.page_after = await textOf('main');
    }
    return result;
  },

  /** A link someone sent: open it as it is, and report where it led and what it offers. */
  async 'open-link'() {
    await page.goto(params.url, { waitUntil: 'networkidle0' });
    await page.waitForFunction(() => {
      const text = document.querySelector('main h1')?.textContent;
      return text && !text.startsWith('Finishing');
    });
    return {
      url: page.url(),
      heading: await heading(),
      alert: await textOf('main .alert'),
      text: await textOf('main'),
      links: await page.$$eval('main a', (links) => links.map((a) => a.href)),
      continue: (await page.$('#continue')) !== null,
    };
  },

  /** My connections: Disconnect one. */
  async disconnect() {
    await open('/console/connections');
    const before = await textOf('main');
    await page.$$eval('main button', (buttons) => buttons.find((b) => b.textContent === 'Disconnect').click());
    await page.waitForFunction(() => document.querySelector('main')?.innerText.includes('You have no per-user connections.'));
    return { before, after: await textOf('main') };
  },

  /** A server's pending tool changes: the diff as offered now, then Approve all. */
  async approve() {
    await open(params.start);
    await page.waitForSelector('.pending');
    // Open every diff, as a reviewer would.
    await page.$$eval('.pending details', (all) => all.forEach((d) => { d.open = true; }));
    if (params.screenshot) await page.screenshot({ path: params.screenshot, fullPage: true });
    const pending = await textOf('.pending');
    // The approval names the version the reviewer saw.
    const sent = page.waitForRequest((request) => request.method() === 'POST' && request.url().endsWith('/tools/approve'));
    await page.$$eval('.pending button', (buttons) => buttons.find((b) => b.textContent === 'Approve all').click());
    const request = await sent;
    await page.waitForFunction(() => !document.querySelector('.pending'));
    return { pending, if_match: request.headers()['if-match'] ?? null, after: await textOf('main') };
  },

  /** A held tool call's page: its facts and arguments as shown, then Approve with a reason. */
  async 'approve-call'() {
    await open(params.start);
    await page.waitForSelector('main pre.json');
    const before = {
      heading: await heading(),
      facts: await facts('main'),
      arguments: await textOf('main pre.json'),
      buttons: await page.$$eval('main button', (buttons) => buttons.map((b) => b.textContent.trim())),
    };
    if (params.screenshot) await page.screenshot({ path: params.screenshot, fullPage: true });
    await page.type('#approval-reason', params.reason);
    const sent = page.waitForRequest((request) => request.method() === 'POST' && request.url().endsWith('/approve'));
    await page.$$eval('main button', (buttons) => buttons.find((b) => b.textContent === 'Approve').click());
    const request = await sent;
    await page.waitForFunction(() => document.querySelector('#approval-messages')?.innerText.includes('Approved.'));
    return {
      before,
      body: request.postData() ?? null,
      after: { facts: await facts('main'), buttons: await page.$$eval('main button', (buttons) => buttons.map((b) => b.textContent.trim())) },
    };
  },

  /** What a member's console offers: the pages in `params.pages`, and which controls each shows. */
  async member() {
    const seen = {};
    for (const [name, route] of params.pages) {
      await open(route);
      await page.waitForFunction(() => document.querySelector('#nav li'));
      seen[name] = {
        heading: await heading(),
        nav: await page.$$eval('#nav a', (links) => links.map((a) => a.textContent.trim())),
        role: await textOf('#role'),
        buttons: await page.$$eval('main button', (buttons) => buttons.map((b) => b.textContent.trim())),
        links: await page.$$eval('main a', (links) => links.map((a) => a.textContent.trim())),
        text: await textOf('main'),
      };
    }
    return seen;
  },

  /** The main pages at a desktop and a phone width: screenshots, horizontal overflow, secrets. */
  async screenshots() {
    fs.mkdirSync(params.dir, { recursive: true });
    const shots = [];
    for (const [width, height, label] of [[1280, 800, 'desktop'], [390, 844, 'phone']]) {
      await page.setViewport({ width, height });
      for (const [name, route] of params.pages) {
        await open(route);
        const file = path.join(params.dir, `${name}-${label}.png`);
        await page.screenshot({ path: file, fullPage: true });
        shots.push({
          name, label, route, file,
          heading: await heading(),
          overflow_px: await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
          secrets_on_page: containsAny(await html(), params.secrets),
        });
      }
    }
    return { shots };
  },
};

let exitCode = 0;
try {
  const run = SCENARIOS[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  const result = await run();
  process.stdout.write(`${JSON.stringify({ ...result, page_errors: pageErrors })}\n`);
} catch (error) {
  let where = '';
  try { where = ` at ${page.url()}: ${(await textOf('main')) ?? (await page.content()).slice(0, 2000)}`; } catch { /* closed */ }
  process.stderr.write(`scenario ${scenario} failed: ${error.stack ?? error}${where}\npage errors: ${JSON.stringify(pageErrors)}\n`);
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);
