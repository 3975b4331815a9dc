"""claimset: who-claimed-what-about-whom in news articles.

``claimset.load(path)`` opens a dataset folder (see :class:`claimset.dataset.Dataset`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
__all__ = ["Dataset", "__version__", "load"]

if TYPE_CHECKING:
    from claimset.dataset import Dataset, load


def __getattr__(name: str) -> Any:
    # imported on first use, so that `import claimset` (and the CLI's start-up) stays light
    if name in ("Dataset", "load"):
        from claimset import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'claimset' has no attribute {name!r}")
