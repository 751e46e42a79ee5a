"""catebench's benchmark machinery: registry, runner, store, metrics, reports and the command line."""

__all__ = ["__version__"]


def __getattr__(name: str):
    # Lazy, so that ``catebench --help`` / ``list`` do not import numpy, scikit-learn or torch.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("catebench")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
