// Email verification in the web app: the banner that asks a signed-in,
// unverified user for the code from the verification email (or sends a new
// one), and the `/app#verify=<code>` link of that email, which is taken off
// the address at once and submitted as soon as the user is signed in.
import * as api from '/app/api.js';
import { notify } from '/app/ui.js';

/** A code from a link, kept for this tab until the user is signed in. */
const PENDING_KEY = 'todoql.verifyCode';
const VERIFY = 'mutation Verify($code: String!) { verifyEmail(code: $code) { id emailVerified } }';
const RESEND = 'mutation Resend { resendVerification }';

const $ = (id) => document.getElementById(id);
const el = {
  banner: $('verify-banner'),
  email: $('verify-email'),
  form: $('verify-form'),
  code: $('verify-code'),
  submit: $('verify-submit'),
  resend: $('verify-resend'),
  error: $('verify-error'),
  status: $('verify-status'),
};

let user = null;
const verifiedListeners = new Set();

/** Calls `fn()` when the signed-in user has just verified their email. */
export function onVerified(fn) {
  verifiedListeners.add(fn);
}

function minutes(seconds) {
  const m = Math.max(1, Math.ceil(seconds / 60));
  return m === 1 ? 'a minute' : `${m} minutes`;
}

/** What to tell the user about a failed verifyEmail or resendVerification. */
function describe(err, action) {
  if (!(err instanceof api.GraphQLError)) return 'Cannot reach the server. Check your connection and try again.';
  const retryAfter = err.errors[0]?.extensions?.retryAfter ?? 60;
  switch (err.code) {
    case 'BAD_USER_INPUT':
      return 'That code is wrong, used or expired. Check it, or send a new one.';
    case 'RATE_LIMITED':
      return action === 'resend'
        ? `You already asked for 5 codes in the last hour. You can ask again in ${minutes(retryAfter)}; the last code we sent still works.`
        : `Too many wrong codes. Try again in ${minutes(retryAfter)}.`;
    case 'UNAUTHENTICATED':
      return 'Your session has ended. Please sign in again.';
    default:
      return err.message;
  }
}

function render() {
  const show = Boolean(user) && !user.emailVerified;
  el.banner.hidden = !show;
  if (show) el.email.textContent = user.email;
}

function verified() {
  if (user) user.emailVerified = true;
  el.code.value = '';
  el.error.textContent = '';
  el.status.textContent = '';
  render();
  notify('Your email address is verified.');
  for (const fn of verifiedListeners) fn();
}

async function submit(code) {
  el.error.textContent = '';
  el.status.textContent = '';
  el.submit.disabled = true;
  try {
    const data = await api.gql(VERIFY, { code });
    if (data.verifyEmail.emailVerified) verified();
  } catch (err) {
    render();
    el.error.textContent = describe(err, 'verify');
  } finally {
    el.submit.disabled = false;
  }
}

/** Submits the code of a link, once: it is forgotten before it is sent. */
function submitPending() {
  const code = sessionStorage.getItem(PENDING_KEY);
  if (!code || !user) return;
  sessionStorage.removeItem(PENDING_KEY);
  notify('');
  submit(code);
}

/** Takes a `#verify=<code>` fragment off the address (and out of history). */
function takeLink() {
  const match = /^#verify=(.*)$/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, '', location.pathname + location.search);
  let code = match[1];
  try {
    code = decodeURIComponent(code);
  } catch {
    /* submitted as it is; the server says whether it is a code */
  }
  if (!code.trim()) return;
  sessionStorage.setItem(PENDING_KEY, code.trim());
  if (user) submitPending();
  else notify('Sign in to confirm your email address.', 'info', true);
}

el.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const code = el.code.value.trim();
  if (!code) {
    el.error.textContent = 'Enter the code from the email.';
    el.code.focus();
    return;
  }
  submit(code);
});

el.resend.addEventListener('click', async () => {
  el.error.textContent = '';
  el.status.textContent = '';
  el.resend.disabled = true;
  try {
    const data = await api.gql(RESEND);
    if (data.resendVerification) {
      el.status.textContent = `We sent a new code to ${user?.email ?? 'your address'}. Codes sent before no longer work.`;
    } else {
      verified();
    }
  } catch (err) {
    el.error.textContent = describe(err, 'resend');
  } finally {
    el.resend.disabled = false;
  }
});

/** The session started: show the banner if needed, submit a link's code. */
export function signedIn(current) {
  user = current;
  notify('');
  el.error.textContent = '';
  el.status.textContent = '';
  render();
  submitPending();
}

export function signedOut() {
  user = null;
  el.code.value = '';
  el.error.textContent = '';
  el.status.textContent = '';
  render();
  if (sessionStorage.getItem(PENDING_KEY)) notify('Sign in to confirm your email address.', 'info', true);
  else notify('');
}

addEventListener('hashchange', takeLink);
takeLink();
