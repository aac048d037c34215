"""``python -m beholder`` — same as the ``beholder`` console script."""

from beholder.cli import main

raise SystemExit(main())
