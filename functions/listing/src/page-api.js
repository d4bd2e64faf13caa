// @marquee/api of a performance's own page (/p/{ns}/), which runs the built-in storefront.
// The page is sandboxed: it has no origin of its own, so it never holds the platform's
// session. The console's connect screen (/console/#/connect/{ns}) sends a signed-in buyer
// back here with a token for this one performance in the URL fragment, which never reaches a
// server; the token lives in this page's memory only and is useless anywhere else.
import { answer } from '@marquee/ui';

export { ApiError, answer, h, money, notice, reason, when } from '@marquee/ui';

const ns = decodeURIComponent(location.pathname.split('/')[2] ?? '');
let current = null;
const token = new URLSearchParams(location.hash.slice(1)).get('token');
if (token) {
  const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  current = { token, email: payload.email, role: payload.role, expiresAt: payload.exp * 1000 };
  // Out of the address bar (and so out of a copied link or the history).
  history.replaceState(null, '', location.pathname + location.search);
}

export const session = () => (current && current.expiresAt > Date.now() ? current : null);
export const signInHref = () => `/console/#/connect/${encodeURIComponent(ns)}`;
export const consoleHref = (hash) => `/console/${hash}`;

export async function call(method, path, body) {
  const headers = {};
  const s = session();
  if (s) headers.authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return answer(await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}
