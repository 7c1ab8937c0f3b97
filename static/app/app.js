// The todoql web app: sign-in and the signed-in workspace — the sidebar of
// lists (lists.js), the selected list's todos (todos.js, reorder.js), sharing
// (share.js) and the invitations inbox (invitations.js) — kept live by the
// `changes` subscription (live.js), working on through a lost connection
// with the offline queue (outbox.js). Email verification is in verify.js.
import * as api from '/app/api.js';
import * as live from '/app/live.js';
import * as outbox from '/app/outbox.js';
import * as lists from '/app/lists.js';
import * as todos from '/app/todos.js';
import * as invitations from '/app/invitations.js';
import * as verification from '/app/verify.js';
import { $, describe } from '/app/ui.js';

/** One change, as the subscription pushes it and the pull feed pages it. */
const CHANGE_FIELDS = `
    ... on TodoEvent { cursor kind todoId listId todo { ${todos.TODO_FIELDS} } }
    ... on ListEvent { cursor action listId list { ${lists.LIST_EVENT_FIELDS} } }`;
const CHANGES = `subscription Changes($after: String) {
  changes(after: $after) { ${CHANGE_FIELDS} }
}`;
/**
 * The pull feed asks for less per change than the subscription, to keep a
 * 500-change page small on a slow connection (the server would admit the
 * full selection: a page is charged its selection once, not per change).
 * Todos come without `createdAt` and with only their creator's id
 * (todos.js finds the name among the list's members); list events without
 * their list, which lists.js reads again (they are rare).
 */
const PULL = `query PullChanges($after: String, $first: Int) {
  changes(after: $after, first: $first) { cursor hasMore changes {
    ... on TodoEvent { cursor kind todoId listId todo { id title completed dueAt version position createdBy { id } } }
    ... on ListEvent { cursor action listId }
  } }
}`;

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
  workspace: $('workspace'),
  listError: $('list-error'),
  whoami: $('whoami'),
  signOut: $('sign-out'),
};

/** Sign-in and sign-up failures, in words that fit the form. */
function describeAuth(err) {
  if (err instanceof api.GraphQLError && !api.currentUser()) {
    if (err.code === 'UNAUTHENTICATED' && currentMode === 'login') return 'Wrong email or password.';
    if (err.code === 'CONFLICT' && currentMode === 'register') return 'An account with this email already exists.';
  }
  return describe(err);
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
    el.authError.textContent = describeAuth(err);
  } finally {
    el.authSubmit.disabled = false;
  }
});

el.signOut.addEventListener('click', () => api.logout());

// ---------------------------------------------------------------- live changes

function onChange(change) {
  if ('kind' in change) {
    todos.applyEvent(change);
    lists.todoEvent(change);
  } else {
    lists.applyEvent(change);
  }
}

/** Reloads everything shown (after a reconnect with nothing to resume from). */
async function resync() {
  const user = api.currentUser();
  if (!user) return;
  await lists.load(user);
  invitations.refresh();
}

verification.onVerified(() => invitations.refresh());

// ---------------------------------------------------------------- session

async function showSignedIn(user) {
  el.loading.hidden = true;
  el.auth.hidden = true;
  el.workspace.hidden = false;
  el.whoami.textContent = user.displayName ? `${user.displayName} · ${user.email}` : user.email;
  el.whoami.hidden = false;
  el.signOut.hidden = false;
  verification.signedIn(user);
  // Subscribe first, then load: a change made meanwhile arrives as an event
  // (applied by version), never lost between the two.
  live.start({ query: CHANGES, pullQuery: PULL, onEvent: onChange, onResync: resync });
  // Writes queued earlier (offline, or before a reload) are shown and sent.
  outbox.open(user.id).catch((err) => console.warn('the offline queue is unavailable', err));
  invitations.start();
  try {
    await lists.load(user);
  } catch (err) {
    el.listError.textContent = describe(err, 'list');
  }
  todos.focusNew();
}

function showSignedOut() {
  live.stop();
  outbox.close();
  invitations.stop();
  lists.clear();
  el.loading.hidden = true;
  el.workspace.hidden = true;
  el.auth.hidden = false;
  el.whoami.hidden = true;
  el.signOut.hidden = true;
  document.title = 'todoql';
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

// Unreachable at start-up with a stored session: say so and keep trying
// (at once when the browser is back online). Writes queued before the
// reload stay in IndexedDB and are sent once signed in again.
for (let attempt = 0; ; attempt++) {
  try {
    if (!(await api.resume())) showSignedOut();
    break;
  } catch {
    el.loading.textContent = 'Cannot reach the server. Your changes are kept on this device; trying again…';
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.min(10_000, 1_000 * 2 ** attempt));
      addEventListener('online', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}
