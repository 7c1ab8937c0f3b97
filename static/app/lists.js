// The sidebar of lists (the default list first, then the user's own order)
// and the selected list's header: its name, the caller's role, its members,
// and create, rename, share and delete. Kept current by the ListEvents of the
// `changes` feed (app.js routes them here).
import * as api from '/app/api.js';
import * as todos from '/app/todos.js';
import * as share from '/app/share.js';
import { $, attempt, avatar, confirm, describe, notify, personName, ROLE_NAMES } from '/app/ui.js';

const PERSON = 'id email displayName';
export const LIST_FIELDS = `id name isDefault role position version owner { ${PERSON} }
  members { role user { ${PERSON} } } todoCounts { total active completed }`;
const LISTS_QUERY = `query Lists($after: String) {
  lists(first: 50, after: $after) { nodes { ${LIST_FIELDS} } pageInfo { hasNextPage endCursor } }
}`;
/**
 * What a ListEvent carries: the list's own fields. Members and counts come
 * from a query after the event, as the event's snapshot has them only as
 * they stood when the subscription first read them.
 */
export const LIST_EVENT_FIELDS = 'id name isDefault role position version';
const LIST_QUERY = `query List($id: ID!) { list(id: $id) { ${LIST_FIELDS} } }`;
const COUNTS_QUERY = 'query ListCounts($id: ID!) { list(id: $id) { id todoCounts { total active completed } } }';
const ICONS = {
  inbox: '<path d="M4 13l2.5-7h11L20 13v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1v-5z"/><path d="M4 13h4.5l1 2h5l1-2H20"/>',
  list: '<path d="M9 6h11M9 12h11M9 18h11"/><path d="M4.5 6h.01M4.5 12h.01M4.5 18h.01"/>',
  shared: '<circle cx="9" cy="8" r="3.2"/><path d="M3.5 19c.6-3.2 2.8-5 5.5-5s4.9 1.8 5.5 5"/><path d="M15.5 5.2a3 3 0 0 1 0 5.6M17.5 14.3c1.6.6 2.7 2.2 3 4.7"/>',
};

const el = {
  nav: $('lists'),
  newButton: $('new-list-button'),
  newForm: $('new-list'),
  newName: $('new-list-name'),
  newError: $('new-list-error'),
  head: $('list-head'),
  title: $('todos-title'),
  role: $('role-badge'),
  members: $('member-avatars'),
  shareButton: $('share-button'),
  renameButton: $('rename-button'),
  deleteButton: $('delete-list-button'),
  renameForm: $('rename-form'),
  renameInput: $('rename-input'),
  renameError: $('rename-error'),
};

/** id → list, as the server last described it to this user. */
const lists = new Map();
let currentId = null;
let me = null;
/** Lists this page deleted or left: their ACCESS_REVOKED needs no notice. */
const goneByHand = new Set();

/** Expects the ACCESS_REVOKED of `id` that this page's own delete or leave brings. */
function markGone(id) {
  goneByHand.add(id);
  setTimeout(() => goneByHand.delete(id), 60_000);
}

const storageKey = () => `todoql.list.${me?.id}`;

function sorted() {
  return [...lists.values()].sort((a, b) => {
    if (a.isDefault !== b.isDefault) return a.isDefault ? -1 : 1;
    if (a.position !== b.position) return a.position < b.position ? -1 : 1;
    return a.id < b.id ? -1 : 1;
  });
}

export function current() {
  return lists.get(currentId) ?? null;
}

const isShared = (list) => (list.members?.length ?? 1) > 1;

// ---------------------------------------------------------------- rendering

function icon(name) {
  return `<svg class="list-icon" viewBox="0 0 24 24" aria-hidden="true">${ICONS[name]}</svg>`;
}

function renderSidebar() {
  const items = sorted().map((list) => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'list-link';
    button.dataset.id = list.id;
    if (list.id === currentId) button.setAttribute('aria-current', 'page');
    button.innerHTML = icon(list.isDefault ? 'inbox' : isShared(list) ? 'shared' : 'list');
    const name = document.createElement('span');
    name.className = 'list-name';
    name.textContent = list.name;
    button.append(name);
    const active = list.todoCounts?.active ?? 0;
    if (active > 0) {
      const count = document.createElement('span');
      count.className = 'list-count';
      count.textContent = String(active);
      count.setAttribute('aria-label', `${active} to do`);
      button.append(count);
    }
    if (isShared(list)) button.title = `Shared · you are ${ROLE_NAMES[list.role].toLowerCase()}`;
    button.addEventListener('click', () => select(list.id));
    li.append(button);
    return li;
  });
  el.nav.replaceChildren(...items);
}

