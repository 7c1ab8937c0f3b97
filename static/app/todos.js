// The todos of the selected list: pages in the list's manual order, add,
// edit (title and due date), complete, delete (with undo), mark all, clear
// completed, reordering (reorder.js), and the controls a viewer does not get.
// Every write goes through the offline queue (outbox.js): shown at once,
// sent in order, its answer or refusal applied when it comes; a merge
// conflict is put to the user (conflicts.js).
import * as api from '/app/api.js';
import * as outbox from '/app/outbox.js';
import { resolveConflict } from '/app/conflicts.js';
import { TodoStore } from '/app/store.js';
import { $, attempt, describe, personName, snackbar } from '/app/ui.js';
import { wireReorder } from '/app/reorder.js';

export const TODO_FIELDS = 'id title completed dueAt createdAt version position createdBy { id email displayName }';
const PAGE_SIZE = 20;
const PAGE_QUERY = `query ListTodos($id: ID!, $first: Int!, $after: String) {
  list(id: $id) { id todos(first: $first, after: $after, orderBy: POSITION) {
    nodes { ${TODO_FIELDS} } pageInfo { hasNextPage endCursor } } }
}`;
const COUNTS_QUERY = 'query Counts($id: ID!) { list(id: $id) { id todoCounts { total active completed } } }';

const el = {
  section: $('todos'),
  counts: $('counts'),
  newForm: $('new-todo'),
  newTitle: $('new-title'),
  newDue: $('new-due'),
  newError: $('new-error'),
  readonly: $('readonly-note'),
  toggleAll: $('toggle-all'),
  clearCompleted: $('clear-completed'),
  listError: $('list-error'),
  list: $('list'),
  empty: $('empty'),
  emptyHint: $('empty-hint'),
  loadMore: $('load-more'),
  itemTemplate: $('todo-item'),
  editTemplate: $('todo-edit'),
};

/** The list shown: { id, role, members, … } as lists.js has it. */
let list = null;
let me = null;
/** Called with (listId, counts) after each count refresh (the sidebar shows them). */
let countsListener = () => {};

const store = new TodoStore(scheduleRender, outbox.ops);
outbox.onChange(() => scheduleRender());
const nodes = new Map(); // id → <li>
let editingId = null;
let counts = null;
let renderQueued = false;
const fresh = new Set();

const canWrite = () => Boolean(list) && list.role !== 'VIEWER';

// ---------------------------------------------------------------- helpers

/** `datetime-local` value (local time) → RFC 3339, or null when empty. */
function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : null;
}

/** RFC 3339 → `datetime-local` value in local time. */
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', month: 'short', day: 'numeric' });
const yearFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

/** "Due today, 5:00 PM" and its urgency class. */
function dueText(todo) {
  if (!todo.dueAt) return { text: '', tone: '' };
  const due = new Date(todo.dueAt);
  const now = new Date();
  const startOfDay = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((startOfDay(due) - startOfDay(now)) / 86_400_000);
  let when;
  if (days === 0) when = `today, ${timeFmt.format(due)}`;
  else if (days === 1) when = `tomorrow, ${timeFmt.format(due)}`;
  else if (days === -1) when = `yesterday, ${timeFmt.format(due)}`;
  else if (due.getFullYear() === now.getFullYear()) when = `${dayFmt.format(due)}, ${timeFmt.format(due)}`;
  else when = yearFmt.format(due);
  if (todo.completed) return { text: `Due ${when}`, tone: '' };
  if (due < now) return { text: `Overdue · ${when}`, tone: 'overdue' };
  if (due - now < 86_400_000) return { text: `Due ${when}`, tone: 'soon' };
  return { text: `Due ${when}`, tone: '' };
}

/** "Added by Bob" on a shared list, for todos someone else added. */
function addedBy(todo) {
  if (!todo.createdBy || todo.createdBy.id === me?.id || (list?.members?.length ?? 0) < 2) return '';
  // The pull feed brings only the creator's id (see app.js): the name comes
  // from the list's members.
  const member = list.members.find((m) => m.user.id === todo.createdBy.id)?.user;
  const person = todo.createdBy.email ? todo.createdBy : member;
  return person ? `Added by ${personName(person)}` : '';
}

// ---------------------------------------------------------------- rendering

