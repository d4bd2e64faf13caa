// Deploy: pick a template, describe the performance (sessions, sections as a seat map or
// general admission, goods), deploy it and see how long it took to go live. Lists the
// seller's performances. The form follows the template's parameter schema.
import { type Context, ApiError, POSTER_TYPES, call, h, minorUnits, notice, picker, reason, uploadPoster } from '@marquee/api';

interface Template {
  name: string;
  description: string;
  params: { properties: Record<string, { items?: { properties: Record<string, unknown> } }> };
}

interface Performance {
  namespace: string;
  template: string;
  url: string;
  params: { title: string };
}

const slug = (text: string) =>
  text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'show';

/// A list of rows the seller can add to and remove from.
function rows<T>(legend: string, add: string, make: (remove: () => void) => { el: HTMLElement; value: () => T }) {
  const items: { el: HTMLElement; value: () => T }[] = [];
  const list = h('div', { class: 'rows' });
  const push = () => {
    const item = make(() => {
      if (items.length === 1) return;
      items.splice(items.indexOf(item), 1);
      item.el.remove();
    });
    items.push(item);
    list.append(item.el);
  };
  const fieldset = h('fieldset', {}, h('legend', {}, legend), list, h('button', { type: 'button', class: 'link', onclick: push }, add));
  return { fieldset, push, values: () => items.map((i) => i.value()) };
}

const removeButton = (what: string, remove: () => void) =>
  h('button', { type: 'button', class: 'remove', 'aria-label': `Remove ${what}`, onclick: remove }, '×');

function number(label: string, name: string, value: number, min = 0, extra: Record<string, unknown> = {}) {
  const input = h('input', { type: 'number', name, value: String(value), min: String(min), required: true, inputMode: 'numeric', ...extra });
  return { label: h('label', {}, `${label} `, input), get: () => Number(input.value) };
}

function text(label: string, name: string, value = '', extra: Record<string, unknown> = {}) {
  const input = h('input', { type: 'text', name, value, required: true, ...extra });
  return { label: h('label', {}, `${label} `, input), input };
}

/// The wall-clock time `local` (`2027-03-01T20:00`) as the clocks of `timeZone` read it, as
/// an instant: the zone's offset at that time, found by formatting a guess back in the zone.
function inZone(local: string, timeZone: string): Date {
  const wall = Date.parse(`${local}:00Z`);
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  });
  const offset = (t: number) => {
    const get = (type: string) => Number(parts.formatToParts(new Date(t)).find((p) => p.type === type)?.value);
    return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - t;
  };
  const guess = wall - offset(wall);
  return new Date(wall - offset(guess));
}

