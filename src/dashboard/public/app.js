// The dashboard page: renders the overview the server pushes (server-sent events, with a poll as
// the fallback) and sends the operator's actions after a confirmation. Every value that comes
// from the cluster (topic names, keys, bodies) is put in the page as text, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);

/** An element with text and attributes; children appended in order. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = String(v);
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

// ---- confirmation -------------------------------------------------------------------------

function confirmAction(text) {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(answer.error || `HTTP ${res.status}`);
  return answer;
}

function say(text, isError) {
  const out = $('action-result');
  out.textContent = text;
  out.className = isError ? 'error' : 'muted';
}

async function transferTo(nodeId) {
  if (!(await confirmAction(`Make ${nodeId} the master? The current master hands leadership over; writes pause for a moment.`))) return;
  try {
    await post('/api/transfer-leader', { to: nodeId });
    say(`asked the master to hand leadership to ${nodeId}`);
  } catch (err) {
    say(`transfer to ${nodeId} failed: ${err.message}`, true);
  }
}

// ---- groups --------------------------------------------------------------------------------

function replicaCard(r, group) {
  const fact = (k, v, cls) => [el('dt', { text: k }), el('dd', { text: v, ...(cls ? { class: cls } : {}) })];
  const behind = r.behindEntries === null ? '-' : r.behindEntries === 0 ? 'caught up' : `${r.behindEntries} ${r.behindEntries === 1 ? 'entry' : 'entries'}`;
  const note = !r.up ? `down: ${r.error}` : r.recovering ? 'rebuilding its store from the master' : r.staleness || '';
  const canTransfer = r.up && r.role === 'SLAVE' && group.master !== '';
  return el('article', { class: 'replica', 'data-node': r.nodeId || r.addr, 'data-role': r.role },
    el('div', {}, el('span', { class: 'name', text: r.nodeId || '?' }), el('span', { class: `badge ${r.role}`, text: r.role })),
    el('div', { class: 'muted', text: r.addr }),
    el('dl', {},
      ...fact('term', r.up ? r.term : '-'),
      ...fact('commit', r.up ? r.commitIndex : '-'),
      ...fact('applied', r.up ? r.appliedIndex : '-'),
      ...fact('last', r.up ? r.lastIndex : '-'),
      ...fact('behind', behind, r.behindEntries > 0 ? 'catching-up' : '')),
    el('div', { class: 'note', text: note }),
    canTransfer ? el('button', { type: 'button', class: 'transfer', 'data-to': r.nodeId, text: 'Make master', onclick: () => transferTo(r.nodeId) }) : null);
}

function renderGroups(groups) {
  const root = $('groups');
  root.replaceChildren(...groups.map((g) => el('div', { class: 'group', 'data-group': g.brokerName },
    el('div', { class: 'group-head' },
      el('h2', { text: `Broker group ${g.brokerName}` }),
      el('span', {}, 'master: ', el('b', { 'data-testid': 'master', text: g.master || 'none' })),
      el('span', { class: 'muted', text: `term ${g.term}` })),
    el('div', { class: 'replicas' }, ...g.replicas.map((r) => replicaCard(r, g))))));
}

// ---- charts (uPlot) ------------------------------------------------------------------------

const COLORS = ['#16834a', '#2463b5', '#c23b30', '#b26b00'];
const charts = new Map();

function renderChart(c) {
  const target = $(`chart-${c.id}`);
  if (!target || typeof uPlot === 'undefined') return;
  const data = [c.times, ...c.series.map((s) => s.values)];
  let chart = charts.get(c.id);
  if (!chart) {
    chart = new uPlot({
      width: Math.max(300, target.clientWidth),
      height: 220,
      series: [{}, ...c.series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false }))],
      axes: [{}, { label: c.unit, size: 60 }],
      legend: { live: false },
    }, data, target);
    charts.set(c.id, chart);
  } else {
    chart.setData(data);
  }
}

window.addEventListener('resize', () => {
  for (const [id, chart] of charts) chart.setSize({ width: Math.max(300, $(`chart-${id}`).clientWidth), height: 220 });
});

// ---- timeline and sections -----------------------------------------------------------------

function renderTimeline(events) {
  $('timeline').replaceChildren(...(events.length === 0 ? [el('li', { class: 'muted', text: 'nothing yet' })]
    : events.map((e) => el('li', { 'data-kind': e.kind }, el('time', { text: clock(e.atMs) }), e.text))));
}

function table(columns, rows) {
  return el('table', {},
    el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { text: c.label })))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...columns.map((c) => el('td', { text: r[c.key] ?? '', ...(c.key === 'body' ? { class: 'body' } : {}) }))))));
}

function renderSections(sections) {
  $('sections').replaceChildren(...sections.map((s) => el('section', { class: 'panel', id: `section-${s.id}` },
    el('h2', { text: s.title }),
    s.note ? el('div', { class: 'muted', text: s.note }) : null,
    s.rows.length === 0 ? el('div', { class: 'muted', text: 'none' }) : table(s.columns, s.rows))));
}

// ---- the overview --------------------------------------------------------------------------

let lastOverview = 0;

function render(o) {
  lastOverview = Date.now();
  renderGroups(o.groups);
  for (const c of o.charts) renderChart(c);
  renderTimeline(o.timeline);
  renderSections(o.sections);
  $('updated').textContent = `updated ${clock(o.generatedAtMs)}`;
}

function connect() {
  const live = $('live');
  const events = new EventSource('/api/events');
  events.onopen = () => { live.dataset.state = 'live'; live.textContent = 'live'; };
  events.onmessage = (e) => render(JSON.parse(e.data));
  events.onerror = () => { live.dataset.state = 'reconnecting'; live.textContent = 'reconnecting'; };
  // Should events stop (a proxy that buffers them), poll instead.
  setInterval(async () => {
    if (Date.now() - lastOverview < 5000) return;
    try {
      render(await (await fetch('/api/overview')).json());
    } catch {
      // the server is away: the event source keeps trying too
    }
  }, 2500);
}

// ---- lookups and actions -------------------------------------------------------------------

const MESSAGE_COLUMNS = [
  { key: 'msgId', label: 'msgId' }, { key: 'where', label: 'topic / queue @ offset' }, { key: 'keys', label: 'keys' },
  { key: 'stored', label: 'stored' }, { key: 'body', label: 'body' },
];

async function lookup(query) {
  const out = $('lookup-result');
  out.replaceChildren(el('div', { class: 'muted', text: 'looking...' }));
  try {
    const res = await fetch(`/api/messages?${new URLSearchParams(query)}`);
    const answer = await res.json();
    if (!res.ok) throw new Error(answer.error || `HTTP ${res.status}`);
    const rows = answer.messages.map((m) => ({ ...m, where: `${m.topic} / ${m.queueId} @ ${m.queueOffset}`, stored: new Date(m.storeTimestamp).toLocaleString() }));
    out.replaceChildren(rows.length === 0 ? el('div', { class: 'muted', text: 'no message found' }) : table(MESSAGE_COLUMNS, rows));
  } catch (err) {
    out.replaceChildren(el('div', { class: 'error', text: `lookup failed: ${err.message}` }));
  }
}

$('by-id').addEventListener('submit', (e) => { e.preventDefault(); lookup({ msgId: $('lookup-id').value }); });
$('by-key').addEventListener('submit', (e) => { e.preventDefault(); lookup({ topic: $('lookup-topic').value, key: $('lookup-key').value }); });
$('create-topic').addEventListener('submit', async (e) => {
  e.preventDefault();
  const topic = $('topic-name').value;
  const queues = Number($('topic-queues').value);
  if (!(await confirmAction(`Create topic ${topic} with ${queues} queues (or grow it to that many)?`))) return;
  try {
    await post('/api/topics', { topic, queues });
    say(`topic ${topic} has ${queues} queues`);
  } catch (err) {
    say(`creating ${topic} failed: ${err.message}`, true);
  }
});

fetch('/api/overview').then((r) => r.json()).then(render, () => undefined);
connect();
