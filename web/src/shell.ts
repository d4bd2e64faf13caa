// The host shell: routes `#/name/...` to the screen module `@marquee/name`, imported at
// runtime through the page's import map, and keeps the navigation in step with the session.
import './style.css';
import { type Mount, type Session, h, logout, onSession, restore, session } from '@marquee/api';

interface Screen {
  name: string;
  label: string;
  roles: Session['role'][] | null;
}

const SCREENS: Screen[] = [
  { name: 'deploy', label: 'Deploy', roles: ['seller', 'admin'] },
  { name: 'auth', label: 'Sign in', roles: null },
];

const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;
const main = document.getElementById('screen')!;
let leave: (() => void) | void;

function home(s: Session | null): string {
  return s ? '#/deploy' : '#/auth';
}

function renderBar(s: Session | null) {
  nav.replaceChildren(
    ...SCREENS.filter((screen) => (s ? screen.roles?.includes(s.role) : screen.roles === null)).map((screen) =>
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
  if (screen.roles && !session()) return go('#/auth');
  if (typeof leave === 'function') leave();
  leave = undefined;
  markCurrent();
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  try {
    const module: { mount: Mount } = await import(/* @vite-ignore */ `@marquee/${name}`);
    main.replaceChildren();
    leave = module.mount(main, { args, navigate: go });
  } catch (e) {
    main.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, `This screen could not load: ${e}`));
  }
}

onSession(renderBar);
window.addEventListener('hashchange', route);
await restore();
renderBar(session());
route();
