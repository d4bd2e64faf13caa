// The seller's desk (`#/desk/{ns}`): what a performance sold, live (money, and per session each
// section's sold, held and free as bars), and its orders: search by email, order id or seat,
// filter, page, open one, refund it whole or ticket by ticket, and export orders and attendees
// as CSV; and its mail: the outbox (what was sent, what waits and why) and a preview of each kind.
import { type Context, POSTER_TYPES, call, choose, h, minorUnits, money, notice, picker as listOf, reason, session, uploadPoster, when } from '@marquee/api';
import { type History, chart } from '@marquee/monitor';

interface Counted {
  name: string;
  capacity: number;
  sold: number;
  held: number;
  free: number;
}

interface Sales {
  currency: string;
  time_zone: string;
  gross: number;
  refunded: number;
  net: number;
  sessions: { id: string; label: string; starts_at: string | null; gross: number; refunded: number; net: number; sections: Counted[] }[];
  goods: Counted[];
}

interface Ticket {
  seat: string;
  refunded: boolean;
  checked_in_at?: string;
}

interface Order {
  order_id: string;
  session: string;
  amount: number;
  refunded: number;
  status: string;
  created_at: string;
  tickets: Ticket[];
  buyer: { email: string | null };
}

interface Outbox {
  relay: boolean;
  messages: { id: string; kind: string | null; order_id: string | null; state: string; attempts: number; last_error: string | null; created_at: string; due_at?: string; settled_at?: string }[];
}

interface Letter {
  to: string;
  subject: string;
  text: string;
  attachments: { name: string; content_type: string; size: number }[];
}

const PAGE = 20;
/// The revenue line's span: the hour the control plane keeps.
const HOUR_S = 3600;
const REFRESH_MS = 3000;


/// A section's bar: sold and held as parts of its capacity, with the numbers on hover.
function bar(c: Counted): HTMLElement {
  const pct = (n: number) => (c.capacity ? (100 * n) / c.capacity : 0);
  const sold = Math.round(pct(c.sold));
  const title = `${c.name}: ${c.sold} sold, ${c.held} held, ${c.free} free of ${c.capacity}`;
  return h('div', { class: 'capacity', 'data-section': c.name, title },
    h('span', { class: 'name' }, c.name),
    h('span', { class: 'track', role: 'img', 'aria-label': title },
      h('span', { class: 'sold', style: `width:${pct(c.sold)}%` }),
      h('span', { class: 'held', style: `width:${pct(c.held)}%` })),
    h('span', { class: 'pct', 'data-sold': String(c.sold) }, `${sold}% sold`));
}

/// Downloads one of the CSV exports with the session's token.
async function download(ns: string, file: string, message: HTMLElement) {
  try {
    const s = session();
    const res = await fetch(`/api/v1/performances/${ns}/${file}`, { headers: s ? { authorization: `Bearer ${s.token}` } : {} });
    if (!res.ok) throw new Error(`the export failed (${res.status})`);
    const link = h('a', { href: URL.createObjectURL(await res.blob()), download: `${ns}-${file}` });
    link.click();
    URL.revokeObjectURL(link.href);
  } catch (e) {
    notice(message, reason(e));
  }
}

