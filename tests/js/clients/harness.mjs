// Shared by apollo.mjs and urql.mjs: arguments, a recording fetch, and a
// runner that prints one line per case, then a JSON summary as the last
// stdout line, and exits 1 (with the failing cases on stderr) on failure.
import { createHash } from 'node:crypto';

export function args(script) {
  const [base, token] = process.argv.slice(2);
  if (!base || !token) {
    console.error(`usage: node ${script} <baseUrl> <accessToken>`);
    process.exit(2);
  }
  return { base, token, httpUrl: `${base}/graphql`, wsUrl: `${base.replace(/^http/, 'ws')}/graphql` };
}

export const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/**
 * A fetch that records what each request carried: method, operation name,
 * whether the full query text was sent, and the APQ hash.
 */
export function recordingFetch() {
  const requests = [];
  const fetchFn = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url);
    const method = (init.method ?? 'GET').toUpperCase();
    let params = {};
    if (method === 'GET') {
      for (const [k, v] of url.searchParams) params[k] = k === 'extensions' || k === 'variables' ? JSON.parse(v) : v;
    } else if (typeof init.body === 'string') {
      params = JSON.parse(init.body);
    }
    const headers = new Headers(init.headers);
    const res = await fetch(input, init);
    const body = await res.clone().json().catch(() => null);
    requests.push({
      method,
      operationName: params.operationName ?? null,
      withQuery: typeof params.query === 'string' && params.query.length > 0,
      hash: params.extensions?.persistedQuery?.sha256Hash ?? null,
      status: res.status,
      errorCodes: (body?.errors ?? []).map((e) => e.extensions?.code),
      preflightHeader: headers.has('apollo-require-preflight') || headers.has('x-apollo-operation-name'),
    });
    return res;
  };
  return { requests, fetch: fetchFn };
}

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `fn()` is truthy, polling; rejects after `ms`. */
export async function until(what, fn, ms = 5_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A promise with a timeout and a clear message. */
export function within(what, promise, ms = 10_000) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

export async function runCases(library, version, cases, cleanup) {
  const results = {};
  // A library bug that escapes every promise still ends the run with a
  // summary and a clear message.
  const crash = (err) => {
    console.error(`${library}: uncaught: ${err?.stack ?? err}`);
    console.log(JSON.stringify({ ok: false, library, version, results, error: `uncaught: ${err?.message ?? err}` }));
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  let failed = 0;
  const watchdog = setTimeout(() => {
    console.error(`${library}: the whole run exceeded 60 s`);
    console.log(JSON.stringify({ ok: false, library, version, results, error: 'timeout' }));
    process.exit(1);
  }, 60_000);
  for (const [name, fn] of Object.entries(cases)) {
    try {
      const detail = await within(name, Promise.resolve().then(fn), 20_000);
      results[name] = { ok: true, ...(detail ?? {}) };
      console.log(`ok   ${library} ${name}`);
    } catch (err) {
      failed++;
      results[name] = { ok: false, error: err?.message ?? String(err) };
      console.log(`FAIL ${library} ${name}: ${err?.message ?? err}`);
      console.error(`${library} ${name}: ${err?.stack ?? err}`);
    }
  }
  clearTimeout(watchdog);
  await Promise.resolve(cleanup?.()).catch(() => {});
  console.log(JSON.stringify({ ok: failed === 0, library, version, results }));
  // Open sockets or timers must not keep a failed run alive.
  setTimeout(() => process.exit(failed === 0 ? 0 : 1), 100);
}
