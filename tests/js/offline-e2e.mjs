#!/usr/bin/env node
// End-to-end test of the web app offline (/app): one person's page in
// Debian's Chromium (playwright-core, every non-loopback request blocked)
// and their "phone", a second device that talks plain HTTP from this script.
//
//   node tests/js/offline-e2e.mjs http://127.0.0.1:PORT SCREENSHOT_DIR
//
// The story:
//  1. Ann signs up in the page and adds todos while online.
//  2. The page goes offline (context.setOffline(true)): she adds two todos,
//     completes one, deletes one; the page shows them at once and the badge
//     says "Offline — 4 changes waiting". Meanwhile her phone adds a todo and
//     sets a due date on the todo she completed (a field she did not touch).
//  3. Back online. The answer to the first queued create is lost on the way
//     back (the request reaches the server, the page sees a reset): the page
//     resends it with the same Idempotency-Key and gets the kept answer
//     (Idempotent-Replayed: true). The queue drains in order, then the page
//     pulls Query.changes and subscribes again. Both sides converge: the
//     server has each of her changes exactly once (asked over HTTP), her
//     completion and the phone's due date are both kept (a field merge), and
//     her page shows the phone's todo.
//  4. Offline again, one more todo; then a reload while the server is out of
//     reach: the queued write survives in IndexedDB and is sent once the
//     server answers again, once.
//  5. A conflict: offline she renames a todo, the phone renames the same todo;
//     back online the page shows both versions; she keeps hers.
//  6. Undo: she deletes a todo online and takes it back from the snackbar
//     (restoreTodo).
//
// Screenshots go to SCREENSHOT_DIR. Diagnostics go to stderr; the last stdout
// line is a JSON summary; exit 0 on success, 1 on failure.
import { chromium } from 'playwright-core';
import { guardedPage, start, within } from './e2e-harness.mjs';

const WHOLE_RUN_TIMEOUT_MS = 150_000;
const STEP_TIMEOUT_MS = 15_000;
/** The page retries with backoff (at most ~10 s between attempts). */
const RECOVER_WITHIN_MS = 25_000;
const VIEWPORT = { width: 900, height: 720 };
const { base, summary, log, finish, step, shot } = start('offline-e2e.mjs', {
  writes: [],
  answers: [],
  replays: 0,
  lostAnswers: 0,
  pulls: 0,
  conflictDialog: false,
});
const graphqlUrl = new URL('/graphql', base).toString();

/** Waits until `check()` holds, polling. */
const until = (ms, what, check) => within(ms, what, check, 50);

// ---------------------------------------------------------------- the phone (HTTP)

