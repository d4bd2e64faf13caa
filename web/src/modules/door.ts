// The door: check tickets in at one performance (`#/door/{ns}`) by scanning their QR codes with
// the device's camera, or by typing a ticket in; green, red or "already used at 19:02 at door
// B" at once, an undo for a mistaken scan, and the arrivals per session at every door. Door staff
// use a door token the seller issued (no account needed); the owner may use their session.
import { type Context, ApiError, answer, call, h, notice, reason, session } from '@marquee/api';
import { BarcodeDetector as Ponyfill, prepareZXingModule } from 'barcode-detector/ponyfill';

interface Verdict {
  valid: boolean;
  status: 'checked_in' | 'already_used' | 'cancelled' | 'unknown';
  order_id?: string;
  seat?: string;
  session?: string;
  checked_in_at?: string;
  door?: string | null;
}

interface Detector {
  detect(source: CanvasImageSource): Promise<{ rawValue: string }[]>;
}

/// The browser's own BarcodeDetector where it reads QR codes, else the ponyfill, whose decoder
/// (zxing, WebAssembly) the console serves itself: nothing is fetched from elsewhere.
async function detector(): Promise<Detector> {
  const native = (window as unknown as { BarcodeDetector?: typeof Ponyfill }).BarcodeDetector;
  if (native && (await native.getSupportedFormats()).includes('qr_code')) return new native({ formats: ['qr_code'] });
  prepareZXingModule({ overrides: { locateFile: (path: string, prefix: string) => (path.endsWith('.wasm') ? `/console/modules/${path}` : prefix + path) } });
  return new Ponyfill({ formats: ['qr_code'] });
}

const TOKEN = (ns: string) => `marquee.door.${ns}`;
const DOOR = 'marquee.door.name';
/// How long the same code is ignored after a verdict, so a ticket held up does not scan twice.
const SAME_CODE_MS = 4000;

/// What was typed: a ticket's pass, or its order, seat and code separated by spaces.
function typed(text: string): Record<string, string> | null {
  const t = text.trim();
  if (t.startsWith('MQ1.')) return { ticket: t };
  const parts = t.split(/\s+/);
  return parts.length === 3 ? { order_id: parts[0], seat: parts[1], code: parts[2] } : null;
}

const time = (iso?: string) => (iso ? new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }) : '');

