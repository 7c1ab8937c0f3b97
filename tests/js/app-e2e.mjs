#!/usr/bin/env node
// End-to-end test of the web app (/app) in Debian's Chromium via
// playwright-core, with every non-loopback request blocked.
//
//   node tests/js/app-e2e.mjs http://127.0.0.1:PORT SCREENSHOT_DIR
//
// Driven by tests/api/frontend.rs, which restarts the server on request
// through a line protocol (this script writes, the Rust test answers on stdin):
//   @@stop            → server stopped; a second instance on the same database
//                       answers "away <baseUrl>" so a change can be made while
//                       the page is disconnected
//   @@restart         → that instance stopped, the app restarted on the
//                       original port; answers "back"
//   @@code <email>    → answers "code <code>": a fresh email verification
//                       code of that account (what its email would carry)
//
// Checks: two contexts signed in as one user see each other's additions and
// completions within a second; a third user sees none of it (and pages with
// "Load more"); editing and setting a due date; the email verification
// banner (a wrong code, send again) and the `/app#verify=<code>` link opened
// in a new tab; after the restart the page reconnects and shows the change
// made while it was away.
//
// Diagnostics go to stderr; the last stdout line is a JSON summary; exit 0 on
// success, 1 on failure.
import { chromium } from 'playwright-core';
import { guardedPage, lineProtocol, start } from './e2e-harness.mjs';

const WHOLE_RUN_TIMEOUT_MS = 150_000;
const STEP_TIMEOUT_MS = 15_000;
const LIVE_WITHIN_MS = 1_000;
const { base, summary, log, finish, step, shot } = start('app-e2e.mjs', { timings: {}, refreshes: 0 });

// Replies from the Rust test, one line each.
const ask = lineProtocol();

let browser = null;
const pages = {};

const shoot = (name, page) => shot(`${name}.png`, page);

async function newPage(name, viewport) {
  const { page } = await guardedPage(browser, {
    summary,
    log,
    viewport,
    timeout: STEP_TIMEOUT_MS,
    label: name,
    // The browser itself logs failed (re)connection attempts while the
    // server is down on purpose; and refused requests during the restart.
    ignore: /WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/,
  });
  // Count token refreshes: with a short ACCESS_TOKEN_TTL_SECS the run must
  // go through some without the user noticing.
  // A reload while a refresh is in flight loses the rotated token (the
  // server then sees the old one again and revokes the session, by design):
  // reloads wait for in-flight refreshes, as a user's would not need to
  // with the default 15-minute tokens.
  page.refreshesInFlight = new Set();
  const isRefresh = (req) => req.method() === 'POST' && (req.postData() ?? '').includes('refreshToken(refreshToken:');
  page.on('request', (req) => {
    if (!isRefresh(req)) return;
    summary.refreshes++;
    page.refreshesInFlight.add(req);
  });
  for (const done of ['requestfinished', 'requestfailed']) page.on(done, (req) => page.refreshesInFlight.delete(req));
  pages[name] = page;
  return page;
}

const item = (page, title) => page.locator('#list li', { hasText: title });
const live = (page) => page.locator('#connection[data-state="live"]').waitFor();

/** Reloads once no token refresh is in flight (see newPage). */
async function reload(page) {
  for (let i = 0; i < 200; i++) {
    if (page.refreshesInFlight.size === 0) {
      // Give the page a moment to store a token that has just arrived.
      await page.waitForTimeout(100);
      if (page.refreshesInFlight.size === 0) break;
    }
    await page.waitForTimeout(25);
  }
  await page.reload();
}

async function signUp(page, name, email, password) {
  await page.goto(new URL('/app', base).toString());
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.getByRole('textbox', { name: 'Name (optional)' }).fill(name);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Inbox' }).waitFor();
}

async function signIn(page, email, password) {
  await page.goto(new URL('/app', base).toString());
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password').fill(password);
  // Keyboard only: Enter submits.
  await page.getByLabel('Password').press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Inbox' }).waitFor();
}

