// The todoql web app: sign-in, the todo list over GraphQL, and live updates
// from the `todoEvents` subscription over graphql-transport-ws. Email
// verification (the banner, `#verify=` links) is in verify.js.
import { createClient } from '/app/vendor/graphql-ws/client.js';
import * as api from '/app/api.js';
import { TodoStore } from '/app/store.js';
import * as verification from '/app/verify.js';

const PAGE_SIZE = 20;
const TODO = 'id title completed dueAt createdAt version';
const PAGE_QUERY = `query TodoPage($first: Int!, $after: String) {
  todos(first: $first, after: $after) { nodes { ${TODO} } pageInfo { hasNextPage endCursor } }
}`;
const COUNTS_QUERY = 'query Counts { me { todoCounts { total active completed } } }';
const EVENTS = `subscription TodoEvents($after: String) {
  todoEvents(after: $after) { cursor kind todoId todo { ${TODO} } }
}`;

const $ = (id) => document.getElementById(id);
const el = {
  loading: $('loading'),
  auth: $('auth'),
  authTitle: $('auth-title'),
  authSubtitle: $('auth-subtitle'),
  tabLogin: $('tab-login'),
  tabRegister: $('tab-register'),
  authForm: $('auth-form'),
  fieldName: $('field-name'),
  displayName: $('display-name'),
  email: $('email'),
  password: $('password'),
  passwordHint: $('password-hint'),
  authError: $('auth-error'),
  authSubmit: $('auth-submit'),
  todos: $('todos'),
  counts: $('counts'),
  newForm: $('new-todo'),
  newTitle: $('new-title'),
  newDue: $('new-due'),
  newError: $('new-error'),
  toggleAll: $('toggle-all'),
  clearCompleted: $('clear-completed'),
  listError: $('list-error'),
  list: $('list'),
  empty: $('empty'),
  loadMore: $('load-more'),
  connection: $('connection'),
  whoami: $('whoami'),
  signOut: $('sign-out'),
  itemTemplate: $('todo-item'),
  editTemplate: $('todo-edit'),
};

// ---------------------------------------------------------------- helpers

function describe(err) {
  if (err instanceof api.GraphQLError) {
    switch (err.code) {
      case 'UNAUTHENTICATED':
        return currentMode === 'login' && !api.currentUser()
          ? 'Wrong email or password.'
          : 'Your session has ended. Please sign in again.';
      case 'CONFLICT':
        return currentMode === 'register' && !api.currentUser()
          ? 'An account with this email already exists.'
          : 'This todo was changed elsewhere; showing the latest version.';
      case 'RATE_LIMITED':
        return 'Too many attempts. Please wait a moment and try again.';
      case 'NOT_FOUND':
        return 'That todo no longer exists.';
      default:
        return err.message;
    }
  }
  return 'Cannot reach the server. Check your connection and try again.';
}

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

// ---------------------------------------------------------------- auth view

let currentMode = 'login';

function setMode(mode) {
  currentMode = mode;
  const register = mode === 'register';
  el.tabLogin.setAttribute('aria-selected', String(!register));
  el.tabRegister.setAttribute('aria-selected', String(register));
  el.tabLogin.tabIndex = register ? -1 : 0;
  el.tabRegister.tabIndex = register ? 0 : -1;
  el.fieldName.hidden = !register;
  el.passwordHint.hidden = !register;
  el.password.autocomplete = register ? 'new-password' : 'current-password';
  el.authTitle.textContent = register ? 'Create your account' : 'Welcome back';
  el.authSubtitle.textContent = register
    ? 'Free, private, and in sync across all your devices.'
    : 'Sign in to see your todos, live on every device.';
  el.authSubmit.textContent = register ? 'Create account' : 'Sign in';
  el.authError.textContent = '';
}

