"""``python -m sessionhub`` is the ``sessionhub`` command."""

from sessionhub.cli import main

raise SystemExit(main())