function form(template: Template, onDeployed: () => void): HTMLElement {
  const props = template.params.properties;
  const numbered = Boolean(props.sections?.items?.properties.rows);
  const withGoods = Boolean(props.goods);
  const withCodes = Boolean(props.presale_codes);

  const title = text('Title', 'title', '', { maxLength: 200 });
  const venue = text('Venue', 'venue', '', { maxLength: 200 });
  const description = h('textarea', { name: 'description', rows: 3, maxLength: 5000 });
  const cast = h('input', { type: 'text', name: 'cast', placeholder: 'Names, comma separated' });
  const running = h('input', { type: 'number', name: 'running-minutes', min: '1', max: '1440', inputMode: 'numeric' });
  const poster = h('input', { type: 'file', name: 'poster', accept: POSTER_TYPES });
  const currency = picker('currency', 'currency', 'EUR');
  const timeZone = picker('time-zone', 'timeZone', Intl.DateTimeFormat().resolvedOptions().timeZone);
  // Prices are typed in major units of the chosen currency and sent in its minor units.
  const minor = (major: number) => Math.round(major * minorUnits(currency.value));
  const namespace = text('Address', 'namespace', '', { pattern: '[a-z0-9]([a-z0-9\\-]*[a-z0-9])?', maxLength: 63 });
  let edited = false;
  namespace.input.addEventListener('input', () => (edited = true));
  title.input.addEventListener('input', () => {
    if (!edited) namespace.input.value = slug(title.input.value);
  });

  const tomorrow = new Date(Date.now() + 86_400_000);
  tomorrow.setHours(20, 0, 0, 0);
  const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  const sessions = rows('Sessions', 'Add a session', (remove) => {
    const id = text('Name', 'session-id', `s${Date.now().toString(36).slice(-4)}`, { pattern: '[A-Za-z0-9_]{1,32}' });
    const label = h('input', { type: 'text', name: 'session-label', maxLength: 100, placeholder: 'Opening night' });
    const at = h('input', { type: 'datetime-local', name: 'starts-at', value: local(tomorrow), required: true });
    return {
      el: h('div', { class: 'row' }, id.label, h('label', {}, 'Label ', label), h('label', {}, 'Starts (local time there) ', at), removeButton('session', remove)),
      value: () => ({
        id: id.input.value,
        starts_at: inZone(at.value, timeZone.value).toISOString(),
        ...(label.value.trim() ? { label: label.value.trim() } : {}),
      }),
    };
  });
  sessions.push();

  let sectionCount = 0;
  const sections = rows(numbered ? 'Sections (seat map: rows × seats)' : 'Sections', 'Add a section', (remove) => {
    sectionCount += 1;
    const name = text('Name', 'section-name', sectionCount === 1 ? 'Stalls' : `S${sectionCount}`, { pattern: '[A-Za-z0-9_]{1,16}' });
    const price = number('Price', 'price', 50, 0, { step: 'any', inputMode: 'decimal' });
    const seatRows = number('Rows', 'rows', 10, 1);
    const perRow = number('Seats per row', 'seats-per-row', 20, 1);
    const capacity = number('Capacity', 'capacity', 500, 1);
    // A seated template takes numbered sections and general admission side by side.
    const kind = h('select', { name: 'section-kind' }, h('option', { value: 'map' }, 'Seat map'), h('option', { value: 'standing' }, 'Standing'));
    const mapped = () => numbered && kind.value === 'map';
    const show = () => {
      seatRows.label.hidden = perRow.label.hidden = !mapped();
      capacity.label.hidden = mapped();
    };
    kind.addEventListener('change', show);
    show();
    return {
      el: h('div', { class: 'row' }, numbered && h('label', {}, 'Kind ', kind), name.label, price.label, seatRows.label, perRow.label, capacity.label, removeButton('section', remove)),
      value: () =>
        mapped()
          ? { name: name.input.value, price: minor(price.get()), rows: seatRows.get(), seats_per_row: perRow.get() }
          : { name: name.input.value, price: minor(price.get()), capacity: capacity.get() },
    };
  });
  sections.push();

  const goods = rows('Goods', 'Add goods', (remove) => {
    const name = text('Name', 'goods-name', 'Tshirt', { pattern: '[A-Za-z0-9_]{1,16}' });
    const price = number('Price', 'goods-price', 25, 0, { step: 'any', inputMode: 'decimal' });
    const stock = number('Stock', 'stock', 100, 1);
    return {
      el: h('div', { class: 'row' }, name.label, price.label, stock.label, removeButton('goods', remove)),
      value: () => ({ name: name.input.value, price: minor(price.get()), stock: stock.get() }),
    };
  });
  const codes = text('Presale codes (comma separated)', 'presale-codes', 'EARLYBIRD');

  const message = h('p', { class: 'notice' });
  const submit = h('button', { type: 'submit', class: 'primary' }, `Deploy ${template.name}`);
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const el = h(
    'form',
    { class: 'card' },
    h('h2', {}, `New ${template.name} performance`),
    h('div', { class: 'grid' }, title.label, venue.label, namespace.label),
    h('div', { class: 'grid' }, h('label', {}, 'Currency ', currency), h('label', {}, 'Time zone ', timeZone),
      h('label', {}, 'Running time (minutes) ', running), h('label', {}, 'Cast ', cast)),
    h('label', {}, 'Description ', description),
    h('label', {}, 'Poster (JPEG, PNG or WebP) ', poster),
    sessions.fieldset,
    sections.fieldset,
    withGoods && goods.fieldset,
    withCodes && codes.label,
    message,
    h('div', { class: 'actions' }, submit),
    result,
  );
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    notice(message, '', 'ok');
    const params: Record<string, unknown> = {
      title: title.input.value,
      venue: venue.input.value,
      currency: currency.value,
      time_zone: timeZone.value,
      sessions: sessions.values(),
      sections: sections.values(),
    };
    if (description.value.trim()) params.description = description.value;
    const names = cast.value.split(',').map((c) => c.trim()).filter(Boolean);
    if (names.length) params.cast = names;
    if (running.value) params.running_minutes = Number(running.value);
    if (withGoods) params.goods = goods.values();
    if (withCodes) params.presale_codes = codes.input.value.split(',').map((c) => c.trim()).filter(Boolean);
    const ns = namespace.input.value;
    const started = performance.now();
    try {
      const image = poster.files?.[0];
      if (image) params.poster = await uploadPoster(image);
      const deployed = await call<{ deploy_ms: number; url: string }>('POST', '/api/v1/performances', {
        namespace: ns,
        template: template.name,
        params,
      });
      // Live means its own function answers, as a buyer would reach it.
      const info = await fetch(`/p/${ns}/api/info`);
      const live = performance.now() - started;
      result.replaceChildren(
        h(
          'p',
          { class: 'notice ok', role: 'status', 'data-deployed': ns },
          `Live in ${live.toFixed(0)} ms (the platform took ${deployed.deploy_ms.toFixed(1)} ms; first answer ${info.status}). `,
          h('a', { href: deployed.url }, `Open ${deployed.url}`),
        ),
      );
      onDeployed();
    } catch (e) {
      if (e instanceof ApiError && e.field === 'namespace') namespace.input.focus();
      notice(message, reason(e));
    } finally {
      submit.disabled = false;
    }
  });
  return el;
}

