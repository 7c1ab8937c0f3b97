// urql against todoql: @urql/core with the normalized Graphcache
// (@urql/exchange-graphcache, relayPagination for `todos`), APQ through
// @urql/exchange-persisted, and subscriptionExchange over graphql-ws.
//
//   node urql.mjs http://127.0.0.1:PORT <accessToken>
//
// One line per case, then a JSON summary; exit 1 when a case fails.
import { Client, CombinedError, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { cacheExchange } from '@urql/exchange-graphcache';
import { relayPagination } from '@urql/exchange-graphcache/extras';
import { persistedExchange } from '@urql/exchange-persisted';
import { createClient } from 'graphql-ws';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { args, assert, recordingFetch, runCases, sha256, sleep, until } from './harness.mjs';

const { version } = createRequire(import.meta.url)('@urql/core/package.json');
const { token, httpUrl, wsUrl } = args('urql.mjs');

const PAGE = gql`
  query TodoPage($first: Int!, $after: String) {
    todos(first: $first, after: $after) {
      edges { cursor node { id title completed version } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const CREATE = gql`
  mutation Create($title: String!) { createTodo(input: { title: $title }) { id title completed version } }
`;
const UPDATE = gql`
  mutation Rename($id: ID!, $title: String!) { updateTodo(id: $id, input: { title: $title }) { id title version } }
`;
const EVENTS = gql`
  subscription Events { todoEvents { cursor kind todoId todo { id title completed version } } }
`;

// --- The client, set up as docs/frontend.md shows -------------------------
const closes = [];
const wsErrors = [];
const wsClient = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: () => ({ Authorization: `Bearer ${token}` }),
  on: { closed: (e) => closes.push(e.code), error: (e) => wsErrors.push(String(e?.message ?? e)) },
});

const graphcache = () =>
  cacheExchange({
    // Types without an id are embedded in their parent, not normalized.
    keys: { TodoConnection: () => null, TodoEdge: () => null, PageInfo: () => null, TodoEvent: () => null, TodoCounts: () => null },
    resolvers: { Query: { todos: relayPagination() } },
  });

function makeClient({ persisted } = {}) {
  const rec = recordingFetch();
  const exchanges = [graphcache()];
  if (persisted) {
    exchanges.push(persistedExchange({ generateHash: async (query) => sha256(query), preferGetForPersistedQueries: persisted === 'GET' }));
  }
  exchanges.push(
    fetchExchange,
    subscriptionExchange({
      forwardSubscription(request) {
        const input = { ...request, query: request.query || '' };
        return { subscribe: (sink) => ({ unsubscribe: wsClient.subscribe(input, sink) }) };
      },
    }),
  );
  const client = new Client({
    url: httpUrl,
    fetch: rec.fetch,
    // `apollo-require-preflight` makes browsers preflight GETs (CSRF rule).
    fetchOptions: () => ({ headers: { authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' } }),
    exchanges,
  });
  return { client, requests: rec.requests };
}

const { client, requests } = makeClient();

async function createTodo(title) {
  const r = await client.mutation(CREATE, { title }).toPromise();
  if (r.error) throw r.error;
  return r.data.createTodo;
}

const shapeOf = (reqs) =>
  reqs.map((r) => `${r.method} ${r.withQuery ? 'query+hash' : 'hash'}${r.errorCodes.length ? ` → ${r.errorCodes}` : ''}`);

const cases = {
  async 'normalized cache (Graphcache) updates a todo after updateTodo without a refetch'() {
    const todo = await createTodo('urql: before');
    const seen = [];
    const { unsubscribe } = client.query(PAGE, { first: 10 }).subscribe((r) => {
      if (r.data) seen.push(r.data.todos.edges.map((e) => e.node.title));
    });
    await until('the first page', () => seen.length > 0);
    const before = requests.length;
    const r = await client.mutation(UPDATE, { id: todo.id, title: 'urql: after' }).toPromise();
    assert(!r.error, `mutation failed: ${r.error}`);
    await until('the query result to show the new title', () => seen.at(-1).includes('urql: after'));
    await sleep(200); // a refetch, if any, would have gone out by now
    unsubscribe();
    const sent = requests.slice(before).map((q) => q.operationName);
    assert(JSON.stringify(sent) === '["Rename"]', `expected only the mutation on the wire, saw ${JSON.stringify(sent)}`);
    return { requestsAfterMutation: sent };
  },

  async 'two pages merge with no duplicate (relayPagination)'() {
    for (let i = 0; i < 5; i++) await createTodo(`urql: page item ${i}`);
    const { client: fresh } = makeClient();
    const page1 = await fresh.query(PAGE, { first: 3 }).toPromise();
    assert(page1.data?.todos.edges.length === 3, `page 1: ${JSON.stringify(page1.error ?? page1.data)}`);
    await createTodo('urql: created between pages');
    const page2 = await fresh.query(PAGE, { first: 3, after: page1.data.todos.pageInfo.endCursor }).toPromise();
    assert(page2.data, `page 2: ${page2.error}`);
    // relayPagination merges every page into any read of the field.
    const merged = await fresh.query(PAGE, { first: 3 }, { requestPolicy: 'cache-only' }).toPromise();
    const ids = merged.data.todos.edges.map((e) => e.node.id);
    assert(ids.length === 6, `merged ${ids.length} edges, expected 6`);
    assert(new Set(ids).size === ids.length, `duplicate ids in merged list: ${ids}`);
    assert(!merged.data.todos.edges.some((e) => e.node.title === 'urql: created between pages'), 'page 2 contains the newer todo');
    return { merged: ids.length };
  },

  async 'a subscription receives an event for a change made over HTTP, then unsubscribes cleanly'() {
    const events = [];
    const { unsubscribe } = client.subscription(EVENTS, {}).subscribe((r) => events.push(r));
    await sleep(300);
    const todo = await createTodo('urql: over http');
    await until('the CREATED event', () => events.some((e) => e.data?.todoEvents?.todoId === todo.id));
    const event = events.find((e) => e.data?.todoEvents?.todoId === todo.id).data.todoEvents;
    assert(event.kind === 'CREATED' && event.todo.title === 'urql: over http', JSON.stringify(event));
    unsubscribe();
    await until('a normal close', () => closes.includes(1000));
    assert(!events.some((e) => e.error), `subscription errors: ${events.filter((e) => e.error).map((e) => e.error)}`);
    assert(wsErrors.length === 0, `socket errors: ${wsErrors}`);
    return { closeCodes: closes };
  },

  async 'BAD_USER_INPUT reaches the client as a GraphQL error with extensions.code'() {
    const r = await client.mutation(CREATE, { title: '   ' }).toPromise();
    assert(r.error instanceof CombinedError, `expected a CombinedError, got ${JSON.stringify(r)}`);
    assert(!r.error.networkError, `reported as a network error: ${r.error.networkError}`);
    const code = r.error.graphQLErrors[0]?.extensions?.code;
    assert(code === 'BAD_USER_INPUT', `code ${code}`);
    return { code, message: r.error.graphQLErrors[0].message };
  },

  async 'APQ over POST: hash first, full query on PERSISTED_QUERY_NOT_FOUND, then hash only'() {
    const { client: apq, requests: reqs } = makeClient({ persisted: 'POST' });
    const query = gql`query UrqlApqPost { me { id todoCounts { total } } }`;
    for (let i = 0; i < 2; i++) {
      const r = await apq.query(query, {}, { requestPolicy: 'network-only' }).toPromise();
      assert(r.data?.me.id, `no data: ${r.error}`);
    }
    const shape = shapeOf(reqs);
    assert(
      JSON.stringify(shape) === JSON.stringify(['POST hash → PERSISTED_QUERY_NOT_FOUND', 'POST query+hash', 'POST hash']),
      `requests: ${JSON.stringify(shape)}`,
    );
    return { requests: shape };
  },

  async 'APQ over GET with the CSRF header'() {
    const { client: apq, requests: reqs } = makeClient({ persisted: 'GET' });
    const query = gql`query UrqlApqGet($first: Int!) { todos(first: $first) { edges { node { id title } } pageInfo { hasNextPage endCursor } } }`;
    for (let i = 0; i < 2; i++) {
      const r = await apq.query(query, { first: 2 }, { requestPolicy: 'network-only' }).toPromise();
      assert(r.data?.todos.edges.length === 2, `no data: ${r.error}`);
    }
    const shape = shapeOf(reqs);
    assert(shape[0] === 'GET hash → PERSISTED_QUERY_NOT_FOUND', `first request: ${shape[0]}`);
    assert(/^(GET|POST) query\+hash$/.test(shape[1]), `retry: ${shape[1]}`);
    assert(shape[2] === 'GET hash' && shape.length === 3, `requests: ${JSON.stringify(shape)}`);
    assert(reqs.every((r) => r.preflightHeader), 'a request went out without apollo-require-preflight');
    return { requests: shape };
  },
};

await runCases('urql', version, cases, () => wsClient.dispose());
