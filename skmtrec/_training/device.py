"""The ``device`` parameter checked before any work: a clear error, not torch's."""

from __future__ import annotations

import torch


def check_device(device: str | torch.device) -> None:
    """Raise a ValueError naming the ``device`` parameter unless ``device`` is usable here.

    Parameters
    ----------
    device : str or torch.device
        A torch device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Raises
    ------
    ValueError
        When ``device`` is not a torch device, is ``"meta"`` (which holds no data), or is a
        CUDA or MPS device this machine does not have. Other kinds of device are left for
        torch to check.
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"`device` must be a torch device such as 'cpu', 'cuda' or 'cuda:1'; got {device!r}."
        ) from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"`device`={device!r}, but no CUDA device is available here (no GPU, no driver, "
                "or a torch built without CUDA); use device='cpu'."
            )
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(
                f"`device`={device!r}, but this machine has {count} CUDA device(s), 'cuda:0' "
                f"to 'cuda:{count - 1}'."
            )
    elif parsed.type == "meta":
        raise ValueError("`device`='meta' holds no data: a model cannot train or predict there.")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"`device`={device!r}, but MPS (Apple silicon) is not available here; use device='cpu'."
        )
