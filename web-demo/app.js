// app.js: the demo's chat screen: conversations, the chat view, sending,
// groups, and the wiring of the other modules. Everything it knows about
// the server comes through loft.js (the chat), login.js (the session) and
// panels.js (devices and the push inbox); it keeps only what is on screen.

import { LoftClient, State, directConv, newCid } from './loft.js';
import { showLogin, tokenGetter, saveSession, forgetSession, ID } from './login.js';
import { $, h, clock, ago, toast } from './dom.js';
import { DevicesPanel, PushInbox, unavailable } from './panels.js';

const DEVICES_POLL_MS = 4000;
const GROUP_READS_POLL_MS = 3000;
const TYPING_SHOWN_MS = 6000;

// ---- state: what the screen shows ----

const s = {
  client: null,
  session: null, // {user, device, token, exp, dev}
  convs: new Map(), // conv -> {conv, group, peer, name, last, last_seq, read_seq, unread, peer_read, peer_delivered, size, role, left}
  msgs: new Map(), // conv -> {bySeq: Map, more, loaded, loading}
  pending: new Map(), // cid -> {conv, body, ts, failed}
  presence: new Map(), // user -> {online, last_seen}
  typing: new Map(), // conv -> Map(user -> timer)
  open: null, // the open conversation's id
  editing: null, // {conv, seq}
  devices: null, // DevicesPanel
  push: null, // PushInbox
  pushSettings: null, // the user's push settings, as the server has them
  mutes: {}, // conv -> {until}
  groupReads: new Map(), // group conv -> the receipts answer for this user's last message there
  timers: [],
};

function convOf(conv) {
  let c = s.convs.get(conv);
  if (!c) {
    const group = conv.startsWith('g:');
    let peer;
    if (!group) {
      const [, a, b] = conv.split(':');
      peer = a === s.session.user ? b : a;
    }
    c = { conv, group, peer, name: group ? 'Group' : peer, last: null, last_seq: 0, read_seq: 0, unread: 0, peer_read: 0, peer_delivered: 0 };
    s.convs.set(conv, c);
  }
  return c;
}

function msgsOf(conv) {
  let m = s.msgs.get(conv);
  if (!m) {
    m = { bySeq: new Map(), more: false, loaded: false, loading: false };
    s.msgs.set(conv, m);
  }
  return m;
}

// ---- the chat screen ----

function start(session) {
  s.session = session;
  saveSession(session);
  const getToken = tokenGetter(session);
  $('login').hidden = true;
  $('main').hidden = false;
  $('me').textContent = `${session.user} · ${session.device}`;
  document.title = `${session.user} · Loft demo`;

  const c = new LoftClient({ device: session.device, platform: 'web', getToken });
  s.client = c;
  s.devices = new DevicesPanel(c);
  s.push = new PushInbox({ getToken, describe: describePush });
  c.on('state', (st) => {
    renderConn(st);
    if (st.state !== State.ONLINE && st.state !== State.SYNCING) {
      // What presence and devices showed is stale once the socket is gone;
      // the next sync renews them.
      s.presence.clear();
      renderConvs();
      renderHeader();
      renderMessages();
      s.devices.offline();
    }
  });
  c.on('authed', () => {
    // The push fallback needs a token per device; the log vendor takes any
    // unique string. Registering again is harmless.
    c.pushRegister('log', 'demo-' + session.device).catch((e) => toast('Push registration: ' + e.message));
  });
  c.on('synced', onSynced);
  c.on('message', onEntry);
  c.on('receipt', onReceipt);
  c.on('delivered', onDelivered);
  c.on('typing', onTyping);
  c.on('presence', (p) => {
    s.presence.set(p.user, { online: p.online, last_seen: p.last_seen });
    renderConvs();
    renderHeader();
    renderMessages();
  });
  c.on('ack', onAck);
  c.on('failed', ({ cid, error }) => {
    const p = s.pending.get(cid);
    if (p) p.failed = error.message;
    renderMessages();
    toast('Not sent: ' + error.message);
  });
  c.on('push_settings', (f) => showPushSettings(f)); // changed on another device
  c.on('muted', (m) => {
    if (m.muted) s.mutes[m.conv] = { until: m.until };
    else delete s.mutes[m.conv];
    renderConvs();
    renderHeader();
  });
  c.on('group_seq', (g) => {
    if (g.conv === s.open) loadNewer(g.conv);
  });
  c.on('reset', () => {
    s.msgs.clear();
    refreshConversations();
  });
  c.on('kicked', (k) => toast(k.reason === 'device_limit' ? `Signed out: ${k.by} signed in over the device limit.` : 'This device was signed out.'));
  c.on('error', (f) => toast(f.message || f.code));

  // Show sends a previous page left unacked: loft.js sends them again.
  for (const f of c.outbox()) {
    if (f.type === 'send') {
      const conv = f.conv || directConv(session.user, f.to);
      convOf(conv);
      s.pending.set(f.cid, { conv, body: f.body, ts: Date.now() });
    }
  }
  c.connect();
  if (session.dev) s.push.start();
  else unavailable();
  s.timers.push(setInterval(() => s.devices.refresh(), DEVICES_POLL_MS));
  s.timers.push(setInterval(refreshGroupReads, GROUP_READS_POLL_MS));
  // Relative times ("last seen 3 min ago") age on their own.
  s.timers.push(setInterval(() => (renderHeader(), s.devices.render()), 30000));
  renderConvs();
}

