// Live updates: the `changes` subscription (every todo and list change the
// signed-in user may see, in one order under one cursor) over
// graphql-transport-ws, with the connection indicator. Resumes from the last
// applied cursor after a dropped connection or a token refresh, so nothing is
// missed and nothing applied twice.
import { createClient } from '/app/vendor/graphql-ws/client.js';
import * as api from '/app/api.js';
import { $ } from '/app/ui.js';

const connection = $('connection');

let socket = null;
let subscription = null;
let lastCursor = null;
let everConnected = false;
/** { query, onEvent(change), onResync() } while signed in. */
let options = null;

function setConnection(state, label) {
  connection.dataset.state = state;
  connection.querySelector('.connection-label').textContent = label;
  connection.title =
    state === 'live'
      ? 'Changes from your other devices and the people you share lists with appear instantly.'
      : 'Changes will sync when the connection is back.';
}

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
        if (wasRetry && lastCursor === null) resync();
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
  const payload = { query: options.query, variables: { after: lastCursor } };
  const mine = {};
  subscription = mine;
  mine.dispose = socket.subscribe(payload, {
    next: ({ data, errors }) => {
      if (errors?.length || !data) return;
      const change = data.changes;
      // A retiring subscription may still deliver; only the current one
      // applies and moves the cursor (the new one replays anything after it).
      if (subscription !== mine) return;
      lastCursor = change.cursor;
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
  if (lastCursor === null) resync();
  if (subscription === mine) subscribe();
}

/** Subscribes to `query` (a `changes(after: $after)` subscription). */
export function start(opts) {
  options = opts;
  connection.hidden = false;
  setConnection('connecting', 'Connecting…');
  socket = makeSocket();
  subscribe();
}

export function stop() {
  const sub = subscription;
  subscription = null;
  sub?.dispose();
  if (socket) closeSocket(socket);
  socket = null;
  lastCursor = null;
  everConnected = false;
  options = null;
  connection.hidden = true;
}
