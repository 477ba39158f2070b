"""``python -m core_models <command>``: the project's one entry point (see ``cli.py``)."""

from core_models.cli import main

raise SystemExit(main())