el.tabLogin.addEventListener('click', () => setMode('login'));
el.tabRegister.addEventListener('click', () => setMode('register'));
// Arrow keys move between tabs (WAI-ARIA tabs pattern).
for (const tab of [el.tabLogin, el.tabRegister]) {
  tab.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    const next = tab === el.tabLogin ? el.tabRegister : el.tabLogin;
    setMode(next === el.tabLogin ? 'login' : 'register');
    next.focus();
  });
}

el.authForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  el.authError.textContent = '';
  const email = el.email.value.trim();
  const password = el.password.value;
  if (!email || !el.email.checkValidity()) {
    el.authError.textContent = 'Enter a valid email address.';
    el.email.focus();
    return;
  }
  if (currentMode === 'register' ? password.length < 8 : !password) {
    el.authError.textContent =
      currentMode === 'register' ? 'Choose a password of at least 8 characters.' : 'Enter your password.';
    el.password.focus();
    return;
  }
  el.authSubmit.disabled = true;
  try {
    if (currentMode === 'register') await api.register(email, password, el.displayName.value.trim());
    else await api.login(email, password);
    el.password.value = '';
  } catch (err) {
    el.authError.textContent = describe(err);
  } finally {
    el.authSubmit.disabled = false;
  }
});

el.signOut.addEventListener('click', () => api.logout());

// ---------------------------------------------------------------- the list

const store = new TodoStore(scheduleRender);
const nodes = new Map(); // id → <li>
let editingId = null;
let counts = null;
let renderQueued = false;
const fresh = new Set();

function scheduleRender(event) {
  if (event && event.kind === 'CREATED') fresh.add(event.todoId);
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    render();
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
  const check = li.querySelector('.check');
  check.checked = todo.completed;
  check.setAttribute('aria-label', `Completed: ${todo.title}`);
  li.querySelector('.title').textContent = todo.title;
  const due = dueText(todo);
  const dueEl = li.querySelector('.due');
  dueEl.textContent = due.text;
  dueEl.className = `due ${due.tone}`;
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
  el.empty.hidden = todos.length > 0 || store.hasNextPage;
  el.loadMore.hidden = !store.hasNextPage;
  renderCounts();
}

function renderCounts() {
  if (!counts) {
    el.counts.textContent = '';
    return;
  }
  el.counts.textContent =
    counts.total === 0 ? 'All clear' : `${counts.active} to do · ${counts.completed} done`;
  el.toggleAll.textContent = counts.active > 0 || counts.total === 0 ? 'Mark all complete' : 'Mark all active';
  el.toggleAll.disabled = counts.total === 0;
  el.clearCompleted.disabled = counts.completed === 0;
}

let countsTimer = null;
function refreshCounts() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(async () => {
    try {
      counts = (await api.gql(COUNTS_QUERY)).me.todoCounts;
      renderCounts();
    } catch {
      /* shown again on the next change */
    }
  }, 100);
}

async function loadPage() {
  const data = await api.gql(PAGE_QUERY, { first: PAGE_SIZE, after: store.endCursor });
  store.addPage(data.todos);
}

async function reloadList() {
  store.reset();
  for (const li of nodes.values()) li.remove();
  nodes.clear();
  editingId = null;
  await loadPage();
  refreshCounts();
}

/** Runs a mutation, showing failures in `errorEl`. */
async function run(errorEl, fn) {
  errorEl.textContent = '';
  try {
    return await fn();
  } catch (err) {
    errorEl.textContent = describe(err);
    return undefined;
  }
}

el.newForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const title = el.newTitle.value.trim();
  if (!title) {
    el.newError.textContent = 'Give the todo a title.';
    el.newTitle.focus();
    return;
  }
  const input = { title };
  const dueAt = fromLocalInput(el.newDue.value);
  if (dueAt) input.dueAt = dueAt;
  const data = await run(el.newError, () =>
    api.gql(`mutation Create($input: CreateTodoInput!) { createTodo(input: $input) { ${TODO} } }`, { input }),
  );
  if (!data) return;
  fresh.add(data.createTodo.id);
  store.upsert(data.createTodo);
  el.newTitle.value = '';
  el.newDue.value = '';
  el.newTitle.focus();
  refreshCounts();
});