async function signOut() {
  const c = s.client;
  try {
    if (c.state === State.ONLINE) await c.logout(true);
  } catch {
    // Signing out locally is what matters here.
  }
  c.disconnect();
  forgetSession();
  location.reload();
}

// ---- connection ----

const CONN_TEXT = {
  [State.OFFLINE]: 'Offline',
  [State.CONNECTING]: 'Connecting…',
  [State.SYNCING]: 'Syncing…',
  [State.ONLINE]: 'Online',
  [State.WAITING]: 'Reconnecting…',
  [State.STOPPED]: 'Signed out',
};

function renderConn(st = { state: s.client.state }) {
  const el = $('conn');
  el.dataset.state = st.state;
  let text = CONN_TEXT[st.state];
  if (st.state === State.WAITING && st.retryIn) text = `Reconnecting in ${Math.ceil(st.retryIn / 1000)} s`;
  if (st.state === State.STOPPED && st.reason) text = `Signed out (${st.reason.replace('_', ' ')})`;
  if (st.state === State.OFFLINE) text = 'Offline (by choice)';
  el.textContent = text;
  const off = st.state === State.OFFLINE;
  const btn = $('toggle-online');
  btn.setAttribute('aria-pressed', String(off));
  btn.textContent = off ? 'Go online' : 'Go offline';
  btn.disabled = st.state === State.STOPPED;
  $('composer').classList.toggle('offline', st.state !== State.ONLINE);
}

function toggleOnline() {
  if (s.client.state === State.OFFLINE) s.client.connect();
  else s.client.disconnect();
}

// ---- conversations ----

async function onSynced() {
  s.client.pushSettings().then(showPushSettings, () => {});
  await refreshConversations();
  s.devices.refresh();
  if (s.push.size) s.push.render(); // name the messages the sync brought
  // Anything that moved while away is already in the sync; reloading the
  // open conversation's newest page also covers large groups (read fan-out).
  if (s.open) loadNewer(s.open);
}

