// Drives todoql with the reference graphql-transport-ws client (npm
// `graphql-ws`): a query over the socket, a todoEvents subscription that
// receives the event of a mutation made over HTTP, then a clean unsubscribe
// and dispose. Any unexpected close or protocol error fails the run.
//
//   node graphql-ws-client.mjs http://127.0.0.1:PORT <accessToken>
//
// Prints one JSON summary line; exit 0 on success.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  console.error('usage: node graphql-ws-client.mjs <baseUrl> <accessToken>');
  process.exit(1);
}
const wsUrl = base.replace(/^http/, 'ws') + '/graphql';
const problems = [];
const closes = [];
const deadline = setTimeout(() => finish('timed out'), 20000);

const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
  lazy: true,
  on: {
    closed: (event) => closes.push(event.code),
    error: (err) => problems.push(`client error: ${err?.message ?? err}`),
  },
});

function finish(error) {
  clearTimeout(deadline);
  const ok = !error && problems.length === 0;
  console.log(JSON.stringify({ ok, error: error ?? null, problems, closes, ...summary }));
  client.dispose();
  setTimeout(() => process.exit(ok ? 0 : 1), 200);
}

const summary = {};
try {
  // A query over the socket: one next, then complete.
  const me = await new Promise((resolve, reject) => {
    let result;
    client.subscribe(
      { query: '{ me { email } }' },
      { next: (r) => (result = r), error: reject, complete: () => resolve(result) },
    );
  });
  if (!me?.data?.me?.email) throw new Error(`query failed: ${JSON.stringify(me)}`);
  summary.me = me.data.me.email;

  // A subscription that sees a change made over HTTP.
  const event = await new Promise((resolve, reject) => {
    let unsubscribe;
    unsubscribe = client.subscribe(
      { query: 'subscription { todoEvents { cursor kind todo { title } } }' },
      {
        next: (r) => {
          if (r.errors) return reject(new Error(JSON.stringify(r.errors)));
          unsubscribe();
          resolve(r.data.todoEvents);
        },
        error: reject,
        complete: () => {},
      },
    );
    // Give the subscription a moment to be registered, then mutate.
    setTimeout(async () => {
      try {
        const res = await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: 'mutation { createTodo(input: {title: "from graphql-ws"}) { id } }' }),
        });
        const body = await res.json();
        if (body.errors) reject(new Error(JSON.stringify(body.errors)));
      } catch (e) {
        reject(e);
      }
    }, 300);
  });
  if (event.kind !== 'CREATED' || event.todo?.title !== 'from graphql-ws') {
    throw new Error(`unexpected event ${JSON.stringify(event)}`);
  }
  summary.event = event.kind;
  finish();
} catch (e) {
  finish(e?.message ?? String(e));
}
