// @marquee/api: the one module every screen shares through the import map. It holds the
// browser session (split-token: this page keeps only header.payload of the access token; the
// signature and the refresh token stay in HttpOnly cookies) and wraps the control plane's API.
import { answer } from '@marquee/ui';

export { ApiError, answer, choose, h, minorUnits, money, notice, picker, reason, when } from '@marquee/ui';

export interface Session {
  token: string;
  email: string;
  role: 'buyer' | 'seller' | 'admin';
  expiresAt: number;
}

export interface Context {
  /// The route's segments after the screen's name (`#/deploy/x` -> `["x"]`).
  args: string[];
  navigate(hash: string): void;
}

/// What a screen module exports; the shell mounts it and calls the returned cleanup on leave.
export type Mount = (root: HTMLElement, ctx: Context) => void | (() => void);

// A hint (not a secret) that cookies of a session exist, so a fresh page asks for a refresh
// only when there is one to refresh, and logs no 401 otherwise.
const HINT = 'marquee.session';
let current: Session | null = null;
const listeners = new Set<(s: Session | null) => void>();

export const session = (): Session | null => current;

export function onSession(listener: (s: Session | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function set(next: Session | null) {
  current = next;
  if (next) localStorage.setItem(HINT, '1');
  else localStorage.removeItem(HINT);
  for (const l of listeners) l(next);
}

function fromToken(token: string, expiresIn: number): Session {
  const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  return { token, email: payload.email ?? payload.sub, role: payload.role, expiresAt: Date.now() + expiresIn * 1000 };
}


async function post<T>(path: string, body?: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return answer<T>(await fetch(path, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}

interface TokenAnswer {
  access_token: string;
  expires_in: number;
}

let refreshing: Promise<Session | null> | null = null;

/// Renews the session from its cookies; null when there is none.
export function restore(): Promise<Session | null> {
  if (!localStorage.getItem(HINT)) return Promise.resolve(null);
  refreshing ??= post<TokenAnswer>('/api/v1/auth/refresh')
    .then((t) => fromToken(t.access_token, t.expires_in))
    .catch(() => null)
    .then((s) => {
      refreshing = null;
      set(s);
      return s;
    });
  return refreshing;
}

export async function login(email: string, password: string): Promise<Session> {
  const t = await post<TokenAnswer>('/api/v1/auth/login', { email, password, mode: 'browser' });
  const s = fromToken(t.access_token, t.expires_in);
  set(s);
  return s;
}

export async function signup(email: string, password: string, role: 'buyer' | 'seller'): Promise<Session> {
  await post('/api/v1/auth/signup', { email, password, role });
  return login(email, password);
}

export async function logout(): Promise<void> {
  try {
    await post('/api/v1/auth/logout');
  } finally {
    set(null);
  }
}

/// Calls the API as the signed-in user, renewing an expired access token once.
/// Where a storefront sends a buyer to sign in and come back to performance `ns`.
/** Where a storefront sends a visitor to sign in and back; what they picked waits in the tab's
 * storage meanwhile. */
export function signInHref(ns: string, picks?: unknown): string {
  if (picks) {
    try {
      sessionStorage.setItem(`marquee.picks.${ns}`, JSON.stringify(picks));
    } catch {
      // No storage: the picks are not kept.
    }
  }
  return `#/auth/p/${ns}`;
}

/** What a storefront's visitor picked: read back from a link or storage, so any shape. */
export interface Picks {
  session?: unknown;
  seats?: unknown;
  sections?: unknown;
  goods?: unknown;
}

/** What a visitor picked before signing in, once. */
export function takePicks(ns: string): Picks | null {
  try {
    const text = sessionStorage.getItem(`marquee.picks.${ns}`);
    sessionStorage.removeItem(`marquee.picks.${ns}`);
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}
/// A link to a console screen (`#/tickets`).
export const consoleHref = (hash: string): string => hash;

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  // A Blob (an uploaded file) goes as it is; anything else as JSON.
  const raw = body instanceof Blob;
  const send = (s: Session | null) => {
    const headers: Record<string, string> = {};
    if (s) headers.authorization = `Bearer ${s.token}`;
    if (body !== undefined) headers['content-type'] = raw ? body.type || 'application/octet-stream' : 'application/json';
    return fetch(path, { method, headers, body: body === undefined ? undefined : raw ? body : JSON.stringify(body) });
  };
  let s = current;
  if (s && s.expiresAt - Date.now() < 10_000) s = await restore();
  return answer<T>(await send(s));
}

/** The image types a poster may be uploaded as. */
export const POSTER_TYPES = 'image/jpeg,image/png,image/webp';

/** Uploads a poster; its digest, for a performance's `params.poster`. */
export async function uploadPoster(file: File): Promise<string> {
  return (await call<{ digest: string }>('POST', '/api/v1/posters', file)).digest;
}
