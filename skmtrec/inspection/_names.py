"""Item names beside item ids, for tables that ``recommend`` and ``similar_items`` give."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

# the columns of item ids that recommend (explain=True) and similar_items give, under the
# default item column name
_ITEM_COLUMNS = ("item_id", "similar_item_id", "because")


def name_items(frame: pd.DataFrame, names, *, columns=None) -> pd.DataFrame:
    """Add the name of the item in each item-id column of ``frame``, in a column beside it.

    The model never sees the titles (a title embedded upstream reaches it as numbers), so the
    names come from you: a column ``item_id`` gets ``item_name`` after it, ``because`` gets
    ``because_name``, ``similar_item_id`` gets ``similar_item_name`` (a column ``<x>_id``
    gets ``<x>_name``, any other ``<column>_name``).

    Parameters
    ----------
    frame : DataFrame
        A table of item ids, such as ``recommend(..., explain=True)`` gives.
    names : Mapping or Series
        Each item id's name: a dict ``{id: name}`` or a Series indexed by id, such as
        ``movies.set_index("item_id")["title"]``. An id it lacks gets a missing name (NaN).
    columns : str or list of str, default=None
        The columns of item ids to name; ``None``: those of ``"item_id"``,
        ``"similar_item_id"`` and ``"because"`` that ``frame`` has (name others, such as an
        ``item_col`` of another name, here).

    Returns
    -------
    named : DataFrame
        A copy of ``frame`` with the name columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmtrec.inspection import name_items
    >>> top = pd.DataFrame({"user_id": [7, 7], "item_id": [1, 2], "because": [3, 1]})
    >>> titles = {1: "Toy Story", 2: "GoldenEye", 3: "Four Rooms"}
    >>> name_items(top, titles).columns.tolist()
    ['user_id', 'item_id', 'item_name', 'because', 'because_name']
    >>> name_items(top, titles)["because_name"].tolist()
    ['Four Rooms', 'Toy Story']
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"`frame` must be a DataFrame; got {type(frame).__name__}.")
    lookup = item_names(names)
    if columns is None:
        columns = [c for c in _ITEM_COLUMNS if c in frame.columns]
        if not columns:
            raise ValueError(
                f"`frame` has none of the columns {list(_ITEM_COLUMNS)}: name its item-id "
                f"columns with `columns`; it has {list(frame.columns)}."
            )
    columns = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"`columns` {missing} are not columns of `frame` {list(frame.columns)}.")
    named = frame.copy()
    for column in columns:
        target = name_column(column)
        values = named[column].map(lookup)
        if target in named.columns:
            named[target] = values
        else:
            named.insert(named.columns.get_loc(column) + 1, target, values)
    return named


def name_column(column) -> str:
    """The column that holds the names of the ids in ``column``."""
    column = str(column)
    return f"{column[:-3]}_name" if column.endswith("_id") else f"{column}_name"


def item_names(names) -> pd.Series:
    """``names`` (a Mapping or a Series) as a Series of names indexed by unique id."""
    if isinstance(names, Mapping):
        names = pd.Series(dict(names), dtype=object)
    if not isinstance(names, pd.Series):
        raise TypeError(
            "`names` (`item_names`) must be a dict {item id: name} or a Series of names indexed "
            f"by item id; got {type(names).__name__}."
        )
    if not names.index.is_unique:
        repeated = names.index[names.index.duplicated()].unique()[:5].tolist()
        raise ValueError(
            f"`names` (`item_names`) gives several names to the item ids {repeated}; give one "
            "name per id."
        )
    return names