let refreshing = null;
async function refreshConversations() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const list = await s.client.conversations();
      for (const r of list) {
        const c = convOf(r.conv);
        Object.assign(c, {
          last: r.last || c.last,
          last_seq: Math.max(c.last_seq, r.last_seq || 0),
          read_seq: Math.max(c.read_seq, r.read_seq || 0),
          peer_read: Math.max(c.peer_read, r.peer_read || 0),
          peer_delivered: Math.max(c.peer_delivered, r.peer_delivered || 0),
          size: r.size,
          role: r.role,
          left: r.left,
        });
        if (c.group) c.name = r.name || c.name;
        c.unread = Math.max(0, c.last_seq - c.read_seq);
      }
      const peers = [...s.convs.values()].filter((c) => !c.group && c.last_seq > 0).map((c) => c.peer);
      s.client.watch(peers).catch(() => {});
      renderConvs();
      renderHeader();
      markRead();
    } catch {
      // Offline: the next sync refreshes.
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function sortedConvs() {
  return [...s.convs.values()].sort((a, b) => (b.last?.ts || Infinity) - (a.last?.ts || Infinity));
}

function preview(e) {
  if (!e) return 'No messages yet';
  const who = e.from === s.session.user ? 'You: ' : '';
  if (e.recalled) return who + 'message recalled';
  if (e.deleted) return 'message deleted';
  switch (e.kind) {
    case 'event':
      return eventText(e);
    case 'recall':
      return who + 'recalled a message';
    case 'edit':
      return who + 'edited: ' + bodyText(e.body);
    case 'delete':
      return 'a message was deleted';
  }
  return who + bodyText(e.body);
}

function bodyText(body) {
  if (!body) return '';
  return typeof body.text === 'string' ? body.text : '[message]';
}

function eventText(e) {
  const b = e.body || {};
  const by = b.by === s.session.user ? 'You' : b.by;
  const users = (b.users || []).join(', ');
  switch (b.event) {
    case 'created':
      return `${by} created "${b.name}"${users ? ' with ' + users : ''}`;
    case 'added':
      return `${by} added ${users}`;
    case 'removed':
      return `${by} removed ${users}`;
    case 'left':
      return `${by} left` + (b.owner ? `; ${b.owner} is the owner now` : '');
    case 'renamed':
      return `${by} renamed the group to "${b.name}"`;
    case 'role':
      return `${by} made ${users} ${b.role}`;
  }
  return 'group changed';
}

function isMuted(conv) {
  const m = s.mutes[conv];
  return !!m && (!m.until || m.until > Date.now());
}

function showPushSettings(f) {
  s.pushSettings = f.settings || {};
  s.mutes = f.mutes || {};
  $('dnd').checked = !!s.pushSettings.dnd;
  renderConvs();
  renderHeader();
}

// Settings are replaced as a whole: send what the server has, changed.
async function onDND() {
  const dnd = $('dnd').checked;
  try {
    showPushSettings(await s.client.pushSettings({ ...s.pushSettings, dnd }));
  } catch (e) {
    $('dnd').checked = !dnd;
    toast('Could not change the setting: ' + e.message);
  }
}

async function onMute() {
  const conv = s.open;
  const muted = !isMuted(conv);
  try {
    await s.client.mute(conv, muted);
    if (muted) s.mutes[conv] = { until: 0 };
    else delete s.mutes[conv];
    renderConvs();
    renderHeader();
  } catch (e) {
    toast('Could not ' + (muted ? 'mute' : 'unmute') + ': ' + e.message);
  }
}

function presenceOf(user) {
  return s.presence.get(user);
}

function renderConvs() {
  const ul = $('conv-list');
  const convs = sortedConvs();
  $('conv-empty').hidden = convs.length > 0;
  ul.replaceChildren(
    ...convs.map((c) => {
      const p = !c.group && presenceOf(c.peer);
      const unread = c.conv === s.open ? 0 : c.unread;
      return h(
        'li',
        { 'data-conv': c.conv, 'data-unread': unread },
        h(
          'button',
          { type: 'button', class: 'conv', 'aria-current': c.conv === s.open ? 'true' : null, onclick: () => openConv(c.conv) },
          h('span', { class: 'dot', 'data-online': p ? String(p.online) : null, 'aria-hidden': 'true' }),
          h(
            'span',
            { class: 'conv-main' },
            h(
              'span',
              { class: 'conv-name' },
              c.group ? '# ' + c.name : c.name,
              p?.online ? h('span', { class: 'visually-hidden' }, ' (online)') : null,
              isMuted(c.conv) ? h('span', { class: 'muted-icon', title: 'muted' }, ' 🔕', h('span', { class: 'visually-hidden' }, 'muted')) : null,
            ),
            h('span', { class: 'conv-last' }, preview(c.last)),
          ),
          h('span', { class: 'conv-side' }, c.last ? h('time', {}, clock(c.last.ts)) : null, unread > 0 ? h('span', { class: 'badge', 'aria-label': `${unread} unread` }, String(unread)) : null),
        ),
      );
    }),
  );
}

function openConv(conv) {
  s.open = conv;
  s.editing = null;
  $('editing').hidden = true;
  const c = convOf(conv);
  $('chat-empty').hidden = true;
  $('chat-pane').hidden = false;
  $('main').dataset.view = 'chat';
  $('add-people').hidden = !c.group || !['owner', 'admin'].includes(c.role);
  $('add-people-form').hidden = true;
  if (!c.group) s.client.watch([c.peer]).catch(() => {});
  renderConvs();
  renderHeader();
  renderTyping();
  const m = msgsOf(conv);
  renderMessages(true);
  if (!m.loaded) loadOlder(conv, true).then(refreshGroupReads);
  else refreshGroupReads();
  markRead();
  $('composer-input').focus();
}

function renderHeader() {
  if (!s.open) return;
  const c = convOf(s.open);
  $('chat-title').textContent = c.group ? c.name : c.peer;
  const muted = isMuted(c.conv);
  // A toggle keeps its name; aria-pressed (and its look) says whether it is on.
  $('mute').setAttribute('aria-pressed', String(muted));
  const dot = $('chat-dot');
  if (c.group) {
    dot.hidden = true;
    $('chat-sub').textContent = c.size ? `${c.size} members` + (c.left ? ' · you left' : '') : 'group';
    return;
  }
  const p = presenceOf(c.peer);
  dot.hidden = false;
  dot.dataset.online = p ? String(p.online) : '';
  $('chat-sub').textContent = !p ? '' : p.online ? 'online' : ago(p.last_seen);
}

// ---- messages ----

// apply stores an entry (from sync, live or history) and what it changes;
// keyed by seq, so an entry seen twice (a history page overlapping live
// delivery) is shown once.
function apply(e) {
  const m = msgsOf(e.conv);
  const had = m.bySeq.get(e.seq);
  m.bySeq.set(e.seq, had && had.recalled && !e.recalled ? { ...e, recalled: true, body: {} } : { ...had, ...e });
  const target = e.ref && m.bySeq.get(e.ref);
  if (target && !target.kind) {
    if (e.kind === 'recall') Object.assign(target, { recalled: true, body: {} });
    if (e.kind === 'delete') Object.assign(target, { deleted: true, body: {} });
    if (e.kind === 'edit' && !target.recalled) Object.assign(target, { body: e.body, edited: e.ts });
  }
  if (e.cid && e.from === s.session.user) s.pending.delete(e.cid);
}

function onEntry(e) {
  apply(e);
  const c = convOf(e.conv);
  if (e.seq > c.last_seq) {
    c.last_seq = e.seq;
    c.last = e;
  }
  if (e.from === s.session.user) {
    c.read_seq = Math.max(c.read_seq, e.seq); // own messages count as read
  }
  c.unread = Math.max(0, c.last_seq - c.read_seq);
  if (c.group && e.kind === 'event') {
    if (e.body?.name) c.name = e.body.name;
    scheduleConvRefresh(); // size and role
  }
  // Watching a user needs a shared conversation: this entry may be the one
  // that created it (watch skips users already watched).
  if (!c.group) s.client.watch([c.peer]).catch(() => {});
  if (e.from !== s.session.user && !e.kind) {
    clearTyping(e.conv, e.from);
    // Screen readers hear live messages; a catch-up after a reconnect would be a flood.
    if (s.client.state === State.ONLINE) $('announce').textContent = `${e.from}${c.group ? ' in ' + c.name : ''}: ${bodyText(e.body)}`;
  }
  renderConvs();
  if (e.conv === s.open) {
    renderMessages();
    markRead();
  }
}

let convRefreshTimer = 0;
function scheduleConvRefresh() {
  clearTimeout(convRefreshTimer);
  convRefreshTimer = setTimeout(refreshConversations, 300);
}

function onAck({ cid, ack, frame }) {
  if (frame.type === 'group_create') return; // handled where it was created
  if (frame.type !== 'send') return;
  // The ack may come before or after the inbox entry: show the message at
  // its seq now; the entry, when it comes, replaces it.
  const m = msgsOf(ack.conv);
  if (!m.bySeq.has(ack.seq)) {
    m.bySeq.set(ack.seq, { conv: ack.conv, seq: ack.seq, id: ack.msg_id, from: s.session.user, device: s.session.device, cid, ts: ack.ts, body: frame.body });
  }
  s.pending.delete(cid);
  const c = convOf(ack.conv);
  if (ack.seq >= c.last_seq) {
    c.last_seq = ack.seq;
    c.last = m.bySeq.get(ack.seq);
    c.read_seq = Math.max(c.read_seq, ack.seq);
    c.unread = 0;
  }
  renderConvs();
  if (ack.conv === s.open) {
    renderMessages();
    refreshGroupReads();
  }
}

function onReceipt(r) {
  const c = convOf(r.conv);
  if (r.user === s.session.user) {
    // Read on another of this user's devices: clear the badge here too.
    c.read_seq = Math.max(c.read_seq, r.seq);
    c.unread = Math.max(0, c.last_seq - c.read_seq);
    renderConvs();
  } else {
    c.peer_read = Math.max(c.peer_read, r.seq);
    if (r.conv === s.open) renderMessages();
  }
}

// onDelivered: a device of the peer confirmed it holds the conversation up
// to seq (the second tick).
function onDelivered(d) {
  const c = convOf(d.conv);
  c.peer_delivered = Math.max(c.peer_delivered, d.seq);
  if (d.conv === s.open) renderMessages();
}

// markRead tells the server the open conversation is read, when a person
// can actually see it.
let readTimer = 0;
function markRead() {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    const c = s.open && convOf(s.open);
    if (!c || document.visibilityState !== 'visible' || c.read_seq >= c.last_seq || s.client.state !== State.ONLINE) return;
    const seq = c.last_seq;
    s.client.read(c.conv, seq).then(
      (mark) => {
        c.read_seq = Math.max(c.read_seq, mark);
        c.unread = Math.max(0, c.last_seq - c.read_seq);
        renderConvs();
      },
      () => {},
    );
  }, 150);
}

