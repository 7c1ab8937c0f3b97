// The share dialog of a list: its members and their roles, and for the
// owner, inviting by email with a role, pending invitations, changing a
// member's role and removing a member. Other members see who is in the list
// and can leave it. Redrawn when a ListEvent says the list changed.
import * as api from '/app/api.js';
import { $, attempt, avatar, confirm, describe, personName, ROLE_NAMES } from '/app/ui.js';

const PERSON = 'id email displayName';
const SHARE_QUERY = `query Share($id: ID!) { list(id: $id) {
  id name role isDefault
  members { role joinedAt user { ${PERSON} } }
  pendingInvitations { id email role createdAt expiresAt }
} }`;

const el = {
  dialog: $('share-dialog'),
  title: $('share-title'),
  subtitle: $('share-subtitle'),
  inviteForm: $('invite-form'),
  inviteEmail: $('invite-email'),
  inviteRole: $('invite-role'),
  inviteError: $('invite-error'),
  inviteStatus: $('invite-status'),
  memberCount: $('member-count'),
  members: $('member-list'),
  pendingSection: $('pending-section'),
  pending: $('pending-list'),
  error: $('share-error'),
  leave: $('leave-button'),
  memberTemplate: $('member-row'),
};

/** The list shown, its details as last fetched, the signed-in user, and how to leave. */
let state = null;
const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** Opens the dialog for `list`; `leave()` makes the user leave it (lists.js). */
export function open(list, me, leave) {
  state = { list, details: null, me, leave };
  el.inviteEmail.value = '';
  el.inviteError.textContent = '';
  el.inviteStatus.textContent = '';
  el.error.textContent = '';
  render();
  if (!el.dialog.open) el.dialog.showModal();
  (list.role === 'OWNER' ? el.inviteEmail : $('share-done')).focus();
  refresh();
}

export function close() {
  state = null;
  if (el.dialog.open) el.dialog.close();
}

let refreshTimer = null;
/** Fetches members and invitations again (once for a burst of events). */
function refresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    const id = state?.list.id;
    if (!id) return;
    try {
      const data = await api.gql(SHARE_QUERY, { id });
      if (state?.list.id !== id) return;
      if (!data.list) return close();
      state.details = data.list;
      render();
    } catch (err) {
      if (state?.list.id === id) el.error.textContent = describe(err, 'list');
    }
  }, 50);
}

/** The list changed (a ListEvent, or a mutation's answer): show it if open. */
export function listChanged(list) {
  if (!state || state.list.id !== list.id) return;
  state.list = list;
  refresh();
}

export function listGone(id) {
  if (state?.list.id === id) close();
}

function render() {
  const { list, details, me } = state;
  const owner = list.role === 'OWNER';
  el.title.textContent = owner ? `Share “${list.name}”` : `Members of “${list.name}”`;
  el.subtitle.textContent = owner
    ? 'Members see this list and every change to it, live. Editors can change its todos; viewers can only look.'
    : `You are ${ROLE_NAMES[list.role].toLowerCase() === 'editor' ? 'an editor' : 'a viewer'} of this list.`;
  el.inviteForm.hidden = !owner;
  el.leave.hidden = owner;
  const members = details?.members ?? list.members ?? [];
  el.memberCount.textContent = String(members.length);
  el.members.replaceChildren(...members.map((m) => memberRow(m, owner, me)));
  const pending = details?.pendingInvitations ?? [];
  el.pendingSection.hidden = !owner || pending.length === 0;
  el.pending.replaceChildren(...pending.map(invitationRow));
}

function memberRow(member, owner, me) {
  const li = el.memberTemplate.content.firstElementChild.cloneNode(true);
  const you = member.user.id === me.id;
  li.querySelector('.person-avatar').replaceWith(avatar(member.user));
  li.querySelector('.person-name').textContent = personName(member.user) + (you ? ' (you)' : '');
  li.querySelector('.person-detail').textContent = member.user.displayName ? member.user.email : '';
  const roleText = li.querySelector('.person-role');
  const select = li.querySelector('.role-select');
  const remove = li.querySelector('.remove');
  const manage = owner && member.role !== 'OWNER';
  roleText.textContent = ROLE_NAMES[member.role];
  roleText.hidden = manage;
  select.hidden = !manage;
  remove.hidden = !manage;
  if (manage) {
    const name = personName(member.user);
    select.value = member.role;
    select.setAttribute('aria-label', `Role of ${name}`);
    remove.setAttribute('aria-label', `Remove ${name}`);
    select.addEventListener('change', () => changeRole(member, select));
    remove.addEventListener('click', () => removeMember(member));
  }
  return li;
}

