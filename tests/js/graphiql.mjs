#!/usr/bin/env node
// End-to-end check of the vendored GraphiQL playground in a real browser.
//
//   node tests/js/graphiql.mjs http://127.0.0.1:41234
//
// Launches Debian's Chromium (env CHROMIUM_PATH, default /usr/bin/chromium)
// through playwright-core, opens <baseUrl>/graphql as a browser would (HTML
// Accept header), waits for the GraphiQL editor, replaces the query with
// `{ __typename }`, runs it and waits for `"__typename": "Query"` in the result
// pane.
//
// Fails (exit 1) if:
//   - the page requests anything whose host is not 127.0.0.1 / localhost /
//     [::1] (or the base URL's own host): such requests are aborted and listed;
//   - the page logs a console error or throws an uncaught error;
//   - the editor or the expected result does not show up in time;
//   - the whole run takes more than ~60 s.
// Env SCREENSHOT_PATH=/some/file.png saves a screenshot at the end (also on
// failure, when a page exists).
//
// The last line on stdout is a one-line JSON summary, e.g.
//   {"ok":true,"blocked":[],"result":"{\n  \"data\": {\n    \"__typename\": \"Query\"\n  }\n}", ...}

import { chromium } from 'playwright-core';

const WHOLE_RUN_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 20_000;
const QUERY = '{ __typename }';
const EXPECTED = '"__typename": "Query"';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function log(msg) {
  console.error(`graphiql.mjs: ${msg}`);
}

const summary = {
  ok: false,
  blocked: [],
  result: null,
  consoleErrors: [],
  pageErrors: [],
  error: null,
};

let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  console.log(JSON.stringify(summary));
  process.exit(code);
}

function usage(msg) {
  if (msg) log(msg);
  console.error('usage: node graphiql.mjs <baseUrl>   (e.g. http://127.0.0.1:41234)');
  summary.error = msg || 'usage';
  finish(1);
}

const baseArg = process.argv[2];
if (!baseArg) usage('missing <baseUrl>');
let base;
try {
  base = new URL(baseArg);
} catch {
  usage(`invalid URL: ${baseArg}`);
}
if (base.protocol !== 'http:' && base.protocol !== 'https:') usage(`not an http(s) URL: ${baseArg}`);
const pageUrl = new URL('/graphql', base).toString();
const allowedHosts = new Set([...LOCAL_HOSTS, base.hostname]);

function isAllowed(urlString) {
  let u;
  try {
    u = new URL(urlString);
  } catch {
    return false;
  }
  // In-page resources that never touch the network.
  if (['data:', 'blob:', 'about:'].includes(u.protocol)) return true;
  return allowedHosts.has(u.hostname);
}

let browser = null;
let page = null;

async function screenshot() {
  const path = process.env.SCREENSHOT_PATH;
  if (!path || !page) return;
  try {
    await page.screenshot({ path, fullPage: false, timeout: 5_000 });
    log(`screenshot saved to ${path}`);
  } catch (err) {
    log(`could not save screenshot to ${path}: ${err.message}`);
  }
}

async function closeBrowser() {
  if (!browser) return;
  const b = browser;
  browser = null;
  try {
    await Promise.race([b.close(), new Promise((r) => setTimeout(r, 5_000))]);
  } catch {
    /* already gone */
  }
}

const watchdog = setTimeout(async () => {
  summary.error = `whole run exceeded ${WHOLE_RUN_TIMEOUT_MS} ms`;
  log(summary.error);
  await screenshot();
  await closeBrowser();
  finish(1);
}, WHOLE_RUN_TIMEOUT_MS);

// Reads the text of the CodeMirror 5 editor inside `selector` (GraphiQL 3.x).
function editorValue(selector) {
  return page.evaluate((sel) => {
    const el = document.querySelector(`${sel} .CodeMirror`);
    if (!el) return null;
    if (el.CodeMirror && typeof el.CodeMirror.getValue === 'function') return el.CodeMirror.getValue();
    return el.innerText;
  }, selector);
}