function renderHead() {
  const list = current();
  el.head.hidden = !list;
  if (!list) return;
  el.title.textContent = list.name;
  document.title = `${list.name} · todoql`;
  const shared = isShared(list);
  el.role.hidden = !shared && list.role === 'OWNER';
  el.role.textContent = list.role === 'VIEWER' ? 'Viewer · read only' : ROLE_NAMES[list.role];
  el.role.dataset.role = list.role;
  const people = shared ? list.members.map((m) => m.user) : [];
  el.members.replaceChildren(...people.slice(0, 4).map((p) => avatar(p)));
  if (people.length > 4) {
    const more = document.createElement('span');
    more.className = 'avatar more';
    more.textContent = `+${people.length - 4}`;
    el.members.append(more);
  }
  el.members.hidden = !shared;
  el.members.setAttribute('aria-label', `Shared with ${people.filter((p) => p.id !== me?.id).map(personName).join(', ')}`);
  el.shareButton.querySelector('.label').textContent = list.role === 'OWNER' ? 'Share' : 'Members';
  el.renameButton.hidden = list.role === 'VIEWER';
  el.deleteButton.hidden = list.role !== 'OWNER' || list.isDefault;
}

function renderAll() {
  renderSidebar();
  renderHead();
}

// ---------------------------------------------------------------- state

/** Stores a list as the server describes it now; redraws what shows it. */
export function upsert(list) {
  const known = lists.get(list.id);
  lists.set(list.id, { ...known, ...list });
  renderSidebar();
  if (list.id === currentId) {
    const merged = lists.get(list.id);
    if (known && known.role !== merged.role) {
      notify(`Your role in “${merged.name}” is now ${ROLE_NAMES[merged.role].toLowerCase()}.`, 'info');
    }
    renderHead();
    todos.listChanged(merged);
  }
  share.listChanged(lists.get(list.id));
}

function forget(id) {
  const list = lists.get(id);
  lists.delete(id);
  share.listGone(id);
  if (id === currentId) {
    const fallback = sorted().find((l) => l.isDefault) ?? sorted()[0];
    currentId = null;
    if (fallback) select(fallback.id);
  }
  renderAll();
  return list;
}

/** Shows the list `id` in the main column. */
export function select(id) {
  const list = lists.get(id);
  if (!list) return;
  const changed = currentId !== id;
  currentId = id;
  localStorage.setItem(storageKey(), id);
  cancelRename();
  renderAll();
  if (changed) todos.show(list, me);
}

/** Loads every list (pages of 50) and shows the remembered one, or the default list. */
export async function load(user) {
  me = user;
  const all = [];
  let after = null;
  do {
    const data = await api.gql(LISTS_QUERY, { after });
    all.push(...data.lists.nodes);
    after = data.lists.pageInfo.hasNextPage ? data.lists.pageInfo.endCursor : null;
  } while (after);
  lists.clear();
  for (const list of all) lists.set(list.id, list);
  const remembered = localStorage.getItem(storageKey());
  const previous = currentId;
  currentId = null;
  const next = [previous, remembered].find((id) => id && lists.has(id)) ?? sorted()[0]?.id;
  if (next) {
    currentId = next;
    renderAll();
    await todos.show(lists.get(next), me);
    if (next === previous) await todos.reload();
  } else {
    renderAll();
  }
}

export function clear() {
  lists.clear();
  currentId = null;
  me = null;
  goneByHand.clear();
  share.close();
  renderAll();
  todos.clear();
}

/** A ListEvent of the `changes` feed. */
export function applyEvent(event) {
  if (event.action === 'ACCESS_REVOKED') {
    const list = lists.has(event.listId) ? forget(event.listId) : null;
    if (list && !goneByHand.delete(event.listId)) {
      notify(
        list.role === 'OWNER'
          ? `“${list.name}” was deleted.`
          : `You no longer have access to “${list.name}”: it was deleted, or its owner removed you.`,
        'info',
      );
    }
  } else if (event.list) {
    upsert(event.list);
    refetch(event.listId);
  } else {
    // From the pull feed, which leaves the list out (app.js): read it.
    refetch(event.listId, true);
  }
}

const refetchTimers = new Map();
/**
 * Reads a list again (its members, counts) soon, once for a burst of
 * events; `orAdd`: also when this page does not know it yet (a list shared
 * with the user while the page was offline).
 */
function refetch(id, orAdd = false) {
  clearTimeout(refetchTimers.get(id));
  refetchTimers.set(
    id,
    setTimeout(async () => {
      refetchTimers.delete(id);
      const data = await api.gql(LIST_QUERY, { id }).catch(() => null);
      if (data?.list && (orAdd || lists.has(id))) upsert(data.list);
    }, 50),
  );
}

