// The offline queue: every todo write the user makes is kept here (in
// IndexedDB, so a reload or a crash loses nothing) until the server has
// answered it, and sent in the order it was made. The views show queued
// writes at once (store.js lays them over what the server said) and learn
// each write's outcome through `onSettled`.
//
// Safe retries: each write gets its idempotency key when it is queued
// (crypto.randomUUID()) and is always sent with that same key in the
// `Idempotency-Key` header. When an answer is lost, the write is sent again
// and the server replays the answer it kept (`Idempotent-Replayed: true`)
// instead of doing it twice; 409 IDEMPOTENCY_KEY_IN_USE means the first
// attempt is still running there, so the write waits and is asked again.
//
// Why one request per write rather than the batch array: a write is sent
// only once the one before it has been answered, so after a dropped
// connection a later write can never overtake an earlier one that the
// server is still running (in an array resent while the first copy is still
// running, the element that answers IN_USE would be skipped and the ones
// after it run early: an update could reach a todo whose create has not
// committed). Over one kept-alive connection a queue of dozens of writes
// drains in well under a second.
import * as api from '/app/api.js';

const DB_NAME = 'todoql';
const STORE = 'outbox';
/** Retry waits grow from about a second to this, with jitter. */
const MAX_WAIT_MS = 30_000;

let db = null;
let user = null;
/** The signed-in user's queued writes, oldest first (a copy of IndexedDB). */
let queue = [];
/** The seq of the write on the wire, if any: it can no longer be cancelled. */
let inFlight = null;
let draining = null;
let retryTimer = null;
let failures = 0;
const changeListeners = new Set();
const settledListeners = new Set();
/** Called to finish a write's variables just before it is sent (see `prepare`). */
let preparer = (op) => op.variables;

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true });
      store.createIndex('user', 'user');
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Runs `fn(store)` in one IndexedDB transaction; resolves with its request's result. */
function tx(mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const req = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(req?.result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

async function reload() {
  if (!db || !user) return;
  const mine = await tx('readonly', (s) => s.index('user').getAll(user));
  queue = mine.sort((a, b) => a.seq - b.seq);
  emitChange();
}

function emitChange() {
  for (const fn of changeListeners) fn(queue);
}

/** Opens the queue of `userId` (at sign-in) and sends whatever it holds. */
export async function open(userId) {
  user = userId;
  db ??= await openDb();
  await reload();
  kick();
}

/** Forgets the signed-in user (their queue stays stored for their next sign-in). */
export function close() {
  user = null;
  queue = [];
  clearTimeout(retryTimer);
  emitChange();
}

/** The queued writes, oldest first (do not modify). */
export function ops() {
  return queue;
}

/** Calls `fn(ops)` whenever the queue changes. */
export function onChange(fn) {
  changeListeners.add(fn);
}

/**
 * Calls `fn(op, outcome)` once per write the server answered for good:
 * `{ data }` or `{ errors }` (a GraphQL refusal: the write did nothing).
 */
export function onSettled(fn) {
  settledListeners.add(fn);
}

/** Sets the function that gives a write's variables at the moment it is sent. */
export function prepare(fn) {
  preparer = fn;
}

/**
 * Queues a write: `{ kind, query, variables, listId, todoId, … }` (any other
 * fields are kept for the views). Resolves with the stored op, key and seq set.
 */
export async function enqueue(op) {
  const stored = { ...op, user, key: crypto.randomUUID(), queuedAt: Date.now() };
  stored.seq = await tx('readwrite', (s) => s.add(stored));
  queue = [...queue, stored];
  emitChange();
  kick();
  return stored;
}

/**
 * Replaces a queued write that is not on the wire yet (to fold a second edit
 * into it); returns false when it is too late.
 */
export async function replace(op) {
  if (op.seq === inFlight || !queue.some((o) => o.seq === op.seq)) return false;
  await tx('readwrite', (s) => s.put(op));
  queue = queue.map((o) => (o.seq === op.seq ? op : o));
  emitChange();
  return true;
}

/** Takes back a write that is not on the wire yet; returns false when it is too late. */
export async function cancel(seq) {
  if (seq === inFlight || !queue.some((o) => o.seq === seq)) return false;
  await remove(seq);
  return true;
}

async function remove(seq) {
  await tx('readwrite', (s) => s.delete(seq));
  queue = queue.filter((o) => o.seq !== seq);
  emitChange();
}

/** Starts sending now (after a failure's wait, or on `online`). */
export function kick() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (user && queue.length) flush().catch(() => {});
}

/**
 * Sends every queued write, in order. Resolves to true once the queue is
 * empty, false when a write has to wait (no network, the server busy with
 * the same key, rate limited): a retry is then scheduled.
 */
export function flush() {
  draining ??= drain().finally(() => {
    draining = null;
  });
  return draining;
}

/** What to do about an answer: 'done' (settled for good) or 'retry'. */
export function classify(result) {
  const code = result.errors?.[0]?.extensions?.code;
  if (code === 'IDEMPOTENCY_KEY_IN_USE' || code === 'RATE_LIMITED' || code === 'UNAUTHENTICATED') return 'retry';
  // No GraphQL answer (a proxy's 502, a restart in progress): not run, or
  // run and kept under the key; either way the same key is safe to resend.
  if (!result.data && !result.errors) return 'retry';
  if (result.status >= 500 && !result.data && !code) return 'retry';
  return 'done';
}

async function drain() {
  const me = user;
  while (user === me && queue.length) {
    const op = queue[0];
    inFlight = op.seq;
    let result;
    try {
      result = await api.sendWrite(op.query, preparer(op), op.key);
    } catch {
      result = null; // no answer at all: offline or the server is down
    } finally {
      inFlight = null;
    }
    if (user !== me) return false;
    if (!result || classify(result) === 'retry') {
      scheduleRetry();
      return false;
    }
    failures = 0;
    await remove(op.seq);
    const outcome = result.errors ? { errors: result.errors, replayed: result.replayed } : { data: result.data, replayed: result.replayed };
    for (const fn of settledListeners) {
      try {
        fn(op, outcome);
      } catch (err) {
        console.warn('outbox listener failed', err);
      }
    }
  }
  return queue.length === 0;
}

function scheduleRetry() {
  failures += 1;
  clearTimeout(retryTimer);
  const wait = Math.min(MAX_WAIT_MS, 1_000 * 2 ** (failures - 1)) * (0.75 + Math.random() / 2);
  retryTimer = setTimeout(kick, wait);
}

addEventListener('online', kick);
