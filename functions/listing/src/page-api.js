// @marquee/api of a performance's own page (/p/{ns}/), which runs the built-in storefront.
// The page is sandboxed: it has no origin of its own, so it never holds the platform's
// session, nor any storage. The console's connect screen (/console/#/connect/{ns}) sends a
// signed-in buyer back here with a token for this one performance in the URL fragment, which
// never reaches a server; the token lives in this page's memory only and is useless anywhere
// else. What stays in the address bar is `#signed-in`, which holds no secret: a reload (which
// loses the memory) asks the console again, and the console, which keeps the platform's
// session, hands a new token back, or none to a visitor signed out since.
import { answer } from '@marquee/ui';

export { ApiError, answer, h, money, notice, reason, when } from '@marquee/ui';

const SIGNED_IN = 'signed-in';
const ns = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const connect = `/console/#/connect/${encodeURIComponent(ns)}`;
let current = null;
let picks = null;
const fragment = new URLSearchParams(location.hash.slice(1));
const token = fragment.get('token');
if (token) {
  const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  current = { token, email: payload.email, role: payload.role, expiresAt: payload.exp * 1000 };
  try {
    picks = JSON.parse(fragment.get('picks') ?? 'null');
  } catch {
    picks = null;
  }
  // Out of the address bar (and so out of a copied link or the history).
  history.replaceState(null, '', `${location.pathname}${location.search}#${SIGNED_IN}`);
} else if (fragment.has(SIGNED_IN)) {
  location.replace(`${connect}/again`);
}

export const session = () => (current && current.expiresAt > Date.now() ? current : null);
/** The console's sign-in, which comes back here; what was picked goes there and back in the
 * address (this page has no storage to keep it in). */
export const signInHref = (_ns, picked) => (picked ? `${connect}/${encodeURIComponent(JSON.stringify(picked))}` : connect);
export const consoleHref = (hash) => `/console/${hash}`;
/** What the buyer picked before signing in, once. */
export const takePicks = () => {
  const taken = picks;
  picks = null;
  return taken;
};

export async function call(method, path, body) {
  const headers = {};
  const s = session();
  if (s) headers.authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return answer(await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}
