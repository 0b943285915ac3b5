"""``python -m eevflow.demo``: write the demo dataset (see ``eevflow.demo``)."""

import sys

from eevflow.demo.write import main

sys.exit(main())
