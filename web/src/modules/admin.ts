// Admin (and a seller's own uploads): the component pool with upload, and the templates,
// which admins add as JSON and delete. Built-in templates and components stay.
import { type Context, call, h, notice, session, reason } from '@marquee/api';

interface Component {
  digest: string;
  name: string;
  version: string;
  owner: string;
  world?: string;
  size?: number;
}

interface Template {
  name: string;
  description: string;
  builtin?: boolean;
}

export function mount(root: HTMLElement, _ctx: Context) {
  const isAdmin = session()?.role === 'admin';
  // Each card says what became of its own action, where the eye already is.
  const message = h('p', { class: 'notice' });
  const templateMessage = h('p', { class: 'notice' });
  const pool = h('tbody');
  const templates = h('ul', { class: 'template-list' });

  const file = h('input', { type: 'file', name: 'component', accept: '.wasm,application/wasm', required: true });
  const name = h('input', { type: 'text', name: 'name', required: true, pattern: '[a-z0-9][a-z0-9\\-]{0,62}' });
  const version = h('input', { type: 'text', name: 'version', required: true, value: '0.1.0' });
  const uploadButton = h('button', { type: 'submit', class: 'primary' }, 'Upload');
  const upload = h('form', { class: 'card' }, h('h2', {}, 'Upload a component'),
    h('div', { class: 'grid' }, h('label', {}, 'Component (.wasm) ', file), h('label', {}, 'Name ', name), h('label', {}, 'Version ', version)),
    message,
    h('div', { class: 'actions' }, uploadButton));
  file.addEventListener('change', () => {
    const picked = file.files?.[0];
    if (picked && !name.value) name.value = picked.name.replace(/\.wasm$/, '').toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  });
  upload.addEventListener('submit', async (e) => {
    e.preventDefault();
    const picked = file.files?.[0];
    if (!picked) return;
    uploadButton.disabled = true;
    uploadButton.textContent = 'Compiling…';
    try {
      const query = new URLSearchParams({ name: name.value, version: version.value });
      const c = await call<Component>('POST', `/api/v1/components?${query}`, picked);
      notice(message, `Added ${c.name}@${c.version} (${c.world} world), ${c.digest.slice(0, 12)}…`, 'ok');
      upload.reset();
      await loadPool();
    } catch (err) {
      notice(message, reason(err));
    } finally {
      uploadButton.disabled = false;
      uploadButton.textContent = 'Upload';
    }
  });

  const json = h('textarea', { name: 'template', rows: 8, spellcheck: false, placeholder: '{"name": "my-template", …}' });
  const createMessage = h('p', { class: 'notice' });
  const create = h('form', { class: 'card' }, h('h2', {}, 'Add a template'),
    h('p', {}, 'A template as JSON: components by role, routes, defaults, limits and a parameter schema, like templates/*.json.'),
    h('label', {}, 'Template JSON ', json), createMessage, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add template')));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    let body: unknown;
    try {
      body = JSON.parse(json.value);
    } catch (err) {
      notice(createMessage, `That is not JSON: ${err}`);
      return;
    }
    try {
      const t = await call<Template>('POST', '/api/v1/templates', body);
      notice(createMessage, `Added template ${t.name}.`, 'ok');
      json.value = '';
      await loadTemplates();
    } catch (err) {
      notice(createMessage, reason(err));
    }
  });

  const loadPool = async () => {
    const all = await call<Component[]>('GET', '/api/v1/components');
    pool.replaceChildren(...all.map((c) => h('tr', { 'data-component': `${c.name}@${c.version}` },
      h('td', {}, c.name), h('td', {}, c.version), h('td', {}, c.owner), h('td', { class: 'digest' }, h('code', {}, c.digest.slice(0, 16))))));
  };
  const loadTemplates = async () => {
    const all = await call<Template[]>('GET', '/api/v1/templates');
    templates.replaceChildren(...all.map((t) => {
      const remove = h('button', { type: 'button', 'aria-label': `Delete template ${t.name}` }, 'Delete');
      remove.addEventListener('click', async () => {
        try {
          await call('DELETE', `/api/v1/templates/${encodeURIComponent(t.name)}`);
          notice(templateMessage, `Deleted template ${t.name}; performances deployed from it keep running.`, 'ok');
          await loadTemplates();
        } catch (err) {
          notice(templateMessage, reason(err));
        }
      });
      // Built-in templates cannot be deleted: no button that the server would refuse.
      return h('li', { 'data-template-name': t.name }, h('strong', {}, t.name), ` ${t.description} `, isAdmin && !t.builtin ? remove : null);
    }));
  };

  root.append(
    h('h1', {}, isAdmin ? 'Administration' : 'Components'),
    upload,
    h('section', { class: 'card' }, h('h2', {}, 'Component pool'),
      h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Version'), h('th', {}, 'Owner'), h('th', {}, 'Digest'))), pool))),
    h('section', { class: 'card' }, h('h2', {}, 'Templates'), templateMessage, templates),
    isAdmin ? create : '',
  );
  Promise.all([loadPool(), loadTemplates()]).catch((e) => notice(message, reason(e)));
}
