// dev.js: the server's development endpoints, which exist only while Loft
// runs with its generated dev secret (`loft` with no token settings). They
// let the demo sign in without a backend and show what the push layer did.
// A production app gets its tokens from its own backend instead.

/** DevUnavailable is thrown when the server is not in dev mode (it has no
 * such endpoint). */
export class DevUnavailable extends Error {
  constructor() {
    super('this server has no dev endpoints');
    this.name = 'DevUnavailable';
  }
}

// problem turns an application/problem+json answer into an Error whose
// message a person can act on.
async function problem(res) {
  let p = {};
  try {
    p = await res.json();
  } catch {
    // not a problem document
  }
  const err = new Error([p.title, p.detail].filter(Boolean).join(' ') || `HTTP ${res.status}`);
  err.status = res.status;
  err.field = p.field;
  return err;
}

/**
 * devToken asks the server for a client token:
 * {token, user, device, expires_at}. It throws DevUnavailable when the
 * server is not in dev mode, and an Error with `field` for a bad id.
 */
export async function devToken({ user, device, platform = 'web' }, base = location.href) {
  const res = await fetch(new URL('/dev/token', base), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user, device, platform }),
  });
  // 404, or 405 from a server whose static files answer at every path.
  if (res.status === 404 || res.status === 405) throw new DevUnavailable();
  if (!res.ok) throw await problem(res);
  return res.json();
}

/**
 * pushInbox reads the push outcomes for the token's user after `after`:
 * {entries, last}. Each entry is one recorded step of a push to one device,
 * oldest first; `last` is what to pass as `after` next time.
 */
export async function pushInbox(token, after = 0, base = location.href) {
  const url = new URL('/dev/push-inbox', base);
  url.searchParams.set('after', String(after));
  const res = await fetch(url, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
  if (res.status === 404) throw new DevUnavailable();
  if (!res.ok) throw await problem(res);
  return res.json();
}
