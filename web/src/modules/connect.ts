// @marquee/connect: hands a performance's own page (/p/{ns}/, sandboxed, without the
// platform's session) a token for that one performance and sends the buyer back to it. The
// console's own session never leaves the console. `#/connect/{ns}/{picks}` carries what the
// buyer picked back to the page; `#/connect/{ns}/again` is the page reloaded, which gets a new
// token if the buyer is still signed in and comes back signed out otherwise.
import { type Context, call, h, notice, reason, session } from '@marquee/api';

interface NamespaceToken {
  access_token: string;
  namespace: string;
}

export function mount(root: HTMLElement, ctx: Context) {
  const [ns = '', state] = ctx.args;
  const again = state === 'again';
  const page = `/p/${encodeURIComponent(decodeURIComponent(ns))}/`;
  if (!session()) {
    if (again) location.replace(page);
    else ctx.navigate(`#/auth/connect/${ctx.args.join('/')}`);
    return;
  }
  // The picks go back as one value of the fragment, whatever the link that brought them.
  let picks = '';
  if (state && !again) {
    try {
      picks = `&picks=${encodeURIComponent(decodeURIComponent(state))}`;
    } catch {
      picks = '';
    }
  }
  const message = h('p', { class: 'notice' });
  root.append(h('h1', {}, 'Opening the performance…'), message);
  call<NamespaceToken>('POST', '/api/v1/auth/namespace-token', { namespace: decodeURIComponent(ns) })
    // In the fragment, which no server sees; the page takes it out of the address bar.
    .then((t) => location.replace(`/p/${encodeURIComponent(t.namespace)}/#token=${encodeURIComponent(t.access_token)}${picks}`))
    .catch((e) => (again ? location.replace(page) : notice(message, reason(e))));
}
