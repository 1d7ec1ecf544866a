"""A plain (non-editable) install must still find templates/, media/ and workshops/.

They stay top-level in the source tree; setup.py copies them into the built
package. Build the package the way a wheel does and start the app from it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_a_built_package_serves_its_pages_and_assets(tmp_path):
    build = tmp_path / "lib"
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)], cwd=ROOT, check=True, capture_output=True)
    assert (build / "storyteller" / "_assets" / "templates" / "base.html").is_file()
    assert (build / "storyteller" / "_assets" / "media" / "fonts" / "NotoNastaliqUrdu-Regular.ttf").is_file()
    probe = (
        "import storyteller.config as c\n"
        "from storyteller.app import create_app\n"
        "assert not c.RUNNING_FROM_SOURCE and c.PROJECT_ROOT.name == '_assets', c.PROJECT_ROOT\n"
        f"client = create_app({{'DATA_DIR': {str(tmp_path / 'data')!r}, 'TESTING': True}}).test_client()\n"
        "assert client.get('/').status_code == 200\n"
        "assert client.get('/static/app.css').status_code == 200\n"
        "print('ok')\n"
    )
    # Run outside the checkout, so nothing can be read from the source tree.
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(build), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
