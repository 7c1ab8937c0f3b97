#!/usr/bin/env node
// End-to-end test of lists and sharing in the web app (/app): two people in
// two browser contexts of Debian's Chromium (playwright-core), with every
// non-loopback request blocked.
//
//   node tests/js/sharing-e2e.mjs http://127.0.0.1:PORT SCREENSHOT_DIR
//
// Driven by tests/api/frontend.rs through a line protocol (this script
// writes, the Rust test answers on stdin):
//   @@code <email>    → answers "code <code>": a fresh email verification
//                       code of that account (what its email would carry)
//
// The story: Alice creates "Groceries" and invites Bob as an editor; Bob
// accepts from his invitations inbox; Bob adds a todo and Alice sees it
// within a second; Alice reorders by drag and drop (and with the keyboard)
// and Bob sees the new order; Alice renames the list; Alice makes Bob a
// viewer and his controls become read-only live; Alice removes Bob and the
// list disappears from his sidebar live; Alice deletes the list.
//
// Each state is a pair of screenshots, SCREENSHOT_DIR/NN-alice.png and
// NN-bob.png, captioned in SCREENSHOT_DIR/frames.tsv ("NN<TAB>caption"), from
// which scripts/walkthrough.sh assembles docs/walkthrough.gif.
//
// Diagnostics go to stderr; the last stdout line is a JSON summary; exit 0 on
// success, 1 on failure.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { guardedPage, lineProtocol, start, within } from './e2e-harness.mjs';

const WHOLE_RUN_TIMEOUT_MS = 120_000;
const STEP_TIMEOUT_MS = 15_000;
const LIVE_WITHIN_MS = 1_000;
/** The inbox asks for invitations every 10 s. */
const INBOX_WITHIN_MS = 12_000;
const VIEWPORT = { width: 860, height: 660 };
const { shotDir, base, summary, log, finish, step, shot } = start('sharing-e2e.mjs', { timings: {} });
const framesFile = join(shotDir, 'frames.tsv');
writeFileSync(framesFile, '');

// Replies from the Rust test, one line each.
const ask = lineProtocol();

let browser = null;
const pages = {};
let frameNo = 0;

/** One frame of the walkthrough: both windows as they are now, and a caption. */
async function frame(caption, alice, bob) {
  const nn = String(++frameNo).padStart(2, '0');
  await shot(`${nn}-alice.png`, alice);
  await shot(`${nn}-bob.png`, bob);
  appendFileSync(framesFile, `${nn}\t${caption}\n`);
}

async function newPage(name) {
  const { page } = await guardedPage(browser, { summary, log, viewport: VIEWPORT, timeout: STEP_TIMEOUT_MS, label: name });
  pages[name] = page;
  return page;
}

const item = (page, title) => page.locator('#list li', { hasText: title });
const titles = (page) => page.locator('#list li .title').allInnerTexts();
const sidebarLink = (page, name) => page.locator('#lists .list-link', { hasText: name });
const heading = (page, name) => page.getByRole('heading', { level: 1, name, exact: true });

async function signUpAndVerify(page, person) {
  await page.goto(new URL('/app', base).toString());
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.getByRole('textbox', { name: 'Name (optional)' }).fill(person.name);
  await page.getByLabel('Email', { exact: true }).fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await heading(page, 'Inbox').waitFor();
  await page.locator('#connection[data-state="live"]').waitFor();
  // Invitations need verified addresses on both sides: the code from the email.
  const code = (await ask(`code ${person.email}`)).replace(/^code /, '');
  await page.getByLabel('Verification code').fill(code);
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  await page.locator('#verify-banner').waitFor({ state: 'hidden' });
  await dismissToast(page, 'Your email address is verified.');
}

/** Clicks the toast saying `text` away (unless it went by itself). */
async function dismissToast(page, text) {
  const toast = page.locator('#notice', { hasText: text });
  if (await toast.isVisible()) await toast.click({ timeout: 2_000 }).catch(() => {});
  await page.locator('#notice').waitFor({ state: 'hidden' });
}