async function loadOlder(conv, first = false) {
  const m = msgsOf(conv);
  if (m.loading || (!first && !m.more)) return;
  m.loading = true;
  const seqs = [...m.bySeq.keys()];
  const before = first || !seqs.length ? 0 : Math.min(...seqs);
  const list = $('messages');
  const fromBottom = list.scrollHeight - list.scrollTop;
  try {
    const page = await s.client.history(conv, { before, limit: 30 });
    page.messages.forEach(apply);
    m.more = page.more;
    m.loaded = true;
  } catch (e) {
    if (e.code === 'not_found') m.loaded = true; // a new chat: nothing stored yet
  } finally {
    m.loading = false;
  }
  if (conv !== s.open) return;
  renderMessages(first);
  if (!first) list.scrollTop = list.scrollHeight - fromBottom; // keep what the reader was looking at
}

async function loadNewer(conv) {
  const m = msgsOf(conv);
  if (!m.loaded) return loadOlder(conv, true);
  const seqs = [...m.bySeq.keys()];
  let after = seqs.length ? Math.max(...seqs) : 0;
  try {
    for (;;) {
      const page = await s.client.history(conv, { after, limit: 100 });
      page.messages.forEach(apply);
      if (!page.more || !page.messages.length) break;
      after = page.messages[page.messages.length - 1].seq;
    }
  } catch {
    return;
  }
  if (conv === s.open) renderMessages();
}

