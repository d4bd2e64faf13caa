// Browse: every live performance, for buyers (and anyone) to pick one and buy.
import { type Context, call, h, notice, reason } from '@marquee/api';

interface Listed {
  namespace: string;
  title: string;
  venue: string;
  sessions: { id: string; starts_at: string }[];
}

export function mount(root: HTMLElement, _ctx: Context) {
  const list = h('ul', { class: 'catalog' });
  const message = h('p', { class: 'notice' });
  root.append(h('h1', {}, "What's on"), message, list);
  call<Listed[]>('GET', '/api/v1/catalog')
    .then((all) =>
      list.replaceChildren(
        ...(all.length
          ? all.map((p) =>
              h('li', { class: 'card' },
                h('a', { href: `#/p/${p.namespace}` }, h('strong', {}, p.title)),
                h('span', {}, ` ${p.venue} · `, p.sessions.map((s) => new Date(s.starts_at).toLocaleString()).join(', ')),
              ),
            )
          : [h('li', { class: 'empty' }, 'Nothing on sale yet.')]),
      ),
    )
    .catch((e) => notice(message, reason(e)));
}
