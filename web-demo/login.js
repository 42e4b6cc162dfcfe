// login.js: the sign-in screen, and the session it makes (user, device,
// token), kept in sessionStorage so a reload stays signed in while each tab
// is its own device.

import { devToken, DevUnavailable } from './dev.js';
import { $ } from './dom.js';

/** ID is the protocol's alphabet for user and device ids. */
export const ID = /^[A-Za-z0-9._@-]{1,64}$/;

const SESSION = 'loft-demo:session';

/** saveSession keeps the session for reloads of this tab. */
export function saveSession(session) {
  sessionStorage.setItem(SESSION, JSON.stringify(session));
}

function restoreSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) || 'null');
  } catch {
    return null;
  }
}

/** forgetSession signs this tab out. */
export function forgetSession() {
  sessionStorage.removeItem(SESSION);
}

// defaultDevice names this tab's device once: a second tab is a second device.
function defaultDevice() {
  let d = sessionStorage.getItem('loft-demo:device');
  if (!d) {
    d = 'web-' + crypto.getRandomValues(new Uint16Array(1))[0].toString(16).padStart(4, '0');
    sessionStorage.setItem('loft-demo:device', d);
  }
  return d;
}

/**
 * tokenGetter returns the getToken function loft.js calls before each
 * connection: in dev mode it mints a new token shortly before expiry; a
 * pasted token is used as it is.
 */
export function tokenGetter(session) {
  return async () => {
    if (session.dev && session.exp - Date.now() < 5 * 60 * 1000) {
      const t = await devToken({ user: session.user, device: session.device });
      session.token = t.token;
      session.exp = Date.parse(t.expires_at);
      saveSession(session);
    }
    return session.token;
  };
}

/**
 * showLogin calls start(session) at once with the session this tab kept,
 * or else when the form is submitted: in dev mode the server mints the
 * token; otherwise (its /dev/token is 404) the form asks for one.
 */
export function showLogin(start) {
  const saved = restoreSession();
  if (saved && (!saved.dev || saved.exp > Date.now())) {
    start(saved);
    return;
  }
  $('login-user').value = localStorage.getItem('loft-demo:user') || '';
  $('login-device').value = defaultDevice();
  $('login-form').addEventListener('submit', (ev) => onLogin(ev, start));
  $('login-user').focus();
}

async function onLogin(ev, start) {
  ev.preventDefault();
  const user = $('login-user').value.trim();
  const device = $('login-device').value.trim();
  const err = $('login-error');
  err.textContent = '';
  for (const [input, v, what] of [[$('login-user'), user, 'Your name'], [$('login-device'), device, 'The device name']]) {
    const ok = ID.test(v) && !(input.id === 'login-user' && v.startsWith('@'));
    input.setAttribute('aria-invalid', String(!ok));
    if (!ok) {
      err.textContent = `${what} must be 1-64 letters, digits or . _ - @.`;
      input.focus();
      return;
    }
  }
  $('login-submit').disabled = true;
  try {
    let session;
    if (!$('token-field').hidden) {
      const token = $('login-token').value.trim();
      if (!token) throw new Error('Paste a token first.');
      session = { user, device, token, exp: 0, dev: false };
    } else {
      try {
        const t = await devToken({ user, device });
        session = { user, device, token: t.token, exp: Date.parse(t.expires_at), dev: true };
      } catch (e) {
        if (!(e instanceof DevUnavailable)) throw e;
        $('token-field').hidden = false;
        $('login-token').focus();
        throw new Error('This server is not in dev mode: paste a token to sign in.');
      }
    }
    localStorage.setItem('loft-demo:user', user);
    sessionStorage.setItem('loft-demo:device', device);
    start(session);
  } catch (e) {
    err.textContent = e.message;
  } finally {
    $('login-submit').disabled = false;
  }
}
