// The host shell: routes `#/name/...` to the screen module `@marquee/name`, imported at
// runtime through the page's import map, and keeps the navigation in step with the session.
import './style.css';
import { type Mount, type Session, h, logout, onSession, restore, session } from '@marquee/api';

interface Screen {
  name: string;
  /// In the navigation bar when set.
  label?: string;
  /// Who may open it: these roles, only signed-out visitors, or anyone.
  who: Session['role'][] | 'guest' | 'anyone';
  /// Its module, when not the import map's `@marquee/name`.
  module?: string;
}

const SCREENS: Screen[] = [
  { name: 'browse', label: "What's on", who: 'anyone' },
  { name: 'tickets', label: 'My tickets', who: ['buyer'] },
  { name: 'deploy', label: 'Deploy', who: ['seller', 'admin'] },
  { name: 'desk', label: 'Desk', who: ['seller', 'admin'] },
  { name: 'monitor', label: 'Monitor', who: ['seller', 'admin'] },
  { name: 'admin', label: 'Components', who: ['seller', 'admin'] },
  { name: 'auth', label: 'Sign in', who: 'guest' },
  // Sends a signed-in buyer back to a performance's own page with a token for it alone (a
  // visitor who is not signed in is sent to sign in first, by the screen itself).
  { name: 'connect', who: 'anyone' },
  // A performance's door (`#/door/{ns}`): door staff come with a door token, not an account.
  { name: 'door', who: 'anyone' },
  // Any performance's storefront, in the console's own copy of the built-in module: the
  // console never imports JavaScript that a performance (a seller's code) serves.
  { name: 'p', who: 'anyone', module: '@marquee/storefront' },
];

const visible = (screen: Screen, s: Session | null) =>
  screen.who === 'anyone' || (screen.who === 'guest' ? !s : Boolean(s && screen.who.includes(s.role)));

const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;
const main = document.getElementById('screen')!;
let leave: (() => void) | void;

function home(s: Session | null): string {
  return s && s.role !== 'buyer' ? '#/deploy' : '#/browse';
}

function renderBar(s: Session | null) {
  nav.replaceChildren(
    ...SCREENS.filter((screen) => screen.label && visible(screen, s)).map((screen) =>
      h('a', { href: `#/${screen.name}`, 'data-screen': screen.name }, screen.label),
    ),
  );
  who.replaceChildren(
    ...(s
      ? [h('span', { class: 'email' }, `${s.email} (${s.role})`), h('button', { type: 'button', onclick: () => logout().then(() => go('#/auth')) }, 'Sign out')]
      : []),
  );
  markCurrent();
}

function markCurrent() {
  const name = location.hash.slice(2).split('/')[0];
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.screen === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function go(hash: string) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const [name, ...args] = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  if (!name) return go(home(session()));
  const screen = SCREENS.find((s) => s.name === name);
  if (!screen) return go(home(session()));
  // A visitor who must sign in first comes back to where they were going.
  if (!visible(screen, session())) return go(session() ? home(session()) : `#/auth/${[name, ...args].join('/')}`);
  if (typeof leave === 'function') leave();
  leave = undefined;
  markCurrent();
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  try {
    const module: { mount: Mount } = await import(/* @vite-ignore */ screen.module ?? `@marquee/${name}`);
    main.replaceChildren();
    leave = module.mount(main, { args, navigate: go });
  } catch (e) {
    // A performance whose listing is the seller's own may answer in its own shapes; its own
    // page still works.
    const fallback = screen.module ? h('a', { href: `/p/${encodeURIComponent(args[0] ?? '')}/` }, "Open the performance's own page") : '';
    main.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, `This screen could not load (${e}). `, fallback));
  }
}

onSession(renderBar);
window.addEventListener('hashchange', route);
await restore();
renderBar(session());
route();
