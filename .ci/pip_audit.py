"""Check the installed dependencies against the advisory database, or say plainly that it could not.

pip-audit fetches the advisories from the package index, so it needs the network: CI has it at
setup time, a workshop laptop does not. When no dependency could be looked up (offline, or an
index mirror without the advisory service), pip-audit itself still prints "No known
vulnerabilities found"; this script says "skipped" instead, so a check that did not happen
never reads as a pass. Found vulnerabilities fail the run. Run it with the venv's Python.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404: runs pip-audit from this venv with fixed arguments
import sys
import tempfile
from pathlib import Path

# Advisories we have looked at and accept, each with the reason (none today).
ACCEPTED: dict[str, str] = {}


def main() -> int:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        args = [str(pip_audit), "--skip-editable", "--progress-spinner", "off", "--format", "json", "--output", str(report)]
        for vuln_id in ACCEPTED:
            args += ["--ignore-vuln", vuln_id]
        run = subprocess.run(args, capture_output=True, text=True, timeout=600)  # nosec B603
        try:
            dependencies = json.loads(report.read_text(encoding="utf-8"))["dependencies"]
        except (OSError, ValueError, KeyError):
            print(f"pip-audit skipped: the advisory database could not be fetched (offline?). {run.stderr.strip()[-300:]}", file=sys.stderr)
            return 0
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        print(f"pip-audit skipped: none of the {len(dependencies)} packages could be looked up in the advisory database.", file=sys.stderr)
        return 0
    found = [(d["name"], d["version"], v["id"], v.get("fix_versions", [])) for d in audited for v in d.get("vulns", [])]
    for name, version, vuln_id, fixes in found:
        print(f"{name} {version}: {vuln_id} (fixed in {', '.join(fixes) or 'no release yet'})")
    print(f"pip-audit: {len(audited)} of {len(dependencies)} packages looked up, {len(found)} known vulnerabilities.")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
