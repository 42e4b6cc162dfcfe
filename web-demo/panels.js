// panels.js: the demo's side panels: this user's devices, and the push
// inbox (what the push layer did for this user's devices while they were
// offline, read from the dev endpoint). Each panel keeps only what it shows.

import { State } from './loft.js';
import { pushInbox, DevUnavailable } from './dev.js';
import { $, h, clock, ago } from './dom.js';

const PUSH_POLL_MS = 1500;

const PUSH_STATUS = {
  queued: 'queued',
  pushed: 'pushed',
  failed: 'failed',
  delivered: 'delivered over the socket',
  not_pushed: 'not pushed',
};

const PUSH_REASON = {
  online: 'the device was online',
  policy: 'another device was online',
  no_token: 'no push token',
  dnd: 'do not disturb',
  muted: 'conversation muted',
  own_message: 'own message',
  event: 'a group change',
};

/** DevicesPanel lists the user's devices (#device-list), from the server. */
export class DevicesPanel {
  constructor(client) {
    this.client = client;
    this.devices = [];
  }

  /** refresh asks the server; offline, the list stays as it was. */
  async refresh() {
    if (this.client.state !== State.ONLINE) return;
    try {
      this.devices = await this.client.devices();
      this.render();
    } catch {
      // Shown as it was; the next poll tries again.
    }
  }

  /** offline marks this device offline: the socket is gone, whatever the list said. */
  offline() {
    for (const d of this.devices) if (d.current) d.online = false;
    this.render();
  }

  render() {
    $('devices-note').hidden = this.client.state === State.ONLINE;
    $('device-list').replaceChildren(
      ...this.devices.map((d) =>
        h(
          'li',
          { 'data-device': d.device, 'data-online': String(d.online), 'data-state': d.state },
          h('span', { class: 'dot', 'data-online': String(d.online), 'aria-hidden': 'true' }),
          h('span', { class: 'device-name' }, d.device, d.current ? ' (this one)' : ''),
          h('span', { class: 'sub' }, `${d.platform} · ${d.state !== 'active' ? d.state.replace('_', ' ') : d.online ? 'online' : ago(d.last_seen)}`),
        ),
      ),
    );
  }
}

/**
 * PushInbox shows the latest outcome per message and device (#push-list).
 * getToken gives the client token the endpoint wants; describe(entry)
 * returns {group, shown}: the group's name, if any, and the message as this
 * page has it, to name what an entry without a text was about.
 */
export class PushInbox {
  constructor({ getToken, describe }) {
    this.getToken = getToken;
    this.describe = describe;
    this.latest = new Map(); // msg_id|device -> entry
    this.after = 0;
    this.timer = 0;
  }

  get size() {
    return this.latest.size;
  }

  /** start polls over HTTP, whether or not the socket is up: the point is
   * to see what an offline device would get. */
  async start() {
    try {
      const page = await pushInbox(await this.getToken(), this.after);
      for (const e of page.entries) this.latest.set(e.msg_id + '|' + e.device, e);
      this.after = page.last;
      if (page.entries.length) this.render();
    } catch (e) {
      if (e instanceof DevUnavailable) {
        unavailable();
        return;
      }
    }
    this.timer = setTimeout(() => this.start(), PUSH_POLL_MS);
  }

  render() {
    const list = [...this.latest.values()].sort((a, b) => b.seq - a.seq).slice(0, 50);
    $('push-empty').hidden = list.length > 0;
    $('push-list').replaceChildren(...list.map((e) => this.item(e)));
  }

  item(e) {
    const why = e.reason ? PUSH_REASON[e.reason] || e.reason.replace('_', ' ') : '';
    const { group, shown } = this.describe(e);
    const text = !e.title && !e.body && shown;
    return h(
      'li',
      { 'data-msg': e.msg_id, 'data-device': e.device, 'data-status': e.status, class: 'push ' + e.status },
      e.title || e.body
        ? h(
            'div',
            { class: 'note' },
            h('strong', { class: 'push-title' }, e.title),
            h('span', { class: 'push-body' }, e.body),
            e.badge != null ? h('span', { class: 'badge', 'aria-label': `badge ${e.badge}` }, String(e.badge)) : null,
          )
        : text
          ? h('div', { class: 'note muted' }, `${shown.from}: ${shown.text}`)
          : null,
      h(
        'div',
        { class: 'sub' },
        h('span', { class: 'status' }, PUSH_STATUS[e.status] || e.status),
        why ? ` (${why})` : '',
        e.vendor ? ` via ${e.vendor}` : '',
        e.silent ? ', silent' : '',
        ` → ${e.device} · ${clock(e.at)}`,
        group ? ` · ${group}` : '',
      ),
    );
  }
}

/** unavailable says the push inbox needs dev mode. */
export function unavailable() {
  $('push-empty').textContent = 'The push inbox needs a server in dev mode.';
}
