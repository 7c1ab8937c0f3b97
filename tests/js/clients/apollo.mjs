// Apollo Client against todoql: HttpLink + GraphQLWsLink (graphql-ws),
// InMemoryCache with relayStylePagination for `todos`, and the persisted
// query link (SHA-256 from node:crypto), over POST and over GET.
//
//   node apollo.mjs http://127.0.0.1:PORT <accessToken>
//
// One line per case, then a JSON summary; exit 1 when a case fails.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql, version } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { relayStylePagination } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { args, assert, recordingFetch, runCases, sha256, sleep, until, within } from './harness.mjs';

const { token, httpUrl, wsUrl } = args('apollo.mjs');
// GraphQLWsLink inspects socket errors with the global `WebSocket`, which
// Node only has from version 22: without it a refused connection crashes
// the process (ReferenceError) instead of erroring the subscription.
globalThis.WebSocket ??= WebSocket;

const TODO = gql`
  fragment TodoFields on Todo { id title completed version }
`;
const PAGE = gql`
  query TodoPage($first: Int!, $after: String) {
    todos(first: $first, after: $after) {
      edges { cursor node { ...TodoFields } }
      pageInfo { hasNextPage endCursor }
    }
  }
  ${TODO}
`;
const CREATE = gql`
  mutation Create($title: String!) { createTodo(input: { title: $title }) { ...TodoFields } }
  ${TODO}
`;
const UPDATE = gql`
  mutation Rename($id: ID!, $title: String!) { updateTodo(id: $id, input: { title: $title }) { id title version } }
`;
const EVENTS = gql`
  subscription Events { todoEvents { cursor kind todoId todo { ...TodoFields } } }
  ${TODO}
`;

// --- The client, set up as docs/frontend.md shows -------------------------
const http = recordingFetch();
const auth = new ApolloLink((operation, forward) => {
  operation.setContext(({ headers = {} }) => ({ headers: { ...headers, authorization: `Bearer ${token}` } }));
  return forward(operation);
});
const closes = [];
const wsErrors = [];
const wsClient = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: () => ({ Authorization: `Bearer ${token}` }),
  on: { closed: (e) => closes.push(e.code), error: (e) => wsErrors.push(String(e?.message ?? e)) },
});
const link = ApolloLink.split(
  (op) => op.operationType === 'subscription',
  new GraphQLWsLink(wsClient),
  auth.concat(new HttpLink({ uri: httpUrl, fetch: http.fetch })),
);
const cache = () =>
  new InMemoryCache({ typePolicies: { Query: { fields: { todos: relayStylePagination(['filter', 'orderBy']) } } } });
const client = new ApolloClient({ link, cache: cache() });

/** A client whose HTTP link sends persisted queries. */
function apqClient(useGETForHashedQueries) {
  const rec = recordingFetch();
  const apq = new ApolloClient({
    cache: cache(),
    link: ApolloLink.from([
      auth,
      new PersistedQueryLink({ sha256, useGETForHashedQueries }),
      // GET requests are "simple" to a browser: the header forces a CORS
      // preflight, which the server's CSRF check requires.
      new HttpLink({ uri: httpUrl, fetch: rec.fetch, headers: { 'apollo-require-preflight': 'true' } }),
    ]),
  });
  return { apq, requests: rec.requests };
}

async function createTodo(title) {
  const { data } = await client.mutate({ mutation: CREATE, variables: { title } });
  return data.createTodo;
}