function scheduleRender(event) {
  if (event && event.kind === 'CREATED') fresh.add(event.todoId);
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    // A drag in progress owns the order on screen; it renders when dropped.
    if (!reorder.dragging()) render();
  });
}

function itemNode(todo) {
  let li = nodes.get(todo.id);
  const editing = editingId === todo.id;
  if (li && li.classList.contains('editing') !== editing) {
    li.remove();
    li = null;
  }
  if (!li) {
    li = (editing ? el.editTemplate : el.itemTemplate).content.firstElementChild.cloneNode(true);
    li.dataset.id = todo.id;
    if (editing) wireEditor(li, todo);
    else wireItem(li);
    nodes.set(todo.id, li);
  }
  if (!editing) fillItem(li, todo);
  if (fresh.delete(todo.id)) li.classList.add('fresh');
  return li;
}

function fillItem(li, todo) {
  li.classList.toggle('done', todo.completed);
  li.classList.toggle('moving', store.pendingMoves.has(todo.id));
  li.classList.toggle('pending', Boolean(todo.pending));
  li.title = todo.pending ? 'Not saved yet: it is sent as soon as the connection allows.' : '';
  const check = li.querySelector('.check');
  check.checked = todo.completed;
  check.disabled = !canWrite();
  check.setAttribute('aria-label', `Completed: ${todo.title}`);
  li.querySelector('.title').textContent = todo.title;
  const due = dueText(todo);
  const dueEl = li.querySelector('.due');
  dueEl.textContent = due.text;
  dueEl.className = `due ${due.tone}`;
  li.querySelector('.by').textContent = addedBy(todo);
  li.querySelector('.grip').setAttribute('aria-label', `Move “${todo.title}”`);
  li.querySelector('.edit').setAttribute('aria-label', `Edit “${todo.title}”`);
  li.querySelector('.delete').setAttribute('aria-label', `Delete “${todo.title}”`);
}

function render() {
  const todos = store.list();
  const wanted = new Set(todos.map((t) => t.id));
  for (const [id, li] of nodes) {
    if (!wanted.has(id)) {
      li.remove();
      nodes.delete(id);
    }
  }
  todos.forEach((todo, i) => {
    const li = itemNode(todo);
    // Only move nodes that are out of place: moving a node drops its focus.
    if (el.list.children[i] !== li) el.list.insertBefore(li, el.list.children[i] ?? null);
  });
  el.empty.hidden = todos.length > 0 || store.hasNextPage || !list;
  el.emptyHint.textContent = !canWrite()
    ? 'New todos appear here as soon as they are added.'
    : (list?.members?.length ?? 0) > 1
      ? 'Add your first todo above; everyone who shares this list sees it at once.'
      : 'Add your first todo above; it shows up on your other devices at once.';
  el.loadMore.hidden = !store.hasNextPage;
  renderCounts();
}

/** The server's counts, plus what the queued writes change among the loaded todos. */
function shownCounts() {
  if (!counts) return null;
  const tally = (todos) => {
    let active = 0;
    let completed = 0;
    for (const t of todos) {
      if (t.completed) completed += 1;
      else active += 1;
    }
    return { active, completed };
  };
  const now = tally(store.view().view.values());
  const server = tally(store.byId.values());
  const active = Math.max(0, counts.active + now.active - server.active);
  const completed = Math.max(0, counts.completed + now.completed - server.completed);
  return { active, completed, total: active + completed };
}

function renderCounts() {
  const now = shownCounts();
  if (!now) {
    el.counts.textContent = '';
    return;
  }
  el.counts.textContent = now.total === 0 ? 'All clear' : `${now.active} to do · ${now.completed} done`;
  el.toggleAll.textContent = now.active > 0 || now.total === 0 ? 'Mark all complete' : 'Mark all active';
  el.toggleAll.disabled = now.total === 0 || !canWrite();
  el.clearCompleted.disabled = now.completed === 0 || !canWrite();
}

/** Shows or hides what only owners and editors may use. */
function renderRole() {
  const writable = canWrite();
  el.section.classList.toggle('readonly', !writable);
  el.newForm.hidden = !writable;
  el.readonly.hidden = writable || !list;
  if (!writable && editingId) editingId = null;
  const { view } = store.view();
  for (const [id, li] of nodes) {
    const todo = view.get(id);
    if (todo && !li.classList.contains('editing')) fillItem(li, todo);
  }
  render();
}

