"""``python -m catebench.benchmark.paper``: the ``catebench paper`` command."""

from .write import main

raise SystemExit(main())