export function mount(root: HTMLElement, ctx: Context) {
  const ns = ctx.args[0];
  if (!ns) {
    root.append(h('h1', {}, 'Door'), h('p', {}, 'Open the door screen of a performance: #/door/{performance}.'));
    return;
  }
  const owner = session();
  let token = sessionStorage.getItem(TOKEN(ns)) ?? '';
  const message = h('p', { class: 'notice' });
  const verdict = h('section', { class: 'verdict', 'aria-live': 'assertive', 'data-verdict': 'none' }, 'Waiting for a ticket…');
  const undo = h('button', { type: 'button', hidden: true }, 'Undo this entry');
  const next = h('button', { type: 'button', class: 'primary', hidden: true }, 'Next ticket');
  const count = h('p', { class: 'arrivals', 'data-arrivals': '0', 'aria-live': 'polite' });
  const video = h('video', { muted: true, playsInline: true, class: 'camera', 'aria-label': 'camera' }) as HTMLVideoElement;
  const start = h('button', { type: 'button', class: 'primary' }, 'Start camera');
  const tokenField = h('input', { type: 'password', autocomplete: 'off', value: token, 'aria-describedby': 'door-token-help' }) as HTMLInputElement;
  const doorField = h('input', { value: localStorage.getItem(DOOR) ?? '', maxLength: 64, placeholder: 'B' }) as HTMLInputElement;
  const entry = h('input', { autocomplete: 'off', placeholder: 'MQ1.… or order seat code' }) as HTMLInputElement;

  let stream: MediaStream | null = null;
  let timer = 0;
  let paused = false;
  let last = { code: '', at: 0 };
  let shown: Verdict | null = null;

  /// Calls the door's API with the door token, or as the signed-in owner without one.
  async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `/api/v1/performances/${ns}/${path}`;
    if (!token) return call<T>(method, url, body);
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return answer<T>(await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  }

  const checkin = (body: Record<string, string>) => {
    const door = doorField.value.trim();
    return send<Verdict>('POST', 'checkin', door ? { ...body, door } : body);
  };

  /// Arrivals per session, at every door.
  async function refreshArrivals() {
    if (!token && !owner) return;
    try {
      const { sessions } = await send<{ sessions: { id: string; arrived: number }[] }>('GET', 'checkin');
      const total = sessions.reduce((sum, s) => sum + s.arrived, 0);
      count.dataset.arrivals = String(total);
      count.textContent = `Arrived: ${sessions.map((s) => `session ${s.id}: ${s.arrived}`).join(', ')}`;
    } catch {
      // The verdicts say what is wrong; the count waits for the next round.
    }
  }

  function show(v: Verdict) {
    shown = v;
    const where = [v.seat, v.session && `session ${v.session}`].filter(Boolean).join(' · ');
    const text: Record<Verdict['status'], string> = {
      checked_in: `Admitted${where ? ` · ${where}` : ''}`,
      already_used: `Already used at ${time(v.checked_in_at)}${v.door ? ` at door ${v.door}` : ''}${where ? ` · ${where}` : ''}`,
      cancelled: `Not valid: this order was cancelled${where ? ` · ${where}` : ''}`,
      unknown: 'Not a ticket of this performance',
    };
    verdict.textContent = text[v.status] ?? v.status;
    verdict.dataset.verdict = v.status;
    verdict.className = `verdict ${v.valid ? 'good' : 'bad'}`;
    undo.hidden = !(v.order_id && (v.status === 'checked_in' || v.status === 'already_used'));
    next.hidden = false;
    if (v.status === 'checked_in') refreshArrivals();
  }

  async function submit(body: Record<string, string>) {
    paused = true;
    try {
      show(await checkin(body));
      notice(message, '');
    } catch (e) {
      notice(message, e instanceof ApiError && e.status === 401 ? 'This door token is not valid (revoked?). Ask the seller for a new one.' : reason(e));
    }
  }

  function resume() {
    paused = false;
    next.hidden = true;
    undo.hidden = true;
    verdict.textContent = 'Waiting for a ticket…';
    verdict.dataset.verdict = 'none';
    verdict.className = 'verdict';
  }

  async function scanLoop(read: Detector) {
    if (!stream) return;
    if (!paused && video.readyState >= 2) {
      const found = await read.detect(video).catch(() => []);
      const code = found[0]?.rawValue;
      if (code && !(code === last.code && Date.now() - last.at < SAME_CODE_MS)) {
        last = { code, at: Date.now() };
        await submit({ ticket: code });
      }
    }
    timer = window.setTimeout(() => scanLoop(read), 150);
  }

  start.addEventListener('click', async () => {
    start.disabled = true;
    try {
      const read = await detector();
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
      video.srcObject = stream;
      await video.play();
      start.textContent = 'Camera on';
      scanLoop(read);
    } catch (e) {
      start.disabled = false;
      notice(message, `The camera could not start (${reason(e)}); type tickets in below.`);
    }
  });
  undo.addEventListener('click', async () => {
    if (!shown?.order_id) return;
    try {
      await send('POST', 'checkin/undo', { order_id: shown.order_id, seat: shown.seat });
      refreshArrivals();
      verdict.textContent = `Entry undone: ${shown.seat} admits again`;
      verdict.dataset.verdict = 'undone';
      verdict.className = 'verdict';
      undo.hidden = true;
      last = { code: '', at: 0 };
    } catch (e) {
      notice(message, reason(e));
    }
  });
  next.addEventListener('click', () => {
    last = { code: '', at: 0 };
    resume();
  });
  const typedForm = h(
    'form',
    {
      class: 'actions',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const body = typed(entry.value);
        if (!body) return notice(message, 'Type the ticket\'s pass (MQ1.…) or its order, seat and code separated by spaces.');
        entry.value = '';
        submit(body);
      },
    },
    h('label', {}, 'Or type a ticket', entry),
    h('button', { type: 'submit' }, 'Check'),
  );
  const tokenForm = h(
    'form',
    {
      class: 'card',
      onsubmit: (e: Event) => {
        e.preventDefault();
        token = tokenField.value.trim();
        if (token) sessionStorage.setItem(TOKEN(ns), token);
        else sessionStorage.removeItem(TOKEN(ns));
        localStorage.setItem(DOOR, doorField.value.trim());
        notice(message, token ? 'Door token saved for this tab.' : owner ? `Checking in as ${owner.email}.` : 'Enter the door token.', 'ok');
        refreshArrivals();
      },
    },
    h('label', {}, 'Door token', tokenField),
    h('p', { id: 'door-token-help', class: 'hint' }, owner ? 'Leave it empty to check in as yourself.' : 'The seller issues it (POST …/door-tokens); it can only check tickets in here.'),
    h('label', {}, 'This door', doorField),
    h('button', { type: 'submit' }, 'Save'),
  );
  root.append(
    h('h1', {}, `Door · ${ns}`),
    message,
    tokenForm,
    h('div', { class: 'door' }, video, h('div', {}, verdict, h('div', { class: 'actions' }, next, undo), count)),
    h('div', { class: 'actions' }, start),
    typedForm,
  );
  refreshArrivals();
  const polling = window.setInterval(refreshArrivals, 5000);
  return () => {
    window.clearInterval(polling);
    window.clearTimeout(timer);
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
  };
}