export function mount(root: HTMLElement, ctx: Context) {
  const message = h('p', { class: 'notice' });
  const picker = h('select', { name: 'performance', 'aria-label': 'Performance' });
  const totals = h('dl', { class: 'totals' });
  const sessions = h('select', { name: 'session', 'aria-label': 'Session' });
  const bars = h('div', { class: 'bars' });
  const goods = h('div', { class: 'bars' });
  const search = h('input', { type: 'search', name: 'q', placeholder: 'Email, order id or seat', 'aria-label': 'Search orders' }) as HTMLInputElement;
  const status = h('select', { name: 'status', 'aria-label': 'Status' },
    ...['', 'confirmed', 'refunded', 'cancelled'].map((s) => h('option', { value: s }, s || 'Any status')));
  const rows = h('tbody');
  const pager = h('p', { class: 'pager' });
  const detail = h('section', { class: 'card order-detail', hidden: true, 'aria-live': 'polite' });
  const revenue = chart('Revenue, last hour', 'net', 'the figures above have the latest values');
  // What may change on a live performance, as its page shows it.
  const edit = {
    title: h('input', { type: 'text', name: 'title', required: true, maxLength: 200 }),
    venue: h('input', { type: 'text', name: 'venue', required: true, maxLength: 200 }),
    description: h('textarea', { name: 'description', rows: 3, maxLength: 5000 }),
    cast: h('input', { type: 'text', name: 'cast', placeholder: 'Names, comma separated' }),
    running: h('input', { type: 'number', name: 'running-minutes', min: '1', max: '1440', inputMode: 'numeric' }),
    timeZone: listOf('time-zone', 'timeZone', 'UTC'),
    poster: h('input', { type: 'file', name: 'poster', accept: POSTER_TYPES }),
    noPoster: h('input', { type: 'checkbox', name: 'no-poster' }),
    shown: h('img', { class: 'poster', alt: 'The poster now', hidden: true }),
  };
  // Each section's and goods' price, in major units; fixed once any sold or is held.
  const prices = h('fieldset', { class: 'prices' });
  let priced: { list: 'sections' | 'goods'; index: number; input: HTMLInputElement }[] = [];
  // Each session's label: its id and time stay as deployed.
  const labels = h('fieldset', { class: 'labels' });
  let labelled: HTMLInputElement[] = [];
  const saved = h('p', { class: 'notice' });
  const relay = h('p', {});
  const mails = h('tbody');
  const preview = h('div', { class: 'preview', 'aria-live': 'polite' });
  const mail = h('section', { class: 'card mail' },
    h('h2', {}, 'Mail'),
    relay,
    h('p', {}, 'Preview: ',
      ...['confirmation', 'refund', 'reminder'].flatMap((kind) => [h('button', { type: 'button', onclick: () => show(kind) }, kind[0].toUpperCase() + kind.slice(1)), ' ']),
      h('button', { type: 'button', onclick: () => outbox() }, 'Refresh the outbox')),
    preview,
    // Focusable, so a keyboard can scroll it on a phone: it holds no control of its own.
    h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Outbox' }, h('table', {},
      h('thead', {}, h('tr', {}, ...['What', 'Order', 'State', 'Tries', 'Last error', 'When'].map((c) => h('th', {}, c)))), mails)));
  const details = h('form', { class: 'card details', onsubmit: (e: Event) => { e.preventDefault(); save(); } },
    h('h2', {}, 'Details'),
    h('div', { class: 'grid' }, h('label', {}, 'Title ', edit.title), h('label', {}, 'Venue ', edit.venue),
      h('label', {}, 'Time zone ', edit.timeZone), h('label', {}, 'Running time (minutes) ', edit.running), h('label', {}, 'Cast ', edit.cast)),
    h('label', {}, 'Description ', edit.description),
    labels,
    prices,
    edit.shown,
    h('div', { class: 'grid' }, h('label', {}, 'New poster (JPEG, PNG or WebP) ', edit.poster), h('label', {}, edit.noPoster, ' No poster')),
    saved,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save details')));
  root.append(
    h('h1', {}, 'Desk'),
    h('div', { class: 'grid' }, h('label', {}, 'Performance ', picker), h('label', {}, 'Session ', sessions)),
    message,
    h('section', { class: 'card sales' }, h('h2', {}, 'Sales'), totals, bars, h('h3', {}, 'Goods'), goods),
    revenue.box,
    details,
    h('section', { class: 'card orders' },
      h('h2', {}, 'Orders'),
      h('form', { class: 'grid', role: 'search', onsubmit: (e: Event) => { e.preventDefault(); offset = 0; list(); } },
        search, status, h('button', { type: 'submit' }, 'Search')),
      h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, ...['Order', 'Buyer', 'Tickets', 'Paid', 'Refunded', 'Status', 'Confirmed'].map((c) => h('th', {}, c)))), rows)),
      pager,
      h('p', {},
        h('button', { type: 'button', onclick: () => download(picker.value, 'orders.csv', message) }, 'Export orders (CSV)'), ' ',
        h('button', { type: 'button', onclick: () => download(picker.value, 'attendees.csv', message) }, 'Export attendees (CSV)'))),
    detail,
    mail,
  );

  let stopped = false;
  let timer = 0;
  let offset = 0;
  let sales: Sales | null = null;
  const cost = (minor: number) => money(minor, sales?.currency);
  const venueTime = (iso?: string | null) => when(iso, sales?.time_zone);

  const drawSales = () => {
    if (!sales) return;
    const chosen = sales.sessions.find((s) => s.id === sessions.value) ?? sales.sessions[0];
    if (!chosen) return;
    const figure = (label: string, amount: number) => [h('dt', {}, label), h('dd', { 'data-figure': label.toLowerCase() }, cost(amount))];
    totals.replaceChildren(
      ...figure('Gross', chosen.gross), ...figure('Refunded', chosen.refunded), ...figure('Net', chosen.net),
      h('dt', {}, 'All sessions'), h('dd', { 'data-figure': 'all' }, cost(sales.net)),
    );
    bars.replaceChildren(...chosen.sections.map(bar));
    goods.replaceChildren(...(sales.goods.length ? sales.goods.map(bar) : [h('p', { class: 'empty' }, 'No goods.')]));
  };

  const refreshSales = async () => {
    window.clearTimeout(timer);
    if (!picker.value || stopped) return;
    try {
      sales = await call<Sales>('GET', `/api/v1/performances/${picker.value}/sales`);
      if (sessions.options.length !== sales.sessions.length) {
        sessions.replaceChildren(...sales.sessions.map((s) => h('option', { value: s.id }, s.label === s.id ? venueTime(s.starts_at) : `${s.label} · ${venueTime(s.starts_at)}`)));
      }
      drawSales();
      // Net revenue over the hour, in major units, from the control plane's samples.
      const history = await call<History>('GET', `/api/v1/performances/${picker.value}/metrics?range=1h&step=30s`);
      const major = minorUnits(sales.currency);
      const now = Date.now() / 1000;
      revenue.draw(
        history.sales.map((s) => s.t / 1000),
        new Map([[`net (${sales.currency})`, history.sales.map((s) => (s.gross - s.refunded) / major)]]),
        [now - HOUR_S, now],
      );
    } catch (e) {
      notice(message, reason(e));
    }
    if (!stopped) timer = window.setTimeout(refreshSales, REFRESH_MS);
  };

  interface Priced {
    name: string;
    price: number;
  }
  interface Described {
    params: {
      title: string; venue: string; description?: string; cast?: string[]; running_minutes?: number; time_zone?: string; poster?: string;
      currency?: string; sections: Priced[]; goods?: Priced[]; sessions: { id: string; starts_at: string; label?: string }[];
    };
  }
  let described: Described['params'] | null = null;
  const describe = async () => {
    const [{ params: p }, sold] = await Promise.all([
      call<Described>('GET', `/api/v1/performances/${picker.value}`),
      call<Sales>('GET', `/api/v1/performances/${picker.value}/sales`),
    ]);
    described = p;
    const major = minorUnits(p.currency ?? 'EUR');
    const taken = (name: string, counted: Counted[]) => counted.some((c) => c.name === name && c.sold + c.held > 0);
    priced = [];
    const field = (list: 'sections' | 'goods', item: Priced, index: number, locked: boolean) => {
      const input = h('input', { type: 'number', name: `price-${list}-${item.name}`, min: '0', step: 'any', inputMode: 'decimal',
        value: String(item.price / major), disabled: locked });
      priced.push({ list, index, input });
      return h('label', {}, `${list === 'goods' ? 'Goods ' : ''}${item.name} (${p.currency ?? 'EUR'}) `, input, locked ? ' sold or held: fixed' : '');
    };
    labelled = p.sessions.map((s) => h('input', { type: 'text', name: `label-${s.id}`, maxLength: 100, value: s.label ?? '', placeholder: 'its date' }));
    labels.replaceChildren(h('legend', {}, 'Session labels'), h('div', { class: 'grid' },
      ...p.sessions.map((s, i) => h('label', {}, `${when(s.starts_at, p.time_zone ?? 'UTC')} `, labelled[i]))));
    prices.replaceChildren(h('legend', {}, 'Prices (only what has not sold)'), h('div', { class: 'grid' },
      ...p.sections.map((s, i) => field('sections', s, i, taken(s.name, sold.sessions.flatMap((x) => x.sections)))),
      ...(p.goods ?? []).map((g, i) => field('goods', g, i, taken(g.name, sold.goods)))));
    edit.title.value = p.title;
    edit.venue.value = p.venue;
    edit.description.value = p.description ?? '';
    edit.cast.value = (p.cast ?? []).join(', ');
    edit.running.value = p.running_minutes ? String(p.running_minutes) : '';
    choose(edit.timeZone, p.time_zone ?? 'UTC');
    edit.shown.hidden = !p.poster;
    if (p.poster) edit.shown.src = `/api/v1/posters/${p.poster}`;
    edit.poster.value = '';
    edit.noPoster.checked = false;
  };
  const save = async () => {
    const names = edit.cast.value.split(',').map((c) => c.trim()).filter(Boolean);
    // null takes an optional detail away.
    const params: Record<string, unknown> = {
      title: edit.title.value,
      venue: edit.venue.value,
      description: edit.description.value.trim() ? edit.description.value : null,
      cast: names.length ? names : null,
      running_minutes: edit.running.value ? Number(edit.running.value) : null,
      time_zone: edit.timeZone.value,
    };
    // Sections and goods go along only when a price changed: the rest of them stays as it is.
    if (described) {
      const major = minorUnits(described.currency ?? 'EUR');
      for (const list of ['sections', 'goods'] as const) {
        const now = (described[list] ?? []).map((item, i) => {
          const input = priced.find((f) => f.list === list && f.index === i)?.input;
          return input ? { ...item, price: Math.round(Number(input.value) * major) } : item;
        });
        if (now.some((item, i) => item.price !== described?.[list]?.[i].price)) params[list] = now;
      }
      const sessions = described.sessions.map((s, i) => ({ ...s, label: labelled[i]?.value.trim() || undefined }));
      if (sessions.some((s, i) => s.label !== described?.sessions[i].label)) params.sessions = sessions;
    }
    try {
      const image = edit.poster.files?.[0];
      if (edit.noPoster.checked) params.poster = null;
      else if (image) params.poster = await uploadPoster(image);
      await call('PATCH', `/api/v1/performances/${picker.value}`, { params });
      notice(saved, 'Saved: the show page says so now.', 'ok');
      await describe();
      await refreshSales();
    } catch (e) {
      notice(saved, reason(e));
    }
  };

  const refund = async (order: Order, seats?: string[]) => {
    try {
      await call('POST', `/api/v1/performances/${picker.value}/orders/${order.order_id}/refund`, seats ? { seats } : {});
      notice(message, seats ? `Refunded ${seats.join(', ')}.` : `Refunded order ${order.order_id}.`, 'ok');
      await Promise.all([list(), refreshSales(), outbox()]);
      open(order.order_id);
    } catch (e) {
      notice(message, reason(e));
    }
  };

  const open = async (id: string) => {
    try {
      const o = await call<Order>('GET', `/api/v1/performances/${picker.value}/orders/${id}`);
      const live = o.tickets.filter((t) => !t.refunded);
      detail.hidden = false;
      detail.replaceChildren(h('div', {},
        h('h2', {}, `Order ${o.order_id}`),
        h('p', {}, `${o.buyer.email ?? 'unknown buyer'} · ${cost(o.amount)} paid · ${cost(o.refunded)} refunded · ${o.status}`),
        h('ul', { class: 'tickets' }, ...o.tickets.map((t) => h('li', { 'data-seat': t.seat },
          `${t.seat}${t.refunded ? ' (refunded)' : ''}${t.checked_in_at ? ` · in at ${venueTime(t.checked_in_at)}` : ''} `,
          o.status === 'confirmed' && !t.refunded ? h('button', { type: 'button', onclick: () => refund(o, [t.seat]) }, `Refund ${t.seat}`) : null))),
        o.status === 'confirmed' && live.length ? h('button', { type: 'button', class: 'danger', onclick: () => refund(o) }, 'Refund the whole order') : null,
      ));
    } catch (e) {
      notice(message, reason(e));
    }
  };

  const list = async () => {
    if (!picker.value) return;
    const query = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (search.value.trim()) query.set('q', search.value.trim());
    if (status.value) query.set('status', status.value);
    if (sessions.value) query.set('session', sessions.value);
    try {
      const s = session();
      const res = await fetch(`/api/v1/performances/${picker.value}/orders?${query}`, { headers: s ? { authorization: `Bearer ${s.token}` } : {} });
      const orders = (await res.json()) as Order[];
      if (!res.ok) throw new Error((orders as unknown as { message: string }).message);
      const total = Number(res.headers.get('x-total-count') ?? orders.length);
      rows.replaceChildren(...(orders.length
        ? orders.map((o) => h('tr', { 'data-order': o.order_id },
          h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => open(o.order_id) }, o.order_id)),
          h('td', {}, o.buyer.email ?? ''), h('td', {}, o.tickets.map((t) => t.seat).join(' ')),
          h('td', {}, cost(o.amount)), h('td', {}, cost(o.refunded)), h('td', {}, o.status), h('td', {}, venueTime(o.created_at))))
        : [h('tr', {}, h('td', { colSpan: 7 }, 'No orders match.'))]));
      pager.replaceChildren(
        `${total ? offset + 1 : 0}–${offset + orders.length} of ${total} `,
        h('button', { type: 'button', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); list(); } }, 'Previous'), ' ',
        h('button', { type: 'button', disabled: offset + PAGE >= total, onclick: () => { offset += PAGE; list(); } }, 'Next'),
      );
    } catch (e) {
      notice(message, reason(e));
    }
  };

  // The outbox: each mail, and each refund the payment provider failed, with where it stands;
  // without a relay every mail waits here.
  const outbox = async () => {
    if (!picker.value) return;
    try {
      const box = await call<Outbox>('GET', `/api/v1/performances/${picker.value}/outbox`);
      relay.textContent = box.relay
        ? 'Mail goes to the SMTP relay; one that fails is tried again, with the error shown.'
        : 'No mail relay is configured (--smtp-url): mail waits here and goes out once one is.';
      mails.replaceChildren(...(box.messages.length
        ? box.messages.map((m) => h('tr', { 'data-mail': m.id },
          h('td', {}, (m.kind ?? '').replace('_', ' ')), h('td', {}, m.order_id ?? ''), h('td', { 'data-state': m.state }, m.state),
          h('td', {}, String(m.attempts)), h('td', {}, m.last_error ?? ''),
          h('td', {}, m.state === 'queued' ? `due ${venueTime(m.due_at)}` : venueTime(m.settled_at))))
        : [h('tr', {}, h('td', { colSpan: 6 }, 'No mail yet.'))]));
    } catch (e) {
      notice(message, reason(e));
    }
  };

  // A mail of this performance as a buyer would get it, as text: it is sent as plain text.
  const show = async (kind: string) => {
    try {
      const letter = await call<Letter>('GET', `/api/v1/performances/${picker.value}/mail/${kind}/preview`);
      preview.replaceChildren(
        h('h3', {}, letter.subject),
        h('pre', { class: 'letter' }, letter.text),
        h('p', {}, letter.attachments.length ? `Attached: ${letter.attachments.map((a) => a.name).join(', ')}` : 'Nothing attached.'),
      );
    } catch (e) {
      notice(message, reason(e));
    }
  };

  picker.addEventListener('change', () => ctx.navigate(`#/desk/${picker.value}`));
  sessions.addEventListener('change', () => { drawSales(); offset = 0; list(); });

  call<{ namespace: string; params: { title: string } }[]>('GET', '/api/v1/performances')
    .then((all) => {
      picker.replaceChildren(...all.map((p) => h('option', { value: p.namespace }, `${p.params.title} (${p.namespace})`)));
      if (!all.length) {
        notice(message, 'Deploy a performance first.', 'ok');
        return;
      }
      picker.value = all.some((p) => p.namespace === ctx.args[0]) ? ctx.args[0] : all[0].namespace;
      return Promise.all([refreshSales().then(list), describe(), outbox()]);
    })
    .catch((e) => notice(message, reason(e)));

  return () => {
    stopped = true;
    window.clearTimeout(timer);
    revenue.destroy();
  };
}
