// The built-in storefront (type-checked by web/tsconfig.storefront.json). The console runs
// its own build of it (web/build.mjs) with the console's session; a performance's own page
// (/p/{ns}/, served by this listing component) runs it sandboxed, with page-api.js as its
// @marquee/api: a token for this one performance, never the platform's session.
// Sessions, an SVG seat map with live availability (arrow keys move, Space picks), general
// admission by quantity, a hold with its countdown, and checkout.
import { call, consoleHref, h, money, notice, reason, session, signInHref, takePicks, when } from '@marquee/api';

const SVG = 'http://www.w3.org/2000/svg';
const SEAT = 22;
const POLL_MS = 2000;

const svg = (tag, attrs = {}) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

/** An SVG seat map of one numbered section; seats are checkboxes in a roving tab order. */
function seatMap(section, picked, onChange) {
  const width = section.seats_per_row * SEAT + 40;
  const height = section.rows * SEAT + 30;
  const map = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'seatmap', role: 'group', 'aria-label': `${section.name} seat map` });
  map.append(Object.assign(svg('text', { x: width / 2, y: 12, 'text-anchor': 'middle', class: 'stage' }), { textContent: 'stage' }));
  const seats = new Map();
  let focused = `${section.name}-1-1`;
  for (let row = 1; row <= section.rows; row++) {
    for (let n = 1; n <= section.seats_per_row; n++) {
      const id = `${section.name}-${row}-${n}`;
      const seat = svg('rect', {
        x: 30 + (n - 1) * SEAT, y: 20 + (row - 1) * SEAT, width: SEAT - 4, height: SEAT - 4, rx: 4,
        role: 'checkbox', 'aria-checked': 'false', tabindex: id === focused ? 0 : -1,
        'aria-label': `${section.name} row ${row} seat ${n}`, 'data-seat': id, class: 'seat free',
      });
      seats.set(id, seat);
      map.append(seat);
    }
    map.append(Object.assign(svg('text', { x: 12, y: 20 + (row - 1) * SEAT + 13, class: 'row' }), { textContent: String(row) }));
  }
  const toggle = (id) => {
    const seat = seats.get(id);
    if (!seat || seat.getAttribute('aria-disabled') === 'true') return;
    if (picked.has(id)) picked.delete(id);
    else picked.add(id);
    seat.setAttribute('aria-checked', String(picked.has(id)));
    seat.classList.toggle('picked', picked.has(id));
    onChange();
  };
  const focus = (id) => {
    const seat = seats.get(id);
    if (!seat) return;
    seats.get(focused)?.setAttribute('tabindex', '-1');
    seat.setAttribute('tabindex', '0');
    seat.focus();
    focused = id;
  };
  map.addEventListener('click', (e) => {
    const id = e.target.getAttribute?.('data-seat');
    if (id) {
      focus(id);
      toggle(id);
    }
  });
  map.addEventListener('keydown', (e) => {
    const [, row, n] = (focused.match(/-(\d+)-(\d+)$/) ?? []).map(Number);
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    if (e.key in moves) {
      e.preventDefault();
      const [dr, dn] = moves[e.key];
      focus(`${section.name}-${row + dr}-${n + dn}`);
    } else if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      toggle(focused);
    }
  });
  /** Marks seats held or sold by anyone; a picked seat someone else took is dropped. */
  const update = (taken, mine) => {
    let lost = false;
    for (const [id, seat] of seats) {
      const gone = taken.has(id) && !mine.has(id);
      seat.setAttribute('aria-disabled', String(gone));
      seat.classList.toggle('taken', gone);
      seat.classList.toggle('free', !gone);
      if (gone && picked.has(id)) {
        picked.delete(id);
        seat.setAttribute('aria-checked', 'false');
        seat.classList.remove('picked');
        lost = true;
      }
    }
    return lost;
  };
  /** Picks a seat (one kept from before a sign-in), unless it is picked or taken. */
  const pick = (id) => {
    if (!picked.has(id)) toggle(id);
  };
  return { el: map, update, pick };
}

