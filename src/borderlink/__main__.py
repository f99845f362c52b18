"""``python -m borderlink`` is the ``borderlink`` command."""

from borderlink.cli import main

raise SystemExit(main())
