/*
 * The exam page: server clock, autosave with a local journal, heartbeat, and submit.
 * Plain ES2017, no build step, no inline script (CSP). DESIGN §3 "Saving" is the contract:
 *  - every change goes to the journal (localStorage) on input, before any debounce;
 *  - saves go one at a time with the page's writer token and a sequence one above the last;
 *    a retry resends the same (token, seq), so a lost acknowledgement costs nothing;
 *  - "saved" shows only on a receipt; unsent changes are replayed in order on reconnect and
 *    whenever the page opens again;
 *  - the countdown runs from the server's remaining seconds on the monotonic clock
 *    (performance.now), so moving the computer's clock changes nothing.
 */
(function () {
  'use strict';

  var root = document.getElementById('exam');
  if (!root || !window.fetch || !window.Promise || !window.JSON) { return; }
  var legacy = document.getElementById('legacy-warning');
  if (legacy) { legacy.hidden = true; }
  root.hidden = false;

  var T = document.getElementById('i18n').dataset;
  var attemptId = root.dataset.attemptId;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  var JOURNAL_KEY = 'yc:journal:' + attemptId;
  var FLAGS_KEY = 'yc:flags:' + attemptId;
  var HEARTBEAT_MS = 20000;

  var state = {
    token: null, lastSeq: 0, inflight: null, backoff: 1000, stopped: false, stale: false,
    deadlineMono: performance.now() + Number(root.dataset.remaining) * 1000,
    graceMs: Number(root.dataset.grace) * 1000, warned: {}, submitting: false, finished: false,
    events: [], changeCounter: Date.now()
  };

  function fmt(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_m, k) { return values[k]; });
  }

  // ---- journal (localStorage, with an in-memory fallback) -------------------------------------
  var memoryStore = {};
  function loadJson(key, fallback) {
    try {
      var raw = window.localStorage.getItem(key);
      return raw ? JSON.parse(raw) : fallback;
    } catch (e) { return memoryStore[key] || fallback; }
  }
  function storeJson(key, value) {
    memoryStore[key] = value;
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* memory only */ }
  }
  var journal = loadJson(JOURNAL_KEY, {});   // qid -> {answer, n}
  var flags = loadJson(FLAGS_KEY, {});

  function pendingCount() { return Object.keys(journal).length; }

  function journalPut(qid, answer) {
    state.changeCounter += 1;
    journal[qid] = { answer: answer, n: state.changeCounter };
    storeJson(JOURNAL_KEY, journal);
  }

  // ---- reading and writing answers in the DOM --------------------------------------------------
  var slots = Array.prototype.slice.call(document.querySelectorAll('.q-slot'));
  var slotById = {};
  slots.forEach(function (s) { slotById[s.dataset.qid] = s; });

  function readAnswer(el) {
    var type = el.dataset.type;
    if (type === 'single' || type === 'true_false') {
      var checked = el.querySelector(':scope > .q-options input:checked');
      if (!checked) { return null; }
      return type === 'true_false' ? checked.value === 'true' : checked.value;
    }
    if (type === 'multiple') {
      var ids = Array.prototype.map.call(el.querySelectorAll(':scope > .q-options input:checked'),
        function (i) { return i.value; });
      return ids.length ? ids : null;
    }
    if (type === 'fill_blank') {
      var texts = Array.prototype.map.call(el.querySelectorAll(':scope > .q-blanks input'), function (i) { return i.value; });
      return texts.some(function (t) { return t.trim() !== ''; }) ? texts : null;
    }
    if (type === 'ordering') {
      if (el.dataset.touched !== '1') { return null; }
      return Array.prototype.map.call(el.querySelectorAll(':scope > .q-ordering > li'), function (li) { return li.dataset.id; });
    }
    if (type === 'matching') {
      var pairs = {}; var any = false;
      Array.prototype.forEach.call(el.querySelectorAll(':scope > .q-matching select'), function (s) {
        if (s.value) { pairs[s.dataset.prompt] = s.value; any = true; }
      });
      return any ? pairs : null;
    }
    if (type === 'short_answer') {
      var text = el.querySelector(':scope > textarea').value;
      return text.trim() === '' ? null : text;
    }
    if (type === 'group') {
      var parts = {}; var anyPart = false;
      Array.prototype.forEach.call(el.querySelectorAll(':scope > .q-parts > .question'), function (p) {
        var a = readAnswer(p);
        if (a !== null) { parts[p.dataset.qtoken] = a; anyPart = true; }
      });
      return anyPart ? parts : null;
    }
    return null;
  }

  function writeAnswer(el, value) {
    var type = el.dataset.type;
    if (value === null || value === undefined) { return; }
    if (type === 'single' || type === 'true_false') {
      Array.prototype.forEach.call(el.querySelectorAll(':scope > .q-options input'), function (i) {
        i.checked = (type === 'true_false' ? String(value) : value) === i.value;
      });
    } else if (type === 'multiple') {
      Array.prototype.forEach.call(el.querySelectorAll(':scope > .q-options input'), function (i) {
        i.checked = value.indexOf(i.value) >= 0;
      });
    } else if (type === 'fill_blank') {
      Array.prototype.forEach.call(el.querySelectorAll(':scope > .q-blanks input'), function (i, k) {
        i.value = value[k] || '';
      });
    } else if (type === 'ordering') {
      var list = el.querySelector(':scope > .q-ordering');
      value.forEach(function (id) {
        var li = list.querySelector(':scope > li[data-id="' + id + '"]');
        if (li) { list.appendChild(li); }
      });
      el.dataset.touched = '1';
    } else if (type === 'matching') {
      Array.prototype.forEach.call(el.querySelectorAll(':scope > .q-matching select'), function (s) {
        s.value = value[s.dataset.prompt] || '';
      });
    } else if (type === 'short_answer') {
      el.querySelector(':scope > textarea').value = value;
    } else if (type === 'group') {
      Array.prototype.forEach.call(el.querySelectorAll(':scope > .q-parts > .question'), function (p) {
        if (value[p.dataset.qtoken] !== undefined) { writeAnswer(p, value[p.dataset.qtoken]); }
      });
    }
  }

  function questionEl(slot) { return slot.querySelector(':scope > .question'); }

  function refreshNav(slot) {
    var nav = document.getElementById('nav-' + slot.dataset.qid);
    if (!nav) { return; }
    var answered = readAnswer(questionEl(slot)) !== null;
    nav.classList.toggle('answered', answered);
    nav.classList.toggle('flagged', !!flags[slot.dataset.qid]);
    nav.setAttribute('aria-label', nav.textContent + (answered ? ' ✓' : '') + (flags[slot.dataset.qid] ? ' ⚑' : ''));
  }

  // ---- status line, live regions and banners -----------------------------------------------------
  // The visible pill (#save-status, aria-hidden) follows every save. Screen readers hear the save state
  // from #status-live (polite) only when its kind (saved / saving / offline) has changed and held for
  // SETTLE_MS: a save answered within that time says nothing, going offline and coming back say it once.
  var statusEl = document.getElementById('save-status');
  var liveEl = document.getElementById('status-live');
  var SETTLE_MS = 2000;
  var lastStatus = '';
  var spokenKind = 'saved';
  var pendingKind = null;
  var settleTimer = null;
  function showStatus() {
    var n = pendingCount();
    var text; var kind;
    if (state.stale || state.stopped) { return; }
    if (!navigator.onLine || state.offline) { text = fmt(T.offline, { n: n }); kind = 'offline'; }
    else if (n > 0 || state.inflight) { text = state.inflight ? T.saving : fmt(T.unsaved, { n: n }); kind = 'saving'; }
    else { text = T.saved; kind = 'saved'; }
    if (text !== lastStatus) { statusEl.textContent = text; statusEl.dataset.state = kind; lastStatus = text; }
    settle(kind);
  }
  function settle(kind) {
    if (kind === pendingKind) { return; }   // already holding: the wait is not restarted
    clearTimeout(settleTimer);
    pendingKind = null;
    if (kind === spokenKind) { return; }
    pendingKind = kind;
    settleTimer = setTimeout(function () {
      pendingKind = null;
      if (state.stale || state.stopped) { return; }
      spokenKind = kind;
      tell(statusEl.textContent);
    }, SETTLE_MS);
  }
  function tell(text) {   // polite: one sentence, only when it is news
    if (liveEl.textContent !== text) { liveEl.textContent = text; }
  }
  function setStatusText(text) {   // a final state (stale tab, signed out, auto-submit): shown, not re-spoken
    clearTimeout(settleTimer);
    pendingKind = null;
    statusEl.textContent = text;
  }

  var banner = document.getElementById('banner');
  function showBanner(text, link) {
    banner.textContent = text;
    if (link) {
      var a = document.createElement('a');
      a.href = link.href; a.textContent = link.text; a.className = 'button';
      banner.appendChild(document.createTextNode(' ')); banner.appendChild(a);
    }
    banner.hidden = false;
  }

  function announce(text) {   // assertive: only the 15/5/1-minute warnings
    var el = document.getElementById('announcer');
    el.textContent = '';
    setTimeout(function () { el.textContent = text; }, 50);
  }

  // ---- network ---------------------------------------------------------------------------------
  function post(url, body) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, 15000) : null;
    var sent = performance.now();
    return fetch(url, {
      method: 'POST', credentials: 'same-origin', signal: controller ? controller.signal : undefined,
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf, 'Accept': 'application/json' },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      if (timer) { clearTimeout(timer); }
      var received = performance.now();
      return r.json().catch(function () { return {}; }).then(function (data) {
        return { status: r.status, data: data, rtt: received - sent, received: received };
      });
    }, function (err) { if (timer) { clearTimeout(timer); } throw err; });
  }

  function syncClock(res) {
    if (typeof res.data.remaining_seconds !== 'number') { return; }
    // The response was produced about half a round trip before it arrived.
    var newDeadline = res.received - res.rtt / 2 + res.data.remaining_seconds * 1000;
    if (newDeadline - state.deadlineMono > 5000) { tell(T.extended); state.warned = {}; }
    state.deadlineMono = newDeadline;
  }

  function handleFatal(res) {
    var code = res.data && res.data.error;
    if (res.status === 401) {
      state.stopped = true;
      showBanner(T.session, { href: root.dataset.loginUrl, text: T.relogin });
      setStatusText(fmt(T.unsaved, { n: pendingCount() }));
      return true;
    }
    if (code === 'stale_tab') {
      state.stale = true; state.stopped = true;
      showBanner(T.stale);
      setStatusText(T.stale);
      disableInputs();
      return true;
    }
    if (code === 'time_over' || code === 'attempt_closed') {
      state.stopped = true;
      finish(code === 'time_over' ? T.timeover : T.closed);
      return true;
    }
    return false;
  }

  function nextEntry() {
    var best = null;
    Object.keys(journal).forEach(function (qid) {
      if (!best || journal[qid].n < journal[best].n) { best = qid; }
    });
    return best;
  }

  function pump() {
    if (state.inflight || state.stopped || !state.token) { showStatus(); return; }
    var qid = nextEntry();
    if (qid === null) { showStatus(); return; }
    var entry = journal[qid];
    state.inflight = { qid: qid, n: entry.n, body: { token: state.token, seq: state.lastSeq + 1, question_id: Number(qid), answer: entry.answer } };
    send();
  }

  function send() {
    var job = state.inflight;
    showStatus();
    post(root.dataset.saveUrl, job.body).then(function (res) {
      state.offline = false;
      if (res.status === 200) {
        state.lastSeq = Math.max(state.lastSeq, job.body.seq);
        if (journal[job.qid] && journal[job.qid].n === job.n) {
          delete journal[job.qid];
          storeJson(JOURNAL_KEY, journal);
        }
        state.inflight = null; state.backoff = 1000;
        syncClock(res);
        pump();
        return;
      }
      if (handleFatal(res)) { state.inflight = null; return; }
      if (res.data && res.data.error === 'stale_sequence') {
        state.lastSeq = Math.max(state.lastSeq, Number(res.data.last_seq) || job.body.seq);
        state.inflight = null; pump(); return;
      }
      if (res.status === 422) {  // this answer can never be stored: drop it rather than block the queue
        if (journal[job.qid] && journal[job.qid].n === job.n) { delete journal[job.qid]; storeJson(JOURNAL_KEY, journal); }
        state.inflight = null; pump(); return;
      }
      retryLater();   // 429, 5xx, 503: the same (token, seq) again after a pause
    }, function () {
      state.offline = true;
      retryLater();
    });
  }

  function retryLater() {
    showStatus();
    var wait = state.backoff + Math.random() * 500;
    state.backoff = Math.min(state.backoff * 2, 15000);
    setTimeout(function () { if (state.inflight && !state.stopped) { send(); } }, wait);
  }

  window.addEventListener('online', function () {
    state.offline = false; state.backoff = 1000;
    if (state.inflight) { send(); } else { pump(); }
  });
  window.addEventListener('offline', function () { state.offline = true; showStatus(); state.events.push({ kind: 'offline', at: new Date().toISOString() }); });

  // ---- recording changes -----------------------------------------------------------------------
  function onChange(slot) {
    if (state.stopped) { return; }
    var value = readAnswer(questionEl(slot));
    journalPut(slot.dataset.qid, value);   // the journal first, before anything else
    refreshNav(slot);
    pump();
  }

  slots.forEach(function (slot) {
    var q = questionEl(slot);
    q.addEventListener('input', function () { onChange(slot); });
    q.addEventListener('change', function () { onChange(slot); });
    q.addEventListener('click', function (ev) {
      var btn = ev.target.closest('button[data-move]');
      if (!btn) { return; }
      moveItem(btn.closest('li'), btn.dataset.move === 'up' ? -1 : 1, btn.dataset.move);
      onChangeOrdering(btn.closest('.question'), slot);
    });
    q.addEventListener('keydown', function (ev) {
      if (!ev.altKey || (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown')) { return; }
      var li = ev.target.closest('li.order-item');
      if (!li) { return; }
      ev.preventDefault();
      moveItem(li, ev.key === 'ArrowUp' ? -1 : 1, null);
      li.focus();
      onChangeOrdering(li.closest('.question'), slot);
    });
    var flag = slot.querySelector('[data-flag]');
    flag.checked = !!flags[slot.dataset.qid];
    flag.addEventListener('change', function () {
      flags[slot.dataset.qid] = flag.checked; storeJson(FLAGS_KEY, flags); refreshNav(slot);
    });
    slot.querySelector('[data-prev]').addEventListener('click', function () { go(-1); });
    slot.querySelector('[data-next]').addEventListener('click', function () { go(1); });
  });

  function moveItem(li, delta, focusMove) {
    var list = li.parentNode;
    if (delta < 0 && li.previousElementSibling) { list.insertBefore(li, li.previousElementSibling); }
    if (delta > 0 && li.nextElementSibling) { list.insertBefore(li.nextElementSibling, li); }
    if (focusMove) {
      var again = li.querySelector('button[data-move="' + focusMove + '"]');
      if (again) { again.focus(); }
    }
  }

  function onChangeOrdering(questionNode, slot) {
    questionNode.dataset.touched = '1';
    onChange(slot);
  }

  // ---- one question per view, navigator ----------------------------------------------------------
  var current = 0;
  function show(index, focus) {
    if (index < 0 || index >= slots.length) { return; }
    slots[current].hidden = true;
    var navOld = document.getElementById('nav-' + slots[current].dataset.qid);
    if (navOld) { navOld.removeAttribute('aria-current'); }
    current = index;
    slots[current].hidden = false;
    document.getElementById('nav-' + slots[current].dataset.qid).setAttribute('aria-current', 'step');
    if (focus) { slots[current].querySelector('h2').setAttribute('tabindex', '-1'); slots[current].querySelector('h2').focus(); }
  }
  function go(delta) { show(current + delta, true); }
  Array.prototype.forEach.call(document.querySelectorAll('.nav-item[data-goto]'), function (btn) {
    btn.addEventListener('click', function () {
      var idx = slots.indexOf(slotById[btn.dataset.goto]);
      show(idx, true);
    });
  });

  function disableInputs() {
    Array.prototype.forEach.call(root.querySelectorAll('.questions input, .questions select, .questions textarea, .questions button[data-move]'),
      function (el) { el.disabled = true; });
  }

  // ---- timer -----------------------------------------------------------------------------------
  var timerEl = document.getElementById('timer');
  var timerText = '';
  function remainingMs() { return state.deadlineMono - performance.now(); }
  function tick() {
    var ms = Math.max(0, remainingMs());
    var s = Math.floor(ms / 1000);
    var h = Math.floor(s / 3600); var m = Math.floor((s % 3600) / 60); var sec = s % 60;
    var text = (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (sec < 10 ? '0' : '') + sec;
    if (text !== timerText) { timerEl.textContent = text; timerText = text; }   // once a second, not 4 times
    timerEl.classList.toggle('urgent', s <= 300);
    [[900, T.warn15], [300, T.warn5], [60, T.warn1]].forEach(function (w) {
      if (s <= w[0] && s > w[0] - 30 && !state.warned[w[0]]) { state.warned[w[0]] = true; announce(w[1]); }
    });
    if (ms <= 0 && !state.submitting && !state.finished) { autoSubmit(); }
  }

  // ---- heartbeat and integrity events (evidence only, never a penalty) --------------------------
  document.addEventListener('visibilitychange', function () {
    state.events.push({ kind: document.hidden ? 'visibility_hidden' : 'visibility_visible', at: new Date().toISOString() });
  });
  ['copy', 'paste', 'cut'].forEach(function (kind) {
    document.addEventListener(kind, function () { state.events.push({ kind: kind, at: new Date().toISOString() }); });
  });
  window.addEventListener('blur', function () { state.events.push({ kind: 'blur', at: new Date().toISOString() }); });

  function heartbeat() {
    if (state.finished) { return; }
    var events = state.events.splice(0, 50);
    post(root.dataset.heartbeatUrl, { token: state.token, events: events }).then(function (res) {
      state.offline = false;
      if (res.status === 200) {
        syncClock(res);
        if (res.data.state && res.data.state !== 'in_progress') { finish(T.timeover); return; }
        if (res.data.stale_tab && state.token && !state.stale) { handleFatal({ status: 409, data: { error: 'stale_tab' } }); }
        if (state.inflight === null) { pump(); }
      } else if (!handleFatal(res)) {
        state.events = events.concat(state.events);
      }
    }, function () { state.offline = true; state.events = events.concat(state.events); showStatus(); });
  }

  // ---- submit ----------------------------------------------------------------------------------
  var dialog = document.getElementById('submit-dialog');
  document.getElementById('open-submit').addEventListener('click', function () {
    var unanswered = []; var flagged = [];
    slots.forEach(function (slot) {
      if (readAnswer(questionEl(slot)) === null) { unanswered.push(slot.dataset.number); }
      if (flags[slot.dataset.qid]) { flagged.push(slot.dataset.number); }
    });
    document.getElementById('submit-summary').textContent = fmt(T.summary, { total: slots.length, answered: slots.length - unanswered.length });
    var list = document.getElementById('submit-list');
    list.textContent = '';
    [[unanswered, T.unanswered], [flagged, T.flagged]].forEach(function (pair) {
      if (pair[0].length) { var li = document.createElement('li'); li.textContent = fmt(pair[1], { list: pair[0].join('、') }); list.appendChild(li); }
    });
    if (pendingCount() > 0) { var li = document.createElement('li'); li.textContent = fmt(T.pending, { n: pendingCount() }); list.appendChild(li); }
    if (dialog.showModal) { dialog.showModal(); } else { dialog.setAttribute('open', ''); }
    document.getElementById('submit-cancel').focus();
  });
  document.getElementById('submit-cancel').addEventListener('click', function () { dialog.close ? dialog.close() : dialog.removeAttribute('open'); });
  document.getElementById('submit-confirm').addEventListener('click', function () {
    if (dialog.close) { dialog.close(); }
    submit(false);
  });

  function waitForQueue(limitMs) {
    var until = performance.now() + limitMs;
    return new Promise(function (resolve) {
      (function check() {
        if ((pendingCount() === 0 && !state.inflight) || performance.now() > until || state.stopped) { resolve(); return; }
        setTimeout(check, 200);
      }());
    });
  }

  function submit(auto) {
    if (state.submitting || state.finished) { return; }
    state.submitting = true;
    if (auto) { setStatusText(T.autosubmit); tell(T.autosubmit); }
    pump();
    // Let the queue drain first (saves are accepted during the grace period), then hand in.
    waitForQueue(auto ? Math.max(5000, state.graceMs - 10000) : 20000).then(function trySubmit() {
      post(root.dataset.submitUrl, { token: state.token }).then(function (res) {
        if (res.status === 200) { finish(null); return; }
        if (handleFatal(res)) { return; }
        state.submitting = false;
        showBanner(T.submitfail);
        setTimeout(function () { submit(auto); }, 3000);
      }, function () {
        showBanner(T.submitfail);
        setTimeout(function () { state.submitting = false; submit(auto); }, 3000);
      });
    });
  }

  function autoSubmit() { submit(true); }

  function finish(message) {
    if (state.finished) { return; }
    state.finished = true; state.stopped = true;
    disableInputs();
    if (message) { showBanner(message); }
    if (pendingCount() === 0) {
      try { window.localStorage.removeItem(JOURNAL_KEY); window.localStorage.removeItem(FLAGS_KEY); } catch (e) { /* ignore */ }
    }
    setTimeout(function () { window.location.assign(root.dataset.doneUrl); }, message ? 2500 : 300);
  }

  window.addEventListener('beforeunload', function (ev) {
    if (!state.finished && (pendingCount() > 0 || state.inflight)) {
      ev.preventDefault();
      ev.returnValue = T.leave;
      return T.leave;
    }
    return undefined;
  });

  // ---- start: saved answers from the page, then the journal over them, then a writer token ------
  slots.forEach(function (slot) {
    var saved = JSON.parse(slot.querySelector('script.q-saved').textContent);
    writeAnswer(questionEl(slot), saved);
    if (journal[slot.dataset.qid]) { writeAnswer(questionEl(slot), journal[slot.dataset.qid].answer); }
    refreshNav(slot);
  });
  show(0, false);
  setInterval(tick, 250);
  tick();

  function openPage() {
    post(root.dataset.openUrl, { questions: false }).then(function (res) {
      if (res.status !== 200) {
        if (!handleFatal(res)) { setTimeout(openPage, 3000); }
        return;
      }
      state.token = res.data.token;
      state.lastSeq = res.data.last_seq;
      syncClock(res);
      if (res.data.state !== 'in_progress') { finish(T.timeover); return; }
      setInterval(heartbeat, HEARTBEAT_MS);
      pump();   // replay whatever the journal still holds, in the order it was changed
    }, function () { state.offline = true; showStatus(); setTimeout(openPage, 3000); });
  }
  openPage();
  window.YCExam = { state: state, journal: function () { return journal; } };
}());