// refreshGroupReads asks who read this user's last message in the open
// group: a group's read receipts go only to the reader's own devices, so
// the sender asks (the server keeps the marks in memory once asked).
async function refreshGroupReads() {
  const conv = s.open;
  if (!conv || !conv.startsWith('g:') || s.client?.state !== State.ONLINE) return;
  const mine = [...msgsOf(conv).bySeq.values()].filter((e) => e.from === s.session.user && !e.kind && !e.recalled && !e.deleted);
  if (!mine.length) return;
  const seq = Math.max(...mine.map((e) => e.seq));
  try {
    const r = await s.client.receipts(conv, seq);
    const had = s.groupReads.get(conv);
    s.groupReads.set(conv, { seq, members: r.members, read: r.read });
    if (conv === s.open && (!had || had.seq !== seq || had.read !== r.read || had.members !== r.members)) renderMessages();
  } catch {
    // The next poll asks again.
  }
}

// readBy says how many of a group read this user's last message there.
function readBy(r, seq) {
  return r?.seq === seq ? h('span', { class: 'read-by' }, `read by ${r.read} of ${r.members}`) : null;
}

function tickState(c, e) {
  if (c.group) {
    // Whoever read the last one read the ones before it.
    const r = s.groupReads.get(c.conv);
    return r && e.seq <= r.seq && r.members > 0 && r.read === r.members ? 'read' : 'sent';
  }
  if (c.peer_read >= e.seq) return 'read';
  if (c.peer_delivered >= e.seq) return 'delivered';
  return 'sent';
}

