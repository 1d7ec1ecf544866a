"""Bundle the top-level templates/, media/ and workshops/ into a (non-editable) wheel.

They stay top-level in the source tree, where people look for them; an installed
copy finds them in ``storyteller/_assets/`` (see ``storyteller.config``).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ASSET_FOLDERS = ("templates", "media", "workshops")


class BuildWithAssets(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the source tree
        target = Path(self.build_lib) / "storyteller" / "_assets"
        for folder in ASSET_FOLDERS:
            if Path(folder).is_dir():
                shutil.copytree(folder, target / folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithAssets})