async function update(id, input, errorEl = el.listError) {
  const data = await run(errorEl, () =>
    api.gql(`mutation Update($id: ID!, $input: UpdateTodoInput!) { updateTodo(id: $id, input: $input) { ${TODO} } }`, {
      id,
      input,
    }),
  );
  if (data) {
    store.upsert(data.updateTodo);
    refreshCounts();
    return true;
  }
  // Refused as stale or gone: show what the server has now.
  const latest = await api.gql(`query One($id: ID!) { todo(id: $id) { ${TODO} } }`, { id }).catch(() => null);
  if (latest?.todo) store.upsert(latest.todo);
  else if (latest) store.apply({ kind: 'DELETED', todoId: id });
  return false;
}

function wireItem(li) {
  const id = li.dataset.id;
  li.querySelector('.check').addEventListener('change', (e) => {
    const todo = store.byId.get(id);
    update(id, { completed: e.target.checked, expectedVersion: todo?.version });
  });
  li.querySelector('.edit').addEventListener('click', () => startEditing(id));
  li.querySelector('.title').addEventListener('dblclick', () => startEditing(id));
  li.querySelector('.delete').addEventListener('click', async () => {
    const next = li.nextElementSibling ?? li.previousElementSibling;
    const data = await run(el.listError, () => api.gql('mutation Delete($id: ID!) { deleteTodo(id: $id) }', { id }));
    if (data === undefined) return;
    store.remove(id);
    scheduleRender();
    refreshCounts();
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
  await run(el.listError, loadPage);
  el.loadMore.disabled = false;
});

el.toggleAll.addEventListener('click', async () => {
  const completed = !counts || counts.active > 0;
  const changed = await run(el.listError, () =>
    api.gql('mutation ToggleAll($c: Boolean!) { toggleAllTodos(completed: $c) }', { c: completed }),
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
  const done = await run(el.listError, () => api.gql('mutation Clear { clearCompletedTodos }'));
  if (done === undefined) return;
  for (const todo of [...store.byId.values()]) if (todo.completed) store.remove(todo.id);
  scheduleRender();
  refreshCounts();
});

// ---------------------------------------------------------------- live updates

let socket = null;
let subscription = null;
let lastCursor = null;
let everConnected = false;

function setConnection(state, label) {
  el.connection.dataset.state = state;
  el.connection.querySelector('.connection-label').textContent = label;
  el.connection.title =
    state === 'live' ? 'Changes from your other devices appear instantly.' : 'Changes will sync when the connection is back.';
}

function makeSocket() {
  const client = createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    // Called on every (re)connect, so a reconnect always sends a live token.
    connectionParams: async () => ({ Authorization: `Bearer ${await api.freshToken()}` }),
    lazy: true,
    keepAlive: 20_000,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    // Quick first retries (a server restart takes a second or two), then
    // back off to at most ~10 s, with jitter so clients don't stampede.
    retryWait: (retries) =>
      new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** retries) + Math.random() * 300)),
    on: {
      connecting: () => {
        if (client === socket) setConnection('connecting', everConnected ? 'Reconnecting…' : 'Connecting…');
      },
      connected: (_socket, _payload, wasRetry) => {
        if (client !== socket) return;
        setConnection('live', 'Live');
        // Without a cursor there is nothing to resume from: refetch.
        if (wasRetry && lastCursor === null) reloadList().catch(() => {});
        everConnected = true;
      },
      closed: () => {
        if (client === socket) setConnection('offline', 'Offline');
      },
    },
  });
  return client;
}

/** graphql-ws's dispose() rejects when a pending connection attempt fails. */
function closeSocket(client) {
  Promise.resolve(client.dispose()).catch(() => {});
}

function startLive() {
  socket = makeSocket();
  subscribe();
}

/**
 * The server ends a socket when the access token it was opened with
 * expires. After each refresh, open a new socket with the new token and
 * resume from the last cursor, and retire the old one only once the new
 * one is up: make before break, so the indicator never blinks.
 */