export function mount(root: HTMLElement, _ctx: Context) {
  const picker = h('div', { class: 'templates', role: 'radiogroup', 'aria-label': 'Template' });
  const slot = h('div');
  const mine = h('ul', { class: 'performances' });
  const message = h('p', { class: 'notice' });
  root.append(
    h('h1', {}, 'Deploy a performance'),
    message,
    picker,
    slot,
    h('section', { class: 'card' }, h('h2', {}, 'Your performances'), mine),
  );

  const listMine = async () => {
    const all = await call<Performance[]>('GET', '/api/v1/performances');
    mine.replaceChildren(
      ...(all.length
        ? all.map((p) => h('li', {}, h('a', { href: p.url }, p.params.title), ` ${p.namespace} · ${p.template}`))
        : [h('li', { class: 'empty' }, 'Nothing deployed yet.')]),
    );
  };

  call<Template[]>('GET', '/api/v1/templates')
    .then((templates) => {
      const choose = (t: Template, button: HTMLButtonElement) => {
        for (const b of picker.querySelectorAll('button')) b.setAttribute('aria-checked', String(b === button));
        slot.replaceChildren(form(t, listMine));
      };
      picker.replaceChildren(
        ...templates.map((t, i) => {
          const button = h('button', { type: 'button', role: 'radio', 'aria-checked': 'false', class: 'template', 'data-template': t.name, tabIndex: i === 0 ? 0 : -1 },
            h('strong', {}, t.name),
            h('span', {}, t.description),
          );
          button.addEventListener('click', () => choose(t, button));
          return button;
        }),
      );
      // A radio group: one tab stop, arrow keys move and choose.
      picker.addEventListener('keydown', (e) => {
        const buttons = [...picker.querySelectorAll('button')];
        const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
        const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
        if (at < 0 || !step) return;
        e.preventDefault();
        const next = buttons[(at + step + buttons.length) % buttons.length];
        buttons.forEach((b) => (b.tabIndex = b === next ? 0 : -1));
        next.focus();
        next.click();
      });
      const first = picker.querySelector('button');
      if (first) choose(templates[0], first);
    })
    .catch((e) => notice(message, reason(e)));
  listMine().catch((e) => notice(message, reason(e)));
}
