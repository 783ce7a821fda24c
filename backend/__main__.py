"""``python -m backend`` starts the server."""

import sys

from .main import main

sys.exit(main())