let countsTimer = null;
/** Refreshes the counts of the list shown (soon, and once for a burst of changes). */
export function refreshCounts() {
  clearTimeout(countsTimer);
  const id = list?.id;
  countsTimer = setTimeout(async () => {
    try {
      const data = await api.gql(COUNTS_QUERY, { id });
      if (!data.list) return;
      countsListener(id, data.list.todoCounts);
      if (id !== list?.id) return;
      counts = data.list.todoCounts;
      renderCounts();
    } catch {
      /* shown again on the next change */
    }
  }, 100);
}

async function loadPage() {
  const id = list.id;
  const data = await api.gql(PAGE_QUERY, { id, first: PAGE_SIZE, after: store.endCursor });
  // Switched to another list meanwhile, or lost access to this one (lists.js says so).
  if (id !== list?.id || !data.list) return;
  store.addPage(data.list.todos);
}

function clearNodes() {
  for (const li of nodes.values()) li.remove();
  nodes.clear();
  editingId = null;
}

/** Loads the list shown again from its first page. */
export async function reload() {
  if (!list) return;
  store.reset(list.id);
  clearNodes();
  await attempt(el.listError, loadPage, 'list');
  refreshCounts();
}

/** Shows `next` (a list from lists.js), loading its todos when it is another list. */
export async function show(next, user) {
  me = user;
  const same = list?.id === next.id;
  list = next;
  renderRole();
  if (same) return;
  counts = null;
  el.newError.textContent = '';
  el.listError.textContent = '';
  await reload();
}

/** The list shown changed (renamed, a role or a member changed): redraw. */
export function listChanged(next) {
  if (list?.id !== next.id) return;
  list = next;
  renderRole();
}

export function onCounts(fn) {
  countsListener = fn;
}

/** A TodoEvent of the `changes` feed: applied if it concerns the list shown. */
export function applyEvent(event) {
  const changed = store.apply(event);
  if (changed || event.listId === list?.id) refreshCounts();
}

export function clear() {
  list = null;
  counts = null;
  store.reset(null);
  clearNodes();
  renderRole();
}

export function focusNew() {
  if (canWrite()) el.newTitle.focus();
}

// ---------------------------------------------------------------- writes

const MUTATIONS = {
  create: `mutation Create($input: CreateTodoInput!) { createTodo(input: $input) { ${TODO_FIELDS} } }`,
  update: `mutation Update($id: ID!, $input: UpdateTodoInput!) { updateTodo(id: $id, input: $input) { ${TODO_FIELDS} } }`,
  delete: 'mutation Delete($id: ID!) { deleteTodo(id: $id) }',
  restore: `mutation Restore($id: ID!) { restoreTodo(id: $id) { ${TODO_FIELDS} } }`,
  move: `mutation Move($id: ID!, $input: MoveTodoInput!) { moveTodo(id: $id, input: $input) { ${TODO_FIELDS} } }`,
  toggleAll: 'mutation ToggleAll($c: Boolean!, $list: ID) { toggleAllTodos(completed: $c, listId: $list) }',
  clearCompleted: 'mutation Clear($list: ID) { clearCompletedTodos(listId: $list) }',
};

/** Queues a write (outbox.js), which also shows it; resolves with the queued op. */
async function queue(kind, variables, extra = {}) {
  el.listError.textContent = '';
  try {
    return await outbox.enqueue({ kind, query: MUTATIONS[kind], variables, listId: list.id, ...extra });
  } catch {
    el.listError.textContent = 'This change could not be kept on this device (is storage full?).';
    return null;
  }
}

/** The todo as the user sees it now (queued writes applied). */
const shown = (id) => store.view().view.get(id);

/**
 * The version each of our own writes was answered with, by todo: an update
 * queued before that answer came was made from the same screen, so it is
 * sent on top of it (its `baseVersion` would otherwise name a version that
 * our own earlier write changed, a conflict with ourselves).
 */
const answered = new Map();

outbox.prepare((op) => {
  if (op.kind !== 'update') return op.variables;
  const mine = answered.get(op.todoId);
  const base = mine && mine.seq < op.seq ? Math.max(op.baseVersion, mine.version) : op.baseVersion;
  return { ...op.variables, input: { ...op.variables.input, baseVersion: base } };
});

