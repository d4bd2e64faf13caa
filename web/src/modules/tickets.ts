// My tickets: the buyer's orders in every performance, each ticket with its QR code (its pass:
// signed, it alone admits at the door) and its code for typing in, and cancelling an order.
import { renderSVG } from 'uqr';
import { type Context, call, h, notice, reason, money, when } from '@marquee/api';

interface Order {
  namespace: string;
  title: string;
  venue: string;
  order_id: string;
  session: string;
  amount: number;
  status: string;
  tickets: { seat: string; code: string; qr: string; refunded?: boolean }[];
  created_at: string;
  starts_at: string | null;
  session_label: string | null;
  currency: string;
  time_zone: string;
}

/// A ticket's name as a person reads it: `R-3-12` is section R, row 3, seat 12.
function seatName(seat: string): string {
  const numbered = /^(.+)-(\d+)-(\d+)$/.exec(seat);
  return numbered ? `${numbered[1]} · row ${numbered[2]} · seat ${numbered[3]}` : seat;
}

function qr(pass: string, label: string, code: string): HTMLElement {
  const figure = h('figure', { class: 'qr' });
  // renderSVG returns markup generated from the pass alone, which the platform signed and
  // whose names are letters, digits and -_#/ only; nothing user-typed reaches it.
  figure.innerHTML = renderSVG(pass, { border: 1 });
  figure.firstElementChild?.setAttribute('role', 'img');
  figure.firstElementChild?.setAttribute('aria-label', `QR code of ${label}`);
  figure.append(h('figcaption', {}, seatName(label), h('br'), h('code', { class: 'code' }, code)));
  return figure;
}

export function mount(root: HTMLElement, _ctx: Context) {
  const list = h('div', { class: 'orders' });
  const message = h('p', { class: 'notice' });
  root.append(h('h1', {}, 'My tickets'), message, list);

  const load = () =>
    call<Order[]>('GET', '/api/v1/orders')
      .then((orders) => list.replaceChildren(...(orders.length ? orders.map(card) : [h('p', { class: 'empty' }, 'No tickets yet.')])))
      .catch((e) => notice(message, reason(e)));

  const card = (o: Order) => {
    const cancel = h('button', { type: 'button' }, 'Cancel order');
    let armed = false;
    cancel.addEventListener('click', async () => {
      // Two steps instead of a dialog: the first click asks, the second cancels.
      if (!armed) {
        armed = true;
        cancel.textContent = `Yes, cancel ${o.tickets.length} ticket(s)`;
        cancel.classList.add('danger');
        return;
      }
      cancel.disabled = true;
      try {
        await call('POST', `/p/${o.namespace}/api/orders/${o.order_id}/cancel`);
        notice(message, `Order for ${o.title} cancelled.`, 'ok');
        await load();
      } catch (e) {
        notice(message, reason(e));
        cancel.disabled = false;
      }
    });
    const live = o.status === 'confirmed';
    return h(
      'article',
      { class: `card order ${o.status}`, 'data-order': o.order_id },
      h('h2', {}, h('a', { href: `#/p/${o.namespace}` }, o.title), o.session_label ? ` · ${o.session_label}` : ''),
      h('p', { class: 'when' }, when(o.starts_at, o.time_zone)),
      h('p', {}, `${o.venue} · ${money(o.amount, o.currency)} · `, h('span', { class: 'status' }, o.status)),
      live ? h('div', { class: 'tickets' }, ...o.tickets.filter((t) => !t.refunded).map((t) => qr(t.qr, t.seat, t.code))) : null,
      live ? h('div', { class: 'actions' }, cancel) : null,
    );
  };
  load();
}
