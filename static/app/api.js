// GraphQL over HTTP and the signed-in session.
//
// Token storage: the access token lives only in memory (a module variable),
// so it never outlives the page. The refresh token is kept in localStorage:
// a reload, a browser restart or a second tab keeps the session, which is
// what a todo app's users expect. The cost is that script running in this
// origin could read it; the app loads no third-party code (everything is
// served by the binary under a strict Content-Security-Policy), and refresh
// tokens rotate on every use, with reuse revoking the whole family. Because
// tabs share the one rotating token, every refresh runs under a Web Lock
// and re-reads the stored token inside it: two tabs never present the same
// refresh token (which the server would treat as theft).

const REFRESH_KEY = 'todoql.refreshToken';
const LOCK = 'todoql-refresh';
/** Refresh this long before the access token expires. */
const EARLY_MS = 60_000;

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join('; '));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? null;
  }
}

const AUTH_FIELDS = 'accessToken refreshToken expiresIn user { id email displayName emailVerified }';

let accessToken = null;
let expiresAt = 0;
let margin = EARLY_MS;
let user = null;
let refreshTimer = null;
let refreshing = null;
const listeners = new Set();

const refreshListeners = new Set();

/** Calls `fn()` after each token refresh (a new access token is current). */
export function onRefresh(fn) {
  refreshListeners.add(fn);
}

/** Calls `fn(user | null)` whenever the session starts or ends. */
export function onSessionChange(fn) {
  listeners.add(fn);
}

export function currentUser() {
  return user;
}

function emit() {
  for (const fn of listeners) fn(user);
}

/** Sends one operation; throws GraphQLError for errors, TypeError when offline. */
async function post(query, variables, token) {
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch('/graphql', {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await res.json();
  } catch {
    throw new Error(`the server answered HTTP ${res.status}`);
  }
  if (body.errors?.length) throw new GraphQLError(body.errors);
  return body.data;
}

function startSession(payload) {
  accessToken = payload.accessToken;
  expiresAt = Date.now() + payload.expiresIn * 1000;
  user = payload.user;
  localStorage.setItem(REFRESH_KEY, payload.refreshToken);
  const lifetime = payload.expiresIn * 1000;
  // Treat the token as stale this long before it expires.
  margin = Math.min(EARLY_MS, lifetime / 4);
  clearTimeout(refreshTimer);
  // Refresh a minute ahead of expiry so requests and the WebSocket never
  // carry a dead token; halfway through short lifetimes.
  const wait = Math.max(1_000, lifetime - EARLY_MS, lifetime / 2);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), wait);
}

function endSession() {
  accessToken = null;
  expiresAt = 0;
  user = null;
  clearTimeout(refreshTimer);
  localStorage.removeItem(REFRESH_KEY);
}

function withLock(fn) {
  return navigator.locks ? navigator.locks.request(LOCK, fn) : fn();
}

/**
 * Exchanges the stored refresh token for a new pair (single flight per tab,
 * serialized across tabs). Resolves to true when signed in afterwards.
 */
export function refresh() {
  refreshing ??= withLock(async () => {
    const stored = localStorage.getItem(REFRESH_KEY);
    if (!stored) return false;
    try {
      const data = await post(
        `mutation Refresh($t: String!) { refreshToken(refreshToken: $t) { ${AUTH_FIELDS} } }`,
        { t: stored },
      );
      startSession(data.refreshToken);
      for (const fn of refreshListeners) fn();
      return true;
    } catch (err) {
      // A refused token ends the session; a network failure does not.
      if (err instanceof GraphQLError) {
        endSession();
        emit();
        return false;
      }
      throw err;
    }
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** A valid access token, refreshed first when it is about to expire. */
export async function freshToken() {
  if (accessToken && Date.now() < expiresAt - margin) return accessToken;
  await refresh();
  return accessToken;
}

/** Restores the session from the stored refresh token, if any. */
export async function resume() {
  if (!localStorage.getItem(REFRESH_KEY)) return false;
  const ok = await refresh();
  emit();
  return ok;
}

export async function login(email, password) {
  const data = await post(`mutation Login($input: LoginInput!) { login(input: $input) { ${AUTH_FIELDS} } }`, {
    input: { email, password },
  });
  startSession(data.login);
  emit();
}

export async function register(email, password, displayName) {
  const data = await post(
    `mutation Register($input: RegisterInput!) { register(input: $input) { ${AUTH_FIELDS} } }`,
    { input: { email, password, displayName: displayName || null } },
  );
  startSession(data.register);
  emit();
}

export async function logout() {
  const stored = localStorage.getItem(REFRESH_KEY);
  endSession();
  emit();
  if (stored) {
    await post('mutation Logout($t: String!) { logout(refreshToken: $t) }', { t: stored }).catch(() => {});
  }
}

// Another tab signed out: follow it.
addEventListener('storage', (e) => {
  if (e.key === REFRESH_KEY && e.newValue === null && user) {
    endSession();
    emit();
  }
});

/** Runs an operation as the signed-in user; retries once after a refresh. */
export async function gql(query, variables = {}) {
  const token = await freshToken();
  try {
    return await post(query, variables, token);
  } catch (err) {
    if (err instanceof GraphQLError && err.code === 'UNAUTHENTICATED' && (await refresh())) {
      return post(query, variables, accessToken);
    }
    throw err;
  }
}

/**
 * Sends one queued write with its `Idempotency-Key` (outbox.js) and reports
 * what came back without judging it: `{ status, errors, data, replayed }`.
 * Throws (a TypeError) only when the request got no answer at all, which
 * the outbox treats as "try again later". Retries once after a refresh when
 * the access token was refused; a refresh that cannot reach the server
 * throws like any other network failure.
 */
export async function sendWrite(query, variables, key) {
  const attemptWith = async (token) => {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      'idempotency-key': key,
    };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    let body = null;
    try {
      body = await res.json();
    } catch {
      /* a proxy's HTML error page: no GraphQL answer */
    }
    return {
      status: res.status,
      data: body?.data ?? null,
      errors: body?.errors?.length ? body.errors : null,
      replayed: res.headers.get('idempotent-replayed') === 'true',
    };
  };
  const first = await attemptWith(await freshToken());
  if (first.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED' && (await refresh())) {
    return attemptWith(accessToken);
  }
  return first;
}
