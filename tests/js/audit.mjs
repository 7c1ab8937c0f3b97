#!/usr/bin/env node
// GraphQL-over-HTTP conformance audit of a running server, using the audits
// shipped by graphql-http (serverAudits).
//
//   node tests/js/audit.mjs http://127.0.0.1:41234/graphql
//
// Every audit is run (one after another). Each failing audit is printed to
// stderr as "<LEVEL> <id> <name>: <reason>". The last line on stdout is a
// one-line JSON summary:
//   {"must":{"passed":X,"total":Y},"should":{...},"may":{...},"failed":[ids...]}
// Exit code: 0 if every MUST audit passed, 1 if any MUST audit failed (or the
// audit could not run at all, e.g. bad arguments).

import { serverAudits } from 'graphql-http';

const PER_REQUEST_TIMEOUT_MS = 10_000;
const WHOLE_RUN_TIMEOUT_MS = 120_000;

function usage(msg) {
  if (msg) console.error(`audit.mjs: ${msg}`);
  console.error('usage: node audit.mjs <graphqlUrl>   (e.g. http://127.0.0.1:41234/graphql)');
  console.log(JSON.stringify({ ok: false, error: msg || 'usage' }));
  process.exit(1);
}

const url = process.argv[2];
if (!url) usage('missing <graphqlUrl>');
try {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') usage(`not an http(s) URL: ${url}`);
} catch {
  usage(`invalid URL: ${url}`);
}

const watchdog = setTimeout(() => {
  console.error(`audit.mjs: whole run exceeded ${WHOLE_RUN_TIMEOUT_MS} ms, giving up`);
  console.log(JSON.stringify({ ok: false, error: 'timeout' }));
  process.exit(1);
}, WHOLE_RUN_TIMEOUT_MS);
watchdog.unref();

// Same as global fetch, but every request is bounded in time.
const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, signal: init.signal ?? AbortSignal.timeout(PER_REQUEST_TIMEOUT_MS) });

function levelOf(name) {
  if (name.startsWith('MUST')) return 'must';
  if (name.startsWith('SHOULD')) return 'should';
  return 'may';
}

async function bodySnippet(response) {
  if (!response || typeof response.clone !== 'function') return '';
  try {
    const text = await response.clone().text();
    const oneLine = text.replace(/\s+/g, ' ').trim();
    return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
  } catch {
    return ''; // body already consumed by the audit
  }
}

const summary = {
  must: { passed: 0, total: 0 },
  should: { passed: 0, total: 0 },
  may: { passed: 0, total: 0 },
  failed: [],
};

const audits = serverAudits({ url, fetchFn });
console.error(`audit.mjs: running ${audits.length} graphql-http server audits against ${url}`);

for (const a of audits) {
  const level = levelOf(a.name);
  summary[level].total += 1;
  let result;
  try {
    result = await a.fn();
  } catch (err) {
    // graphql-http treats anything that is not an assertion failure as fatal
    // (e.g. connection refused, timeout); count it as a failure of this audit.
    const cause = err && err.cause ? ` (cause: ${err.cause.code || err.cause.message || err.cause})` : '';
    result = {
      id: a.id,
      name: a.name,
      status: 'fatal',
      reason: `audit threw: ${err && err.message ? err.message : String(err)}${cause}`,
    };
  }
  if (result.status === 'ok') {
    summary[level].passed += 1;
    continue;
  }
  summary.failed.push(a.id);
  const res = result.response;
  const status = res && typeof res.status === 'number' ? ` [HTTP ${res.status}` +
    `${res.headers && res.headers.get('content-type') ? `, ${res.headers.get('content-type')}` : ''}]` : '';
  const body = await bodySnippet(res);
  console.error(
    `${level.toUpperCase()} ${a.id} ${a.name}: ${result.reason}${status}${body ? `\n    body: ${body}` : ''}`,
  );
}

const mustFailed = summary.must.passed !== summary.must.total;
console.error(
  `audit.mjs: MUST ${summary.must.passed}/${summary.must.total}, ` +
    `SHOULD ${summary.should.passed}/${summary.should.total}, ` +
    `MAY ${summary.may.passed}/${summary.may.total} passed` +
    (mustFailed ? ' — FAILED (a MUST audit failed)' : ' — OK'),
);
console.log(JSON.stringify(summary));
clearTimeout(watchdog);
process.exitCode = mustFailed ? 1 : 0;
