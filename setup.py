"""Build steps; everything else is in pyproject.toml.
- hfpipeline.pth lands in site-packages (wheel and editable installs alike): it registers the `hfpipeline` source
  codec at interpreter start, which makes recipe files runnable (`python recipes/rlhf.yaml`, `accelerate launch
  recipes/rlhf.yaml`; see hfpipeline/runnable.py).
- The top-level recipes/ (the one source) ship inside the wheel as hfpipeline/recipes/, so `hfpipeline launch R
  --accelerate-config ddp` finds its presets from a wheel install."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# One line, run by `site` in every interpreter of the environment; it imports nothing (codecs and sys are loaded at
# start anyway): hfpipeline.runnable loads only when a file names the codec, or in `accelerate launch`.
RUNNABLE = '__import__("hfpipeline.runnable").runnable'
PTH = (
    "; ".join(
        [
            "import codecs, sys",
            f'codecs.register(lambda name: {RUNNABLE}.codec_info() if name == "hfpipeline" else None)',
            # accelerate launch RECIPE: a failed recipe exits with its own status, without accelerate's traceback;
            # accelerate's block of defaults it used is not shown (-v shows it)
            f'sys.argv[1:2] == ["launch"] and sys.argv[0].endswith("accelerate") and {RUNNABLE}.accelerate_launch()',
        ]
    )
    + "\n"
)


class BuildPy(build_py):
    def run(self):
        # A wheel's root lands in site-packages. An editable wheel is assembled from install_lib, not build_lib
        # (setuptools' editable_wheel points install_lib at it), and build_py copies nothing else there.
        install = self.distribution.get_command_obj("install")
        root = (install.install_lib if self.editable_mode else None) or self.build_lib
        Path(root).mkdir(parents=True, exist_ok=True)
        Path(root, "hfpipeline.pth").write_text(PTH, encoding="utf-8")
        super().run()
        if not self.editable_mode:  # an editable install reads recipes/ from the checkout itself
            target = Path(self.build_lib) / "hfpipeline" / "recipes"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(Path(__file__).parent / "recipes", target, ignore=shutil.ignore_patterns("*.pyc"))


setup(cmdclass={"build_py": BuildPy})
