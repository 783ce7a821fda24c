"""``python -m backend`` starts the server; ``python -m backend keys|users ...`` manages accounts."""

import sys

if len(sys.argv) > 1 and sys.argv[1] in ("keys", "users"):
    from .accounts_cli import main as accounts_main

    sys.exit(accounts_main(sys.argv[1:]))

from .main import main

sys.exit(main())
