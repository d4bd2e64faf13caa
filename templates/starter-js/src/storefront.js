// A custom storefront: replaces the `listing` function of a performance with the seller's own
// page, and still serves the info and availability calls buyers' apps use.
//
// Requests arrive as `fetch` events (the component exports wasi:http/incoming-handler); the
// platform's interfaces are plain imports, named as in wit/platform.wit.
import { params as readParams } from 'marquee:platform/config@0.2.0';
import { availability } from 'marquee:platform/inventory@0.2.0';

const escape = (text) =>
  String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const json = (status, body) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function page(params) {
  const sessions = params.sessions.map((s) => `<li>${escape(s.id)} at ${escape(s.starts_at)}</li>`).join('');
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(params.title)}</title></head>` +
    `<body><h1 class="starter">${escape(params.title)}</h1><p>${escape(params.venue)}</p><ul>${sessions}</ul></body></html>`;
  return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } });
}

function handle(request) {
  const params = JSON.parse(readParams());
  const segments = new URL(request.url).pathname.split('/').filter((s) => s !== '');
  if (segments.length === 0) {
    return page(params);
  }
  if (segments.length === 2 && segments[0] === 'api' && segments[1] === 'info') {
    return json(200, { title: params.title, venue: params.venue, theme: 'starter-js' });
  }
  if (segments.length === 4 && segments[0] === 'api' && segments[1] === 'sessions' && segments[3] === 'availability') {
    let free;
    try {
      // WIT `result<T, E>` returns T and throws E.
      free = availability(decodeURIComponent(segments[2]));
    } catch {
      return json(404, { error: 'unknown_session', message: 'no such session' });
    }
    return json(200, {
      sections: free.sections.map((s) => ({ name: s.name, capacity: s.capacity, available: s.available })),
      taken: free.taken,
    });
  }
  return json(404, { error: 'not_found', message: 'no such page' });
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