function invitationRow(invitation) {
  const li = el.memberTemplate.content.firstElementChild.cloneNode(true);
  li.classList.add('pending');
  const badge = li.querySelector('.person-avatar');
  badge.className = 'avatar invited';
  badge.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><rect x="3.5" y="5.5" width="17" height="13" rx="2"/><path d="M4 7l8 6 8-6"/></svg>';
  li.querySelector('.person-name').textContent = invitation.email;
  li.querySelector('.person-detail').textContent =
    `Invited as ${ROLE_NAMES[invitation.role].toLowerCase()} · expires ${dateFmt.format(new Date(invitation.expiresAt))}`;
  li.querySelector('.person-role').hidden = true;
  li.querySelector('.role-select').hidden = true;
  const cancel = li.querySelector('.remove');
  cancel.setAttribute('aria-label', `Cancel the invitation to ${invitation.email}`);
  cancel.title = 'Cancel invitation';
  cancel.addEventListener('click', async () => {
    const ok = await attempt(
      el.error,
      () => api.gql('mutation CancelInvitation($id: ID!) { cancelInvitation(id: $id) }', { id: invitation.id }),
      'invitation',
    );
    if (ok !== undefined) refresh();
  });
  return li;
}

async function changeRole(member, select) {
  const data = await attempt(el.error, () =>
    api.gql('mutation ChangeRole($list: ID!, $user: ID!, $role: ListRole!) { changeMemberRole(listId: $list, userId: $user, role: $role) { role } }', {
      list: state.list.id,
      user: member.user.id,
      role: select.value,
    }),
  );
  if (!data) select.value = member.role;
  refresh();
}

async function removeMember(member) {
  const name = personName(member.user);
  const ok = await confirm({
    title: `Remove ${name}?`,
    body: `${name} will no longer see “${state.list.name}” or its todos. You can invite them again later.`,
    action: 'Remove',
  });
  if (!ok || !state) return;
  await attempt(el.error, () =>
    api.gql('mutation RemoveMember($list: ID!, $user: ID!) { removeMember(listId: $list, userId: $user) }', {
      list: state.list.id,
      user: member.user.id,
    }),
  );
  refresh();
}

el.inviteForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  el.inviteStatus.textContent = '';
  const email = el.inviteEmail.value.trim();
  if (!email || !el.inviteEmail.checkValidity()) {
    el.inviteError.textContent = 'Enter the email address of the person to invite.';
    el.inviteEmail.focus();
    return;
  }
  const role = el.inviteRole.value;
  const data = await attempt(
    el.inviteError,
    () =>
      api.gql('mutation Invite($list: ID!, $email: String!, $role: ListRole!) { inviteToList(listId: $list, email: $email, role: $role) { id email role } }', {
        list: state.list.id,
        email,
        role,
      }),
    'invitation',
  );
  if (!data) return;
  el.inviteEmail.value = '';
  el.inviteStatus.textContent = `Invitation sent to ${data.inviteToList.email}. They join as ${ROLE_NAMES[role].toLowerCase()} once they accept.`;
  el.inviteEmail.focus();
  refresh();
});

el.leave.addEventListener('click', async () => {
  const { list } = state;
  const ok = await confirm({
    title: `Leave “${list.name}”?`,
    body: 'You will no longer see this list or its todos, unless its owner invites you again.',
    action: 'Leave list',
  });
  if (!ok || !state) return;
  const error = await state.leave();
  if (error) el.error.textContent = error;
  else close();
});

$('share-done').addEventListener('click', close);
$('share-close').addEventListener('click', close);
el.dialog.addEventListener('close', () => {
  if (!el.dialog.open) state = null;
});