outbox.onSettled((op, outcome) => {
  if (outcome.errors) {
    refused(op, new api.GraphQLError(outcome.errors));
    return;
  }
  const here = op.listId === list?.id;
  const result = Object.values(outcome.data ?? {})[0];
  switch (op.kind) {
    case 'create':
    case 'update':
    case 'move':
    case 'restore':
      if (result?.version !== undefined) answered.set(op.todoId, { seq: op.seq, version: result.version });
      if (here && result) store.upsert(result);
      if (op.kind === 'move') store.settle(op.todoId, op.to);
      break;
    case 'delete':
      if (here) store.remove(op.todoId);
      break;
    case 'toggleAll':
      // Shown at once; the events that follow carry the new versions.
      if (here) for (const t of store.byId.values()) if (t.completed !== op.completed) store.byId.set(t.id, { ...t, completed: op.completed });
      break;
    case 'clearCompleted':
      if (here) for (const t of [...store.byId.values()]) if (t.completed) store.remove(t.id);
      break;
    default:
      break;
  }
  scheduleRender();
  refreshCounts();
});

/** The server refused a queued write: it did nothing; say so and show what is there. */
async function refused(op, err) {
  if (op.kind === 'move') store.settle(op.todoId, op.to);
  const current = err.errors[0]?.extensions?.current;
  if (op.kind === 'update' && err.code === 'CONFLICT' && current) {
    conflict(op, current);
    return;
  }
  if (op.listId === list?.id) {
    el.listError.textContent =
      op.kind === 'restore' && err.code === 'NOT_FOUND' ? 'That todo is no longer in the trash.' : describe(err);
  }
  if (op.todoId) await showLatest(op.todoId);
  refreshCounts();
}

/**
 * Someone else changed a field this update changes: the server kept theirs
 * and sent it (`current`). Ask which to keep: mine is sent again on top of
 * theirs; theirs simply stays.
 */
async function conflict(op, current) {
  if (op.listId === list?.id) store.upsert(current);
  const choice = await resolveConflict({ mine: op.patch, theirs: current });
  if (choice === 'mine') {
    await queue('update', { id: op.todoId, input: { ...op.patch, baseVersion: current.version } }, {
      listId: op.listId,
      todoId: op.todoId,
      patch: op.patch,
      baseVersion: current.version,
    });
  }
  refreshCounts();
}

el.newForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const title = el.newTitle.value.trim();
  if (!title) {
    el.newError.textContent = 'Give the todo a title.';
    el.newTitle.focus();
    return;
  }
  el.newError.textContent = '';
  // The id is ours: later writes can name the todo before the server has
  // answered, and a resent create finds the todo it already made.
  const id = crypto.randomUUID();
  const input = { id, title, listId: list.id };
  const dueAt = fromLocalInput(el.newDue.value);
  if (dueAt) input.dueAt = dueAt;
  const todo = {
    id,
    title,
    completed: false,
    dueAt: dueAt ?? null,
    createdAt: new Date().toISOString(),
    version: 0,
    position: '',
    createdBy: me ? { id: me.id, email: me.email, displayName: me.displayName } : null,
  };
  fresh.add(id);
  if (!(await queue('create', { input }, { todoId: id, todo }))) return;
  el.newTitle.value = '';
  el.newDue.value = '';
  el.newTitle.focus();
});

/** Shows what the server has now for a todo a write was refused for. */
async function showLatest(id) {
  const latest = await api.gql(`query One($id: ID!) { todo(id: $id) { ${TODO_FIELDS} list { id } } }`, { id }).catch(() => null);
  if (latest?.todo) store.apply({ kind: 'UPDATED', todoId: id, listId: latest.todo.list.id, todo: latest.todo });
  else if (latest) store.apply({ kind: 'DELETED', todoId: id, listId: list?.id });
}

/**
 * Changes some fields of a todo (`patch`: title, dueAt, completed). Only the
 * changed fields are sent, with `baseVersion`, the version this page last
 * had from the server: the server merges them unless someone changed one
 * of the same fields meanwhile. A second edit of a todo whose first is still
 * queued is folded into it (one write, one merge base).
 */
