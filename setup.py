"""Ship the demo route table and message catalogue inside the wheel as ``simulator/_demo``."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithDemo(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).parent
        for name in ("routes", "messages"):
            target = Path(self.build_lib) / "simulator" / "_demo" / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(root / name, target)


setup(cmdclass={"build_py": BuildWithDemo})
