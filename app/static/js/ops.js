/* A background job's progress on the ops pages; reloads the page once the job has finished,
   so the server can show its result (no inline script: CSP). */
(function () {
  'use strict';
  var box = document.getElementById('job');
  if (!box) { return; }
  var url = box.getAttribute('data-status-url');
  var state = box.getAttribute('data-state');
  function tick() {
    fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        document.getElementById('job-state').textContent = s.state;
        document.getElementById('job-progress').value = s.percent;
        var message = document.getElementById('job-message');   // a polite live region: write only news
        if (message.textContent !== (s.message || '')) { message.textContent = s.message || ''; }
        if (s.error) { var e = document.getElementById('job-error'); e.hidden = false; e.textContent = s.error; }
        if (s.state === 'queued' || s.state === 'running') { setTimeout(tick, 1000); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  if (state === 'queued' || state === 'running') { tick(); }
}());
