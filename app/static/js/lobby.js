/*
 * The lobby before an exam: device check, honesty pledge, and a waiting room whose countdown is
 * synced to the server. The start button appears at the opening second plus a small random
 * spread (0–3 s) so a room of 60 does not hit the server in the same millisecond; nobody loses
 * time by it, because the deadline counts from each student's actual start.
 */
(function () {
  'use strict';
  var root = document.getElementById('lobby');
  if (!root || !window.fetch || !window.Promise) { return; }
  var legacy = document.getElementById('legacy-warning');
  if (legacy) { legacy.hidden = true; }
  root.hidden = false;
  var T = document.getElementById('i18n').dataset;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  var opensAtMs = Date.parse(root.dataset.opensAt);
  var offsetMs = 0;           // server time − local time
  var spreadMs = Math.floor(Math.random() * 3000);
  var pledged = root.dataset.pledged === '1';

  function fmt(template, values) { return template.replace(/%\((\w+)\)s/g, function (_m, k) { return values[k]; }); }
  function setCheck(name, ok, text) {
    var li = document.querySelector('[data-check="' + name + '"]');
    li.querySelector('.check-state').textContent = ok ? '✔' : '✖';
    li.classList.add(ok ? 'check-ok' : 'check-bad');
    li.querySelector('.check-result').textContent = text;
  }
  function post(url, body) {
    return fetch(url, { method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf, 'Accept': 'application/json' },
      body: JSON.stringify(body || {}) }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (d) { return { status: r.status, data: d }; });
    });
  }

  setCheck('browser', true, T.browserOk);
  var storageOk = false;
  try { localStorage.setItem('yc:probe', '1'); storageOk = localStorage.getItem('yc:probe') === '1'; localStorage.removeItem('yc:probe'); } catch (e) { storageOk = false; }
  setCheck('storage', storageOk, storageOk ? T.storageOk : T.storageBad);

  function measureClock() {
    var sent = performance.now(); var local = Date.now();
    return fetch(root.dataset.timeUrl, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) { return r.json(); })
      .then(function (d) {
        var rtt = performance.now() - sent;
        offsetMs = d.epoch_ms - (local + rtt / 2);
        var secs = Math.round(offsetMs / 1000);
        setCheck('clock', Math.abs(secs) <= 60, fmt(Math.abs(secs) <= 60 ? T.clockOk : T.clockBad, { s: secs }));
      });
  }
  measureClock().catch(function () { setCheck('clock', false, T.network); });
  window.addEventListener('load', function () {
    var probe = document.getElementById('math-probe');
    var ok = !!probe.querySelector('.katex') && !probe.querySelector('.katex-error');
    setCheck('math', ok, ok ? T.mathOk : T.mathBad);
  });

  var form = document.getElementById('pledge-form');
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (!document.getElementById('pledge-check').checked) { return; }
    post(root.dataset.pledgeUrl, { accept: true }).then(function (res) {
      if (res.status === 200) {
        pledged = true; form.hidden = true; document.getElementById('pledge-done').hidden = false; update();
      }
    });
  });

  var button = document.getElementById('start-button');
  var errorBox = document.getElementById('start-error');
  button.addEventListener('click', function () {
    if (!pledged) { errorBox.textContent = T.pledgeFirst; errorBox.hidden = false; return; }
    button.disabled = true;
    var codeInput = document.getElementById('access-code');
    post(root.dataset.startUrl, { access_code: codeInput ? codeInput.value : null }).then(function (res) {
      if (res.status === 200 && res.data.attempt_id) {
        window.location.assign(root.dataset.takeUrl.replace(/\/0$/, '/' + res.data.attempt_id));
        return;
      }
      button.disabled = false;
      errorBox.textContent = (res.data && (document.documentElement.lang === 'en' ? res.data.message_en : res.data.message_zh)) || T.network;
      errorBox.hidden = false;
    }, function () { button.disabled = false; errorBox.textContent = T.network; errorBox.hidden = false; });
  });

  // The countdown changes every second but is never announced; the polite status speaks once, at the opening.
  function update() {
    var wait = opensAtMs + spreadMs - (Date.now() + offsetMs);
    var countdown = document.getElementById('wait-countdown');
    var status = document.getElementById('wait-status');
    if (wait > 0) {
      var s = Math.ceil(wait / 1000);
      var h = Math.floor(s / 3600); var m = Math.floor((s % 3600) / 60); var sec = s % 60;
      var text = (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (sec < 10 ? '0' : '') + sec;
      if (countdown.textContent !== text) { countdown.textContent = text; }
      button.hidden = true;
    } else {
      document.getElementById('wait-line').hidden = true;
      if (status.textContent !== T.open) { status.textContent = T.open; }
      button.hidden = false;
    }
  }
  update();
  setInterval(update, 500);
}());
