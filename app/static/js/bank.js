/*
 * Question bank pages. Plain ES2017, no build step, no inline script (the CSP forbids it).
 *
 * Editor (#editor-form): after typing stops for a moment, the YAML is POSTed to the preview URL
 * (CSRF token in the X-CSRFToken header, from <meta name="csrf-token">); the answer {html, issues}
 * replaces the preview (the student's view rendered by the server) and the list of problems, and
 * the math is typeset with window.YCMath.renderIn. A response to an older request is ignored.
 * Images chosen in the file input are uploaded at once; their references are kept in the hidden
 * image-map field, which the preview and the final save both send.
 *
 * List (#bulk-form): the header checkbox ticks every question of the page.
 */
(function () {
  'use strict';

  var DEBOUNCE_MS = 400;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  function parseMap(input) {
    try {
      var value = JSON.parse(input.value || '{}');
      return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
    } catch (err) {
      return {};
    }
  }

  function fillIssues(box, issues) {
    var body = box.querySelector('tbody');
    var caption = box.querySelector('caption');
    while (body.firstChild) {
      body.removeChild(body.firstChild);
    }
    issues.forEach(function (issue, index) {
      var row = document.createElement('tr');
      [String(index + 1), issue.location, issue.message].forEach(function (text, column) {
        var cell = document.createElement('td');
        cell.textContent = text;
        if (column === 0) { cell.className = 'num'; }
        if (column === 1) { cell.className = 'mono'; }
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    if (caption) {
      caption.textContent = (box.dataset.caption || '') + '（' + issues.length + '）';
    }
    box.hidden = issues.length === 0;
  }

  function initEditor(form) {
    var textarea = form.querySelector('#yaml-text');
    var preview = document.getElementById('preview');
    var issuesBox = document.getElementById('preview-issues');
    var state = document.getElementById('preview-state');
    var mapInput = document.getElementById('image-map');
    var fileInput = document.getElementById('image-files');
    var imageList = document.getElementById('image-list');
    var uploadStatus = document.getElementById('upload-status');
    var timer = null;
    var sequence = 0;

    var live = document.getElementById('preview-live');
    var spoken = '';
    function say(name) {
      state.textContent = state.dataset[name] || '';
      // Screen readers hear the outcome (updated, problems, unavailable) when it changes, not every refresh.
      if (live && name !== 'msgUpdating' && name !== spoken) { spoken = name; live.textContent = state.textContent; }
    }

    async function refresh() {
      sequence += 1;
      var mine = sequence;
      say('msgUpdating');
      try {
        var response = await fetch(form.dataset.previewUrl, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRFToken': csrfToken() },
          body: JSON.stringify({
            yaml: textarea.value,
            image_map: parseMap(mapInput),
            question_id: form.dataset.questionId || null,
          }),
        });
        if (mine !== sequence) { return; }
        if (!response.ok) { say('msgFailed'); return; }
        var data = await response.json();
        if (mine !== sequence) { return; }
        if (typeof data.html === 'string') {
          preview.innerHTML = data.html; // server-rendered, sanitized student view
          preview.classList.remove('stale');
          if (window.YCMath) { window.YCMath.renderIn(preview); }
        } else {
          preview.classList.add('stale');
        }
        fillIssues(issuesBox, data.issues || []);
        say(data.issues && data.issues.length ? 'msgIssues' : 'msgOk');
      } catch (err) {
        if (mine === sequence) { say('msgFailed'); }
      }
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, DEBOUNCE_MS);
    }

    async function upload() {
      var map = parseMap(mapInput);
      var files = Array.prototype.slice.call(fileInput.files || []);
      var problems = [];
      for (var i = 0; i < files.length; i += 1) {
        var body = new FormData();
        body.append('image', files[i]);
        try {
          var response = await fetch(form.dataset.uploadUrl, {
            method: 'POST', credentials: 'same-origin', headers: { 'X-CSRFToken': csrfToken() }, body: body,
          });
          var data = await response.json();
          if (!response.ok) { problems.push(data.message || files[i].name); continue; }
          map[data.ref] = data.name;
          var item = document.createElement('li');
          var code = document.createElement('code');
          code.textContent = data.markdown;
          item.appendChild(code);
          imageList.appendChild(item);
        } catch (err) {
          problems.push(files[i].name + ': ' + (uploadStatus.dataset.msgFailed || ''));
        }
      }
      mapInput.value = JSON.stringify(map);
      fileInput.value = ''; // uploaded already: not sent again with the form
      uploadStatus.textContent = problems.length ? problems.join('；') : (uploadStatus.dataset.msgOk || '');
      refresh();
    }

    textarea.addEventListener('input', schedule);
    if (fileInput) { fileInput.addEventListener('change', upload); }
  }

  function initList(form) {
    var all = form.querySelector('#select-all');
    if (!all) { return; }
    all.addEventListener('change', function () {
      form.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
    });
  }

  function init() {
    var editor = document.getElementById('editor-form');
    if (editor) { initEditor(editor); }
    var list = document.getElementById('bulk-form');
    if (list) { initList(list); }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