async function update(id, patch) {
  const latest = outbox.ops().findLast((op) => op.todoId === id);
  if (latest?.kind === 'update' || (latest?.kind === 'create' && !('completed' in patch))) {
    const merged =
      latest.kind === 'update'
        ? {
            ...latest,
            patch: { ...latest.patch, ...patch },
            variables: { id, input: { ...latest.variables.input, ...patch } },
          }
        : {
            ...latest,
            todo: { ...latest.todo, ...patch },
            variables: { input: { ...latest.variables.input, ...patch } },
          };
    if (await outbox.replace(merged)) return;
  }
  const baseVersion = store.byId.get(id)?.version ?? 0;
  await queue('update', { id, input: { ...patch, baseVersion } }, { todoId: id, patch, baseVersion });
}

/**
 * Moves a todo right after `to.afterId` or right before `to.beforeId` (its
 * neighbours on screen): the server computes the new position key. Moves are
 * queued like every write, so they are sent in the order the user made them.
 */
function move(id, to) {
  store.showMove(id, to);
  queue('move', { id, input: to }, { todoId: id, to });
}

const reorder = wireReorder(el.list, { canMove: canWrite, move, render, nodes });

/**
 * Deletes a todo (to the trash) and offers to take it back for a few
 * seconds: a delete still in the queue is simply dropped, a sent one is
 * undone with `restoreTodo`.
 */
async function remove(id) {
  const todo = shown(id);
  if (!todo) return;
  const op = await queue('delete', { id }, { todoId: id, todo });
  if (!op) return;
  snackbar(`Deleted “${todo.title}”`, 'Undo', async () => {
    if (await outbox.cancel(op.seq)) return;
    await queue('restore', { id }, { listId: op.listId, todoId: id, todo: { ...todo, pending: true } });
  });
}

function wireItem(li) {
  const id = li.dataset.id;
  li.querySelector('.check').addEventListener('change', (e) => update(id, { completed: e.target.checked }));
  li.querySelector('.edit').addEventListener('click', () => startEditing(id));
  li.querySelector('.title').addEventListener('dblclick', () => canWrite() && startEditing(id));
  li.querySelector('.delete').addEventListener('click', async () => {
    const next = li.nextElementSibling ?? li.previousElementSibling;
    await remove(id);
    // Keep keyboard users in the list rather than dropping focus to <body>.
    (next?.querySelector('.check') ?? el.newTitle).focus();
  });
}

function startEditing(id) {
  editingId = id;
  render();
}

function stopEditing(id) {
  editingId = null;
  render();
  nodes.get(id)?.querySelector('.edit')?.focus();
}

let editorSeq = 0;
function wireEditor(li, todo) {
  const n = ++editorSeq;
  const title = li.querySelector('.edit-title');
  const due = li.querySelector('.edit-due');
  const error = li.querySelector('.form-error');
  title.id = `edit-title-${n}`;
  due.id = `edit-due-${n}`;
  li.querySelector('.edit-title-label').htmlFor = title.id;
  li.querySelector('.edit-due-label').htmlFor = due.id;
  title.value = todo.title;
  due.value = toLocalInput(todo.dueAt);
  li.querySelector('.cancel').addEventListener('click', () => stopEditing(todo.id));
  li.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') stopEditing(todo.id);
  });
  li.querySelector('form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const newTitle = title.value.trim();
    if (!newTitle) {
      error.textContent = 'A todo needs a title.';
      title.focus();
      return;
    }
    const current = shown(todo.id) ?? todo;
    const patch = {};
    if (newTitle !== current.title) patch.title = newTitle;
    const newDue = fromLocalInput(due.value);
    if (toLocalInput(newDue) !== toLocalInput(current.dueAt)) patch.dueAt = newDue;
    if (Object.keys(patch).length) await update(todo.id, patch);
    stopEditing(todo.id);
  });
  queueMicrotask(() => title.focus());
}

el.loadMore.addEventListener('click', async () => {
  el.loadMore.disabled = true;
  await attempt(el.listError, loadPage, 'list');
  el.loadMore.disabled = false;
});

el.toggleAll.addEventListener('click', () => {
  const now = shownCounts();
  const completed = !now || now.active > 0;
  queue('toggleAll', { c: completed, list: list.id }, { completed });
});

el.clearCompleted.addEventListener('click', () => {
  queue('clearCompleted', { list: list.id });
});