function rotateSocket() {
  if (!socket) return;
  const oldSocket = socket;
  const oldSubscription = subscription;
  socket = makeSocket();
  subscribe();
  let retired = false;
  const retire = () => {
    if (retired) return;
    retired = true;
    off();
    oldSubscription?.dispose();
    closeSocket(oldSocket);
  };
  const off = socket.on('connected', retire);
  setTimeout(retire, 10_000);
}
api.onRefresh(rotateSocket);

function subscribe() {
  // graphql-ws re-sends this very object when it reconnects, so keeping
  // `after` up to date here makes every automatic resubscription resume
  // right after the last event this page applied: nothing missed, nothing
  // applied twice.
  const payload = { query: EVENTS, variables: { after: lastCursor } };
  const mine = {};
  subscription = mine;
  mine.dispose = socket.subscribe(payload, {
    next: ({ data, errors }) => {
      if (errors?.length || !data) return;
      const event = data.todoEvents;
      store.apply(event);
      // A retiring subscription may still deliver; only the current one
      // moves the cursor (the new one replays anything after it anyway).
      if (subscription !== mine) return;
      lastCursor = event.cursor;
      payload.variables.after = event.cursor;
      refreshCounts();
    },
    error: (err) => {
      if (subscription === mine) recover(err, mine);
    },
    complete: () => {
      if (subscription === mine) setTimeout(() => subscription === mine && subscribe(), 1_000);
    },
  });
}

async function recover(err, mine) {
  const first = Array.isArray(err) ? err[0] : null;
  const code = first?.extensions?.code;
  if (code === 'SLOW_CONSUMER' && first.extensions.cursor) {
    lastCursor = first.extensions.cursor;
  } else if (code === 'CURSOR_EXPIRED') {
    lastCursor = null; // reloaded below
  } else if (code === 'UNAUTHENTICATED') {
    // The socket's access token expired (the page has usually refreshed
    // its own by now): reconnect with the current one and resume.
    if (!(await api.freshToken().catch(() => null))) return;
  } else {
    setConnection('offline', 'Offline');
    await new Promise((r) => setTimeout(r, 3_000));
  }
  // Signed out, or a token refresh has already moved to a new socket.
  if (subscription !== mine || !api.currentUser()) return;
  // Nothing to resume from: whatever happened meanwhile comes with a refetch.
  if (lastCursor === null) await reloadList().catch(() => {});
  if (subscription === mine) subscribe();
}

function stopLive() {
  const sub = subscription;
  subscription = null;
  sub?.dispose();
  if (socket) closeSocket(socket);
  socket = null;
  lastCursor = null;
  everConnected = false;
}

// ---------------------------------------------------------------- session

async function showSignedIn(user) {
  el.loading.hidden = true;
  el.auth.hidden = true;
  el.todos.hidden = false;
  el.whoami.textContent = user.displayName ? `${user.displayName} · ${user.email}` : user.email;
  el.whoami.hidden = false;
  el.signOut.hidden = false;
  el.connection.hidden = false;
  verification.signedIn(user);
  setConnection('connecting', 'Connecting…');
  startLive();
  await run(el.listError, reloadList);
  el.newTitle.focus();
}

function showSignedOut() {
  stopLive();
  store.reset();
  counts = null;
  el.loading.hidden = true;
  el.todos.hidden = true;
  el.auth.hidden = false;
  el.whoami.hidden = true;
  el.signOut.hidden = true;
  el.connection.hidden = true;
  verification.signedOut();
  setMode('login');
  el.email.focus();
}

let signedIn = null;
api.onSessionChange((user) => {
  const id = user?.id ?? null;
  if (id === signedIn) return;
  if (signedIn) showSignedOut();
  signedIn = id;
  if (user) showSignedIn(user);
  else showSignedOut();
});

try {
  if (!(await api.resume())) showSignedOut();
} catch {
  // Offline at start-up with a stored session: say so, let the user retry.
  el.loading.textContent = 'Cannot reach the server. Reload the page to try again.';
}