const TICKS = {
  pending: ['🕓', 'sending'],
  failed: ['!', 'not sent'],
  sent: ['✓', 'sent'],
  delivered: ['✓✓', 'delivered'],
  read: ['✓✓', 'read'],
};

function tick(state) {
  const [glyph, label] = TICKS[state];
  return h('span', { class: 'tick', 'data-state': state, title: label }, h('span', { 'aria-hidden': 'true' }, glyph), h('span', { class: 'visually-hidden' }, label));
}

function messageItem(c, e) {
  if (e.kind === 'event') {
    return h('li', { class: 'event', 'data-seq': e.seq }, eventText(e));
  }
  const mine = e.from === s.session.user;
  let text = bodyText(e.body);
  let cls = 'msg ' + (mine ? 'mine' : 'theirs');
  if (e.recalled) {
    text = mine ? 'You recalled this message' : `${e.from} recalled this message`;
    cls += ' gone';
  } else if (e.deleted) {
    text = 'This message was deleted';
    cls += ' gone';
  }
  const canChange = mine && !e.recalled && !e.deleted && e.seq;
  return h(
    'li',
    { class: cls, 'data-seq': e.seq, 'data-from': e.from, 'data-cid': e.cid },
    !mine && c.group ? h('span', { class: 'from' }, e.from) : null,
    h('p', { class: 'text' }, text),
    h(
      'span',
      { class: 'meta' },
      e.edited && !e.recalled ? h('span', { class: 'edited' }, 'edited') : null,
      h('time', { datetime: new Date(e.ts).toISOString() }, clock(e.ts)),
      mine && c.group && e.seq ? readBy(s.groupReads.get(c.conv), e.seq) : null,
      mine ? tick(e.failed ? 'failed' : !e.seq ? 'pending' : tickState(c, e)) : null,
    ),
    canChange
      ? h(
          'span',
          { class: 'actions' },
          h('button', { type: 'button', class: 'link', onclick: () => startEdit(c.conv, e.seq), 'aria-label': 'Edit message: ' + text }, 'Edit'),
          h('button', { type: 'button', class: 'link', onclick: () => recall(c.conv, e.seq), 'aria-label': 'Recall message: ' + text }, 'Recall'),
        )
      : null,
  );
}

