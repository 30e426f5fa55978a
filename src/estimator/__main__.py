"""`python -m estimator ...` runs the same CLI as the `estimator` script."""

import sys

from estimator.cli import main

sys.exit(main())
