// The wactor console: views drawn from the API (`/v2`), which the browser
// reaches with its session cookie; every change sends the page's CSRF value.
'use strict';

const csrf = document.querySelector('meta[name="wactor-csrf"]').content;
const view = document.getElementById('view');

async function api(path, options = {}) {
  const headers = { Accept: 'application/json', ...(options.headers || {}) };
  if (options.method && options.method !== 'GET') headers['X-Wactor-Csrf'] = csrf;
  const resp = await fetch(`/v2${path}`, { ...options, headers, credentials: 'same-origin' });
  if (resp.status === 401) {
    window.location.assign('/sign-in');
    throw new Error('signed out');
  }
  const body = resp.status === 204 ? null : await resp.json();
  if (!resp.ok) throw new Error(body?.error?.message || `${resp.status} ${resp.statusText}`);
  return body?.data ?? body;
}

// Elements built with text nodes only: nothing from the API is parsed as HTML.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null) continue;
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return node;
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

function status(s) {
  return el('span', { class: `status status-${String(s).toLowerCase().replace(/[^a-z-]/g, '')}` }, s);
}

function table(columns, rows, empty) {
  if (!rows.length) return el('p', { class: 'empty' }, empty);
  return el('div', { class: 'table-wrap' },
    el('table', {},
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col' }, c.title)))),
      el('tbody', {}, rows.map((r) => el('tr', {}, columns.map((c) => el('td', {}, c.cell(r))))))));
}

function show(title, ...content) {
  view.replaceChildren(el('h1', {}, title), ...content);
  document.title = `${title} · wactor`;
}

async function actorsView() {
  const list = await api('/acts?limit=1000&desc=1');
  show('Actors', table([
    { title: 'Name', cell: (a) => el('code', {}, `${a.username}/${a.name}`) },
    { title: 'Title', cell: (a) => a.title || '' },
    { title: 'Runs', cell: (a) => String(a.stats?.totalRuns ?? 0) },
    { title: 'Last run', cell: (a) => when(a.stats?.lastRunStartedAt) },
  ], list.items, 'No Actors yet. Push one with `wactor push <dir>`, or start the server with --preload examples.'));
}

async function runsView() {
  const [runs, actors] = await Promise.all([api('/actor-runs?limit=100&desc=1'), api('/acts?limit=1000')]);
  const names = new Map(actors.items.map((a) => [a.id, `${a.username}/${a.name}`]));
  show('Runs', table([
    { title: 'Status', cell: (r) => status(r.status) },
    { title: 'Actor', cell: (r) => names.get(r.actId) || r.actId },
    { title: 'Run', cell: (r) => el('a', { href: `#/runs/${r.id}` }, el('code', {}, r.id)) },
    { title: 'Started', cell: (r) => when(r.startedAt) },
    { title: 'Finished', cell: (r) => when(r.finishedAt) },
  ], runs.items, 'No runs yet. Start an Actor from its page or with `wactor call <actor>`.'));
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED-OUT', 'ABORTED']);
let stopWatching = () => {};

function fields(pairs) {
  return el('dl', { class: 'fields' }, pairs.filter(([, v]) => v != null && v !== '').map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

// A run's page: status, message, timings and its log, redrawn every second until it ends.
async function runView(id) {
  let timer = null;
  let stopped = false;
  stopWatching = () => { stopped = true; clearTimeout(timer); };
  const log = el('pre', { class: 'log', 'aria-live': 'polite' });
  const head = el('div', {});
  const abort = el('button', { type: 'button' }, 'Abort');
  abort.addEventListener('click', async () => {
    abort.disabled = true;
    try {
      await api(`/actor-runs/${encodeURIComponent(id)}/abort`, { method: 'POST' });
    } catch (e) {
      abort.after(el('p', { class: 'error', role: 'alert' }, e.message));
    }
  });
  show(`Run ${id}`, head, el('h2', {}, 'Log'), log);
  const draw = async () => {
    const run = await api(`/actor-runs/${encodeURIComponent(id)}`);
    const text = await fetch(`/v2/actor-runs/${encodeURIComponent(id)}/log`, { credentials: 'same-origin' }).then((r) => (r.ok ? r.text() : ''));
    const done = TERMINAL.has(run.status);
    head.replaceChildren(
      el('p', {}, status(run.status), ' ', run.statusMessage || ''),
      fields([
        ['Started', when(run.startedAt)],
        ['Finished', when(run.finishedAt)],
        ['Memory', run.options?.memoryMbytes ? `${run.options.memoryMbytes} MB` : ''],
        ['Dataset', run.defaultDatasetId],
        ['Key-value store', run.defaultKeyValueStoreId],
      ]),
      done ? '' : abort,
    );
    if (log.textContent !== text) log.textContent = text;
    if (!done && !stopped) timer = setTimeout(() => draw().catch(() => {}), 1000);
  };
  await draw();
}

const routes = { '#/actors': actorsView, '#/runs': runsView };

async function route() {
  stopWatching();
  const run = /^#\/runs\/([A-Za-z0-9]+)$/.exec(window.location.hash);
  const draw = run ? () => runView(run[1]) : routes[window.location.hash] || actorsView;
  for (const a of document.querySelectorAll('header nav a')) {
    a.toggleAttribute('aria-current', a.getAttribute('href') === (window.location.hash || '#/actors'));
  }
  try {
    await draw();
  } catch (e) {
    show('Something went wrong', el('p', { class: 'error', role: 'alert' }, e.message));
  }
}

window.addEventListener('hashchange', route);
route();
