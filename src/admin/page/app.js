// stickyport status page: plain JavaScript, no build step, no library, nothing from elsewhere.
// Data comes from the admin API (/api/...) and live updates from its event stream
// (/api/events), read with fetch so that a bearer token can go with it. Everything a client
// sent (hosts, paths) is written with textContent, never as HTML.
'use strict';

const PAGE_SIZE = 100;
const LOG_ROWS = 200;
const TOKEN_KEY = 'stickyport-admin-token';

const state = {
  offset: 0,
  total: 0,
  mapping: '',
  used: false,
  selected: new Set(),
  rows: new Map(), // port -> last view shown
  previous: undefined, // last summary, for rates
  paused: false,
  refreshTimer: undefined,
  mappingsShown: '',
};

const $ = (id) => document.getElementById(id);

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, authorization: `Bearer ${t}` } : extra;
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  if (response.status === 401) {
    showLogin();
    throw new Unauthorized('token needed');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || `${response.status} ${response.statusText}`);
  return body;
}

const post = (path, body) =>
  api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

function showLogin() {
  $('login').classList.remove('hidden');
  $('token').focus();
}

function notice(text, bad = false) {
  const el = $('notice');
  el.textContent = text;
  el.classList.toggle('bad', bad);
  el.classList.remove('hidden');
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => el.classList.add('hidden'), bad ? 15000 : 5000);
}

// ---- formatting ----

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function count(n) {
  return n.toLocaleString('en-US');
}

