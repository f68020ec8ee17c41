"""matplotlib for the displays, imported when a display draws (the ``plot`` extra)."""

from __future__ import annotations

import numpy as np


def pyplot(display: str):
    """``matplotlib.pyplot``, or an ImportError that names ``display`` and the extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(f"{display} needs matplotlib: pip install 'skmtrec[plot]'.") from error
    return plt


def axes_for(ax, n_axes: int, display: str, *, figsize, ncols: int | None = None) -> np.ndarray:
    """``ax`` as a flat array of its ``n_axes`` Axes, or, for ``ax=None``, those of a new
    figure (``ncols`` to a row); a wrong count is refused, naming ``ax``."""
    if ax is None:
        plt = pyplot(display)
        ncols = min(ncols or n_axes, n_axes)
        nrows = -(-n_axes // ncols)
        figure, grid = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
        axes = grid.ravel()
        for extra in axes[n_axes:]:
            figure.delaxes(extra)
        return np.asarray(axes[:n_axes], dtype=object)
    pyplot(display)
    axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
    if len(axes) != n_axes:
        raise ValueError(f"`ax` must hold {n_axes} Axes for this {display}, got {len(axes)}.")
    return axes