function renderMessages(toBottom = false) {
  if (!s.open) return;
  const c = convOf(s.open);
  const m = msgsOf(s.open);
  const list = $('messages');
  const atBottom = toBottom || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const entries = [...m.bySeq.values()].filter((e) => !e.kind || e.kind === 'event').sort((a, b) => a.seq - b.seq);
  for (const [cid, p] of s.pending) {
    if (p.conv === s.open) entries.push({ conv: p.conv, cid, from: s.session.user, ts: p.ts, body: p.body, failed: p.failed });
  }
  const items = entries.map((e) => messageItem(c, e));
  if (m.more) items.unshift(h('li', { class: 'more' }, h('button', { type: 'button', class: 'link', onclick: () => loadOlder(s.open) }, 'Load older messages')));
  else if (m.loaded && entries.length === 0) items.push(h('li', { class: 'event' }, `Say hello to ${c.group ? c.name : c.peer}.`));
  // Keep focus on the same control across a re-render (keyboard users).
  const focused = list.contains(document.activeElement) && document.activeElement.getAttribute('aria-label');
  list.replaceChildren(...items);
  if (focused) list.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// ---- sending, editing, recalling ----

function onSubmit(ev) {
  ev.preventDefault();
  const input = $('composer-input');
  const text = input.value.trim();
  if (!text || !s.open) return;
  const c = convOf(s.open);
  const body = { text };
  if (s.editing) {
    const { conv, seq } = s.editing;
    s.client.edit(conv, seq, body).catch((e) => toast('Edit failed: ' + e.message));
    cancelEdit();
  } else {
    const cid = newCid();
    s.pending.set(cid, { conv: c.conv, body, ts: Date.now() });
    // A direct chat may not exist yet: send to the user; a group by its id.
    s.client.send(c.group ? { conv: c.conv, body, cid } : { to: c.peer, body, cid }).catch(() => {});
    s.client.typing(c.conv, 'stop');
    renderMessages(true);
  }
  input.value = '';
  autosize();
}

function onComposerKey(ev) {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $('composer').requestSubmit();
  } else if (ev.key === 'Escape' && s.editing) {
    cancelEdit();
  }
}

function onComposerInput() {
  autosize();
  // A chat with no message yet is shared with nobody: nobody to tell.
  if (s.open && !s.editing && convOf(s.open).last_seq > 0) s.client.typing(s.open, $('composer-input').value ? 'start' : 'stop');
}

function autosize() {
  const t = $('composer-input');
  t.style.height = 'auto';
  t.style.height = Math.min(t.scrollHeight, 160) + 'px';
}

function startEdit(conv, seq) {
  const e = msgsOf(conv).bySeq.get(seq);
  if (!e) return;
  s.editing = { conv, seq };
  $('editing').hidden = false;
  const input = $('composer-input');
  input.value = bodyText(e.body);
  autosize();
  input.focus();
}

function cancelEdit() {
  s.editing = null;
  $('editing').hidden = true;
  $('composer-input').value = '';
  autosize();
}

function recall(conv, seq) {
  s.client.recall(conv, seq).catch((e) => toast(e.code === 'too_late' ? 'Too late to recall that one.' : 'Recall failed: ' + e.message));
}

// ---- typing ----

function onTyping(t) {
  if (t.user === s.session.user) return; // another of my devices
  let users = s.typing.get(t.conv);
  if (!users) s.typing.set(t.conv, (users = new Map()));
  clearTimeout(users.get(t.user));
  if (t.state === 'stop') users.delete(t.user);
  else users.set(t.user, setTimeout(() => clearTyping(t.conv, t.user), TYPING_SHOWN_MS));
  renderTyping();
}

function clearTyping(conv, user) {
  const users = s.typing.get(conv);
  if (!users?.has(user)) return;
  clearTimeout(users.get(user));
  users.delete(user);
  renderTyping();
}

function renderTyping() {
  const users = [...(s.typing.get(s.open)?.keys() || [])];
  $('typing').textContent = !users.length ? '' : users.length === 1 ? `${users[0]} is typing…` : `${users.join(', ')} are typing…`;
}

