"""Build step: the top-level recipes/ (the one source) ship inside the package as hfpipeline/recipes/, so
`hfpipeline launch R --accelerate-config ddp` and the recipe names work from a wheel. Everything else is in
pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithRecipes(build_py):
    def run(self):
        super().run()
        if not self.editable_mode:   # an editable install reads recipes/ from the checkout itself
            target = Path(self.build_lib) / "hfpipeline" / "recipes"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(Path(__file__).parent / "recipes", target, ignore=shutil.ignore_patterns("*.pyc"))


setup(cmdclass={"build_py": BuildWithRecipes})
