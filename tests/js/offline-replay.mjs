// An offline client replaying its queue with idempotency keys (issue 16):
// graphql-ws (keys in `extensions.idempotencyKey`) and fetch (the
// `Idempotency-Key` header). It makes 50 changes — 20 creates, 20 updates,
// 10 deletes, alternating HTTP and WebSocket — "loses" every response,
// resends all 50 with the same keys, and checks that each resend is a
// replay, that exactly 50 changes happened (todos and versions), and that
// its todoEvents subscription saw each change once.
//
//   node offline-replay.mjs http://127.0.0.1:PORT <accessToken>
//
// Prints one JSON summary line; exit 0 on success.
import { randomUUID } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  console.error('usage: node offline-replay.mjs <baseUrl> <accessToken>');
  process.exit(1);
}
const problems = [];
const deadline = setTimeout(() => finish('timed out'), 60000);
const client = createClient({
  url: base.replace(/^http/, 'ws') + '/graphql',
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: { error: (err) => problems.push(`client error: ${err?.message ?? err}`) },
});
const summary = {};

function finish(error) {
  clearTimeout(deadline);
  const ok = !error && problems.length === 0;
  console.log(JSON.stringify({ ok, error: error ?? null, problems, ...summary }));
  client.dispose();
  setTimeout(() => process.exit(ok ? 0 : 1), 200);
}

const CREATE = 'mutation($input: CreateTodoInput!) { createTodo(input: $input) { id version } }';
const UPDATE =
  'mutation($id: ID!, $input: UpdateTodoInput!) { updateTodo(id: $id, input: $input) { id version } }';
const DELETE = 'mutation($id: ID!) { deleteTodo(id: $id) }';

/// One queued change, sent over `transport` with `key`. Answers
/// `{ result, replayed }`.
async function send({ transport, key, query, variables }) {
  if (transport === 'http') {
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json',
        authorization: `Bearer ${token}`,
        'idempotency-key': key,
      },
      body: JSON.stringify({ query, variables }),
    });
    return { result: await res.json(), replayed: res.headers.get('idempotent-replayed') === 'true' };
  }
  const result = await new Promise((resolve, reject) => {
    let last;
    client.subscribe(
      { query, variables, extensions: { idempotencyKey: key } },
      { next: (r) => (last = r), error: reject, complete: () => resolve(last) },
    );
  });
  return { result, replayed: result?.extensions?.idempotentReplayed === true };
}

/// Sends every change and forgets the answers (the network "lost" them).
async function sendAndLose(queue) {
  for (const op of queue) await send(op);
}

/// Resends every change with its key: each must be a replay without errors.
async function resend(queue) {
  const results = [];
  for (const op of queue) {
    const { result, replayed } = await send(op);
    if (!replayed) problems.push(`${op.transport} ${op.key}: not replayed`);
    if (result?.errors) problems.push(`${op.key}: ${JSON.stringify(result.errors)}`);
    results.push(result);
  }
  summary.resent = (summary.resent ?? 0) + queue.length;
  return results;
}

const transport = (i) => (i % 2 === 0 ? 'http' : 'ws');

try {
  // Every change the client makes, as the server reports it.
  const events = [];
  let sentinelSeen;
  const sentinel = new Promise((resolve) => (sentinelSeen = resolve));
  await new Promise((resolve, reject) => {
    client.subscribe(
      { query: 'subscription { todoEvents { cursor kind todoId todo { title } } }' },
      {
        next: (r) => {
          if (r.errors) return reject(new Error(JSON.stringify(r.errors)));
          const e = r.data.todoEvents;
          if (e.todo?.title === 'sentinel') sentinelSeen();
          else events.push(e);
        },
        error: (e) => problems.push(`subscription: ${JSON.stringify(e)}`),
        complete: () => {},
      },
    );
    // The subscription is live once the server acknowledged a later
    // operation on the same socket: a query round trip.
    client.subscribe(
      { query: '{ me { id } }' },
      { next: () => {}, error: reject, complete: resolve },
    );
  });

  // 20 creates, sent, lost, resent: the replays carry the ids.
  const creates = Array.from({ length: 20 }, (_, i) => ({
    transport: transport(i),
    key: randomUUID(),
    query: CREATE,
    variables: { input: { title: `offline ${i}` } },
  }));
  await sendAndLose(creates);
  const created = await resend(creates);
  const ids = created.map((r) => r?.data?.createTodo?.id);
  if (ids.some((id) => !id)) throw new Error(`creates: ${JSON.stringify(created)}`);

  // 20 updates and 10 deletes, sent, lost, resent.
  const changes = [
    ...ids.map((id, i) => ({
      transport: transport(i + 1),
      key: randomUUID(),
      query: UPDATE,
      variables: { id, input: { completed: true, title: `offline ${i} done` } },
    })),
    ...ids.slice(10).map((id, i) => ({
      transport: transport(i),
      key: randomUUID(),
      query: DELETE,
      variables: { id },
    })),
  ];
  await sendAndLose(changes);
  await resend(changes);

  // A last, unkeyed change: once its event arrives, every earlier event
  // has (one ordered feed per user).
  await send({ transport: 'http', key: randomUUID(), query: CREATE, variables: { input: { title: 'sentinel' } } });
  await sentinel;

  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ todos(first: 100) { totalCount nodes { title version completed } } }' }),
  });
  const todos = (await res.json()).data.todos;
  const kept = todos.nodes.filter((t) => t.title !== 'sentinel');
  summary.todos = kept.length;
  summary.versions = [...new Set(kept.map((t) => t.version))];
  summary.allCompleted = kept.every((t) => t.completed);
  summary.events = events.length;
  summary.uniqueCursors = new Set(events.map((e) => e.cursor)).size;
  summary.kinds = events.reduce((acc, e) => ({ ...acc, [e.kind]: (acc[e.kind] ?? 0) + 1 }), {});
  finish();
} catch (e) {
  finish(e?.message ?? String(e));
}