// ---- groups ----

function parseUsers(text) {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

async function onNewGroup(ev) {
  ev.preventDefault();
  const name = $('group-name').value.trim();
  const users = parseUsers($('group-users').value).filter((u) => u !== s.session.user);
  const bad = users.find((u) => !ID.test(u));
  if (!name || bad) {
    toast(bad ? `"${bad}" is not a valid user name.` : 'Give the group a name.');
    return;
  }
  try {
    const ack = await s.client.createGroup(name, users);
    const c = convOf(ack.conv);
    Object.assign(c, { name, role: 'owner', size: users.length + 1 });
    $('new-group-form').reset();
    $('new-group').open = false;
    await refreshConversations();
    openConv(ack.conv);
  } catch (e) {
    toast('Could not create the group: ' + e.message);
  }
}

async function onAddPeople(ev) {
  ev.preventDefault();
  const users = parseUsers($('add-people-users').value);
  if (!users.length || !s.open) return;
  try {
    await s.client.addMembers(s.open, users);
    $('add-people-form').reset();
    $('add-people-form').hidden = true;
    $('add-people').setAttribute('aria-expanded', 'false');
    scheduleConvRefresh();
  } catch (e) {
    toast('Could not add: ' + e.message);
  }
}

function onNewChat(ev) {
  ev.preventDefault();
  const input = $('new-chat-user');
  const peer = input.value.trim();
  if (!ID.test(peer) || peer.startsWith('@')) {
    toast('A user name is 1-64 letters, digits or . _ - @.');
    return;
  }
  if (peer === s.session.user) {
    toast('Pick someone else: chats are between two users.');
    return;
  }
  input.value = '';
  openConv(directConv(s.session.user, peer));
}

// describePush tells the push inbox which group an entry is about and the
// message as this page has it (found by its global id).
function describePush(entry) {
  const conv = entry.conv && s.convs.get(entry.conv);
  let shown = null;
  for (const m of s.msgs.values()) {
    for (const e of m.bySeq.values()) {
      if (String(e.id) === entry.msg_id && !e.kind) shown = { from: e.from, text: e.recalled ? 'recalled' : bodyText(e.body) };
    }
  }
  return { group: conv?.group ? conv.name : '', shown };
}

// ---- small things ----

function toggleSide() {
  const open = $('main').dataset.side !== 'open';
  $('main').dataset.side = open ? 'open' : '';
  $('show-side').setAttribute('aria-expanded', String(open));
}

function init() {
  $('toggle-online').addEventListener('click', toggleOnline);
  $('signout').addEventListener('click', signOut);
  $('show-side').addEventListener('click', toggleSide);
  $('back').addEventListener('click', () => {
    $('main').dataset.view = 'list';
    s.open = null;
    renderConvs();
  });
  $('new-chat').addEventListener('submit', onNewChat);
  $('new-group-form').addEventListener('submit', onNewGroup);
  $('add-people').addEventListener('click', () => {
    const f = $('add-people-form');
    f.hidden = !f.hidden;
    $('add-people').setAttribute('aria-expanded', String(!f.hidden));
    if (!f.hidden) $('add-people-users').focus();
  });
  $('add-people-form').addEventListener('submit', onAddPeople);
  $('mute').addEventListener('click', onMute);
  $('dnd').addEventListener('change', onDND);
  $('composer').addEventListener('submit', onSubmit);
  $('composer-input').addEventListener('keydown', onComposerKey);
  $('composer-input').addEventListener('input', onComposerInput);
  $('composer-input').addEventListener('blur', () => s.open && s.client?.typing(s.open, 'stop'));
  $('cancel-edit').addEventListener('click', cancelEdit);
  $('messages').addEventListener('scroll', (ev) => {
    if (ev.target.scrollTop < 60 && s.open) loadOlder(s.open);
  });
  document.addEventListener('visibilitychange', markRead);
  window.addEventListener('focus', markRead);

  showLogin(start);
}

init();
