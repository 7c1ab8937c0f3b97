// What the browser tests (app-e2e.mjs, sharing-e2e.mjs, offline-e2e.mjs)
// share: their command line and JSON summary, steps and screenshots, the
// line protocol to the Rust test that drives them, polling, and Chromium
// pages whose every non-loopback request is blocked.
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/**
 * Reads `<baseUrl> <screenshotDir>` for `script` and sets up its summary
 * (the common fields plus `extra`), printed as the last stdout line by
 * `finish(code)`, which also exits.
 */
export function start(script, extra = {}) {
  const [baseArg, shotDir] = process.argv.slice(2);
  const summary = {
    ok: false,
    step: null,
    blocked: [],
    consoleErrors: [],
    pageErrors: [],
    screenshots: [],
    ...extra,
    error: null,
  };
  const log = (msg) => console.error(`${script}: ${msg}`);
  let finished = false;
  const finish = (code) => {
    if (finished) return;
    finished = true;
    console.log(JSON.stringify(summary));
    process.exit(code);
  };
  if (!baseArg || !shotDir) {
    summary.error = `usage: node ${script} <baseUrl> <screenshotDir>`;
    log(summary.error);
    finish(1);
  }
  mkdirSync(shotDir, { recursive: true });
  const step = (name) => {
    summary.step = name;
    log(`— ${name}`);
  };
  /** Screenshots `page` to `name` (a file in the screenshot folder). */
  const shot = async (name, page) => {
    const path = join(shotDir, name);
    await page.screenshot({ path, timeout: 5_000 });
    summary.screenshots.push(path);
    log(`screenshot ${path}`);
  };
  return { base: new URL(baseArg), shotDir, summary, log, finish, step, shot };
}

/**
 * The line protocol to the Rust test: `ask(command)` prints `@@command`
 * and resolves with the next line the test writes to stdin.
 */
export function lineProtocol() {
  const replies = [];
  const waiters = [];
  createInterface({ input: process.stdin }).on('line', (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else replies.push(line);
  });
  return (command) => {
    console.log(`@@${command}`);
    return new Promise((resolve) => {
      if (replies.length) resolve(replies.shift());
      else waiters.push(resolve);
    });
  };
}

/** Loopback and in-page URLs: everything else is outside traffic. */
export function isAllowed(urlString) {
  try {
    const u = new URL(urlString);
    return ['data:', 'blob:', 'about:'].includes(u.protocol) || LOCAL_HOSTS.has(u.hostname);
  } catch {
    return false;
  }
}

/**
 * A new context and page of `browser` that block every non-loopback
 * request and WebSocket (recorded in `summary.blocked`) and record console
 * errors (except those matching `ignore`) and page errors, prefixed with
 * `label` when given.
 */
export async function guardedPage(browser, { summary, log, viewport, timeout, label = null, ignore = null }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, locale: 'en-US', timezoneId: 'UTC' });
  context.setDefaultTimeout(timeout);
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isAllowed(url)) return route.continue();
    summary.blocked.push(url);
    log(`BLOCKED ${url}`);
    return route.abort('blockedbyclient');
  });
  await context.routeWebSocket(
    (url) => !isAllowed(url.toString()),
    (ws) => {
      summary.blocked.push(ws.url());
      ws.close({ code: 1008, reason: 'blocked' });
    },
  );
  const page = await context.newPage();
  const tag = (text) => (label ? `${label}: ${text}` : text);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (ignore && ignore.test(text)) return;
    summary.consoleErrors.push(tag(text));
    log(`console error: ${tag(text)}`);
  });
  page.on('pageerror', (err) => {
    // Non-Error rejections (an Event, say) arrive with an empty message.
    const text = err?.stack || err?.message || `${err?.name ?? 'non-Error'} thrown: ${String(err)}`;
    summary.pageErrors.push(tag(text));
    log(`page error: ${tag(text)}`);
  });
  return { context, page };
}

/** Waits until `check()` holds, polling every `pollMs`; returns the milliseconds it took. */
export async function within(ms, what, check, pollMs = 20) {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