async function addTodo(page, title, due) {
  await page.getByLabel('New todo').fill(title);
  if (due) await page.getByLabel('Due').first().fill(due);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await item(page, title).waitFor();
}

/** A `datetime-local` value `days` from now at `hh:mm` (UTC, the contexts' zone). */
function localDay(days, hhmm) {
  const d = new Date(Date.now() + days * 86_400_000);
  return `${d.toISOString().slice(0, 10)}T${hhmm}`;
}

async function gqlAt(baseUrl, query, variables, token) {
  const res = await fetch(new URL('/graphql', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(`${query.slice(0, 40)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function run() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: STEP_TIMEOUT_MS,
  });
  const stamp = Date.now().toString(36);
  const alice = { name: 'Alice', email: `alice.${stamp}@example.com`, password: 'correct horse battery' };
  const bob = { name: 'Bob', email: `bob.${stamp}@example.com`, password: 'another good password' };

  step('sign up in the first context');
  const a1 = await newPage('alice-desktop', { width: 1280, height: 800 });
  await a1.goto(new URL('/', base).toString());
  if (new URL(a1.url()).pathname !== '/app') throw new Error(`/ led to ${a1.url()}, expected /app`);
  await a1.getByRole('heading', { name: 'Welcome back' }).waitFor();
  await shoot('01-sign-in', a1);
  await signUp(a1, alice.name, alice.email, alice.password);
  await live(a1);
  // A new account is unverified: the banner asks for the emailed code.
  await a1.getByRole('heading', { name: 'Verify your email' }).waitFor();
  await a1.locator('#verify-email', { hasText: alice.email }).waitFor();
  await shoot('02-empty', a1);

  step('sign in as the same user in a second (phone-sized) context');
  const a2 = await newPage('alice-phone', { width: 390, height: 844 });
  await signIn(a2, alice.email, alice.password);
  await live(a2);

  step('a third context as another user');
  const b = await newPage('bob', { width: 1024, height: 768 });
  await signUp(b, bob.name, bob.email, bob.password);
  await live(b);

  step('a todo added in one context appears in the other within a second');
  const title = 'Buy oat milk';
  await a1.getByLabel('New todo').fill(title);
  await a1.getByLabel('Due').first().fill(localDay(1, '17:30'));
  let t0 = Date.now();
  await a1.getByLabel('New todo').press('Enter');
  await item(a2, title).waitFor({ timeout: LIVE_WITHIN_MS + 500 });
  summary.timings.addedSeenInOtherMs = Date.now() - t0;
  if (summary.timings.addedSeenInOtherMs > LIVE_WITHIN_MS) throw new Error(`the new todo took ${summary.timings.addedSeenInOtherMs} ms to show in the other context`);
  const dueShown = await item(a1, title).locator('.due').innerText();
  if (!/^Due tomorrow, 5:30/.test(dueShown)) throw new Error(`due date shows as "${dueShown}"`);

  step('completing it in the second shows in the first');
  t0 = Date.now();
  await a2.getByRole('checkbox', { name: `Completed: ${title}` }).check();
  await a1.locator('#list li.done', { hasText: title }).waitFor({ timeout: LIVE_WITHIN_MS + 500 });
  summary.timings.completedSeenInOtherMs = Date.now() - t0;
  if (summary.timings.completedSeenInOtherMs > LIVE_WITHIN_MS) throw new Error(`completion took ${summary.timings.completedSeenInOtherMs} ms to show`);
  if (!(await a1.getByRole('checkbox', { name: `Completed: ${title}` }).isChecked())) throw new Error('checkbox not checked in the first context');

  step('more todos, an edit with a due date, and the main screenshots');
  await addTodo(a1, 'Book dentist appointment', localDay(-1, '09:00'));
  await addTodo(a1, 'Renew passport', localDay(20, '12:00'));
  await addTodo(a1, 'Write quarterly report');
  await addTodo(a1, 'Call Grandma');
  // Edit with the keyboard: focus the edit button, Enter, change, Enter.
  await a1.getByRole('button', { name: 'Edit “Write quarterly report”' }).focus();
  await a1.keyboard.press('Enter');
  const editTitle = a1.getByLabel('Title');
  await editTitle.waitFor();
  if (!(await editTitle.evaluate((e) => e === document.activeElement))) throw new Error('the editor did not take focus');
  await editTitle.fill('Write Q4 report');
  await a1.locator('#list li.editing').getByLabel('Due').fill(localDay(0, '23:00'));
  await shoot('03-editing', a1);
  await editTitle.press('Enter');
  await item(a2, 'Write Q4 report').waitFor({ timeout: LIVE_WITHIN_MS + 500 });
  await a1.locator('#list li.editing').waitFor({ state: 'detached' });
  await item(a2, 'Call Grandma').waitFor();
  await a1.getByRole('button', { name: 'Add', exact: true }).focus(); // show a focus ring
  await shoot('04-list-desktop', a1);
  await shoot('05-list-phone', a2);

  step('the other user sees nothing of it, and pages with Load more');
  await b.waitForTimeout(300);
  if ((await b.locator('#list li').count()) !== 0) throw new Error(`the other user sees ${await b.locator('#list li').count()} todos`);
  if (!(await b.getByText('Nothing to do').isVisible())) throw new Error('the other user does not see the empty state');
  const bobSession = await gqlAt(base, 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }', { i: { email: bob.email, password: bob.password } });
  for (let i = 1; i <= 23; i++) {
    await gqlAt(base, 'mutation($i: CreateTodoInput!) { createTodo(input: $i) { id } }', { i: { title: `Bob's task ${i}` } }, bobSession.login.accessToken);
  }
  await reload(b);
  await item(b, "Bob's task 23").waitFor();
  if ((await b.locator('#list li').count()) !== 20) throw new Error(`first page shows ${await b.locator('#list li').count()} todos, expected 20`);
  await b.getByRole('button', { name: 'Load more' }).click();
  await b.locator('#list li').nth(22).waitFor();
  const bobCount = await b.locator('#list li').count();
  if (bobCount !== 23) throw new Error(`after Load more: ${bobCount} todos, expected 23`);
  if (await b.getByRole('button', { name: 'Load more' }).isVisible()) throw new Error('Load more still shown after the last page');
  if ((await b.locator('#list li', { hasText: 'oat milk' }).count()) !== 0) throw new Error("Bob sees Alice's todo");

  step('email verification: a wrong code, send again, then the link from the email');
  await b.getByLabel('Verification code').fill('AAAAA-AAAAA');
  await b.getByRole('button', { name: 'Verify', exact: true }).click();
  await b.locator('#verify-error', { hasText: 'wrong, used or expired' }).waitFor();
  await b.getByRole('button', { name: 'Send again' }).click();
  await b.locator('#verify-status', { hasText: 'We sent a new code' }).waitFor();
  await shoot('05b-verify-banner', b);
  const code = (await ask(`code ${bob.email}`)).replace(/^code /, '');
  // As from a mail client: a new tab of the same browser, already signed in.
  const link = await b.context().newPage();
  link.on('pageerror', (err) => summary.pageErrors.push(`bob-link: ${err?.stack || err?.message || String(err)}`));
  link.on('console', (msg) => {
    if (msg.type() === 'error') summary.consoleErrors.push(`bob-link: ${msg.text()}`);
  });
  await link.goto(new URL(`/app#verify=${code}`, base).toString());
  await link.getByText('Your email address is verified.').waitFor();
  if (!(await link.locator('#verify-banner').isHidden())) throw new Error('the banner stays after verifying');
  if (new URL(link.url()).hash !== '') throw new Error(`the code stays in the address: ${link.url()}`);
  await shoot('05c-verified', link);
  await link.close();

  step('server restart: the page reconnects and shows what changed meanwhile');
  const away = await ask('stop');
  const awayBase = away.replace(/^away /, '');
  await a1.locator('#connection:not([data-state="live"])').waitFor({ timeout: 10_000 });
  await shoot('06-offline', a1);
  const session = await gqlAt(awayBase, 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }', { i: { email: alice.email, password: alice.password } });
  await gqlAt(awayBase, 'mutation($i: CreateTodoInput!) { createTodo(input: $i) { id } }', { i: { title: 'Added while you were away' } }, session.login.accessToken);
  const back = await ask('restart');
  if (back !== 'back') throw new Error(`unexpected reply ${back}`);
  t0 = Date.now();
  await item(a1, 'Added while you were away').waitFor({ timeout: 20_000 });
  await live(a1);
  summary.timings.resumedAfterRestartMs = Date.now() - t0;
  await item(a2, 'Added while you were away').waitFor({ timeout: 20_000 });
  // The page was not reloaded: everything else is still there, once.
  const count = await a1.locator('#list li').count();
  if (count !== 6) throw new Error(`after the restart the first context lists ${count} todos, expected 6`);
  await shoot('07-resumed', a1);

  step('delete with the keyboard; it disappears in the other context');
  await a1.getByRole('button', { name: 'Delete “Call Grandma”' }).focus();
  await a1.keyboard.press('Enter');
  await item(a1, 'Call Grandma').waitFor({ state: 'detached' });
  await item(a2, 'Call Grandma').waitFor({ state: 'detached', timeout: LIVE_WITHIN_MS + 500 });
  // Focus stays in the list (on the next todo's checkbox), not on <body>.
  const focused = await a1.evaluate(() => document.activeElement?.className ?? '');
  if (focused !== 'check') throw new Error(`after deleting, focus is on "${focused}"`);

  step('toggle all and clear completed propagate');
  await a2.getByRole('button', { name: 'Mark all complete' }).click();
  await a1.locator('#list li:not(.done)').first().waitFor({ state: 'detached', timeout: 5_000 });
  await a1.getByRole('button', { name: 'Clear completed' }).click();
  await a2.getByText('Nothing to do').waitFor({ timeout: 5_000 });

  step('a reload keeps the session (refresh token in localStorage)');
  await reload(a2);
  await a2.getByRole('heading', { level: 1, name: 'Inbox' }).waitFor();
  await live(a2);
  await addTodo(a1, 'After the reload');
  await item(a2, 'After the reload').waitFor({ timeout: LIVE_WITHIN_MS + 500 });

  step('sign out');
  await a1.getByRole('button', { name: 'Sign out' }).click();
  await a1.getByRole('heading', { name: 'Welcome back' }).waitFor();
  await reload(a1);
  await a1.getByRole('heading', { name: 'Welcome back' }).waitFor();
  await a2.waitForTimeout(300);
}

const watchdog = setTimeout(async () => {
  summary.error = `whole run exceeded ${WHOLE_RUN_TIMEOUT_MS} ms (at step: ${summary.step})`;
  log(summary.error);
  finish(1);
}, WHOLE_RUN_TIMEOUT_MS);

try {
  await run();
  const problems = [];
  if (summary.blocked.length) problems.push(`non-local requests: ${summary.blocked.join(', ')}`);
  if (summary.consoleErrors.length) problems.push(`console errors: ${summary.consoleErrors.join(' | ')}`);
  if (summary.pageErrors.length) problems.push(`page errors: ${summary.pageErrors.join(' | ')}`);
  if (problems.length) summary.error = problems.join('; ');
  else summary.ok = true;
} catch (err) {
  summary.error = `${summary.step}: ${err?.message?.split('\n')[0] ?? err}`;
  log(`FAILED: ${err?.stack ?? err}`);
  for (const [name, page] of Object.entries(pages)) await shoot(`failure-${name}`, page).catch(() => {});
}
clearTimeout(watchdog);
if (browser) await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
finish(summary.ok ? 0 : 1);