const countTimers = new Map();
/** A TodoEvent: the sidebar count of its list (the shown list's comes from todos.js). */
export function todoEvent(event) {
  if (event.listId === currentId || !lists.has(event.listId)) return;
  clearTimeout(countTimers.get(event.listId));
  countTimers.set(
    event.listId,
    setTimeout(async () => {
      countTimers.delete(event.listId);
      const data = await api.gql(COUNTS_QUERY, { id: event.listId }).catch(() => null);
      if (data?.list) setCounts(event.listId, data.list.todoCounts);
    }, 300),
  );
}

function setCounts(id, counts) {
  const list = lists.get(id);
  if (!list) return;
  list.todoCounts = counts;
  renderSidebar();
}
todos.onCounts(setCounts);

// ---------------------------------------------------------------- create

function closeNewForm() {
  el.newForm.hidden = true;
  el.newButton.hidden = false;
  el.newName.value = '';
  el.newError.textContent = '';
}

el.newButton.addEventListener('click', () => {
  el.newButton.hidden = true;
  el.newForm.hidden = false;
  el.newName.focus();
});
el.newForm.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') {
    closeNewForm();
    el.newButton.focus();
  }
});
el.newForm.querySelector('.cancel').addEventListener('click', () => {
  closeNewForm();
  el.newButton.focus();
});
el.newForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = el.newName.value.trim();
  if (!name) {
    el.newError.textContent = 'Give the list a name.';
    el.newName.focus();
    return;
  }
  const data = await attempt(el.newError, () =>
    api.gql(`mutation CreateList($input: CreateListInput!) { createList(input: $input) { ${LIST_FIELDS} } }`, {
      input: { name },
    }),
  );
  if (!data) return;
  closeNewForm();
  upsert(data.createList);
  select(data.createList.id);
  todos.focusNew();
});

// ---------------------------------------------------------------- rename

function cancelRename() {
  el.renameForm.hidden = true;
  el.head.classList.remove('renaming');
  el.renameError.textContent = '';
}

el.renameButton.addEventListener('click', () => {
  const list = current();
  if (!list) return;
  el.head.classList.add('renaming');
  el.renameForm.hidden = false;
  el.renameInput.value = list.name;
  el.renameInput.select();
  el.renameInput.focus();
});
el.renameForm.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') {
    cancelRename();
    el.renameButton.focus();
  }
});
el.renameForm.querySelector('.cancel').addEventListener('click', () => {
  cancelRename();
  el.renameButton.focus();
});
el.renameForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const list = current();
  const name = el.renameInput.value.trim();
  if (!name) {
    el.renameError.textContent = 'A list needs a name.';
    el.renameInput.focus();
    return;
  }
  if (name !== list.name) {
    const data = await attempt(
      el.renameError,
      () =>
        api.gql(`mutation Rename($id: ID!, $input: UpdateListInput!) { updateList(id: $id, input: $input) { ${LIST_FIELDS} } }`, {
          id: list.id,
          input: { name, expectedVersion: list.version },
        }),
      'list',
    );
    if (!data) return;
    upsert(data.updateList);
  }
  cancelRename();
  el.renameButton.focus();
});

// ---------------------------------------------------------------- delete, share

el.deleteButton.addEventListener('click', async () => {
  const list = current();
  if (!list) return;
  const others = list.members.length - 1;
  const ok = await confirm({
    title: `Delete “${list.name}”?`,
    body:
      `Its todos are deleted with it` +
      (others > 0 ? `, for the ${others === 1 ? 'other member' : `${others} other members`} too.` : '.') +
      ' This cannot be undone.',
    action: 'Delete list',
  });
  if (!ok) return;
  markGone(list.id);
  const data = await attempt($('list-error'), () => api.gql('mutation DeleteList($id: ID!) { deleteList(id: $id) }', { id: list.id }), 'list');
  if (data === undefined) {
    goneByHand.delete(list.id);
    return;
  }
  forget(list.id);
  notify(`“${list.name}” was deleted.`);
});

/** Leaves `list` (share.js asks); resolves to an error message, or null. */
async function leave(list) {
  markGone(list.id);
  try {
    await api.gql('mutation Leave($list: ID!, $me: ID!) { removeMember(listId: $list, userId: $me) }', { list: list.id, me: me.id });
  } catch (err) {
    goneByHand.delete(list.id);
    return describe(err, 'list');
  }
  forget(list.id);
  notify(`You left “${list.name}”.`);
  return null;
}

el.shareButton.addEventListener('click', () => {
  const list = current();
  if (list) share.open(list, me, () => leave(list));
});
