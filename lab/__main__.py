"""`python -m lab ...`: the Genesis lab's command line."""
import sys

from lab.cli import main

sys.exit(main())
