"""`python -m hfpipeline` (also what `accelerate launch -m hfpipeline` runs)."""

import sys

from hfpipeline.cli import main

sys.exit(main())