async function gql(token, query, variables = {}) {
  const res = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) throw new Error(`phone: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function phoneLogin(person) {
  const res = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({
      query: 'mutation L($input: LoginInput!) { login(input: $input) { accessToken } }',
      variables: { input: { email: person.email, password: person.password } },
    }),
  });
  const body = await res.json();
  if (!body.data?.login) throw new Error(`phone login: ${JSON.stringify(body)}`);
  return body.data.login.accessToken;
}

const TODOS = 'query T { todos(first: 100) { nodes { id title completed dueAt version } } }';
const serverTodos = async (token) => (await gql(token, TODOS)).todos.nodes;
const byTitle = (todos, title) => todos.filter((t) => t.title === title);

// ---------------------------------------------------------------- the page

let browser = null;
let context = null;
let page = null;

async function openPage() {
  ({ context, page } = await guardedPage(browser, {
    summary,
    log,
    viewport: VIEWPORT,
    timeout: STEP_TIMEOUT_MS,
    // The browser logs the requests that fail while offline on purpose,
    // and the 409 of a key still in use.
    ignore: /ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_RESET|ERR_CONNECTION_REFUSED|ERR_FAILED|WebSocket connection to .* failed|status of 409/,
  }));
  // Every queued write the page sends (it carries an Idempotency-Key), and
  // the pulls of the change feed, in the order they leave.
  page.on('request', (req) => {
    if (req.method() !== 'POST' || !req.url().endsWith('/graphql')) return;
    const body = req.postData() ?? '';
    const op = /^\s*(?:mutation|query)\s+(\w+)/.exec(JSON.parse(body).query ?? '')?.[1] ?? '?';
    const key = req.headers()['idempotency-key'];
    if (key) summary.writes.push({ op, key });
    if (op === 'PullChanges') {
      summary.pulls++;
      summary.writes.push({ op, key: null });
    }
  });
  // The writes the server answered (a write whose answer was lost, or that
  // never got through, has none).
  page.on('response', (res) => {
    const key = res.request().headers()['idempotency-key'];
    if (!key) return;
    const replayed = res.headers()['idempotent-replayed'] === 'true';
    if (replayed) summary.replays++;
    summary.answers.push({ key, status: res.status(), replayed });
  });
}

const item = (title) => page.locator('#list li', { hasText: title });
const badge = () => page.locator('#connection');
const live = () => page.locator('#connection[data-state="live"][data-waiting="0"]').waitFor({ timeout: RECOVER_WITHIN_MS });

async function addTodo(title) {
  await page.getByLabel('New todo').fill(title);
  await page.getByLabel('New todo').press('Enter');
  await item(title).waitFor();
}

/** How many writes the page's IndexedDB outbox holds. */
function storedOutbox() {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open('todoql');
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const count = req.result.transaction('outbox').objectStore('outbox').count();
          count.onsuccess = () => resolve(count.result);
          count.onerror = () => reject(count.error);
        };
      }),
  );
}

async function run() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: STEP_TIMEOUT_MS,
  });
  const ann = { name: 'Ann Offline', email: 'ann@example.com', password: 'trains have tunnels' };

  step('Ann signs up and adds todos online');
  await openPage();
  await page.goto(new URL('/app', base).toString());
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.getByRole('textbox', { name: 'Name (optional)' }).fill(ann.name);
  await page.getByLabel('Email', { exact: true }).fill(ann.email);
  await page.getByLabel('Password').fill(ann.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Inbox' }).waitFor();
  await live();
  for (const title of ['Old note', 'Water plants', 'Call mom', 'Buy milk']) await addTodo(title);
  await live();
  // The counts shown offline are the server's last counts plus the queued
  // writes: wait for the server's to include the four, or a refresh still
  // in flight when the network goes is lost and the offline counts below
  // start from an older figure (seen on a loaded machine).
  await page.locator('#counts', { hasText: '4 to do · 0 done' }).waitFor();
  const phone = await phoneLogin(ann);
  const before = await serverTodos(phone);
  if (before.length !== 4) throw new Error(`expected 4 todos on the server, found ${before.length}`);

  step('offline: add two, complete one, delete one — shown at once, queued');
  await context.setOffline(true);
  await page.locator('#connection[data-state="offline"]').waitFor();
  await addTodo('Offline one');
  await addTodo('Offline two');
  await item('Buy milk').locator('.check').check();
  await item('Old note').getByRole('button', { name: 'Delete “Old note”' }).click();
  await item('Old note').waitFor({ state: 'detached' });
  await page.locator('#snackbar', { hasText: 'Deleted “Old note”' }).waitFor();
  await badge().filter({ hasText: 'Offline — 4 changes waiting' }).waitFor();
  if ((await badge().getAttribute('role')) !== 'status') throw new Error('the offline badge is not a status');
  if (!(await item('Buy milk').locator('.check').isChecked())) throw new Error('the completion is not shown');
  await item('Offline one').and(page.locator('.pending')).waitFor();
  if ((await storedOutbox()) !== 4) throw new Error(`IndexedDB holds ${await storedOutbox()} writes, not 4`);
  await page.locator('#counts', { hasText: '4 to do · 1 done' }).waitFor();
  await page.getByLabel('New todo').blur();
  await shot('01-offline.png', page);

  step("meanwhile the phone adds a todo and sets a due date on 'Buy milk'");
  const milk = byTitle(before, 'Buy milk')[0];
  const due = '2030-01-15T09:00:00Z';
  await gql(phone, 'mutation C($input: CreateTodoInput!) { createTodo(input: $input) { id } }', { input: { title: 'From the phone' } });
  await gql(phone, 'mutation U($id: ID!, $input: UpdateTodoInput!) { updateTodo(id: $id, input: $input) { id } }', {
    id: milk.id,
    input: { dueAt: due, baseVersion: milk.version },
  });

  step('back online; the answer to the first create is lost and resent with its key');
  let dropped = null;
  await context.route('**/graphql', async (route) => {
    const req = route.request();
    const key = req.headers()['idempotency-key'];
    if (!dropped && key && (req.postData() ?? '').includes('createTodo')) {
      dropped = key;
      // The server runs it; the page never hears back.
      await route.fetch();
      summary.lostAnswers++;
      return route.abort('connectionreset');
    }
    return route.fallback();
  });
  const writesBefore = summary.writes.length;
  await context.setOffline(false);
  await live();
  await item('From the phone').waitFor({ timeout: RECOVER_WITHIN_MS });
  await context.unroute('**/graphql');
  if (!dropped) throw new Error('no create was sent after coming back');
  const sent = summary.writes.slice(writesBefore);
  const sentKeys = sent.filter((w) => w.key).map((w) => w.key);
  if (sentKeys.filter((k) => k === dropped).length !== 2) throw new Error(`the lost create was not resent with its key: ${JSON.stringify(sent)}`);
  if (summary.replays < 1) throw new Error('the resent create was not answered as a replay');
  const firstPull = sent.findIndex((w) => w.op === 'PullChanges');
  if (firstPull < 0) throw new Error(`no pull of the change feed after reconnecting: ${JSON.stringify(sent)}`);
  if (sent.slice(firstPull).some((w) => w.key)) throw new Error(`a queued write was sent after the pull: ${JSON.stringify(sent)}`);
  if ((await storedOutbox()) !== 0) throw new Error('the outbox is not empty after the drain');

  step('both sides converge');
  const after = await serverTodos(phone);
  const want = ['Offline two', 'Offline one', 'From the phone', 'Buy milk', 'Call mom', 'Water plants'];
  for (const title of want) {
    const found = byTitle(after, title);
    if (found.length !== 1) throw new Error(`the server has ${found.length} × “${title}”: ${JSON.stringify(after)}`);
  }
  if (after.length !== want.length) throw new Error(`the server has ${after.length} todos: ${after.map((t) => t.title)}`);
  const milkNow = byTitle(after, 'Buy milk')[0];
  if (!milkNow.completed || !milkNow.dueAt?.startsWith('2030-01-15T09:00')) {
    throw new Error(`the merge lost a field of “Buy milk”: ${JSON.stringify(milkNow)}`);
  }
  const trash = (await gql(phone, 'query Tr { trash(first: 20) { nodes { title } } }')).trash.nodes;
  if (trash.map((t) => t.title).join() !== 'Old note') throw new Error(`the trash holds ${JSON.stringify(trash)}`);
  await item('Buy milk').locator('.due', { hasText: 'Jan 15, 2030' }).waitFor();
  const shownTitles = await page.locator('#list li .title').allInnerTexts();
  if (shownTitles.slice().sort().join() !== want.slice().sort().join()) throw new Error(`the page shows ${shownTitles}`);
  if (await page.locator('#list li.pending').count()) throw new Error('todos still marked unsaved');
  await page.locator('#counts', { hasText: '5 to do · 1 done' }).waitFor();
  await page.locator('#snackbar').waitFor({ state: 'hidden' });
  await shot('02-converged.png', page);

  step('offline again, one more todo; a reload while the server is out of reach keeps it');
  await context.setOffline(true);
  await page.locator('#connection[data-state="offline"]').waitFor();
  await addTodo('Survives a reload');
  await badge().filter({ hasText: '1 change waiting' }).waitFor();
  // The page's files load, the API does not answer.
  const unreachable = (route) => route.abort('connectionrefused');
  await context.route('**/graphql', unreachable);
  await context.setOffline(false);
  await page.reload();
  await page.locator('#loading', { hasText: 'Cannot reach the server' }).waitFor();
  if ((await storedOutbox()) !== 1) throw new Error(`after the reload IndexedDB holds ${await storedOutbox()} writes, not 1`);
  await shot('03-reload-unreachable.png', page);
  await context.unroute('**/graphql', unreachable);
  await item('Survives a reload').waitFor({ timeout: RECOVER_WITHIN_MS });
  await live();
  await until(RECOVER_WITHIN_MS, 'the reloaded write on the server', async () => byTitle(await serverTodos(phone), 'Survives a reload').length === 1);
  if (byTitle(await serverTodos(phone), 'Survives a reload').length !== 1) throw new Error('the reloaded write is not there exactly once');

  step('a conflict: the same title changed offline and on the phone');
  const plants = byTitle(await serverTodos(phone), 'Water plants')[0];
  await context.setOffline(true);
  await page.locator('#connection[data-state="offline"]').waitFor();
  await page.getByRole('button', { name: 'Edit “Water plants”' }).click();
  await page.getByLabel('Title').fill('Water the plants on the balcony');
  await page.getByLabel('Title').press('Enter');
  await item('Water the plants on the balcony').waitFor();
  await gql(phone, 'mutation U($id: ID!, $input: UpdateTodoInput!) { updateTodo(id: $id, input: $input) { id } }', {
    id: plants.id,
    input: { title: 'Water plants (and the cactus)', baseVersion: plants.version },
  });
  await context.setOffline(false);
  const dialog = page.getByRole('dialog', { name: 'Which version do you want to keep?' });
  await dialog.waitFor({ timeout: RECOVER_WITHIN_MS });
  summary.conflictDialog = true;
  await dialog.getByRole('cell', { name: 'Water plants (and the cactus)' }).waitFor();
  await dialog.getByRole('cell', { name: 'Water the plants on the balcony' }).waitFor();
  await shot('04-conflict.png', page);
  await dialog.getByRole('button', { name: 'Keep mine' }).click();
  await until(RECOVER_WITHIN_MS, 'my title on the server', async () =>
    byTitle(await serverTodos(phone), 'Water the plants on the balcony').length === 1,
  );
  await item('Water the plants on the balcony').waitFor();
  await live();
  if (await item('(and the cactus)').count()) throw new Error('their title is still shown after keeping mine');

  step('undo a delete from the snackbar (restoreTodo)');
  await item('Call mom').getByRole('button', { name: 'Delete “Call mom”' }).click();
  await item('Call mom').waitFor({ state: 'detached' });
  await live(); // the delete reached the server: the undo must restore it
  const snack = page.locator('#snackbar', { hasText: 'Deleted “Call mom”' });
  await shot('05-undo.png', page);
  await snack.getByRole('button', { name: 'Undo' }).click();
  await item('Call mom').waitFor();
  await until(RECOVER_WITHIN_MS, 'the restored todo on the server', async () => byTitle(await serverTodos(phone), 'Call mom').length === 1);
  await live();
  const trashNow = (await gql(phone, 'query Tr { trash(first: 20) { nodes { title } } }')).trash.nodes;
  if (trashNow.some((t) => t.title === 'Call mom')) throw new Error('the restored todo is still in the trash');
  // The page and the server agree at the end (the restored todo stays
  // after its own answer and the delete's and restore's events).
  await page.locator('#counts', { hasText: '6 to do · 1 done' }).waitFor();
  const finalServer = (await serverTodos(phone)).map((t) => t.title).sort();
  const finalPage = (await page.locator('#list li .title').allInnerTexts()).sort();
  if (finalServer.join() !== finalPage.join()) throw new Error(`the page shows ${finalPage}, the server has ${finalServer}`);
  if (!finalPage.includes('Call mom')) throw new Error('the restored todo is not shown');
  await page.getByLabel('New todo').focus();
  await shot('06-final.png', page);
}

const watchdog = setTimeout(async () => {
  summary.error = `whole run exceeded ${WHOLE_RUN_TIMEOUT_MS} ms (at step: ${summary.step})`;
  log(summary.error);
  if (page) await shot('failure.png', page).catch(() => {});
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
  if (page) await shot('failure.png', page).catch(() => {});
}
clearTimeout(watchdog);
if (browser) await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
finish(summary.ok ? 0 : 1);
