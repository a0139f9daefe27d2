"""``python -m diffkit``."""

from diffkit.cli import main

raise SystemExit(main())