export function mount(root, ctx) {
  const ns = ctx.args[0];
  const status = h('p', { class: 'notice' });
  const body = h('div');
  root.append(body, status);
  let timer = 0;
  let countdown = 0;
  let stopped = false;

  (async () => {
    const info = await call('GET', `/p/${ns}/api/info`);
    // Prices in the performance's currency, times as the venue's clock reads them.
    const cost = (minor) => money(minor, info.currency ?? 'EUR');
    const at = (s) => when(s.starts_at, info.time_zone ?? 'UTC');
    const picked = new Set();
    const mine = new Set();
    const quantities = new Map();
    const goodsWanted = new Map();
    let hold = null;
    let current = info.sessions[0]?.id;

    const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
    const holdButton = h('button', { type: 'button', class: 'primary' }, 'Hold');
    const holdBox = h('div', { class: 'hold' });
    const refresh = () => {
      const seats = [...picked];
      const units = [...quantities.values()].reduce((a, b) => a + b, 0);
      const extras = [...goodsWanted.values()].reduce((a, b) => a + b, 0);
      const price = (name) => info.sections.find((s) => s.name === name)?.price ?? 0;
      const goodsPrice = (name) => (info.goods ?? []).find((g) => g.name === name)?.price ?? 0;
      const total = seats.reduce((sum, id) => sum + price(id.split('-')[0]), 0)
        + [...quantities].reduce((sum, [name, q]) => sum + q * price(name), 0)
        + [...goodsWanted].reduce((sum, [name, q]) => sum + q * goodsPrice(name), 0);
      const parts = [seats.length ? `Seats ${seats.join(', ')}` : '', units ? `${units} standing` : '', extras ? `${extras} goods` : ''].filter(Boolean);
      summary.textContent = parts.length ? `${parts.join(' and ')}: ${cost(total)}` : maps.length ? 'Pick seats on the map.' : 'Choose how many you want.';
      holdButton.disabled = !parts.length || hold !== null;
    };

    const maps = info.sections.filter((s) => s.numbered).map((s) => ({ section: s, ...seatMap(s, picked, refresh) }));
    /** A quantity picker of a standing section or of goods, kept in `into` by name, offering
     * no more than one buyer may have (`most`). */
    const quantity = (item, into, prefix, most) => {
      const input = h('input', { type: 'number', min: '0', max: String(most), value: '0', name: `${prefix}-${item.name}`, inputMode: 'numeric', title: `at most ${most}` });
      const left = h('span', { class: 'left' });
      input.addEventListener('input', () => {
        const wanted = Math.min(most, Math.max(0, Number(input.value) || 0));
        if (String(wanted) !== input.value && input.value !== '') input.value = String(wanted);
        into.set(item.name, wanted);
        refresh();
      });
      return { section: item, input, left, el: h('label', { class: 'qty' }, `${item.name} · ${cost(item.price)} `, input, left) };
    };
    const general = info.sections.filter((s) => !s.numbered).map((s) => quantity(s, quantities, 'qty', info.per_buyer_limit));
    const goods = (info.goods ?? []).map((g) => quantity(g, goodsWanted, 'goods', g.per_buyer_limit ?? info.per_buyer_limit));
    /** Forgets every pick, on the map and in the quantity fields. */
    const clearPicks = () => {
      picked.clear();
      quantities.clear();
      goodsWanted.clear();
      maps.forEach((m) => m.el.querySelectorAll('.picked').forEach((s) => { s.classList.remove('picked'); s.setAttribute('aria-checked', 'false'); }));
      [...general, ...goods].forEach((q) => { q.input.value = '0'; });
    };

    const poll = async () => {
      if (stopped || !current) return;
      try {
        const a = await call('GET', `/p/${ns}/api/sessions/${current}/availability`);
        const taken = new Set(a.taken);
        const lost = maps.map((m) => m.update(taken, mine)).some(Boolean);
        for (const g of general) {
          const left = a.sections.find((s) => s.name === g.section.name)?.available ?? 0;
          g.left.textContent = `${left} left`;
        }
        for (const g of goods) {
          const left = (a.goods ?? []).find((s) => s.name === g.section.name)?.available ?? 0;
          g.left.textContent = `${left} left`;
        }
        if (lost) notice(status, 'A seat you picked was just taken by someone else.');
        refresh();
      } catch (e) {
        notice(status, reason(e));
      }
      timer = window.setTimeout(poll, POLL_MS);
    };

    const pay = (held) => {
      const card = h('input', { name: 'card', autocomplete: 'cc-number', inputMode: 'numeric', value: '', placeholder: '4242 4242 4242 4242', required: true });
      const payButton = h('button', { type: 'submit', class: 'primary' }, `Pay ${cost(held.amount)}`);
      const release = h('button', { type: 'button' }, 'Release');
      const clock = h('p', { class: 'countdown', role: 'timer', 'aria-live': 'off' });
      const tick = () => {
        const left = Math.max(0, Math.round((Date.parse(held.expires_at) - Date.now()) / 1000));
        clock.textContent = `Held for ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
        if (left === 0) {
          window.clearInterval(countdown);
          notice(status, 'Your hold expired; the seats are free again.');
          reset();
        }
      };
      tick();
      countdown = window.setInterval(tick, 1000);
      release.addEventListener('click', async () => {
        await call('DELETE', `/p/${ns}/api/holds/${held.hold_id}`).catch(() => undefined);
        reset();
      });
      // A refused payment is told here, beside the card, not below the page where a phone
      // would never show it.
      const refused = h('p', { class: 'notice' });
      const form = h('form', { class: 'card checkout' }, h('h2', {}, 'Checkout'), clock, h('label', {}, 'Card number ', card), refused, h('div', { class: 'actions' }, payButton, release));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        payButton.disabled = true;
        try {
          const order = await call('POST', `/p/${ns}/api/holds/${held.hold_id}/confirm`, { payment: { card: card.value.replace(/\s+/g, '') } });
          window.clearInterval(countdown);
          holdBox.replaceChildren(
            h('div', { class: 'card', 'data-order': order.order_id },
              h('h2', {}, 'Your tickets'),
              h('ul', {}, ...order.tickets.map((t) => h('li', { 'data-ticket': t.seat }, `${t.seat}`))),
              h('p', {}, `Paid ${cost(order.amount)}. `, h('a', { href: consoleHref('#/tickets') }, 'See all your tickets'))),
          );
          hold = null;
          clearPicks();
          mine.clear();
          notice(status, '', 'ok');
          refresh();
        } catch (err) {
          notice(refused, reason(err));
          refused.scrollIntoView({ block: 'nearest' });
          card.focus();
          payButton.disabled = false;
        }
      });
      return form;
    };

    const reset = () => {
      window.clearInterval(countdown);
      hold = null;
      mine.clear();
      holdBox.replaceChildren();
      refresh();
    };

    holdButton.addEventListener('click', async () => {
      if (!session()) {
        // What was picked comes back with the buyer (see @marquee/api's takePicks).
        const picks = { session: current, seats: [...picked], sections: [...quantities], goods: [...goodsWanted] };
        status.replaceChildren('Sign in as a buyer to hold seats: ', h('a', { href: signInHref(ns, picks) }, 'sign in'), '.');
        status.className = 'notice error';
        return;
      }
      holdButton.disabled = true;
      const claim = { session: current };
      if (picked.size) claim.seats = [...picked];
      const standing = [...quantities].filter(([, q]) => q > 0);
      if (standing.length) claim.sections = standing.map(([name, quantity]) => ({ name, quantity }));
      const extras = [...goodsWanted].filter(([, q]) => q > 0);
      if (extras.length) claim.goods = extras.map(([name, quantity]) => ({ name, quantity }));
      try {
        hold = await call('POST', `/p/${ns}/api/holds`, claim);
        hold.seats.forEach((s) => mine.add(s));
        notice(status, '', 'ok');
        holdBox.replaceChildren(pay(hold));
      } catch (e) {
        notice(status, reason(e));
        hold = null;
      }
      refresh();
      poll();
    });

    /** A presale admits buyers with a code the seller gave them. */
    const presaleForm = () => {
      const code = h('input', { name: 'presale-code', autocomplete: 'off', required: true });
      const form = h('form', { class: 'card presale' }, h('h2', {}, 'Presale'), h('label', {}, 'Presale code ', code), h('button', { type: 'submit' }, 'Use code'));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        if (!session()) {
          status.replaceChildren('Sign in as a buyer first: ', h('a', { href: signInHref(ns) }, 'sign in'), '.');
          status.className = 'notice error';
          return;
        }
        try {
          await call('POST', `/p/${ns}/api/auth/admit`, { code: code.value.trim() });
          form.replaceChildren(h('p', { class: 'admitted' }, 'Code accepted: you may book.'));
          notice(status, '', 'ok');
        } catch (err) {
          notice(status, reason(err));
        }
      });
      return form;
    };

    const sessionPicker = h('select', { name: 'session' }, ...info.sessions.map((s) => h('option', { value: s.id }, s.label ? `${s.label} · ${at(s)}` : at(s))));
    sessionPicker.addEventListener('change', () => {
      current = sessionPicker.value;
      clearPicks();
      refresh();
      window.clearTimeout(timer);
      poll();
    });

    body.append(
      h('h1', {}, info.title),
      ...(info.poster ? [h('img', { class: 'poster', src: info.poster, alt: `Poster of ${info.title}` })] : []),
      h('p', { class: 'venue' }, info.venue, info.running_minutes ? ` · ${info.running_minutes} minutes` : ''),
      ...(info.description ? [h('p', { class: 'description' }, info.description)] : []),
      ...(info.cast?.length ? [h('p', { class: 'cast' }, `With ${info.cast.join(', ')}`)] : []),
      h('label', {}, 'Session ', sessionPicker),
      ...maps.map((m) => h('section', { class: 'card' }, h('h2', {}, `${m.section.name} · ${cost(m.section.price)}`), m.el)),
      ...(general.length ? [h('section', { class: 'card' }, h('h2', {}, 'Standing'), ...general.map((g) => g.el))] : []),
      ...(goods.length ? [h('section', { class: 'card goods' }, h('h2', {}, 'Goods'), ...goods.map((g) => g.el))] : []),
      ...(info.presale ? [presaleForm()] : []),
      h('div', { class: 'actions sticky' }, summary, holdButton),
      holdBox,
    );
    // Back from signing in: what was picked before is picked again. The picks came back
    // through a link, so only what this page offers is taken from them.
    const restored = takePicks(ns);
    const list = (value) => (Array.isArray(value) ? value : []);
    if (restored && info.sessions.some((s) => s.id === restored.session)) {
      current = restored.session;
      sessionPicker.value = current;
      list(restored.seats).forEach((id) => maps.forEach((m) => m.pick(String(id))));
      for (const [fields, into, wanted] of [[general, quantities, restored.sections], [goods, goodsWanted, restored.goods]]) {
        for (const [name, count] of list(wanted).filter((w) => Array.isArray(w) && Number.isInteger(w[1]) && w[1] > 0)) {
          const field = fields.find((f) => f.section.name === name);
          if (field) {
            field.input.value = String(count);
            into.set(name, count);
          }
        }
      }
    }
    refresh();
    poll();
  })().catch((e) => notice(status, reason(e)));

  return () => {
    stopped = true;
    window.clearTimeout(timer);
    window.clearInterval(countdown);
  };
}
