// loft.js: a small client for Loft's WebSocket protocol (docs/protocol.md),
// as an ES module with no dependencies. It owns one connection: it
// authenticates, syncs from a cursor kept in storage, hands each inbox
// entry to the app exactly once and in order, confirms what was processed,
// retries sends until they are acked, and reconnects with backoff.
// How to use it is in docs/web-client.md.

// Answers to a `send` (or another change with a cid) after which the frame
// is kept and sent again with the same cid: the server stores it at most once.
const RETRYABLE = new Set(['unavailable', 'rate_limited', 'internal', 'disconnected', 'timeout']);

// Close codes after which reconnecting would only repeat the reason
// (protocol.md, "Close codes").
const FINAL_CLOSE = new Map([
  [4002, 'replaced'], // this device connected again elsewhere
  [4006, 'kicked'], // a newer login over the device limit, or logged out remotely
  [4007, 'logged_out'],
]);

// The close code this client uses when it gives up on a connection it
// believes dead (no pong, no ack in time). Browsers allow 3000-4999.
const CLOSE_STALE = 4100;

/** The connection states, in the `state` event and `client.state`. */
export const State = Object.freeze({
  OFFLINE: 'offline', // not connected and not trying (before connect, after disconnect)
  CONNECTING: 'connecting', // opening the socket or authenticating
  SYNCING: 'syncing', // authenticated, catching up from the cursor
  ONLINE: 'online', // live: new entries arrive as they are stored
  WAITING: 'waiting', // disconnected, reconnecting after a backoff delay
  STOPPED: 'stopped', // the server ended the session for good (kicked, logged out, replaced)
});

/** LoftError is how requests fail: `code` is the protocol's error code, or
 * `disconnected`, `timeout` or `offline` for failures on this side. */
export class LoftError extends Error {
  constructor(code, message, frame) {
    super(message || code);
    this.name = 'LoftError';
    this.code = code;
    this.frame = frame;
  }
}

/** directConv returns the id of the direct conversation between two users,
 * the same for both: the two ids sorted (ids are ASCII, so code-unit order
 * is the server's byte order). */
export function directConv(a, b) {
  return 'd:' + [a, b].sort().join(':');
}

/** wsURL returns the WebSocket address of the Loft server that served the
 * page (or of `base`): /v1/ws on the same host, wss: under https:. */
