/*
 * Exam authoring pages. On the form: "check availability" posts the subject and the sections' YAML
 * to /exams/availability and shows, per section and blueprint cell, how many approved questions are
 * requested and available, plus every located problem; changing the subject swaps in that subject's
 * example sections and default duration while the author has not edited them. On the details page:
 * a confirmation before publishing. Plain ES2017, no inline script (CSP), text inserted as text only.
 */
(function () {
  'use strict';

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function setupPublish() {
    var form = document.getElementById('publish-form');
    if (!form) {
      return;
    }
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }

  function setupForm() {
    var form = document.getElementById('exam-form');
    if (!form) {
      return;
    }
    var msg = form.dataset;
    var yaml = document.getElementById('sections-yaml');
    var subject = form.querySelector('select[name="subject"]');
    var duration = form.querySelector('input[name="duration_minutes"]');
    var output = document.getElementById('availability');
    var button = document.getElementById('check-availability');
    var example = { text: yaml.value, duration: duration ? duration.value : '' };

    function updateTieBreaks(names) {
      form.querySelectorAll('select.tie-break').forEach(function (select) {
        var keep = select.value;
        Array.prototype.slice.call(select.options).forEach(function (option) {
          if (option.value.indexOf('section:') === 0 && option.value !== keep) {
            option.remove();
          }
        });
        var present = {};
        Array.prototype.forEach.call(select.options, function (option) { present[option.value] = true; });
        names.forEach(function (name) {
          var value = 'section:' + name;
          if (!present[value]) {
            select.appendChild(el('option', { value: value }, '“' + name + '”'));
          }
        });
      });
    }

    function render(data) {
      output.textContent = '';
      (data.sections || []).forEach(function (section) {
        output.appendChild(el('h3', {}, section.name));
        if (section.questions && section.questions.length) {
          output.appendChild(el('p', { class: 'muted' }, msg.msgFixed + '：' + section.questions.join('、')));
        }
        if (!section.cells.length) {
          return;
        }
        var table = el('table', { class: 'table' });
        var head = el('tr');
        ['#', '', msg.msgRequested, msg.msgAvailable].forEach(function (text) { head.appendChild(el('th', { scope: 'col' }, text)); });
        table.appendChild(el('thead')).appendChild(head);
        var body = table.appendChild(el('tbody'));
        section.cells.forEach(function (cell) {
          var row = el('tr', { class: cell.ok ? 'cell' : 'cell short' });
          row.appendChild(el('td', { class: 'num' }, cell.index));
          row.appendChild(el('td', {}, cell.label));
          row.appendChild(el('td', { class: 'num' }, cell.requested === null ? '—' : cell.requested));
          row.appendChild(el('td', { class: 'num' }, cell.available === null ? '—' : cell.available));
          body.appendChild(row);
        });
        output.appendChild(table);
      });
      if (data.issues && data.issues.length) {
        output.appendChild(el('h3', {}, msg.msgProblems + '（' + data.issues.length + '）'));
        var list = el('ul', { class: 'issues' });
        data.issues.forEach(function (issue) {
          var item = el('li');
          item.appendChild(el('span', { class: 'mono' }, issue.location));
          item.appendChild(document.createTextNode('：' + issue.message));
          list.appendChild(item);
        });
        output.appendChild(list);
      } else {
        output.appendChild(el('p', { class: 'badge badge-ok' }, msg.msgOk));
      }
      updateTieBreaks(data.section_names || []);
    }

    async function check() {
      output.textContent = msg.msgChecking;
      button.disabled = true;
      try {
        var response = await fetch(msg.availabilityUrl, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRFToken': csrfToken() },
          body: JSON.stringify({ subject: subject ? subject.value : '', sections: yaml.value }),
        });
        if (!response.ok) {
          throw new Error('HTTP ' + response.status);
        }
        render(await response.json());
      } catch (err) {
        output.textContent = msg.msgFailed;
      } finally {
        button.disabled = false;
      }
    }

    async function swapExample() {
      if (!subject) {
        return;
      }
      var untouched = yaml.value.trim() === example.text.trim();
      var durationUntouched = duration && duration.value === example.duration;
      if (!untouched && !durationUntouched) {
        return;
      }
      try {
        var url = msg.exampleUrl + '?subject=' + encodeURIComponent(subject.value);
        var response = await fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } });
        if (!response.ok) {
          return;
        }
        var data = await response.json();
        if (untouched) {
          yaml.value = data.sections_yaml;
          example.text = data.sections_yaml;
        }
        if (durationUntouched) {
          duration.value = String(data.duration_minutes);
          example.duration = duration.value;
        }
        output.textContent = '';
      } catch (err) {
        // Keep what is there: the author can still type the sections.
      }
    }

    button.addEventListener('click', check);
    if (subject) {
      subject.addEventListener('change', swapExample);
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    setupForm();
    setupPublish();
  });
}());
