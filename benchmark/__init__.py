"""catebench's benchmark machinery: registry, runner, store, metrics, reports and the command line."""

__all__ = ["__version__"]

from .tasks import catebench_version as _v

__version__ = _v()
