// The todos of the selected list: pages in the list's manual order, add,
// edit (title and due date), complete, delete, mark all, clear completed,
// reordering (reorder.js), and the controls a viewer does not get.
import * as api from '/app/api.js';
import { TodoStore } from '/app/store.js';
import { $, attempt, describe, personName } from '/app/ui.js';
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

const store = new TodoStore(scheduleRender);
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
  return `Added by ${personName(todo.createdBy)}`;
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

function renderCounts() {
  if (!counts) {
    el.counts.textContent = '';
    return;
  }
  el.counts.textContent = counts.total === 0 ? 'All clear' : `${counts.active} to do · ${counts.completed} done`;
  el.toggleAll.textContent = counts.active > 0 || counts.total === 0 ? 'Mark all complete' : 'Mark all active';
  el.toggleAll.disabled = counts.total === 0 || !canWrite();
  el.clearCompleted.disabled = counts.completed === 0 || !canWrite();
}

/** Shows or hides what only owners and editors may use. */
function renderRole() {
  const writable = canWrite();
  el.section.classList.toggle('readonly', !writable);
  el.newForm.hidden = !writable;
  el.readonly.hidden = writable || !list;
  if (!writable && editingId) editingId = null;
  for (const [id, li] of nodes) {
    const todo = store.byId.get(id);
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

el.newForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const title = el.newTitle.value.trim();
  if (!title) {
    el.newError.textContent = 'Give the todo a title.';
    el.newTitle.focus();
    return;
  }
  const input = { title, listId: list.id };
  const dueAt = fromLocalInput(el.newDue.value);
  if (dueAt) input.dueAt = dueAt;
  const data = await attempt(el.newError, () =>
    api.gql(`mutation Create($input: CreateTodoInput!) { createTodo(input: $input) { ${TODO_FIELDS} } }`, { input }),
  );
  if (!data) return;
  fresh.add(data.createTodo.id);
  store.upsert(data.createTodo);
  el.newTitle.value = '';
  el.newDue.value = '';
  el.newTitle.focus();
  refreshCounts();
});

/** Shows what the server has now for a todo a write was refused for. */
async function showLatest(id) {
  const latest = await api.gql(`query One($id: ID!) { todo(id: $id) { ${TODO_FIELDS} list { id } } }`, { id }).catch(() => null);
  if (latest?.todo) store.apply({ kind: 'UPDATED', todoId: id, listId: latest.todo.list.id, todo: latest.todo });
  else if (latest) store.apply({ kind: 'DELETED', todoId: id, listId: list?.id });
}

async function update(id, input, errorEl = el.listError) {
  const data = await attempt(errorEl, () =>
    api.gql(`mutation Update($id: ID!, $input: UpdateTodoInput!) { updateTodo(id: $id, input: $input) { ${TODO_FIELDS} } }`, {
      id,
      input,
    }),
  );
  if (data) {
    store.upsert(data.updateTodo);
    refreshCounts();
    return true;
  }
  await showLatest(id);
  return false;
}

/**
 * Moves a todo right after `to.afterId` or right before `to.beforeId` (its
 * neighbours on screen): the server computes the new position key. Moves are
 * sent one at a time, in the order the user made them.
 */
let moves = Promise.resolve();
function move(id, to) {
  el.listError.textContent = '';
  store.showMove(id, to);
  moves = moves.then(async () => {
    try {
      const data = await api.gql(`mutation Move($id: ID!, $input: MoveTodoInput!) { moveTodo(id: $id, input: $input) { ${TODO_FIELDS} } }`, {
        id,
        input: to,
      });
      store.upsert(data.moveTodo);
      store.settle(id, to);
    } catch (err) {
      store.settle(id, to);
      el.listError.textContent = describe(err);
      await showLatest(id);
    }
  });
}

const reorder = wireReorder(el.list, { canMove: canWrite, move, render, nodes });

function wireItem(li) {
  const id = li.dataset.id;
  li.querySelector('.check').addEventListener('change', (e) => {
    const todo = store.byId.get(id);
    update(id, { completed: e.target.checked, expectedVersion: todo?.version });
  });
  li.querySelector('.edit').addEventListener('click', () => startEditing(id));
  li.querySelector('.title').addEventListener('dblclick', () => canWrite() && startEditing(id));
  li.querySelector('.delete').addEventListener('click', async () => {
    const next = li.nextElementSibling ?? li.previousElementSibling;
    const data = await attempt(el.listError, () => api.gql('mutation Delete($id: ID!) { deleteTodo(id: $id) }', { id }));
    if (data === undefined) return;
    store.remove(id);
    refreshCounts();
    render();
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
    const current = store.byId.get(todo.id) ?? todo;
    const input = { expectedVersion: current.version };
    if (newTitle !== current.title) input.title = newTitle;
    const newDue = fromLocalInput(due.value);
    if (toLocalInput(newDue) !== toLocalInput(current.dueAt)) input.dueAt = newDue;
    if (Object.keys(input).length === 1 || (await update(todo.id, input, error))) stopEditing(todo.id);
  });
  queueMicrotask(() => title.focus());
}

el.loadMore.addEventListener('click', async () => {
  el.loadMore.disabled = true;
  await attempt(el.listError, loadPage, 'list');
  el.loadMore.disabled = false;
});

el.toggleAll.addEventListener('click', async () => {
  const completed = !counts || counts.active > 0;
  const changed = await attempt(el.listError, () =>
    api.gql('mutation ToggleAll($c: Boolean!, $list: ID) { toggleAllTodos(completed: $c, listId: $list) }', {
      c: completed,
      list: list.id,
    }),
  );
  if (changed === undefined) return;
  // Show it at once; the events that follow carry the new versions.
  for (const todo of store.byId.values()) {
    if (todo.completed !== completed) store.byId.set(todo.id, { ...todo, completed });
  }
  scheduleRender();
  refreshCounts();
});

el.clearCompleted.addEventListener('click', async () => {
  const done = await attempt(el.listError, () =>
    api.gql('mutation Clear($list: ID) { clearCompletedTodos(listId: $list) }', { list: list.id }),
  );
  if (done === undefined) return;
  for (const todo of [...store.byId.values()]) if (todo.completed) store.remove(todo.id);
  scheduleRender();
  refreshCounts();
});
