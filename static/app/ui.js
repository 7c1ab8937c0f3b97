// Small pieces the views share: error messages, the notice line, avatars,
// role names and the confirmation dialog.
import * as api from '/app/api.js';

export const $ = (id) => document.getElementById(id);

const OFFLINE = 'Cannot reach the server. Check your connection and try again.';

/**
 * What to tell the user about a failed operation. `what` names the thing
 * acted on ("todo", "list", "invitation") for NOT_FOUND and CONFLICT.
 */
export function describe(err, what = 'todo') {
  if (!(err instanceof api.GraphQLError)) return OFFLINE;
  switch (err.code) {
    case 'UNAUTHENTICATED':
      return 'Your session has ended. Please sign in again.';
    case 'FORBIDDEN':
      return 'Your role in this list does not allow that (it may just have changed).';
    case 'CONFLICT':
      return what === 'invitation'
        ? 'That person is already a member of this list or has a pending invitation.'
        : `This ${what} was changed elsewhere; showing the latest version.`;
    case 'RATE_LIMITED':
      return 'Too many attempts. Please wait a moment and try again.';
    case 'NOT_FOUND':
      return what === 'invitation' ? 'That invitation is no longer valid.' : `That ${what} no longer exists.`;
    case 'EMAIL_NOT_VERIFIED':
      return 'Verify your email address first: enter the code from the email we sent you.';
    default:
      return err.errors[0]?.message ?? err.message;
  }
}

/** Runs `fn`, showing a failure in `errorEl`; resolves to undefined then. */
export async function attempt(errorEl, fn, what) {
  errorEl.textContent = '';
  try {
    return await fn();
  } catch (err) {
    errorEl.textContent = describe(err, what);
    return undefined;
  }
}

const notice = $('notice');
let noticeTimer = null;

/**
 * The toast at the bottom of the window (`tone` "ok" or "info"). It goes
 * after 6 s ("ok") or 10 s ("info") unless `sticky`, or when clicked.
 */
export function notify(text, tone = 'ok', sticky = false) {
  clearTimeout(noticeTimer);
  notice.textContent = text;
  notice.dataset.tone = tone;
  notice.hidden = !text;
  if (text && !sticky) noticeTimer = setTimeout(() => notify(''), tone === 'ok' ? 6_000 : 10_000);
}
notice.addEventListener('click', () => notify(''));

export const ROLE_NAMES = { OWNER: 'Owner', EDITOR: 'Editor', VIEWER: 'Viewer' };

export function personName(person) {
  return person.displayName || person.email;
}

/** A round avatar with the person's initials, coloured by their id. */
export function avatar(person, size = '') {
  const span = document.createElement('span');
  span.className = `avatar ${size}`.trim();
  const name = personName(person);
  const words = name.replace(/@.*/, '').split(/[\s._-]+/).filter(Boolean);
  span.textContent = ((words[0]?.[0] ?? '?') + (words[1]?.[0] ?? '')).toUpperCase();
  let hash = 0;
  for (const c of person.id) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  span.style.setProperty('--hue', String(hash % 360));
  span.title = name;
  span.setAttribute('aria-hidden', 'true');
  return span;
}

const confirmDialog = $('confirm-dialog');

/** A modal question; resolves to true when the user confirms. */
export function confirm({ title, body, action }) {
  $('confirm-title').textContent = title;
  $('confirm-body').textContent = body;
  $('confirm-ok').textContent = action;
  confirmDialog.returnValue = '';
  confirmDialog.showModal();
  $('confirm-cancel').focus();
  return new Promise((resolve) => {
    confirmDialog.addEventListener('close', () => resolve(confirmDialog.returnValue === 'ok'), { once: true });
  });
}

const snack = $('snackbar');
let snackTimer = null;

/**
 * A short-lived bar with one action ("Deleted — Undo"): `onAction` runs if
 * the user takes it within `ms`. A new snackbar replaces the previous one.
 */
export function snackbar(text, actionLabel, onAction, ms = 5_000) {
  clearTimeout(snackTimer);
  snack.querySelector('.snackbar-text').textContent = text;
  const old = snack.querySelector('.snackbar-action');
  const button = old.cloneNode(true); // drops the previous snackbar's handler
  button.textContent = actionLabel;
  old.replaceWith(button);
  const close = () => {
    clearTimeout(snackTimer);
    snack.hidden = true;
  };
  button.addEventListener('click', () => {
    close();
    onAction();
  });
  snack.hidden = false;
  snackTimer = setTimeout(close, ms);
  snackMs = ms;
  snackClose = close;
}
let snackMs = 5_000;
let snackClose = () => {};
// Whoever points at or tabs into the bar gets all the time they need.
for (const type of ['mouseenter', 'focusin']) snack.addEventListener(type, () => clearTimeout(snackTimer));
for (const type of ['mouseleave', 'focusout']) {
  snack.addEventListener(type, () => {
    clearTimeout(snackTimer);
    if (!snack.hidden) snackTimer = setTimeout(snackClose, snackMs);
  });
}
