"""make_interactions: synthetic interactions with a known latent structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

_TOPIC_WORDS = (
    ("space", "galaxy", "rocket", "alien", "orbit", "starship"),
    ("love", "wedding", "romance", "heart", "kiss", "letters"),
    ("murder", "detective", "crime", "alibi", "witness", "heist"),
    ("dragon", "wizard", "quest", "castle", "sword", "magic"),
    ("war", "soldier", "battle", "frontline", "general", "siege"),
    ("comedy", "prank", "laughs", "mishap", "roommates", "party"),
    ("ghost", "haunted", "curse", "nightmare", "shadow", "demon"),
    ("family", "kids", "puppy", "holiday", "grandma", "summer"),
)
_TOPIC_NAMES = ("scifi", "romance", "crime", "fantasy", "war", "comedy", "horror", "family")
_SEGMENTS = ("student", "professional", "retired", "parent")
# rows generated at once: memory holds a chunk's temporaries, not the whole draw's
_CHUNK_ROWS = 1_000_000


def make_interactions(
    n_users: int = 1000,
    n_items: int = 500,
    n_interactions: int = 50_000,
    *,
    n_topics: int = 8,
    noise: float = 0.5,
    missing_like: float = 0.3,
    missing_category: float = 0.5,
    random_state=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate interactions whose targets follow users' latent tastes for items' topics.

    Each item mixes a few of ``n_topics`` topics (a Dirichlet draw); each user has a taste per
    topic. The affinity of a pair is the user's taste weighted by the item's topics, plus user
    and item biases. The targets derive from it: ``rating`` (1..5, affinity plus Gaussian noise,
    rounded), ``like`` (1 when the rating is at least 4) and ``category`` (a topic drawn
    from the item's topic mix at each interaction, a string label: the genre a user files the
    item under, so the item's most frequent topic is the best guess, yet often wrong). Item
    text is words drawn from the item's topics, so it carries the item's topics for models that
    read text. Users and items are drawn with popularity skew; pairs may repeat. Rows are
    generated in chunks, never as a user x item matrix, so memory grows with the rows, not with
    users times items.

    Parameters
    ----------
    n_users, n_items, n_interactions : int, default=1000, 500, 50_000
        Size of the data.
    n_topics : int, default=8
        Number of latent topics, at most 8.
    noise : float, default=0.5
        Standard deviation of the rating noise.
    missing_like, missing_category : float, default=0.3, 0.5
        Share of ``like`` and ``category`` labels set to NaN (missing).
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.

    Returns
    -------
    X : DataFrame of shape (n_interactions, 5)
        ``user_id``, ``item_id`` (int), ``user_age`` (numeric), ``user_segment``
        (categorical) and ``item_text`` (str).
    y : DataFrame of shape (n_interactions, 3)
        ``rating`` (float), ``like`` (float 0/1 or NaN), ``category`` (str or None).

    Examples
    --------
    >>> from skmtrec.datasets import make_interactions
    >>> X, y = make_interactions(n_users=50, n_items=20, n_interactions=300, random_state=0)
    >>> X.shape, list(y.columns)
    ((300, 5), ['rating', 'like', 'category'])
    """
    if not 1 <= n_topics <= len(_TOPIC_WORDS):
        raise ValueError(f"n_topics must be in [1, {len(_TOPIC_WORDS)}]; got {n_topics}.")
    for name, value in (
        ("n_users", n_users),
        ("n_items", n_items),
        ("n_interactions", n_interactions),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1; got {value}.")
    rng = check_random_state(random_state)

    item_topics = rng.dirichlet(np.full(n_topics, 0.3), size=n_items)
    item_bias = rng.normal(0, 0.3, size=n_items)
    segment = rng.randint(len(_SEGMENTS), size=n_users)
    segment_taste = rng.normal(0, 1.0, size=(len(_SEGMENTS), n_topics))
    user_taste = segment_taste[segment] + rng.normal(0, 0.7, size=(n_users, n_topics))
    user_bias = rng.normal(0, 0.3, size=n_users)
    user_age = rng.randint(16, 75, size=n_users)

    users = _skewed_draw(rng, n_users, n_interactions, 0.8)
    items = _skewed_draw(rng, n_items, n_interactions, 1.0)
    affinity = np.empty(n_interactions)
    for start in range(0, n_interactions, _CHUNK_ROWS):
        u, i = users[start : start + _CHUNK_ROWS], items[start : start + _CHUNK_ROWS]
        affinity[start : start + len(u)] = (
            np.einsum("nk,nk->n", user_taste[u], item_topics[i]) * 1.5 + user_bias[u] + item_bias[i]
        )
    rating = np.clip(np.rint(3.4 + affinity + rng.normal(0, noise, n_interactions)), 1, 5)
    like = (rating >= 4).astype(float)
    like[rng.random_sample(n_interactions) < missing_like] = np.nan

    category_missing = rng.random_sample(n_interactions) < missing_category

    # text only for the items drawn: items that no row draws cost nothing
    item_text = np.empty(n_items, dtype=object)
    for i in np.unique(items):
        item_text[i] = _item_text(rng, item_topics[i])
    # drawn last, so that the other columns are those of earlier versions for a given seed
    topic_names = np.array(_TOPIC_NAMES[:n_topics], dtype=object)
    category = topic_names[_topic_draws(rng, item_topics, items)]
    category[category_missing] = None
    X = pd.DataFrame(
        {
            "user_id": users,
            "item_id": items,
            "user_age": user_age[users],
            "user_segment": pd.Categorical.from_codes(segment[users], _SEGMENTS),
            "item_text": item_text[items],
        }
    )
    y = pd.DataFrame({"rating": rating, "like": like, "category": category})
    return X, y


def _topic_draws(rng, item_topics: np.ndarray, items: np.ndarray) -> np.ndarray:
    """One topic per row, drawn from its item's topic mix, in chunks of ``_CHUNK_ROWS`` rows."""
    cumulative = item_topics.cumsum(axis=1)
    out = np.empty(len(items), dtype=np.int64)
    for start in range(0, len(items), _CHUNK_ROWS):
        chunk = cumulative[items[start : start + _CHUNK_ROWS]]
        u = rng.random_sample(len(chunk))[:, None] * chunk[:, -1:]
        out[start : start + len(chunk)] = (chunk < u).sum(axis=1)
    return np.minimum(out, item_topics.shape[1] - 1)


def _skewed_draw(rng, n: int, size: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    order = rng.permutation(n)
    return order[rng.choice(n, size=size, p=weights / weights.sum())]


def _item_text(rng, topics: np.ndarray) -> str:
    picks = rng.choice(len(topics), size=4, p=topics)
    words = [_TOPIC_WORDS[k][rng.randint(len(_TOPIC_WORDS[k]))] for k in picks]
    return f"A story of {words[0]} and {words[1]}, with {words[2]} and {words[3]}."
