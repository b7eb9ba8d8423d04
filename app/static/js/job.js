/* Polls a background job's status and updates the progress bar (no inline script: CSP). */
(function () {
  'use strict';
  var box = document.getElementById('job');
  if (!box) { return; }
  var url = box.getAttribute('data-status-url');
  function tick() {
    fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        document.getElementById('job-state').textContent = s.state;
        document.getElementById('job-progress').value = s.percent;
        var message = document.getElementById('job-message');   // a polite live region: write only news
        if (message.textContent !== (s.message || '')) { message.textContent = s.message || ''; }
        var err = document.getElementById('job-error');
        if (s.error) { err.hidden = false; err.textContent = s.error; }
        if (s.state === 'queued' || s.state === 'running') { setTimeout(tick, 1000); }
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  if (box.getAttribute('data-state') === 'queued' || box.getAttribute('data-state') === 'running') { tick(); }
}());
