// Live updates: the `changes` subscription (every todo and list change the
// signed-in user may see, in one order under one cursor) over
// graphql-transport-ws, with the connection indicator (which also counts the
// writes waiting in the offline queue). Resumes from the last applied cursor
// after a token refresh, so nothing is missed and nothing applied twice.
//
// Coming back after a lost connection (or the browser's `offline`), in this
// order: send the offline queue (outbox.js) until it is empty, so the
// server has the user's own changes first; pull `Query.changes(after:
// cursor, first: 500)` until `hasMore` is false, applying each change (what
// others did meanwhile); then subscribe again with `after` set to the pull's
// cursor, so the live stream starts exactly where the pull ended: no gap, no
// duplicate. The cursor is kept in localStorage per user. Without one, or on
// CURSOR_EXPIRED, the page reads everything again instead. A new page load
// starts from a full read and does not resume from the stored cursor:
// replaying old list events would bring back stale notices ("you no longer
// have access…") for lists the full read already shows as they are.
import { createClient } from '/app/vendor/graphql-ws/client.js';
import * as api from '/app/api.js';
import * as outbox from '/app/outbox.js';
import { $ } from '/app/ui.js';

const connection = $('connection');
const PAGE = 500;

let socket = null;
let subscription = null;
let lastCursor = null;
let everConnected = false;
/** { query, pullQuery, onEvent(change), onResync() } while signed in. */
let options = null;
/** The catch-up in progress after a lost connection, if any. */
let catchingUp = null;
/**
 * Catch-up attempts since the socket last connected: a catch-up that
 * subscribes on a server that then refuses the socket starts the next one
 * after a wait, not at once (no reconnect storm while a server restarts).
 */
let failures = 0;
let state = 'offline';
let label = 'Offline';

const cursorKey = () => `todoql.cursor.${api.currentUser()?.id}`;

function setCursor(cursor) {
  lastCursor = cursor;
  try {
    if (cursor === null) localStorage.removeItem(cursorKey());
    else localStorage.setItem(cursorKey(), cursor);
  } catch {
    /* storage full or denied: the cursor lives in memory only */
  }
}

/** The indicator: the connection, and how many changes wait to be sent. */
function setConnection(nextState, nextLabel) {
  state = nextState;
  label = nextLabel;
  const waiting = options ? outbox.ops().length : 0;
  const changes = `${waiting} ${waiting === 1 ? 'change' : 'changes'}`;
  let text = label;
  if (waiting && state === 'live') text = `Saving ${changes}…`;
  else if (waiting) text = `${label} — ${changes} waiting`;
  connection.dataset.state = state;
  connection.dataset.waiting = String(waiting);
  connection.querySelector('.connection-label').textContent = text;
  connection.title =
    state === 'live'
      ? 'Changes from your other devices and the people you share lists with appear instantly.'
      : 'You can keep working: your changes are kept on this device and sent when the connection is back.';
}
outbox.onChange(() => setConnection(state, label));

/** Reloads what the page shows when there is no cursor to resume from. */
function resync() {
  Promise.resolve(options?.onResync()).catch(() => {});
}

