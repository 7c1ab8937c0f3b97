#!/usr/bin/env node
// Unit tests of the web app's todo store (static/app/store.js, a module
// with no imports): how queued offline writes are laid over the server's
// copy, and which copies a deleted todo accepts again (restores).
//
//   node tests/js/store-unit.mjs
//
// Run by tests/api/frontend.rs. Prints one JSON summary line
// ({"ok":bool,"passed":n,"failed":[names]}); exit 0 iff every case passes.
import assert from 'node:assert/strict';
import { TodoStore } from '../../static/app/store.js';

const results = { ok: false, passed: 0, failed: [] };
function test(name, fn) {
  try {
    fn();
    results.passed++;
  } catch (err) {
    results.failed.push(name);
    console.error(`store-unit.mjs: ${name}: ${err.message}`);
  }
}

const todo = (id, extra = {}) => ({ id, title: id, completed: false, dueAt: null, version: 1, position: `a${id}`, ...extra });

/** A store of list L holding `todos`, with `ops` as the offline queue. */
function storeWith(todos, ops = []) {
  const store = new TodoStore(() => {}, () => ops);
  store.reset('L');
  store.addPage({ nodes: todos, pageInfo: { hasNextPage: false, endCursor: null } });
  return store;
}
const titles = (store) => store.list().map((t) => t.title);

test('queued creates go first, newest on top, marked pending', () => {
  const ops = [
    { kind: 'create', listId: 'L', todoId: 'n1', todo: todo('n1', { title: 'first new', version: 0, position: '' }) },
    { kind: 'create', listId: 'L', todoId: 'n2', todo: todo('n2', { title: 'second new', version: 0, position: '' }) },
  ];
  const store = storeWith([todo('1'), todo('2')], ops);
  assert.deepEqual(titles(store), ['second new', 'first new', '1', '2']);
  assert.equal(store.list()[0].pending, true);
  assert.equal(store.list()[2].pending, undefined);
});

test("another list's queued writes are not shown", () => {
  const ops = [{ kind: 'create', listId: 'M', todoId: 'x', todo: todo('x') }, { kind: 'delete', listId: 'M', todoId: '1' }];
  assert.deepEqual(titles(storeWith([todo('1')], ops)), ['1']);
});

test('a queued update shows its fields over the server copy; the copy itself is untouched', () => {
  const ops = [{ kind: 'update', listId: 'L', todoId: '1', patch: { completed: true, title: 'renamed' } }];
  const store = storeWith([todo('1')], ops);
  assert.deepEqual(store.list()[0], { ...todo('1'), completed: true, title: 'renamed', pending: true });
  assert.equal(store.byId.get('1').completed, false);
});

test('a queued delete hides; a queued restore after it shows again', () => {
  const ops = [{ kind: 'delete', listId: 'L', todoId: '1' }];
  const store = storeWith([todo('1'), todo('2')], ops);
  assert.deepEqual(titles(store), ['2']);
  ops.push({ kind: 'restore', listId: 'L', todoId: '1', todo: todo('1') });
  assert.deepEqual(titles(store), ['1', '2']);
});

test('mark all and clear completed apply to what is shown', () => {
  const ops = [{ kind: 'toggleAll', listId: 'L', completed: true }];
  const store = storeWith([todo('1'), todo('2', { completed: true })], ops);
  assert.deepEqual(store.list().map((t) => t.completed), [true, true]);
  ops.push({ kind: 'clearCompleted', listId: 'L' });
  assert.deepEqual(titles(store), []);
});

test('a queued create the server already answered is shown once', () => {
  const ops = [{ kind: 'create', listId: 'L', todoId: 'n1', todo: todo('n1', { version: 0 }) }];
  const store = storeWith([], ops);
  store.upsert(todo('n1', { title: 'from the server' }));
  assert.deepEqual(titles(store), ['from the server']);
});

test('a deleted todo refuses copies at its version (a page read before the delete)', () => {
  const store = storeWith([todo('1', { version: 3 })]);
  store.remove('1');
  assert.equal(store.put(todo('1', { version: 3 }), true), false);
  assert.deepEqual(titles(store), []);
});

test('a restore (version + 1) brings a deleted todo back', () => {
  const store = storeWith([todo('1', { version: 3 })]);
  store.remove('1');
  assert.equal(store.put(todo('1', { version: 4 })), true);
  assert.deepEqual(titles(store), ['1']);
});

test("the delete's late DELETED event after the restore: its CREATED event shows it again", () => {
  const store = storeWith([todo('1', { version: 3 })]);
  store.remove('1'); // the delete's answer
  store.upsert(todo('1', { version: 4 })); // the restore's answer
  store.apply({ kind: 'DELETED', todoId: '1', listId: 'L' }); // late
  assert.deepEqual(titles(store), []);
  store.apply({ kind: 'CREATED', todoId: '1', listId: 'L', todo: todo('1', { version: 4 }) });
  assert.deepEqual(titles(store), ['1']);
});

test('a second DELETED of an unknown todo keeps the version it was deleted at', () => {
  const store = storeWith([todo('1', { version: 2 })]);
  store.remove('1');
  store.apply({ kind: 'DELETED', todoId: '1', listId: 'L' });
  assert.equal(store.deleted.get('1'), 2);
  assert.equal(store.put(todo('1', { version: 3 })), true);
});

test('a todo deleted before this page knew it comes back only with a CREATED event', () => {
  const store = storeWith([]);
  store.apply({ kind: 'DELETED', todoId: '9', listId: 'L' });
  assert.equal(store.put(todo('9', { version: 5 }), true), false);
  assert.equal(store.apply({ kind: 'CREATED', todoId: '9', listId: 'L', todo: todo('9', { version: 6 }) }), true);
});

results.ok = results.failed.length === 0;
console.log(JSON.stringify(results));
process.exit(results.ok ? 0 : 1);