export function wsURL(base = globalThis.location?.href) {
  const u = new URL('/v1/ws', base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

/** newCid returns a client message id: unique per device in practice,
 * and valid in the protocol's alphabet. */
export function newCid() {
  const rnd = crypto.getRandomValues(new Uint32Array(2));
  return Date.now().toString(36) + '-' + rnd[0].toString(36) + rnd[1].toString(36);
}

// store wraps a Storage so a browser that refuses it (private modes, quotas)
// costs only persistence, never the connection.
class Store {
  constructor(storage, prefix) {
    this.storage = storage;
    this.prefix = prefix;
  }
  get(key) {
    try {
      const v = this.storage?.getItem(this.prefix + key);
      return v == null ? undefined : JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  set(key, value) {
    try {
      if (value === undefined) this.storage?.removeItem(this.prefix + key);
      else this.storage?.setItem(this.prefix + key, JSON.stringify(value));
    } catch {
      // Persistence is best effort; the server keeps the cursor too.
    }
  }
}

/**
 * LoftClient is one device's connection to a Loft server. It is an
 * EventTarget: subscribe with `client.on(type, fn)`, which returns a
 * function that unsubscribes; `fn` gets the event's `detail`. Events:
 *
 * - `state`     {state, code?, reason?, retryIn?}: the connection state changed
 * - `authed`    the `authed` frame: {user, device, cursor, head, expires}
 * - `message`   one inbox entry, exactly once, in `pts` order (protocol.md, "An entry")
 * - `synced`    {pts, groups}: caught up; live from here on
 * - `reset`     {floor}: retention dropped entries; reload conversations and history
 * - `ack`       {cid, ack, frame}: a send or change was stored (also for ones retried after a reload)
 * - `failed`    {cid, error, frame}: a send or change was refused for good
 * - `outbox`    {pending}: the number of sends not yet acked changed
 * - `receipt`, `typing`, `presence`, `group_seq`, `push_settings`, `muted`, `kicked`:
 *               the server's frames of those types, as they are
 * - `error`     an `error` frame that answers no request of this client
 */
export class LoftClient extends EventTarget {
  #o; // options
  #ws = null;
  #state = State.OFFLINE;
  #want = false; // whether the app wants to be connected
  #attempt = 0; // reconnect attempts since the last successful sync
  #retryTimer = 0;
  #opens = 0; // #open calls so far
  #pingTimer = 0;
  #reauthTimer = 0;
  #receivedTimer = 0;
  #nextID = 0;
  #requests = new Map(); // frame id -> {resolve, reject, timer}
  #outbox = new Map(); // cid -> {frame, waiters: [{resolve, reject}], timer}
  #presence = new Set(); // users watched; watched again after each reconnect
  #store = null; // per user and device, known from the first authed
  #cursor = 0; // pts of the last entry handed to the app
  #confirmed = 0; // pts the server confirmed with `cursor`
  #user = '';
  #syncID = '';
  // Typing frames: when each conversation last got a start, stops waiting
  // for a token, and a token bucket under the server's rate limit.
  #typing = { sent: new Map(), stops: new Map(), tokens: 3, at: 0 };

  /**
   * @param {object} opts
   * @param {string} opts.device      this installation's stable id (required)
   * @param {string} [opts.token]     a JWT; or
   * @param {() => Promise<string>} [opts.getToken] called before each connect and before expiry
   * @param {string} [opts.platform]  default "web"
   * @param {string} [opts.url]       default wsURL(): /v1/ws of the page's host
   * @param {Storage} [opts.storage]  where the cursor and unsent messages are kept; default localStorage
   * @param {'head'|'cursor'|'all'} [opts.syncFrom] where a device with nothing stored starts:
   *        "head" (default) the newest entry, for apps that load `conversations` and `history`;
   *        "cursor" the server's cursor for this device; "all" the whole inbox
   * @param {number} [opts.backoffMin]  first reconnect delay in ms (default 500)
   * @param {number} [opts.backoffMax]  longest reconnect delay in ms (default 15000)
   * @param {number} [opts.pingInterval] ms between keep-alive pings (default 25000)
   * @param {number} [opts.timeout]   ms to wait for an answer before the connection is deemed dead (default 15000)
   */
  constructor(opts) {
    super();
    if (!opts?.device) throw new TypeError('loft: device is required');
    if (!opts.token && !opts.getToken) throw new TypeError('loft: token or getToken is required');
    this.#o = {
      platform: 'web',
      url: wsURL(),
      storage: globalThis.localStorage,
      syncFrom: 'head',
      backoffMin: 500,
      backoffMax: 15000,
      pingInterval: 25000,
      timeout: 15000,
      ...opts,
    };
    // A browser that regains its network reconnects at once, not after the backoff.
    globalThis.addEventListener?.('online', () => {
      if (this.#want && this.#state === State.WAITING) this.#open();
    });
  }

  /** The connection state: one of State. */
  get state() {
    return this.#state;
  }
  /** The authenticated user (after the first `authed`). */
  get user() {
    return this.#user;
  }
  /** This device's id. */
  get device() {
    return this.#o.device;
  }
  /** The pts of the last entry handed to the app. */
  get cursor() {
    return this.#cursor;
  }
  /** How many sends and changes wait for their ack. */
  get pending() {
    return this.#outbox.size;
  }

  /** on subscribes fn to events of type and returns the unsubscribe function. */
  on(type, fn) {
    const h = (ev) => fn(ev.detail);
    this.addEventListener(type, h);
    return () => this.removeEventListener(type, h);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setState(state, extra = {}) {
    if (state === this.#state && !extra.force) return;
    this.#state = state;
    this.#emit('state', { state, ...extra });
  }

  /** connect starts connecting, and keeps reconnecting until disconnect(). */
  connect() {
    this.#want = true;
    if (!this.#ws && this.#state !== State.CONNECTING) this.#open();
  }

  /** disconnect closes the connection and stops reconnecting. Unsent
   * messages stay in the outbox and go out on the next connect(). */
  disconnect() {
    this.#want = false;
    clearTimeout(this.#retryTimer);
    const ws = this.#ws;
    // Confirm what was processed before leaving: the push layer skips a
    // device whose cursor passed a message, so it is not pushed what it
    // already showed.
    if (ws?.readyState === WebSocket.OPEN && this.#cursor > this.#confirmed && this.#user) {
      ws.send(JSON.stringify({ type: 'received', id: 'bye', pts: this.#cursor }));
    }
    this.#teardown('offline');
    ws?.close(1000, 'client offline');
    this.#setState(State.OFFLINE);
  }

  async #open() {
    clearTimeout(this.#retryTimer);
    this.#setState(State.CONNECTING);
    // A disconnect() and connect() while getToken runs start a second
    // #open: only the latest may make a socket.
    const attempt = ++this.#opens;
    let token;
    try {
      token = this.#o.getToken ? await this.#o.getToken() : this.#o.token;
    } catch (err) {
      if (attempt === this.#opens && this.#want) this.#retry(0, 'token: ' + err.message);
      return;
    }
    if (!this.#want || attempt !== this.#opens) return;
    const ws = new WebSocket(this.#o.url);
    this.#ws = ws;
    ws.onopen = () => {
      this.#request({ type: 'auth', token, device: this.#o.device, platform: this.#o.platform }).then(
        (authed) => this.#authed(authed),
        (err) => {
          // A refused token will not get better by retrying it as is: stop
          // unless the app can mint a new one.
          if (err.code === 'unauthorized' && !this.#o.getToken) this.#stop(0, 'unauthorized');
          else ws.close(CLOSE_STALE, 'auth failed');
        },
      );
    };
    ws.onmessage = (ev) => {
      if (ws === this.#ws) this.#frame(ev.data);
    };
    ws.onclose = (ev) => {
      if (ws !== this.#ws) return; // an old socket we already gave up on
      this.#teardown('disconnected');
      if (FINAL_CLOSE.has(ev.code)) this.#stop(ev.code, FINAL_CLOSE.get(ev.code));
      else if (this.#want) this.#retry(ev.code, ev.reason);
      else this.#setState(State.OFFLINE);
    };
  }

  // teardown forgets the socket and fails what waited on it; the outbox is kept.
  #teardown(code) {
    this.#ws = null;
    clearInterval(this.#pingTimer);
    clearTimeout(this.#reauthTimer);
    clearTimeout(this.#receivedTimer);
    for (const [, r] of this.#requests) {
      clearTimeout(r.timer);
      r.reject(new LoftError(code, 'the connection ended'));
    }
    this.#requests.clear();
    for (const [, item] of this.#outbox) clearTimeout(item.timer);
  }

  #stop(code, reason) {
    this.#want = false;
    this.#ws?.close(1000);
    this.#teardown('disconnected');
    this.#setState(State.STOPPED, { code, reason });
  }

  // retry waits an exponential, jittered delay (so a restarted server is
  // not hit by every client at once), then reconnects.
  #retry(code, reason) {
    const { backoffMin, backoffMax } = this.#o;
    const base = Math.min(backoffMax, backoffMin * 2 ** this.#attempt);
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    this.#attempt++;
    this.#setState(State.WAITING, { code, reason, retryIn: delay, force: true });
    this.#retryTimer = setTimeout(() => this.#want && this.#open(), delay);
  }

  #authed(a) {
    if (this.#user && this.#user !== a.user) {
      // Another user on the same client object would mix two inboxes.
      this.#stop(0, 'user changed');
      return;
    }
    this.#user = a.user;
    if (!this.#store) {
      this.#store = new Store(this.#o.storage, `loft:v1:${a.user}:${this.#o.device}:`);
      this.#loadOutbox();
    }
    // Syncing from here on, so that `authed` handlers may send requests.
    this.#setState(State.SYNCING);
    this.#emit('authed', a);
    this.#scheduleReauth(a.expires);
    this.#pingTimer = setInterval(() => this.#ping(), this.#o.pingInterval);

    let after = this.#store.get('cursor');
    if (after === undefined) {
      after = { head: a.head, cursor: a.cursor, all: 0 }[this.#o.syncFrom] ?? a.head;
    }
    this.#cursor = after;
    // Kept at once: a device that gets nothing before it goes away must
    // still sync from here, not from a later head.
    this.#store.set('cursor', after);
    this.#confirmed = Math.min(a.cursor, after);
    this.#sync();
    for (const [cid] of this.#outbox) this.#transmit(cid);
    if (this.#presence.size) {
      this.#request({ type: 'presence_sub', users: [...this.#presence] }).then(
        (st) => this.#presenceState(st),
        () => {},
      );
    }
  }

  #sync() {
    const frame = { type: 'sync', after: this.#cursor };
    const mark = this.#store.get('groups_mark');
    if (mark !== undefined) frame.groups_after = mark;
    // No timeout: a long sync sends pages, and the socket's liveness is the ping's job.
    this.#request(frame, 0).then(
      (synced) => {
        this.#attempt = 0;
        this.#store.set('groups_mark', synced.groups_mark);
        this.#setState(State.ONLINE);
        this.#emit('synced', { pts: synced.pts, groups: synced.groups || [] });
        for (const g of synced.groups || []) this.#emit('group_seq', { type: 'group_seq', ...g });
        this.#confirm(0);
      },
      (err) => {
        if (err.code === 'reset') {
          // Entries after the cursor are gone: the app reloads what it shows,
          // and the inbox continues from the floor.
          this.#cursor = err.frame.floor - 1;
          this.#store.set('cursor', this.#cursor);
          this.#emit('reset', { floor: err.frame.floor });
          this.#sync();
        }
      },
    );
  }

  #scheduleReauth(expires) {
    if (!this.#o.getToken || !expires) return;
    const ms = expires * 1000 - Date.now() - 60000;
    this.#reauthTimer = setTimeout(
      async () => {
        try {
          const token = await this.#o.getToken();
          const a = await this.#request({ type: 'auth', token, device: this.#o.device, platform: this.#o.platform });
          this.#scheduleReauth(a.expires);
        } catch {
          // The server closes with 4004 at expiry; the reconnect gets a new token.
        }
      },
      Math.max(ms, 1000),
    );
  }

  #ping() {
    this.#request({ type: 'ping' }).catch((err) => {
      if (err.code === 'timeout') this.#ws?.close(CLOSE_STALE, 'no pong');
    });
  }

  #frame(data) {
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      return;
    }
    if (f.type === 'messages') {
      this.#entries(f.messages);
      return;
    }
    if (f.id && /^t\d/.test(f.id)) return; // typing is best effort: its failures are dropped
    if (f.id && f.id.startsWith('o:')) {
      this.#outboxAnswer(f.id.slice(2), f);
      return;
    }
    if (f.id && this.#requests.has(f.id)) {
      const r = this.#requests.get(f.id);
      // A sync is answered by pages, then `synced` or `reset`.
      if (f.type === 'reset' && this.#syncID === f.id) f = { ...f, type: 'error', code: 'reset' };
      this.#requests.delete(f.id);
      clearTimeout(r.timer);
      if (f.type === 'error') r.reject(new LoftError(f.code, f.message, f));
      else r.resolve(f);
      return;
    }
    switch (f.type) {
      case 'presence':
        this.#emit('presence', f);
        break;
      case 'error':
        this.#emit('error', f);
        break;
      default:
        // receipt, typing, group_seq, push_settings, muted, kicked, and
        // any type added later: the app decides.
        this.#emit(f.type, f);
    }
  }

  // entries hands new entries to the app and skips ones it already has:
  // a sync from an older cursor, or a page that overlaps live delivery.
  #entries(list) {
    let moved = false;
    for (const e of list || []) {
      if (e.pts <= this.#cursor) continue;
      this.#cursor = e.pts;
      moved = true;
      try {
        this.#emit('message', e);
      } catch (err) {
        console.error('loft: message handler', err);
      }
    }
    if (moved) {
      this.#store?.set('cursor', this.#cursor);
      if (this.#state === State.ONLINE) this.#confirm(1000);
    }
  }

  // confirm tells the server what this device has processed, at most once a
  // second: the protocol asks for `received` per page, not per entry.
  #confirm(delay) {
    if (this.#receivedTimer) return;
    this.#receivedTimer = setTimeout(() => {
      this.#receivedTimer = 0;
      const pts = this.#cursor;
      if (pts <= this.#confirmed || !this.#ws) return;
      this.#request({ type: 'received', pts }).then(
        (c) => (this.#confirmed = Math.max(this.#confirmed, c.pts)),
        () => {},
      );
    }, delay);
  }

  /**
   * request sends a frame with a fresh id and resolves with its answer, or
   * rejects with a LoftError: the `error` frame's code, or `offline`,
   * `disconnected`, `timeout`. Use it for any frame this module has no
   * method for.
   */
  request(frame, timeout) {
    if (!this.#ws || this.#state === State.CONNECTING) {
      return Promise.reject(new LoftError('offline', 'not connected'));
    }
    return this.#request(frame, timeout);
  }

  #request(frame, timeout = this.#o.timeout) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new LoftError('offline', 'not connected'));
    const id = 'q' + ++this.#nextID;
    if (frame.type === 'sync') this.#syncID = id;
    return new Promise((resolve, reject) => {
      const r = { resolve, reject, timer: 0 };
      if (timeout) {
        r.timer = setTimeout(() => {
          this.#requests.delete(id);
          reject(new LoftError('timeout', 'no answer from the server'));
        }, timeout);
      }
      this.#requests.set(id, r);
      ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  // --- the outbox: sends and changes with a cid, retried until acked ---

  #loadOutbox() {
    // Frames a previous page left unsent go first, in their order.
    const saved = this.#store.get('outbox') || [];
    const mine = [...this.#outbox];
    this.#outbox.clear();
    for (const frame of saved) this.#outbox.set(frame.cid, { frame, waiters: [], timer: 0 });
    for (const [cid, item] of mine) this.#outbox.set(cid, item);
    this.#saveOutbox();
  }

  #saveOutbox() {
    this.#store?.set('outbox', [...this.#outbox.values()].map((i) => i.frame));
    this.#emit('outbox', { pending: this.#outbox.size });
  }

  #enqueue(frame) {
    frame.cid ||= newCid();
    return new Promise((resolve, reject) => {
      const had = this.#outbox.get(frame.cid);
      if (had) {
        had.waiters.push({ resolve, reject });
        return;
      }
      this.#outbox.set(frame.cid, { frame, waiters: [{ resolve, reject }], timer: 0 });
      this.#saveOutbox();
      if (this.#state === State.SYNCING || this.#state === State.ONLINE) this.#transmit(frame.cid);
    });
  }

  #transmit(cid) {
    const item = this.#outbox.get(cid);
    const ws = this.#ws;
    if (!item || !ws || ws.readyState !== WebSocket.OPEN) return;
    clearTimeout(item.timer);
    // A send not answered in time means a dead connection more often than a
    // slow disk: reconnect, and the new connection sends it again.
    item.timer = setTimeout(() => ws.close(CLOSE_STALE, 'no ack'), this.#o.timeout);
    ws.send(JSON.stringify({ ...item.frame, id: 'o:' + cid }));
  }

  #outboxAnswer(cid, f) {
    const item = this.#outbox.get(cid);
    if (!item) return;
    clearTimeout(item.timer);
    if (f.type === 'error' && RETRYABLE.has(f.code)) {
      item.timer = setTimeout(() => this.#transmit(cid), 2000);
      return;
    }
    this.#outbox.delete(cid);
    this.#saveOutbox();
    if (f.type === 'error') {
      const err = new LoftError(f.code, f.message, f);
      for (const w of item.waiters) w.reject(err);
      this.#emit('failed', { cid, error: err, frame: item.frame });
    } else {
      for (const w of item.waiters) w.resolve(f);
      this.#emit('ack', { cid, ack: f, frame: item.frame });
    }
  }

  /** outbox returns the frames not yet acked, oldest first. */
  outbox() {
    return [...this.#outbox.values()].map((i) => ({ ...i.frame }));
  }

  // --- messages ---

  /**
   * send sends a message to a user (`to`) or a conversation (`conv`) and
   * resolves with the `ack` once it is stored: {msg_id, conv, seq, pts, ts}.
   * It is kept (also across reloads) and sent again with the same cid until
   * acked; pass `cid` to choose it. Works offline: it goes out on connect.
   */
  send({ to, conv, body, cid }) {
    if (!!to === !!conv) throw new TypeError('loft: send needs exactly one of to and conv');
    return this.#enqueue({ type: 'send', ...(to ? { to } : { conv }), cid, body });
  }
  /** recall withdraws one of this user's messages (within the recall window). */
  recall(conv, seq) {
    return this.#enqueue({ type: 'recall', conv, seq });
  }
  /** edit replaces the body of one of this user's messages. */
  edit(conv, seq, body) {
    return this.#enqueue({ type: 'edit', conv, seq, body });
  }
  /** delete removes a group message (group owners and admins). */
  delete(conv, seq) {
    return this.#enqueue({ type: 'delete', conv, seq });
  }

  /** conversations lists the user's conversations, most recent first. */
  async conversations() {
    return (await this.request({ type: 'conversations' })).conversations || [];
  }
  /** history pages a conversation: {messages (oldest first), more}. Pass
   * `before` (a seq) to page backwards, or `after` to page forwards. */
  async history(conv, { before, after, limit } = {}) {
    const f = await this.request({ type: 'history', conv, before, after, limit });
    return { messages: f.messages || [], more: !!f.more };
  }
  /** read moves this user's read mark in conv to seq; resolves with the stored mark. */
  async read(conv, seq) {
    return (await this.request({ type: 'read', conv, seq })).seq;
  }
  /** receipts asks who in a group has read seq: {members, read, readers}. */
  receipts(conv, seq) {
    return this.request({ type: 'receipts', conv, seq });
  }

  /** typing tells the other members this user is typing (state "start") or
   * stopped ("stop"). A start goes out at most every 3 s per conversation,
   * and all typing frames stay under the server's limit (2 a second, bursts
   * of 4): a start over it is dropped, a stop waits for its turn. Nothing
   * is queued while offline. */
  typing(conv, state = 'start') {
    const t = this.#typing;
    const last = t.sent.get(conv) || 0;
    if (state === 'start' && Date.now() - last < 3000) return;
    if (state === 'stop' && !last) return;
    clearTimeout(t.stops.get(conv));
    t.stops.delete(conv);
    const now = Date.now();
    t.tokens = Math.min(3, t.tokens + ((now - t.at) / 1000) * 2);
    t.at = now;
    if (t.tokens < 1) {
      if (state === 'stop') t.stops.set(conv, setTimeout(() => this.typing(conv, 'stop'), 500));
      return;
    }
    if (this.#state !== State.ONLINE) return;
    t.tokens--;
    t.sent.set(conv, state === 'start' ? now : 0);
    // An id makes a failure (rate_limited, not_found for a chat that does
    // not exist yet) answer this frame instead of looking unsolicited.
    this.#ws.send(JSON.stringify({ type: 'typing', id: 't' + ++this.#nextID, conv, state }));
  }

  // --- presence ---

  /** watch subscribes to the presence of users (who share a conversation
   * with this user) and resolves with their states; `presence` events
   * follow. The subscription is renewed after every reconnect. */
  async watch(users) {
    users = users.filter((u) => u !== this.#user && !this.#presence.has(u));
    if (!users.length) return [];
    for (const u of users) this.#presence.add(u);
    const st = await this.request({ type: 'presence_sub', users });
    return this.#presenceState(st);
  }
  /** unwatch stops presence events for users. */
  async unwatch(users) {
    for (const u of users) this.#presence.delete(u);
    await this.request({ type: 'presence_unsub', users });
  }
  #presenceState(st) {
    for (const u of st.denied || []) this.#presence.delete(u);
    for (const p of st.users || []) this.#emit('presence', { type: 'presence', ...p });
    return st.users || [];
  }

  // --- groups ---

  /** createGroup creates a group with this user as owner; the ack's `conv` is the group. */
  createGroup(name, users) {
    return this.#enqueue({ type: 'group_create', name, users });
  }
  addMembers(conv, users) {
    return this.#enqueue({ type: 'group_add', conv, users });
  }
  removeMembers(conv, users) {
    return this.#enqueue({ type: 'group_remove', conv, users });
  }
  leaveGroup(conv) {
    return this.#enqueue({ type: 'group_leave', conv });
  }
  renameGroup(conv, name) {
    return this.#enqueue({ type: 'group_rename', conv, name });
  }
  /** groupMembers resolves with {name, owner, members: [{user, role}]}. */
  groupMembers(conv) {
    return this.request({ type: 'group_members', conv });
  }

  // --- devices, push, logout ---

  /** devices lists this user's devices: [{device, platform, online, state, last_seen, current}]. */
  async devices() {
    return (await this.request({ type: 'devices' })).devices || [];
  }
  /** pushRegister binds this device's push token for a vendor (docs/push.md). */
  pushRegister(vendor, token, credential) {
    return this.request({ type: 'push_register', vendor, token, credential });
  }
  pushUnregister() {
    return this.request({ type: 'push_unregister' });
  }
  /** pushSettings reads the user's push settings, or changes them when given. */
  pushSettings(settings) {
    return this.request({ type: 'push_settings', settings });
  }
  mute(conv, muted = true, until = 0) {
    return this.request({ type: 'mute', conv, muted, until });
  }
  /** logout ends this device's session for good; unbindPush removes its push token. */
  async logout(unbindPush) {
    const f = await this.request({ type: 'logout', unbind_push: !!unbindPush });
    this.#want = false;
    return f;
  }
  /** logoutDevice logs out another of this user's devices. */
  logoutDevice(device, unbindPush) {
    return this.request({ type: 'logout_device', device, unbind_push: !!unbindPush });
  }
}