async function addTodo(page, title, due) {
  await page.getByLabel('New todo').fill(title);
  if (due) await page.getByLabel('Due').first().fill(due);
  await page.getByLabel('New todo').press('Enter');
  await item(page, title).waitFor();
}

/** Drags the todo `title` by its handle onto the place of the todo `onto`. */
async function dragTodo(page, title, onto, whileHeld) {
  await page.locator('#list').scrollIntoViewIfNeeded();
  const grip = await item(page, title).locator('.grip').boundingBox();
  const target = await item(page, onto).boundingBox();
  await page.mouse.move(grip.x + grip.width / 2, grip.y + grip.height / 2);
  await page.mouse.down();
  const y = target.y + (target.y < grip.y ? 4 : target.height - 4);
  await page.mouse.move(grip.x + grip.width / 2, y, { steps: 12 });
  await whileHeld?.();
  await page.mouse.up();
}

async function shareDialog(page) {
  await page.getByRole('button', { name: /^(Share|Members)$/ }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  return dialog;
}

async function run() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: STEP_TIMEOUT_MS,
  });
  const alice = { name: 'Alice Martin', email: 'alice@example.com', password: 'correct horse battery' };
  const bob = { name: 'Bob Chen', email: 'bob@example.com', password: 'another good password' };

  step('Alice and Bob sign up in two browser contexts and verify their email');
  const a = await newPage('alice');
  const b = await newPage('bob');
  await signUpAndVerify(a, alice);
  await signUpAndVerify(b, bob);
  await addTodo(b, 'Call the plumber');

  step('Alice creates "Groceries" and fills it');
  await a.getByRole('button', { name: 'New list' }).click();
  await a.getByLabel('Name of the new list').fill('Groceries');
  await a.getByLabel('Name of the new list').press('Enter');
  await heading(a, 'Groceries').waitFor();
  if ((await sidebarLink(a, '').first().innerText()).trim() !== 'Inbox') throw new Error('the default list is not first in the sidebar');
  for (const title of ['Coffee beans', 'Apples', 'Sourdough bread']) await addTodo(a, title);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  await addTodo(a, 'Oat milk', `${tomorrow}T09:00`);
  await item(a, 'Oat milk').locator('.due', { hasText: 'Due tomorrow, 9:00' }).waitFor();
  await a.getByLabel('New todo').blur();
  await frame('Alice creates a list, “Groceries”. Bob is in his own Inbox.', a, b);

  step('Alice invites Bob as an editor');
  const dialog = await shareDialog(a);
  await dialog.getByLabel('Invite by email').fill(bob.email);
  await dialog.getByLabel('Role', { exact: true }).selectOption('EDITOR');
  await dialog.getByRole('button', { name: 'Invite' }).click();
  await dialog.getByText('Invitation sent to bob@example.com').waitFor();
  await dialog.locator('#pending-list li', { hasText: bob.email }).waitFor();
  await frame('Alice shares it: she invites bob@example.com as an editor.', a, b);

  step("the invitation reaches Bob's inbox");
  summary.timings.invitationSeenMs = await within(INBOX_WITHIN_MS, "the invitation in Bob's inbox", () =>
    b.locator('#invitation-list li', { hasText: 'Groceries' }).isVisible(),
  );
  await frame('The invitation appears in Bob’s inbox.', a, b);

  step('Bob accepts; Alice sees him join, live');
  await b.getByRole('button', { name: 'Accept the invitation to “Groceries”' }).click();
  await heading(b, 'Groceries').waitFor();
  await b.locator('#role-badge', { hasText: 'Editor' }).waitFor();
  await item(b, 'Oat milk').waitFor();
  await sidebarLink(b, 'Groceries').waitFor();
  summary.timings.joinSeenByOwnerMs = await within(2_000, 'Bob in Alice’s member list', () =>
    dialog.locator('#member-list li', { hasText: 'Bob Chen' }).isVisible(),
  );
  if (await dialog.locator('#pending-list li', { hasText: bob.email }).isVisible()) throw new Error('the invitation stays pending after Bob joined');
  await frame('Bob accepts: “Groceries” is in his sidebar, and Alice sees him join.', a, b);
  await dismissToast(b, 'You joined “Groceries” as editor.');
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'hidden' });

  step('Bob adds a todo; Alice sees it within a second');
  await b.getByLabel('New todo').fill('Dish soap');
  const t0 = Date.now();
  await b.getByLabel('New todo').press('Enter');
  await item(a, 'Dish soap').waitFor({ timeout: LIVE_WITHIN_MS + 500 });
  summary.timings.addedSeenByOwnerMs = Date.now() - t0;
  if (summary.timings.addedSeenByOwnerMs > LIVE_WITHIN_MS) throw new Error(`Bob's todo took ${summary.timings.addedSeenByOwnerMs} ms to reach Alice`);
  await item(a, 'Dish soap').locator('.by', { hasText: 'Added by Bob Chen' }).waitFor();
  await b.getByLabel('New todo').blur();
  await frame('Bob adds “Dish soap”; it appears for Alice within a second.', a, b);

  step('Alice drags "Coffee beans" to the top; Bob sees the new order');
  const before = await titles(a);
  if (before[0] !== 'Dish soap' || before.at(-1) !== 'Coffee beans') throw new Error(`unexpected order ${before}`);
  await dragTodo(a, 'Coffee beans', 'Dish soap', () => frame('Alice drags “Coffee beans” to the top of the list…', a, b));
  const wanted = ['Coffee beans', 'Dish soap', 'Oat milk', 'Sourdough bread', 'Apples'];
  summary.timings.reorderSeenByOtherMs = await within(LIVE_WITHIN_MS + 1_000, 'the new order in Bob’s window', async () =>
    (await titles(b)).join() === wanted.join(),
  );
  if ((await titles(a)).join() !== wanted.join()) throw new Error(`after the drag Alice sees ${await titles(a)}`);
  await frame('…and Bob sees the new order at once.', a, b);

  step('a move with the keyboard: focus the handle, arrow down');
  await item(a, 'Coffee beans').locator('.grip').focus();
  await a.keyboard.press('ArrowDown');
  const afterKey = ['Dish soap', 'Coffee beans', 'Oat milk', 'Sourdough bread', 'Apples'];
  await within(3_000, 'the keyboard move in Bob’s window', async () => (await titles(b)).join() === afterKey.join());
  const focused = await a.evaluate(() => document.activeElement?.getAttribute('aria-label'));
  if (focused !== 'Move “Coffee beans”') throw new Error(`after a keyboard move the focus is on ${focused}`);
  if (!(await a.locator('#reorder-status').innerText()).includes('position 2 of 5')) throw new Error('the move was not announced');
  // Bob, as an editor, can reorder too.
  await item(b, 'Coffee beans').locator('.grip').focus();
  await b.keyboard.press('ArrowUp');
  await within(3_000, 'Bob’s keyboard move in Alice’s window', async () => (await titles(a)).join() === wanted.join());
  await b.locator('#list .grip:focus').blur();
  await a.reload();
  await heading(a, 'Groceries').waitFor();
  await item(a, 'Apples').waitFor();
  if ((await titles(a)).join() !== wanted.join()) throw new Error(`after a reload the order is ${await titles(a)}`);
  // The README's still: Alice's shared list in a larger window.
  await item(a, 'Dish soap').locator('.check').check();
  await item(b, 'Dish soap').locator('.check:checked').waitFor();
  await a.setViewportSize({ width: 1280, height: 800 });
  await a.locator('#counts', { hasText: '1 done' }).waitFor();
  await shot(join(shotDir, 'app.png'), a);
  await a.setViewportSize(VIEWPORT);

  step('Alice renames the list; Bob sees the new name');
  await a.getByRole('button', { name: 'Rename list' }).click();
  await a.getByLabel('List name', { exact: true }).fill('Groceries for Saturday');
  await a.getByLabel('List name', { exact: true }).press('Enter');
  await heading(a, 'Groceries for Saturday').waitFor();
  await heading(b, 'Groceries for Saturday').waitFor({ timeout: 2_000 });
  await sidebarLink(b, 'Groceries for Saturday').waitFor();
  await a.locator('#rename-button').blur();
  await frame('Alice renames the list; Bob’s header and sidebar follow.', a, b);

  step("Alice makes Bob a viewer; Bob's controls become read-only, live");
  const dialog2 = await shareDialog(a);
  await dialog2.getByLabel('Role of Bob Chen').selectOption('VIEWER');
  const t2 = Date.now();
  await b.locator('#readonly-note').waitFor({ timeout: 2_000 });
  summary.timings.readOnlySeenMs = Date.now() - t2;
  await b.locator('#role-badge', { hasText: 'Viewer' }).waitFor();
  if (await b.getByLabel('New todo').isVisible()) throw new Error('a viewer still sees the new todo form');
  if (!(await b.getByRole('checkbox', { name: 'Completed: Oat milk' }).isDisabled())) throw new Error("a viewer's checkbox is enabled");
  if (await b.getByRole('button', { name: 'Delete “Oat milk”' }).isVisible()) throw new Error('a viewer sees a delete button');
  if (await b.getByRole('button', { name: 'Move “Oat milk”' }).isVisible()) throw new Error('a viewer sees a move handle');
  if (await b.getByRole('button', { name: 'Rename list' }).isVisible()) throw new Error('a viewer may rename');
  if (await b.getByRole('button', { name: 'Mark all complete' }).isVisible()) throw new Error('a viewer sees Mark all complete');
  await within(2_000, 'Bob as a viewer in Alice’s dialog', async () => (await dialog2.getByLabel('Role of Bob Chen').inputValue()) === 'VIEWER');
  await frame('Alice makes Bob a viewer: his window turns read-only, live.', a, b);

  step('a viewer still sees changes live');
  await dialog2.getByRole('button', { name: 'Done' }).click();
  await addTodo(a, 'Parmesan');
  await item(b, 'Parmesan').waitFor({ timeout: LIVE_WITHIN_MS + 500 });

  step("Alice removes Bob; the list disappears from Bob's sidebar, live");
  const dialog3 = await shareDialog(a);
  await dialog3.getByRole('button', { name: 'Remove Bob Chen' }).click();
  const confirm = a.locator('#confirm-dialog');
  await confirm.getByRole('button', { name: 'Remove' }).click();
  const t3 = Date.now();
  await sidebarLink(b, 'Groceries').waitFor({ state: 'detached', timeout: 2_000 });
  summary.timings.removalSeenMs = Date.now() - t3;
  await heading(b, 'Inbox').waitFor();
  await item(b, 'Call the plumber').waitFor();
  await b.getByText('You no longer have access to “Groceries for Saturday”').waitFor();
  await dialog3.locator('#member-list li').nth(1).waitFor({ state: 'detached' });
  await frame('Alice removes Bob: the list leaves his sidebar at once.', a, b);

  step('Alice deletes the list');
  await dialog3.getByRole('button', { name: 'Done' }).click();
  await a.getByRole('button', { name: 'Delete list' }).click();
  await confirm.getByRole('button', { name: 'Delete list' }).click();
  await heading(a, 'Inbox').waitFor();
  await sidebarLink(a, 'Groceries').waitFor({ state: 'detached' });
  if ((await a.locator('#lists li').count()) !== 1) throw new Error('Alice still has more than her Inbox');
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
  for (const [name, page] of Object.entries(pages)) await shot(join(shotDir, `failure-${name}.png`), page).catch(() => {});
}
clearTimeout(watchdog);
if (browser) await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
finish(summary.ok ? 0 : 1);