function makeSocket() {
  const client = createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    // Called on every (re)connect, so a reconnect always sends a live token.
    connectionParams: async () => ({ Authorization: `Bearer ${await api.freshToken()}` }),
    lazy: true,
    keepAlive: 20_000,
    // No silent resubscription: a lost connection ends the subscription
    // with an error, and `catchUp` sends the queue and pulls first.
    retryAttempts: 0,
    on: {
      connecting: () => {
        if (client === socket) setConnection('connecting', everConnected ? 'Reconnecting…' : 'Connecting…');
      },
      connected: () => {
        if (client !== socket) return;
        failures = 0;
        setConnection('live', 'Live');
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
    if (oldSubscription) oldSubscription.retired = true;
    oldSubscription?.dispose();
    closeSocket(oldSocket);
  };
  // The new socket's ack comes before the server has registered the new
  // subscription: keep the old one a moment longer, so that an event in
  // between arrives through it (with no cursor yet, the new one could not
  // replay it).
  const off = socket.on('connected', () => setTimeout(retire, 1_000));
  setTimeout(retire, 10_000);
}
api.onRefresh(rotateSocket);

function subscribe() {
  // graphql-ws re-sends this very object when it reconnects, so keeping
  // `after` up to date here makes every automatic resubscription resume
  // right after the last event this page applied: nothing missed, nothing
  // applied twice.
  const payload = { query: options.query, variables: { after: lastCursor } };
  const mine = {};
  subscription = mine;
  mine.dispose = socket.subscribe(payload, {
    next: ({ data, errors }) => {
      if (errors?.length || !data) return;
      const change = data.changes;
      // A retiring subscription may still deliver: its events are applied
      // (twice is harmless: by version) but only the current one moves the
      // cursor (the new one replays anything after it).
      if (subscription !== mine) {
        if (!mine.retired && options) options.onEvent(change);
        return;
      }
      setCursor(change.cursor);
      payload.variables.after = change.cursor;
      options.onEvent(change);
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
    setCursor(first.extensions.cursor);
  } else if (code === 'CURSOR_EXPIRED') {
    setCursor(null); // read again below
  } else if (code === 'UNAUTHENTICATED') {
    // The socket's access token expired (the page has usually refreshed
    // its own by now): reconnect with the current one and resume.
    if (!(await api.freshToken().catch(() => null))) return;
  }
  // Signed out, or a token refresh has already moved to a new socket.
  if (subscription !== mine || !api.currentUser()) return;
  catchUp();
}

/** Ends the subscription and its socket (they are opened again by `catchUp`). */
function drop() {
  const sub = subscription;
  subscription = null;
  if (sub) sub.retired = true;
  sub?.dispose();
  if (socket) closeSocket(socket);
  socket = null;
}

/** Waits `ms`, or less if the browser says it is back online. */
function pause(ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      removeEventListener('online', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    addEventListener('online', done);
  });
}

/** Applies what happened after `lastCursor`, page by page; false when that cannot be done. */
async function pull() {
  for (;;) {
    let page;
    try {
      page = (await api.gql(options.pullQuery, { after: lastCursor, first: PAGE })).changes;
    } catch (err) {
      // CURSOR_EXPIRED, or anything else the server refuses (its per-user
      // budget after a very long absence, say): read everything instead.
      if (err instanceof api.GraphQLError) return false;
      throw err;
    }
    for (const change of page.changes) options.onEvent(change);
    setCursor(page.cursor);
    if (!page.hasMore) return true;
  }
}

/**
 * After a lost connection: send the offline queue, pull what happened
 * meanwhile, then subscribe from the pulled cursor. Retried with backoff
 * (and at once on `online`) until it succeeds or the user signs out.
 */
export function catchUp() {
  catchingUp ??= (async () => {
    drop();
    setConnection(navigator.onLine === false ? 'offline' : 'connecting', navigator.onLine === false ? 'Offline' : 'Reconnecting…');
    while (options) {
      // Quick first retry (a server restart takes a second or two), then
      // back off to at most ~10 s, with jitter so clients don't stampede.
      if (failures > 0) await pause(Math.min(10_000, 500 * 2 ** Math.min(failures - 1, 5)) + Math.random() * 300);
      if (!options) return;
      failures += 1;
      if (navigator.onLine !== false) {
        try {
          if (!(await outbox.flush())) throw new Error('the offline queue is waiting');
          if (!options) return;
          const resumed = lastCursor !== null && (await pull());
          if (!options) return;
          if (!resumed) setCursor(null);
          socket = makeSocket();
          subscribe();
          // Nothing to resume from: subscribe first, then read everything,
          // so a change made meanwhile arrives as an event.
          if (!resumed) resync();
          return;
        } catch {
          setConnection('offline', 'Offline');
        }
      }
    }
  })().finally(() => {
    catchingUp = null;
  });
  return catchingUp;
}

addEventListener('offline', () => {
  if (!options) return;
  drop();
  setConnection('offline', 'Offline');
  catchUp();
});

/** Subscribes to `query` (a `changes(after: $after)` subscription). */
export function start(opts) {
  options = opts;
  lastCursor = null;
  failures = 0;
  connection.hidden = false;
  setConnection('connecting', 'Connecting…');
  socket = makeSocket();
  subscribe();
}

export function stop() {
  const sub = subscription;
  subscription = null;
  if (sub) sub.retired = true;
  sub?.dispose();
  if (socket) closeSocket(socket);
  socket = null;
  lastCursor = null;
  everConnected = false;
  options = null;
  connection.hidden = true;
  setConnection('offline', 'Offline');
}
