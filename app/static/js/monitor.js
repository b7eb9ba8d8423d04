/* The live monitor: polls the JSON endpoint every 5 s and redraws counts, groups and students.
   No inline script (CSP); plain DOM, textContent only (names are never parsed as HTML). */
(function () {
  'use strict';
  var box = document.getElementById('monitor');
  if (!box) { return; }
  var url = box.getAttribute('data-url');
  var labels = {};
  try { labels = JSON.parse(box.getAttribute('data-labels') || '{}'); } catch (e) { labels = {}; }
  var staleLabel = box.getAttribute('data-stale-label') || 'stale';
  var onlyAttention = document.getElementById('monitor-only-attention');
  var last = null;
  var INTERVAL = 5000;

  function cell(row, text, cls) {
    var td = document.createElement('td');
    td.textContent = text === null || text === undefined ? '' : String(text);
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  function badge(status, stale) {
    var span = document.createElement('span');
    var cls = { in_progress: 'badge-ok', submitted: '', finalized: '', absent: 'badge-bad', voided: 'badge-bad', not_started: '' };
    span.className = 'badge ' + (stale ? 'badge-bad' : (cls[status] || ''));
    span.textContent = (labels[status] || status) + (stale ? ' · ' + staleLabel : '');
    return span;
  }

  function ago(iso, now) {
    if (!iso) { return '—'; }
    var s = Math.max(0, Math.round((Date.parse(now) - Date.parse(iso)) / 1000));
    return s < 60 ? s + ' s' : Math.floor(s / 60) + ' min';
  }

  function drawTotals(totals) {
    var nodes = box.querySelectorAll('[data-total]');
    for (var i = 0; i < nodes.length; i++) {
      var k = nodes[i].getAttribute('data-total');
      nodes[i].textContent = totals[k] === undefined ? '–' : totals[k];
    }
  }

  function drawGroups(data) {
    var tables = box.querySelectorAll('[data-group]');
    for (var i = 0; i < tables.length; i++) {
      var body = tables[i].querySelector('tbody');
      var rows = data[tables[i].getAttribute('data-group')] || [];
      var frag = document.createDocumentFragment();
      var param = { leagues: 'league', schools: 'school', rooms: 'room' }[tables[i].getAttribute('data-group')];
      rows.forEach(function (g) {
        var tr = document.createElement('tr');
        var name = document.createElement('td');
        if (param && g.id !== null && g.id !== undefined) {
          var link = document.createElement('a');  /* drill down: the same page filtered to this group */
          link.href = window.location.pathname + '?' + param + '=' + encodeURIComponent(g.id);
          link.textContent = g.name;
          name.appendChild(link);
        } else {
          name.textContent = g.name;
        }
        tr.appendChild(name);
        ['total', 'not_started', 'in_progress', 'submitted', 'finalized', 'absent', 'stale', 'integrity_events'].forEach(function (k) {
          var td = cell(tr, g[k], 'num');
          if ((k === 'stale' || k === 'integrity_events') && g[k] > 0) { td.className = 'num badge-bad'; }
        });
        frag.appendChild(tr);
      });
      body.replaceChildren(frag);
    }
  }

  function drawStudents(data) {
    var body = document.querySelector('#monitor-students tbody');
    if (!body) { return; }
    var frag = document.createDocumentFragment();
    var filter = onlyAttention && onlyAttention.checked;
    data.students.forEach(function (s) {
      if (filter && !(s.stale || s.integrity_events > 0 || s.status === 'absent')) { return; }
      var tr = document.createElement('tr');
      cell(tr, s.exam_number, 'mono');
      cell(tr, s.name);
      cell(tr, s.school);
      cell(tr, s.room ? s.room + (s.seat ? ' · ' + s.seat : '') : '—');
      var st = document.createElement('td');
      st.appendChild(badge(s.status, s.stale));
      tr.appendChild(st);
      cell(tr, s.remaining_seconds === null ? '' : Math.floor(s.remaining_seconds / 60), 'num');
      cell(tr, ago(s.last_seen, data.server_time));
      cell(tr, s.integrity_events || '', 'num');
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
    var note = document.getElementById('monitor-truncated');
    if (note) { note.hidden = !data.students_truncated; }
  }

  function drawSeats(data) {
    /* The proctor's seat table: each seat's live state, matched by student id. */
    var cells = document.querySelectorAll('[data-seat-status]');
    if (!cells.length) { return; }
    var byId = {};
    data.students.forEach(function (s) { byId[String(s.student_id)] = s; });
    for (var i = 0; i < cells.length; i++) {
      var s = byId[cells[i].getAttribute('data-seat-status')];
      cells[i].className = '';
      if (!s) { cells[i].textContent = '—'; continue; }
      var text = s.remaining_seconds === null ? '' : ' · ' + Math.floor(s.remaining_seconds / 60) + ' min';
      cells[i].replaceChildren(badge(s.status, s.stale), document.createTextNode(text + ' · ' + ago(s.last_seen, data.server_time)));
    }
  }

  function draw(data) {
    last = data;
    drawTotals(data.totals);
    drawGroups(data);
    drawStudents(data);
    drawSeats(data);
    var updated = document.getElementById('monitor-updated');
    if (updated) { updated.textContent = new Date(data.server_time).toLocaleTimeString(); }
  }

  function tick() {
    fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        document.getElementById('monitor-error').hidden = true;
        draw(data);
        setTimeout(tick, INTERVAL);
      })
      .catch(function () {
        document.getElementById('monitor-error').hidden = false;
        setTimeout(tick, INTERVAL * 2);
      });
  }

  if (onlyAttention) { onlyAttention.addEventListener('change', function () { if (last) { drawStudents(last); } }); }
  tick();
}());
