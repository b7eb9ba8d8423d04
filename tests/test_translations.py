"""Every user-facing string is in both catalogs, translated, and none is stale."""
import subprocess
import sys
from pathlib import Path


def test_catalogs_are_complete_and_current():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "scripts" / "i18n.py"), "check"], capture_output=True,
                            text=True, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