async function run() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  log(`launching ${executablePath}`);
  browser = await chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: STEP_TIMEOUT_MS,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);

  // Abort (and remember) every request that would leave this machine.
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isAllowed(url)) {
      await route.continue();
    } else {
      summary.blocked.push(url);
      log(`BLOCKED non-local request: ${url}`);
      await route.abort('blockedbyclient');
    }
  });
  // WebSockets are not seen by context.route: close non-local ones too.
  await context.routeWebSocket(
    (url) => !isAllowed(url.toString()),
    (ws) => {
      summary.blocked.push(ws.url());
      log(`BLOCKED non-local WebSocket: ${ws.url()}`);
      ws.close({ code: 1008, reason: 'blocked by graphiql.mjs' });
    },
  );

  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      const where = loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : '';
      summary.consoleErrors.push(`${msg.text()}${where}`);
      log(`console error: ${msg.text()}${where}`);
    }
  });
  page.on('pageerror', (err) => {
    summary.pageErrors.push(String(err && err.stack ? err.stack : err));
    log(`page error: ${err && err.stack ? err.stack : err}`);
  });
  page.on('requestfailed', (req) => {
    if (isAllowed(req.url())) log(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) log(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
  });

  log(`opening ${pageUrl}`);
  const response = await page.goto(pageUrl, { waitUntil: 'load' });
  if (!response) throw new Error(`no response for ${pageUrl}`);
  const ctype = response.headers()['content-type'] || '';
  log(`GET ${pageUrl} -> HTTP ${response.status()} (${ctype})`);
  if (!response.ok()) throw new Error(`GET ${pageUrl} returned HTTP ${response.status()}`);
  if (!ctype.includes('text/html')) throw new Error(`GET ${pageUrl} returned content-type "${ctype}", expected text/html`);

  const title = await page.title();
  log(`page title: ${title}`);

  // GraphiQL 3.x: CodeMirror 5 editors inside .graphiql-query-editor / .graphiql-response.
  const queryEditor = page.locator('.graphiql-query-editor .CodeMirror');
  await queryEditor.waitFor({ state: 'visible' });
  log('GraphiQL query editor is visible');

  // Replace the query the way a user would: focus, select all, insert text.
  await queryEditor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(QUERY);
  let current = await editorValue('.graphiql-query-editor');
  if ((current || '').replace(/\s+/g, ' ').trim() !== QUERY) {
    log(`typed query came out as ${JSON.stringify(current)}; setting it through CodeMirror instead`);
    await page.evaluate((q) => {
      document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
    }, QUERY);
    current = await editorValue('.graphiql-query-editor');
  }
  log(`query editor now holds ${JSON.stringify(current)}`);

  // GraphiQL picks editor changes up asynchronously (debounced): give it a
  // moment, then run with the execute button and check that the request the
  // page sends really carries the edited query.
  await page.waitForTimeout(500);
  const sent = page.waitForRequest(
    (req) => {
      if (req.method() !== 'POST' || new URL(req.url()).pathname !== '/graphql') return false;
      try {
        return JSON.parse(req.postData() || '{}').operationName !== 'IntrospectionQuery';
      } catch {
        return false;
      }
    },
    { timeout: STEP_TIMEOUT_MS },
  );
  const exec = page.locator('button.graphiql-execute-button');
  await exec.waitFor({ state: 'visible' });
  await exec.click();
  log('clicked the execute button');
  const req = await sent;
  const sentQuery = JSON.parse(req.postData() || '{}').query;
  log(`page sent POST ${req.url()} with query ${JSON.stringify(sentQuery)}`);
  if (typeof sentQuery !== 'string' || sentQuery.replace(/\s+/g, ' ').trim() !== QUERY) {
    throw new Error(`the page sent query ${JSON.stringify(sentQuery)}, expected ${JSON.stringify(QUERY)}`);
  }

  try {
    await page.waitForFunction(
      (expected) => {
        const el = document.querySelector('.graphiql-response .CodeMirror');
        const text = el && el.CodeMirror ? el.CodeMirror.getValue() : el ? el.innerText : '';
        return text.includes(expected);
      },
      EXPECTED,
      { timeout: STEP_TIMEOUT_MS },
    );
  } finally {
    summary.result = await editorValue('.graphiql-response').catch(() => null);
  }
  log(`result pane: ${JSON.stringify(summary.result)}`);

  // Let late console errors / stray requests surface before judging.
  await page.waitForTimeout(500);
}

try {
  await run();
  const problems = [];
  if (summary.blocked.length) problems.push(`${summary.blocked.length} non-local request(s) blocked: ${summary.blocked.join(', ')}`);
  if (summary.consoleErrors.length) problems.push(`${summary.consoleErrors.length} console error(s)`);
  if (summary.pageErrors.length) problems.push(`${summary.pageErrors.length} page error(s)`);
  if (problems.length) {
    summary.error = problems.join('; ');
    log(`FAILED: ${summary.error}`);
  } else {
    summary.ok = true;
    log('OK: GraphiQL loaded offline and ran { __typename }');
  }
} catch (err) {
  summary.error = err && err.message ? err.message.split('\n')[0] : String(err);
  log(`FAILED: ${err && err.stack ? err.stack : err}`);
}
await screenshot();
await closeBrowser();
clearTimeout(watchdog);
finish(summary.ok ? 0 : 1);
