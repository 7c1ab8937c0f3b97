// The invitations inbox in the sidebar: invitations to other people's lists
// addressed to the user's (verified) email, with Accept and Decline. An
// invitation is no list event, so the inbox asks again every 10 seconds while
// the page is visible, and at once when the page comes back into view.
import * as api from '/app/api.js';
import * as lists from '/app/lists.js';
import { $, avatar, describe, notify, personName, ROLE_NAMES } from '/app/ui.js';

const POLL_MS = 10_000;
const QUERY = `query Invitations { invitations {
  id role expiresAt list { id name } invitedBy { id email displayName }
} }`;

const el = {
  section: $('inbox'),
  count: $('inbox-count'),
  list: $('invitation-list'),
  template: $('invitation-card'),
};
const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

let running = false;
let timer = null;
/** Answered invitations, hidden until the server stops listing them. */
const answered = new Set();

function render(invitations) {
  const shown = invitations.filter((i) => !answered.has(i.id));
  el.section.hidden = shown.length === 0;
  el.count.textContent = String(shown.length);
  const known = new Map([...el.list.children].map((li) => [li.dataset.id, li]));
  el.list.replaceChildren(...shown.map((i) => known.get(i.id) ?? card(i)));
}

function card(invitation) {
  const li = el.template.content.firstElementChild.cloneNode(true);
  li.dataset.id = invitation.id;
  li.querySelector('.invite-avatar').replaceWith(avatar(invitation.invitedBy, 'small'));
  li.querySelector('.from').textContent = personName(invitation.invitedBy);
  li.querySelector('.to').textContent = invitation.list.name;
  li.querySelector('.invite-meta').textContent =
    `as ${ROLE_NAMES[invitation.role].toLowerCase()} · until ${dateFmt.format(new Date(invitation.expiresAt))}`;
  const error = li.querySelector('.form-error');
  const buttons = li.querySelectorAll('button');
  const accept = li.querySelector('.accept');
  const decline = li.querySelector('.decline');
  accept.setAttribute('aria-label', `Accept the invitation to “${invitation.list.name}”`);
  decline.setAttribute('aria-label', `Decline the invitation to “${invitation.list.name}”`);

  async function answer(mutation, done) {
    error.textContent = '';
    for (const b of buttons) b.disabled = true;
    try {
      const data = await api.gql(mutation, { id: invitation.id });
      answered.add(invitation.id);
      li.remove();
      el.count.textContent = String(el.list.children.length);
      el.section.hidden = el.list.children.length === 0;
      done(data);
    } catch (err) {
      error.textContent = describe(err, 'invitation');
      if (err instanceof api.GraphQLError && err.code === 'NOT_FOUND') setTimeout(refresh, 2_000);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  accept.addEventListener('click', () =>
    answer(`mutation Accept($id: ID!) { acceptInvitation(id: $id) { ${lists.LIST_FIELDS} } }`, (data) => {
      lists.upsert(data.acceptInvitation);
      lists.select(data.acceptInvitation.id);
      notify(`You joined “${data.acceptInvitation.name}” as ${ROLE_NAMES[data.acceptInvitation.role].toLowerCase()}.`);
    }),
  );
  decline.addEventListener('click', () =>
    answer('mutation Decline($id: ID!) { cancelInvitation(id: $id) }', () =>
      notify(`You declined the invitation to “${invitation.list.name}”.`, 'info'),
    ),
  );
  return li;
}

/** Asks the server for the pending invitations now. */
let asking = 0;
export async function refresh() {
  clearTimeout(timer);
  if (!running) return;
  const mine = ++asking;
  try {
    const data = await api.gql(QUERY);
    if (running && mine === asking) render(data.invitations);
  } catch {
    /* asked again at the next tick */
  }
  // Only the latest question schedules the next one.
  if (running && mine === asking) timer = setTimeout(tick, POLL_MS);
}

function tick() {
  if (document.visibilityState === 'visible') refresh();
  else timer = setTimeout(tick, POLL_MS);
}

export function start() {
  running = true;
  answered.clear();
  refresh();
}

export function stop() {
  running = false;
  clearTimeout(timer);
  el.list.replaceChildren();
  el.section.hidden = true;
}

addEventListener('focus', () => refresh());
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') refresh();
});
