"""``python -m eevflow.demo``: write the demo dataset (see ``eevflow.demo``)."""

import sys

from eevflow.demo.dataset import main

sys.exit(main())
