// @marquee/connect: hands a performance's own page (/p/{ns}/, sandboxed, without the
// platform's session) a token for that one performance and sends the buyer back to it. The
// console's own session never leaves the console.
import { type Context, call, h, notice, reason } from '@marquee/api';

interface NamespaceToken {
  access_token: string;
  namespace: string;
}

export function mount(root: HTMLElement, ctx: Context) {
  const ns = ctx.args[0] ?? '';
  const message = h('p', { class: 'notice' });
  root.append(h('h1', {}, 'Opening the performance…'), message);
  call<NamespaceToken>('POST', '/api/v1/auth/namespace-token', { namespace: ns })
    // In the fragment, which no server sees; the page takes it out of the address bar.
    .then((t) => location.replace(`/p/${encodeURIComponent(t.namespace)}/#token=${encodeURIComponent(t.access_token)}`))
    .catch((e) => notice(message, reason(e)));
}