function duration(ms) {
  if (ms === null) return 'never';
  if (ms <= 0) return 'expired';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${String(m % 60).padStart(2, '0')}m` : `${Math.floor(h / 24)}d`;
}

function ago(iso) {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function button(label, action, port) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.dataset.action = action;
  b.dataset.port = String(port);
  return b;
}

// ---- summary and mappings ----

function renderSummary(summary) {
  $('version').textContent = summary.version;
  const { ports, totals, store } = summary;
  const chipPorts = $('chip-ports');
  chipPorts.textContent = `${count(ports.listening)} / ${count(ports.total)} ports listening`;
  chipPorts.className = `chip ${ports.listening === ports.total ? 'ok' : 'bad'}`;
  const chipStore = $('chip-store');
  chipStore.textContent = `store ${store.kind}: ${store.state === 'up' ? 'up' : 'fallback (local copy)'}`;
  chipStore.className = `chip ${store.state === 'up' ? 'ok' : 'warn'}`;
  $('total-requests').textContent = count(totals.requests);
  $('total-errors').textContent = count(totals.errors);
  $('total-down').textContent = bytes(totals.bytesDown);
  $('total-up').textContent = bytes(totals.bytesUp);
  $('total-connections').textContent = count(summary.connections);
  $('total-tunnels').textContent = `tunnels open: ${count(summary.openTunnels)}`;
  $('total-sessions').textContent = count(summary.sessions);
  $('uptime').textContent = `up ${duration(Date.parse(summary.now) - Date.parse(summary.startedAt))}`;
  const previous = state.previous;
  if (previous) {
    const seconds = (Date.parse(summary.now) - Date.parse(previous.now)) / 1000;
    if (seconds > 0) {
      const rate = (key) => (totals[key] - previous.totals[key]) / seconds;
      $('rate-requests').textContent = `${rate('requests').toFixed(1)}/s`;
      $('rate-errors').textContent = `${rate('errors').toFixed(1)}/s`;
      $('rate-down').textContent = `${bytes(Math.round(rate('bytesDown')))}/s`;
      $('rate-up').textContent = `${bytes(Math.round(rate('bytesUp')))}/s`;
    }
  }
  state.previous = summary;
  renderMappings(summary.mappings);
}

function renderMappings(mappings) {
  const key = JSON.stringify(mappings);
  if (key === state.mappingsShown) return;
  state.mappingsShown = key;
  const body = $('mappings').tBodies[0];
  body.replaceChildren(
    ...mappings.map((m) => {
      const tr = document.createElement('tr');
      tr.append(
        cell(m.name),
        cell(m.host),
        cell(`${m.portStart}-${m.portEnd} (${count(m.ports)})`),
        cell(m.upstream, 'session'),
        cell(m.lifetimeMs === 0 ? 'never expires' : duration(m.lifetimeMs)),
      );
      return tr;
    }),
  );
  const select = $('filter-mapping');
  const chosen = select.value;
  select.replaceChildren(new Option('all', ''), ...mappings.map((m) => new Option(m.name, m.name)));
  select.value = mappings.some((m) => m.name === chosen) ? chosen : '';
}

// ---- ports ----

/** Loads the page of ports shown, or with `around`, the page holding that port. */
async function refreshPorts(around) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = undefined;
  const query = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE_SIZE) });
  if (around) query.set('around', String(around));
  if (state.mapping) query.set('mapping', state.mapping);
  if (state.used) query.set('used', 'true');
  const page = await api(`/api/ports?${query}`);
  state.total = page.total;
  state.offset = page.offset;
  if (state.offset >= page.total && page.total > 0) {
    state.offset = Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE;
    return refreshPorts();
  }
  renderPorts(page.ports);
}

/** At most one refresh a second, whatever the events say. */
function scheduleRefresh(delay = 1000) {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => refreshPorts().catch(report), delay);
}

function renderPorts(ports) {
  const before = state.rows;
  state.rows = new Map(ports.map((view) => [view.port, view]));
  const body = $('ports').tBodies[0];
  body.replaceChildren(
    ...ports.map((view) => {
      const tr = document.createElement('tr');
      tr.dataset.port = String(view.port);
      const old = before.get(view.port);
      if (old && (old.session?.id !== view.session?.id || old.requests !== view.requests)) tr.classList.add('flash');
      const pick = document.createElement('input');
      pick.type = 'checkbox';
      pick.checked = state.selected.has(view.port);
      pick.dataset.pick = String(view.port);
      const pickCell = document.createElement('td');
      pickCell.append(pick);
      const expires = cell('', 'expires');
      expires.dataset.expires = view.session ? view.session.expiresAt ?? 'never' : '';
      const actions = document.createElement('td');
      actions.className = 'actions';
      actions.append(button('reset', 'reset', view.port), button('new', 'new', view.port));
      const lastError = view.lastError ? `${view.lastError.code}${view.lastError.message ? `: ${view.lastError.message}` : ''}` : '';
      tr.append(
        pickCell,
        cell(String(view.port)),
        cell(view.session ? view.session.id : '–', 'session'),
        cell(exitOf(view.session), 'wide'),
        expires,
        cell(count(view.requests), 'num'),
        cell(count(view.errors), 'num'),
        cell(lastError, 'err wide'),
        cell(count(view.openTunnels), 'num wide'),
        cell(ago(view.lastUse), 'wide'),
        actions,
      );
      if (!view.listening) tr.classList.add('fail');
      return tr;
    }),
  );
  const first = state.total === 0 ? 0 : state.offset + 1;
  $('page-info').textContent = `${count(first)}–${count(Math.min(state.offset + PAGE_SIZE, state.total))} of ${count(state.total)}`;
  $('prev').disabled = state.offset === 0;
  $('next').disabled = state.offset + PAGE_SIZE >= state.total;
  $('select-page').checked = ports.length > 0 && ports.every((view) => state.selected.has(view.port));
  tickCountdowns();
}

/** The exit IP an echo URL saw (Identity.EchoUrl), with its country when known. */
function exitOf(session) {
  if (!session?.exit) return '–';
  return session.exit.country ? `${session.exit.ip} (${session.exit.country})` : session.exit.ip;
}

function tickCountdowns() {
  for (const td of document.querySelectorAll('td.expires')) {
    const at = td.dataset.expires;
    td.textContent = !at ? '–' : at === 'never' ? 'never' : duration(Date.parse(at) - Date.now());
  }
}

function renderSelection() {
  const n = state.selected.size;
  $('selected-count').textContent = `${count(n)} selected`;
  $('bulk-reset').disabled = n === 0;
  $('bulk-new').disabled = n === 0;
}

async function rotate(action, selection, what) {
  try {
    const answer = await post(`/api/sessions/${action}`, selection);
    notice(`${action === 'new' ? 'New sessions' : 'Reset'}: ${count(answer.changed)} of ${count(answer.count)} ports changed (${what}).`);
  } catch (error) {
    report(error);
  }
  await refreshPorts().catch(report);
}

// ---- live log ----

function renderRequests(batch) {
  if (batch.dropped > 0) $('log-dropped').textContent = `${count(batch.dropped)} more not shown (busy)`;
  if (state.paused || batch.requests.length === 0) return;
  const body = $('log').tBodies[0];
  const rows = batch.requests.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.port = String(r.port);
    tr.dataset.session = r.sessionId || '';
    if (r.outcome !== 'OK' || r.status >= 500) tr.classList.add('fail');
    tr.append(
      cell(new Date(r.at).toLocaleTimeString([], { hourCycle: 'h23' })),
      cell(String(r.port)),
      cell(r.kind === 'http' ? r.method : r.kind === 'connect' ? 'CONNECT' : r.kind.toUpperCase()),
      cell(`${r.host}${r.path ?? ''}`, 'target'),
      cell(String(r.status || '–'), 'num status'),
      cell(r.outcome, 'outcome'),
      cell(bytes(r.bytesDown), 'num wide'),
      cell(String(r.durationMs), 'num'),
      cell(r.sessionId || '–', 'session wide'),
    );
    tr.title = `up ${bytes(r.bytesUp)}, down ${bytes(r.bytesDown)}${r.upstreamMs === undefined ? '' : `, upstream ${r.upstreamMs} ms`}`;
    return tr;
  });
  body.prepend(...rows.reverse());
  while (body.rows.length > LOG_ROWS) body.deleteRow(-1);
  if (batch.requests.some((r) => state.rows.has(r.port))) scheduleRefresh();
}

// ---- event stream ----

async function stream() {
  let delay = 1000;
  for (;;) {
    const chip = $('chip-live');
    try {
      const response = await fetch('/api/events', { headers: headers({ accept: 'text/event-stream' }) });
      if (response.status === 401) {
        showLogin();
        chip.textContent = 'signed out';
        chip.className = 'chip bad';
        // Signing in again starts a new stream.
        started = false;
        return;
      }
      if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
      chip.textContent = 'live';
      chip.className = 'chip ok';
      delay = 1000;
      await readEvents(response.body, dispatch);
    } catch {
      // Reconnects below.
    }
    chip.textContent = 'reconnecting…';
    chip.className = 'chip warn';
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

async function readEvents(body, handle) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) handle(event, JSON.parse(data.join('\n')));
    }
  }
}

function dispatch(event, data) {
  if (event === 'summary') renderSummary(data);
  else if (event === 'requests') renderRequests(data);
  else if (event === 'sessions' && data.ports.some((p) => state.rows.has(p.port))) scheduleRefresh(100);
}

function report(error) {
  if (error instanceof Unauthorized) return;
  notice(String(error.message || error), true);
}

// ---- wiring ----

function wire() {
  $('login').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value);
    $('login').classList.add('hidden');
    start();
  });
  $('reload').addEventListener('click', async () => {
    try {
      const outcome = await post('/api/reload');
      const parts = [`Configuration reloaded${outcome.changed.length ? `: ${outcome.changed.join(', ')}` : ': nothing changed'}.`];
      if (outcome.added) parts.push(`Ports added: ${outcome.added}.`);
      if (outcome.removed) parts.push(`Ports removed: ${outcome.removed}.`);
      if (outcome.restartNeeded.length) parts.push(`Only a restart applies: ${outcome.restartNeeded.join(', ')}.`);
      notice(parts.join(' '));
    } catch (error) {
      report(error);
    }
    refreshPorts().catch(report);
  });
  $('ports').addEventListener('click', async (event) => {
    const target = event.target;
    if (target.dataset.pick) {
      const port = Number(target.dataset.pick);
      if (target.checked) state.selected.add(port);
      else state.selected.delete(port);
      renderSelection();
      return;
    }
    const { action, port } = target.dataset;
    if (!action) return;
    target.disabled = true;
    try {
      await post(`/api/ports/${port}/${action}`);
    } catch (error) {
      report(error);
    }
    await refreshPorts().catch(report);
  });
  $('select-page').addEventListener('change', (event) => {
    for (const port of state.rows.keys()) {
      if (event.target.checked) state.selected.add(port);
      else state.selected.delete(port);
    }
    for (const box of document.querySelectorAll('input[data-pick]')) box.checked = event.target.checked;
    renderSelection();
  });
  const selectedPorts = () => [...state.selected].sort((a, b) => a - b);
  $('bulk-reset').addEventListener('click', () => rotate('reset', { ports: selectedPorts() }, `${state.selected.size} selected`));
  $('bulk-new').addEventListener('click', () => rotate('new', { ports: selectedPorts() }, `${state.selected.size} selected`));
  $('range-reset').addEventListener('click', () => rotate('reset', { range: $('bulk-range').value }, $('bulk-range').value));
  $('range-new').addEventListener('click', () => rotate('new', { range: $('bulk-range').value }, $('bulk-range').value));
  $('prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    refreshPorts().catch(report);
  });
  $('next').addEventListener('click', () => {
    state.offset += PAGE_SIZE;
    refreshPorts().catch(report);
  });
  $('filter-mapping').addEventListener('change', (event) => {
    state.mapping = event.target.value;
    state.offset = 0;
    refreshPorts().catch(report);
  });
  $('filter-used').addEventListener('change', (event) => {
    state.used = event.target.checked;
    state.offset = 0;
    refreshPorts().catch(report);
  });
  $('goto').addEventListener('change', async (event) => {
    const port = Number(event.target.value);
    if (!port) return;
    state.used = false;
    $('filter-used').checked = false;
    state.mapping = '';
    $('filter-mapping').value = '';
    await refreshPorts(port).catch(report);
    const row = document.querySelector(`tr[data-port="${port}"]`);
    if (row) {
      row.scrollIntoView({ block: 'center' });
      row.classList.add('flash');
    } else notice(`port ${port} is not served here`, true);
  });
  $('log-pause').addEventListener('change', (event) => {
    state.paused = event.target.checked;
  });
  setInterval(tickCountdowns, 1000);
}

let started = false;
async function start() {
  try {
    renderSummary(await api('/api/summary'));
    await refreshPorts();
  } catch (error) {
    report(error);
    return;
  }
  if (!started) {
    started = true;
    stream();
  }
}

wire();
start();