const cases = {
  async 'normalized cache updates a todo after updateTodo without a refetch'() {
    const todo = await createTodo('apollo: before');
    const seen = [];
    const watch = client.watchQuery({ query: PAGE, variables: { first: 10 } });
    const sub = watch.subscribe((r) => r.data?.todos && seen.push(r.data.todos.edges.map((e) => e.node.title)));
    await until('the first page', () => seen.length > 0);
    const before = http.requests.length;
    await client.mutate({ mutation: UPDATE, variables: { id: todo.id, title: 'apollo: after' } });
    await until('the watched query to show the new title', () => seen.at(-1).includes('apollo: after'));
    sub.unsubscribe();
    const sent = http.requests.slice(before).map((r) => r.operationName);
    assert(JSON.stringify(sent) === '["Rename"]', `expected only the mutation on the wire, saw ${JSON.stringify(sent)}`);
    const cached = client.readFragment({ id: `Todo:${todo.id}`, fragment: TODO });
    assert(cached.title === 'apollo: after' && cached.version === todo.version + 1, `cache holds ${JSON.stringify(cached)}`);
    return { requestsAfterMutation: sent };
  },

  async 'two pages merge with no duplicate'() {
    for (let i = 0; i < 5; i++) await createTodo(`apollo: page item ${i}`);
    const fresh = new ApolloClient({ link, cache: cache() });
    const watch = fresh.watchQuery({ query: PAGE, variables: { first: 3 } });
    let latest = null;
    const sub = watch.subscribe((r) => (latest = r.data));
    await until('page 1', () => latest?.todos?.edges.length === 3);
    // A todo created between the two page loads must not shift page 2.
    await createTodo('apollo: created between pages');
    await watch.fetchMore({ variables: { after: latest.todos.pageInfo.endCursor } });
    await until('page 2 merged', () => latest.todos.edges.length === 6);
    sub.unsubscribe();
    const ids = latest.todos.edges.map((e) => e.node.id);
    assert(new Set(ids).size === ids.length, `duplicate ids in merged list: ${ids}`);
    assert(!latest.todos.edges.some((e) => e.node.title === 'apollo: created between pages'), 'page 2 contains the newer todo');
    const all = await client.query({ query: PAGE, variables: { first: 100 }, fetchPolicy: 'network-only' });
    const expected = all.data.todos.edges.map((e) => e.node.id).filter((id) => id !== all.data.todos.edges[0].node.id).slice(0, 6);
    assert(JSON.stringify(ids) === JSON.stringify(expected), `merged ${ids} but the server order is ${expected}`);
    return { merged: ids.length };
  },

  async 'a subscription receives an event for a change made over HTTP, then unsubscribes cleanly'() {
    const events = [];
    const sub = client.subscribe({ query: EVENTS }).subscribe({
      next: (r) => events.push(r),
      error: (e) => events.push({ error: e }),
    });
    await sleep(300);
    const todo = await createTodo('apollo: over http');
    await until('the CREATED event', () => events.some((e) => e.data?.todoEvents?.todoId === todo.id));
    const event = events.find((e) => e.data?.todoEvents?.todoId === todo.id).data.todoEvents;
    assert(event.kind === 'CREATED' && event.todo.title === 'apollo: over http', JSON.stringify(event));
    assert(client.cache.readFragment({ id: `Todo:${todo.id}`, fragment: TODO }), 'the event did not normalize into the cache');
    sub.unsubscribe();
    // Lazy graphql-ws closes the socket normally once nothing is subscribed.
    await until('a normal close', () => closes.includes(1000));
    assert(!events.some((e) => e.error), `subscription errors: ${JSON.stringify(events.filter((e) => e.error))}`);
    assert(wsErrors.length === 0, `socket errors: ${wsErrors}`);
    return { closeCodes: closes };
  },

  async 'BAD_USER_INPUT reaches the client as a GraphQL error with extensions.code'() {
    let error = null;
    try {
      await client.mutate({ mutation: CREATE, variables: { title: '   ' } });
    } catch (e) {
      error = e;
    }
    assert(error, 'the mutation did not fail');
    assert(CombinedGraphQLErrors.is(error), `expected CombinedGraphQLErrors, got ${error?.name}: ${error?.message}`);
    assert(error.errors[0].extensions?.code === 'BAD_USER_INPUT', `code ${error.errors[0].extensions?.code}`);
    // errorPolicy "all" hands back the same error next to the (null) data.
    const all = await client.mutate({ mutation: CREATE, variables: { title: '' }, errorPolicy: 'all' });
    assert(CombinedGraphQLErrors.is(all.error) && all.error.errors[0].extensions.code === 'BAD_USER_INPUT', 'errorPolicy all');
    return { code: error.errors[0].extensions.code, message: error.errors[0].message };
  },

  async 'APQ over POST: hash first, full query on PERSISTED_QUERY_NOT_FOUND, then hash only'() {
    const { apq, requests } = apqClient(false);
    const query = gql`query ApqPost { me { id todoCounts { total } } }`;
    const first = await apq.query({ query, fetchPolicy: 'network-only' });
    assert(first.data.me.id, 'no data');
    const again = await apq.query({ query, fetchPolicy: 'network-only' });
    assert(again.data.me.id, 'no data the second time');
    const shape = requests.map((r) => `${r.method} ${r.withQuery ? 'query+hash' : 'hash'}${r.errorCodes.length ? ` → ${r.errorCodes}` : ''}`);
    assert(
      JSON.stringify(shape) === JSON.stringify(['POST hash → PERSISTED_QUERY_NOT_FOUND', 'POST query+hash', 'POST hash']),
      `requests: ${JSON.stringify(shape)}`,
    );
    return { requests: shape };
  },

  async 'APQ over GET (useGETForHashedQueries) with the CSRF header'() {
    const { apq, requests } = apqClient(true);
    const query = gql`query ApqGet($first: Int!) { todos(first: $first) { edges { node { id title } } pageInfo { hasNextPage endCursor } } }`;
    const first = await apq.query({ query, variables: { first: 2 }, fetchPolicy: 'network-only' });
    assert(first.data.todos.edges.length === 2, 'no data');
    const again = await apq.query({ query, variables: { first: 2 }, fetchPolicy: 'network-only' });
    assert(again.data.todos.edges.length === 2, 'no data the second time');
    const shape = requests.map((r) => `${r.method} ${r.withQuery ? 'query+hash' : 'hash'}${r.errorCodes.length ? ` → ${r.errorCodes}` : ''}`);
    assert(shape[0] === 'GET hash → PERSISTED_QUERY_NOT_FOUND', `first request: ${shape[0]}`);
    assert(/^(GET|POST) query\+hash$/.test(shape[1]), `retry: ${shape[1]}`);
    assert(shape[2] === 'GET hash' && shape.length === 3, `requests: ${JSON.stringify(shape)}`);
    assert(requests.every((r) => r.preflightHeader), 'a request went out without apollo-require-preflight');
    return { requests: shape };
  },
};

await runCases('apollo', version, cases, () => wsClient.dispose());
