/*
 * Typesets the math that app/domain/richtext.py leaves in the page: every .math-inline and
 * .math-display element holds escaped TeX source, rendered here with the vendored KaTeX (and its
 * mhchem extension, for \ce and \pu). Plain ES2017, no build step, no inline script (the CSP
 * forbids it). Include after vendor/katex/katex.min.js and vendor/katex/contrib/mhchem.min.js.
 *
 * window.YCMath.renderIn(element) typesets the math inside element (or the element itself); call it
 * after inserting question HTML into the page. Already typeset elements are skipped.
 */
(function () {
  'use strict';

  var SELECTOR = '.math-inline, .math-display';

  function renderOne(el) {
    if (el.dataset.mathRendered === '1') {
      return;
    }
    var tex = el.textContent;
    var displayMode = el.classList.contains('math-display');
    try {
      window.katex.render(tex, el, {
        displayMode: displayMode,
        throwOnError: false, // a TeX error shows the source in red instead of breaking the page
        trust: false, // no \href, \url, \includegraphics, \htmlClass ... from question text
        strict: 'ignore',
      });
      el.dataset.mathRendered = '1';
      el.setAttribute('data-tex', tex); // keeps the source for copy and for assistive tools
    } catch (err) {
      // Only reached for errors other than ParseError; leave the TeX source visible.
      el.classList.add('math-error');
    }
  }

  function renderIn(root) {
    if (!root || !window.katex) {
      return;
    }
    if (root.matches && root.matches(SELECTOR)) {
      renderOne(root);
    }
    var nodes = root.querySelectorAll ? root.querySelectorAll(SELECTOR) : [];
    for (var i = 0; i < nodes.length; i += 1) {
      renderOne(nodes[i]);
    }
  }

  window.YCMath = { renderIn: renderIn };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () {
      renderIn(document.body);
    });
  } else {
    renderIn(document.body);
  }
})();
