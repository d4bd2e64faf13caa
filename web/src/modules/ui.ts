// @marquee/ui: what every screen and every storefront page share and that needs no session:
// building elements, showing messages and money, reading the API's answers. A performance's
// own page (sandboxed, without the platform's session) imports it too.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/// The body of an API answer, or its error as an [`ApiError`].
export async function answer<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, body.error ?? 'error', body.message ?? response.statusText, body.field);
  }
  return body as T;
}

/// Builds an element: `h('button', {class: 'primary', onclick}, 'Deploy')`.
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, unknown>> = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value as EventListener);
    } else if (key in el && key !== 'list' && key !== 'form') {
      (el as unknown as Record<string, unknown>)[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

/// What to tell the user about a failure: the API's own message when it answered.
export const reason = (e: unknown): string => (e instanceof ApiError ? e.message : String(e));

/// An amount in minor units of an ISO 4217 currency, as the platform stores prices, in the
/// reader's locale: the currency's own minor digits (0 for KRW, 2 for EUR, 3 for BHD).
export function money(minor: number, currency = 'EUR'): string {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / minorUnits(currency));
}

/// A select of the ISO 4217 currencies or IANA time zones the browser knows, with `chosen`.
export function picker(name: string, kind: 'currency' | 'timeZone', chosen: string): HTMLSelectElement {
  const select = h('select', { name }, ...Intl.supportedValuesOf(kind).map((v) => h('option', { value: v }, v)));
  choose(select, chosen);
  return select;
}

/// Chooses `value`, adding it when the browser's list lacks it (Chromium's zones lack `UTC`).
export function choose(select: HTMLSelectElement, value: string) {
  if (![...select.options].some((o) => o.value === value)) select.prepend(h('option', { value }, value));
  select.value = value;
}

/// Minor units per major unit of a currency (100 for EUR, 1 for KRW), as the browser knows it.
export const minorUnits = (currency: string): number =>
  10 ** (new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2);

/// A date and time in the reader's locale, as the clock reads in `timeZone` (the venue's).
export const when = (iso: string | null | undefined, timeZone = 'UTC'): string =>
  iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone }) : '';

/// A message line that screens share: errors are announced to screen readers.
export function notice(el: HTMLElement, text: string, kind: 'error' | 'ok' = 'error') {
  el.textContent = text;
  el.className = `notice ${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}
