"""axe-core in the browser tests: the vendored script, the rules we hold pages to, and a readable report.

axe.min.js is vendored under tests/browser/vendor/axe-core/ (scripts/vendor_axe.sh re-vendors it from npm).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
VERSION = (AXE.parent / "VERSION").read_text().strip()
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")


def audit_context(browser, **options):
    """A browser context in which axe can be injected.

    Playwright's add_script_tag(path=...) inlines the file as an inline <script>, which our CSP
    (script-src 'self', no 'unsafe-inline') rightly refuses. So the audit's contexts bypass the CSP:
    the audit needs to inject a script; the pages' own CSP is exercised by every other browser test
    (which fail on any blocked script) and its header by tests/web.
    """
    return browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", bypass_csp=True, **options)


def run_axe(page) -> list[dict[str, Any]]:
    """axe-core over the whole document with the WCAG 2.0/2.1 A and AA rules; the violations with their nodes."""
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate("""async (tags) => {
        const result = await window.axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                       resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), impact: n.impact,
                                      summary: (n.failureSummary || '').split('\\n').slice(0, 3).join(' / '),
                                      html: n.html.slice(0, 160)}))}));
    }""", TAGS)


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The serious and critical ones."""
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(findings: list[tuple[str, dict[str, Any]]], max_nodes: int = 8) -> str:
    """One readable block per (page, violation): rule, impact, help, then each target with axe's summary."""
    lines = []
    for where, v in findings:
        lines.append(f"[{v['impact']}] {v['id']} on {where}: {v['help']} ({v['url']})")
        for node in v["nodes"][:max_nodes]:
            lines.append(f"      {node['target']}  {node['html']}")
            lines.append(f"        → {node['summary']}")
        if len(v["nodes"]) > max_nodes:
            lines.append(f"      … and {len(v['nodes']) - max_nodes} more")
    return "\n".join(lines)
