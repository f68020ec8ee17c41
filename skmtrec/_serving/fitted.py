"""The fitted model: everything a fitted ``MultiTaskRecommender`` knows and does.

``FittedModel`` holds the trained skorch net, the network spec, the fitted tasks, the feature
encoder, the catalog and the cold-item blend. It predicts, ranks, explains, exports and
gives its state for saving, so that every public method of the estimator is a thin call into
it and all of them share one definition of a prediction (``outputs``).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch

from .._persistence.fitted_state import (
    check_parts,
    check_spec,
    load_history,
    read_members,
    read_weights,
)
from .._prepare.catalog import Catalog
from .._prepare.features import FeatureEncoder
from .._prepare.given_history import split_history
from .._prepare.targets import make_task
from .._tasks import TASK_KINDS
from .._training.build import build_net, cuda_devices
from .._training.graph_filter import RetrievalGraph
from .._training.task_stopping import network_with
from .cold_items import ColdItemBlend
from .explain import (
    ablated_inputs,
    explained_value,
    feature_groups,
    record_explained,
    supporting_members,
)
from .graph_blend import GraphBlend
from .member_blend import MemberBlend
from .onnx import encoding_spec, export_onnx
from .ranking import (
    check_k,
    long_frame,
    ranked_arrays,
    ranking_weights,
    side_vectors,
    top_k,
)
from .retrieval import retrieval_position, retrieval_scorer, retrieve, retrieve_and_rerank
from .rows import predict_rows
from .unseen import warn_short_lists


class FittedModel:
    """A fitted multi-task recommender, ready to serve.

    Parameters
    ----------
    net : MultiTaskNet
        The trained skorch net; ``net.module_`` is the torch network.
    spec : dict
        The network spec (``network_spec_``).
    tasks : list of Task
        The fitted tasks, in output order.
    encoder : FeatureEncoder
        Codes ids and features as in fit.
    catalog : Catalog or None
        Each user's and item's features and the pairs seen in fit (None without both ids).
    cold_items : ColdItemBlend
        The blend of a content model into new items' predictions.
    history_col : str
        The column of X that gives a user's history at predict time.
    graph : RetrievalGraph or None, default=None
        The graph filter that joins the retrieval task's score in ``recommend``, and its weight.
    members : (list of MultiTaskNetwork, list of int) or None, default=None
        With per-task stopping, the networks kept at the tasks' best epochs (the first is
        ``net.module_``) and the index of each task's; None: ``net.module_`` serves every
        task.
    """

    def __init__(
        self, net, spec, tasks, encoder, catalog, cold_items: ColdItemBlend, history_col,
        graph: RetrievalGraph | None = None, members=None,
    ):  # fmt: skip
        self.net = net
        self.spec = spec
        self.tasks = list(tasks)
        self.encoder = encoder
        self.catalog = catalog
        self.cold_items = cold_items
        self.history_col = history_col
        self.graph = graph
        networks, self.task_member = members or ([net.module_], [0] * len(self.tasks))
        self.other_members = list(networks[1:])

    @property
    def members(self) -> list:
        """The networks that serve the tasks: ``net.module_`` (outside ``running``), then
        those kept at other tasks' best epochs (with per-task stopping)."""
        return [self.__dict__.get("_primary", self.net.module_), *self.other_members]

    @property
    def module(self):
        """The torch network (within ``running``, the one it runs)."""
        running = self.__dict__.get("_running")
        return self.net.module_ if running is None else running

    def network_for(self, positions):
        """What serves the tasks at ``positions`` (``net.module_`` where none is given): their
        network, or a ``MemberBlend`` of the networks kept at their different best epochs."""
        chosen = {self.task_member[j] for j in positions} or {0}
        if len(chosen) > 1:
            return MemberBlend(self.members, self.task_member, positions)
        return self.members[chosen.pop()]

    @contextmanager
    def running(self, module):
        """A context in which ``module`` (a member, which the net then runs, or a
        ``MemberBlend``) is the model's ``module``. With several networks, one thread at a
        time: the net's ``module_`` is swapped."""
        if not self.other_members:  # one network: nothing to swap
            yield module
            return
        lock = self.__dict__.setdefault("_lock", threading.RLock())
        with lock:
            outermost = "_primary" not in self.__dict__
            if outermost:
                self._primary = self.net.module_
            kept, kept_running = self.net.module_, self.__dict__.get("_running")
            if isinstance(module, torch.nn.Module):
                self.net.module_ = module
            self._running = module
            try:
                yield module
            finally:
                self.net.module_, self._running = kept, kept_running
                if outermost:
                    del self._primary

    def _retrieval_member(self):
        """The network of the retrieval task (``net.module_`` where there is none)."""
        position = retrieval_position(self.members[0], {})
        return self.network_for([] if position is None else [position])

    @property
    def task_names(self) -> list[str]:
        return [task.name for task in self.tasks]

    def task(self, name: str):
        """The fitted task ``name``."""
        return self.tasks[self.task_names.index(name)]

    # -- rows ----------------------------------------------------------------------------------

    def split_given(self, X):
        """X without the history column, and the histories it gives (None: none)."""
        inputs = self.spec["inputs"]
        serves = inputs["history_values"] is not None and "user" in inputs["history_sides"]
        if not (serves and isinstance(X, pd.DataFrame)):
            return X, None
        return split_history(X, self.history_col, self.encoder.item_codes)

    @contextmanager
    def serving(self, inputs: dict, given):
        """``inputs`` as the network reads them while the ``given`` histories are served: a
        row that gives one reads it under its own code (``history_user``)."""
        if given is None:
            yield inputs
            return
        with self.module.extended_history(given.items) as first:
            yield {**inputs, "history_user": given.owners(inputs["user"], first)}

    def outputs(self, frame: pd.DataFrame, given=None) -> tuple[dict, dict[str, np.ndarray]]:
        """The coded rows of ``frame`` and each task's raw output for them: the network's,
        blended with the cold-item model where the item is new. This is the model's
        prediction, which ``predict``, ``predict_proba`` and ``explain`` read."""
        coded, raw = self.network_outputs(frame, given)
        return coded, self.cold_items.rows(raw, coded)

    def network_outputs(self, frame: pd.DataFrame, given=None) -> tuple[dict, dict]:
        """The coded rows of ``frame`` and each task's raw output of the network alone (each
        task's member's, with per-task stopping)."""
        # rows scored from their distinct users' and items' vectors; the batched forward where
        # a side is missing or autocast runs (the factored layers would mix precisions)
        by_rows = self.module.has_both_sides and self.net.autocast is None
        coded = self.encoder.transform(frame, row_major=not by_rows)
        raw = {}
        for index, member in enumerate(self.members):
            with self.running(member), self.serving(coded, given) as inputs:
                with member.pooled_histories():
                    if by_rows:
                        outputs = predict_rows(member, inputs, self.net.device)
                    else:
                        outputs = [out.numpy() for out in self.net.forward(inputs)]
            for j, task in enumerate(self.tasks):
                if self.task_member[j] == index:
                    raw[task.name] = outputs[j]
        return coded, {name: raw[name] for name in self.task_names}

    def predict_tasks(self, frame: pd.DataFrame, given=None, index=None) -> pd.DataFrame:
        """Each task's prediction, decoded: values and class labels."""
        _, outputs = self.outputs(frame, given)
        return pd.DataFrame({t.name: t.decode(outputs[t.name]) for t in self.tasks}, index=index)

    def predict_proba(self, frame: pd.DataFrame, given, names: list[str]) -> dict:
        """{task: class probabilities} of the classification tasks ``names``."""
        _, outputs = self.outputs(frame, given)
        return {name: self.task(name).proba(outputs[name]) for name in names}

    def explain(self, frame: pd.DataFrame, given, task: str, index=None) -> pd.DataFrame:
        """Each input group's contribution to ``task``'s prediction: the prediction minus the
        prediction with the group ablated (see ``MultiTaskRecommender.explain``)."""
        explained = self.task(task)
        encoder = self.encoder
        groups = feature_groups(encoder.numeric_labels, encoder.categorical_labels)
        id_names = {"user": str(encoder.user_label), "item": str(encoder.item_label)}
        history_sides = self.spec["inputs"]["history_sides"]
        coded = encoder.transform(frame)
        member = self.network_for([self.task_names.index(task)])
        with self.running(member), self.serving(coded, given) as inputs, member.pooled_histories():
            full = self._network_outputs(inputs)[task]
            classes = None
            if explained.is_classifier and explained.kind not in ("binary", "implicit"):
                classes = explained.proba(full).argmax(axis=1)
            value = explained_value(explained, full, classes)
            record_explained(value)
            ablated = ablated_inputs(inputs, id_names, history_sides, groups)
            contributions = {
                name: value - explained_value(explained, self._network_outputs(rows)[task], classes)
                for name, rows in ablated.items()
            }
        return pd.DataFrame(contributions, index=index)

    def _network_outputs(self, inputs: dict) -> dict[str, np.ndarray]:
        """Each task's raw output for encoded ``inputs`` (histories served), blended for new
        items as ``outputs`` does."""
        raw = [out.numpy() for out in self.net.forward(inputs)]
        return self.cold_items.rows(dict(zip(self.task_names, raw, strict=True)), inputs)

    # -- users and items -----------------------------------------------------------------------

    def entities(self, role: str, given) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Ids and encoded inputs of users or items: ids (side features from the catalog; new
        ids get the population's) or a DataFrame with the id column and side features."""
        encoder, catalog = self.encoder, self.catalog
        label = encoder.user_label if role == "user" else encoder.item_label
        codebook = encoder.user_codes if role == "user" else encoder.item_codes
        if isinstance(given, pd.DataFrame):
            if label not in given:
                raise ValueError(f"The {role} table has no {role} id column {label!r}.")
            ids = given[label].to_numpy()
            inputs = encoder.transform_features(encoder.complete(given))
        else:
            ids = np.atleast_1d(np.asarray(given))
            codes = codebook.transform(pd.Series(ids))
            inputs = catalog.features(role, codes)
        if len(ids) == 0:
            raise ValueError(f"The {role} table is empty: give at least one {role}.")
        missing = pd.isna(ids)
        if missing.any():
            raise ValueError(
                f"The {role} ids include a missing value ({ids[missing.argmax()]} at position "
                f"{int(missing.argmax())}); every {role} needs an id."
            )
        inputs[role] = codebook.transform(pd.Series(ids)).astype(np.int64)
        return ids, inputs

    def seen_items(self, user_id) -> np.ndarray:
        """The ids of the items ``user_id`` had in fit (none for a user new to fit)."""
        code = int(self.encoder.user_codes.transform(pd.Series([user_id]))[0])
        items = self.catalog.seen[code].indices if code > 0 else np.array([], dtype=np.int64)
        return self.encoder.item_codes.values.take(items[items > 0] - 1).to_numpy()

    def catalog_items(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The ids and encoded inputs of every item of the catalog."""
        ids = self.encoder.item_codes.values.to_numpy()
        codes = np.arange(1, len(ids) + 1)
        return ids, {"item": codes, **self.catalog.features("item", codes)}

    def vectors(self, role: str, inputs: dict) -> torch.Tensor:
        """The learned vectors of encoded users or items (``entities``): the retrieval task's
        network's, with per-task stopping."""
        module = self._retrieval_member()
        module.eval()
        return side_vectors(module, role, inputs, self.net.device)

    # -- ranking -------------------------------------------------------------------------------

    def recommend(
        self, users, k, *, exclude_seen, task, items, explain, candidates, as_arrays=False
    ) -> pd.DataFrame | tuple[np.ndarray, np.ndarray]:
        """Top-k items per user (see ``MultiTaskRecommender.recommend``)."""
        k = check_k(k)
        candidates = check_k(candidates, "candidates")
        weights = ranking_weights(self.tasks, task)
        # a task weighing 0 adds nothing, and asks for no network of its own
        weights = {j: w for j, w in weights.items() if w > 0} or weights
        # candidates come from the retrieval task's own network: where it is not the ranked
        # tasks', the blend of both has no retrieval, and every item is scored
        retrieval = retrieval_position(self.members[0], weights)
        serving = self.network_for([*weights] + ([] if retrieval is None else [retrieval]))
        with self.running(serving):
            return self._recommend(
                users, k, exclude_seen, weights, items, explain, candidates, as_arrays
            )

    def _recommend(self, users, k, exclude_seen, weights, items, explain, candidates, as_arrays):
        module, device, catalog = self.module, self.net.device, self.catalog
        module.eval()
        users, given = self.split_given(users)
        user_ids, user_inputs = self.entities("user", users)
        if items is None:
            item_ids, item_inputs = self.catalog_items()
        else:
            item_ids, item_inputs = self.entities("item", items)
        seen = catalog.seen[user_inputs["user"]]
        if given is not None:
            seen = seen + given.seen(len(user_ids), catalog.n_items)
        seen = seen[:, item_inputs["item"]]

        def exclude(rows: slice):
            return seen[rows].toarray() if exclude_seen else None

        if explain and "user" not in self.spec["inputs"]["history_sides"]:
            raise ValueError(
                "recommend(explain=True) names the history item behind each recommendation, "
                "so it needs the users' histories: fit with user_history=True."
            )
        width = (user_inputs["numeric"].shape[1], user_inputs["categorical"].shape[1])
        item_vectors = side_vectors(module, "item", item_inputs, device)
        blend = self.cold_items.pairs(self.tasks, user_inputs["user"], item_inputs)
        graph = self._graph_blend(
            weights, user_inputs["user"], given, item_inputs["item"], item_vectors, items is None
        )
        with self.serving(user_inputs, given) as inputs:
            user_vectors = side_vectors(module, "user", inputs, device)
            positions, scores = self._rank(
                weights, user_vectors, item_vectors, k, exclude, width, blend, candidates, graph
            )
            if explain:
                because = supporting_members(
                    module, self.tasks, weights, inputs, positions, item_vectors, width, device,
                    exclude,
                )  # fmt: skip
        warn_short_lists(scores, k, len(item_ids))
        if as_arrays:
            return ranked_arrays(item_ids, positions, scores, k)
        encoder = self.encoder
        frame = long_frame(
            user_ids, item_ids, positions, scores, encoder.user_label, encoder.item_label
        )
        if explain:
            catalog_ids = encoder.item_codes.values
            named = pd.Series(
                catalog_ids.take(np.maximum(because.reshape(-1) - 1, 0)), dtype=object
            )
            named[because.reshape(-1) < 1] = None
            allowed = scores.reshape(-1) > -np.inf
            frame["because"] = named[allowed].to_numpy()
        return frame

    def retrieval_vectors(self, role: str, inputs: dict) -> torch.Tensor:
        """The vectors that similarity reads: with a retrieval task (dot-scored), the users'
        or items' retrieval vectors (what its scores are products of); else the side vectors
        (``vectors``)."""
        vectors = self.vectors(role, inputs)
        position = retrieval_position(self.module, {})
        if position is None:
            return vectors
        scorer = retrieval_scorer(self.network_for([position]), position)
        with torch.no_grad():
            return scorer.user_vectors(vectors) if role == "user" else scorer.item_vectors(vectors)

    def learned_vectors(self, role: str) -> np.ndarray:
        """``retrieval_vectors`` of every user (item) seen in fit, in the order of ``known``:
        computed on the first call and kept (read-only), since a fitted network does not
        change and scikit-learn's HTML repr reads every fitted attribute."""
        kept = self.__dict__.setdefault("_learned_vectors", {})
        if role not in kept:
            _, inputs = self.known(role)
            vectors = self.retrieval_vectors(role, inputs).float().cpu().numpy()
            vectors.flags.writeable = False
            kept[role] = vectors
        return kept[role]

    def __getstate__(self) -> dict:
        # the kept vectors are recomputed rather than pickled, the lock made anew; the other
        # networks travel as weights on the CPU (as skorch moves the net's own), rebuilt on
        # the net's device when loaded
        state = {
            key: value
            for key, value in self.__dict__.items()
            if key not in ("_learned_vectors", "_lock", "other_members")
        }
        state["other_member_weights"] = [
            {key: value.cpu() for key, value in member.state_dict().items()}
            for member in self.other_members
        ]
        return state

    def __setstate__(self, state: dict) -> None:
        # a model pickled before per-task stopping has one network for every task
        state = {"other_member_weights": [], "task_member": [0] * len(state["tasks"]), **state}
        weights = state.pop("other_member_weights")
        self.__dict__.update(state)
        self.other_members = [network_with(self.net.module_, w) for w in weights]

    def known(self, role: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The ids and encoded inputs of every user (item) seen in fit."""
        if role == "item":
            return self.catalog_items()
        ids = self.encoder.user_codes.values.to_numpy()
        codes = np.arange(1, len(ids) + 1)
        return ids, {"user": codes, **self.catalog.features("user", codes)}

    def _graph_blend(
        self, weights, user_codes, given, item_codes, item_vectors, ranks_catalog: bool
    ) -> GraphBlend | None:
        """The graph filter's part of the retrieval score for these users and items, where the
        model has one (``RetrievalGraph``) for the task that retrieves and a weight above 0;
        ``ranks_catalog``: whether ``item_vectors`` are the fit catalog's, in code order."""
        graph, module = self.graph, self.module
        position = retrieval_position(module, weights)
        if graph is None or not graph.weight or position is None:
            return None
        if self.tasks[position].name != graph.task:
            return None
        rows = graph.filter.user_rows(user_codes)
        if given is not None:
            rows = rows + given.seen(len(user_codes), graph.filter.n_items)
        rows.data[:] = 1.0
        if not ranks_catalog:
            item_vectors = side_vectors(module, "item", self.catalog_items()[1], self.net.device)
        scorer = retrieval_scorer(module, position)
        return GraphBlend.build(graph.filter, graph.weight, scorer, item_vectors, rows, item_codes)

    def _rank(
        self, weights, user_vectors, item_vectors, k, exclude, width, blend, candidates, graph=None
    ):
        """Top-k item positions and scores per user: by the retrieval task alone, its exact top
        k; by another score, the head over the retrieval's ``candidates`` per user; every pair
        through the head without a retrieval task, for new candidate items (``blend``) and
        where the candidates would cover the catalog. ``graph``: the graph filter's part of
        the retrieval score (``_graph_blend``)."""
        module, device = self.module, self.net.device
        retrieval = retrieval_position(module, weights)
        alone = retrieval is not None and list(weights) == [retrieval]
        if (
            retrieval is None
            or blend is not None
            or (not alone and max(candidates, k) >= len(item_vectors))
        ):
            return top_k(
                module, self.tasks, weights, user_vectors, item_vectors, k, exclude, width,
                device, blend,
            )  # fmt: skip
        scorer = retrieval_scorer(module, retrieval)
        if alone:  # the task's rank score (or the blend with the graph filter's)
            positions, scores = retrieve(scorer, user_vectors, item_vectors, k, exclude, graph)
            if graph is not None:
                return positions, scores
            ranked = self.tasks[retrieval].rank_score(torch.as_tensor(scores)).numpy()
            return positions, np.where(scores == -np.inf, -np.inf, ranked)  # excluded: -inf
        # never fewer candidates than the k asked for
        return retrieve_and_rerank(
            module, self.tasks, weights, scorer, user_vectors, item_vectors,
            max(candidates, k), k, exclude, width, device, graph,
        )  # fmt: skip

    def similar(self, role: str, queries, k) -> pd.DataFrame:
        """The k users (items) seen in fit closest to each of ``queries`` in cosine similarity
        of their retrieval vectors (see ``MultiTaskRecommender.similar_items``)."""
        k = check_k(k)
        device = self.net.device
        known_ids, known_inputs = self.known(role)
        known_vectors = self.retrieval_vectors(role, known_inputs)
        query_ids, query_inputs = self.entities(role, queries)
        query_vectors = self.retrieval_vectors(role, query_inputs)
        with torch.no_grad():
            a = torch.nn.functional.normalize(query_vectors, dim=1)
            b = torch.nn.functional.normalize(known_vectors, dim=1)
            similarity = a @ b.T
            itself = torch.as_tensor(query_inputs[role], device=device)
            rows = torch.nonzero(itself > 0).squeeze(1)
            similarity[rows, itself[rows] - 1] = -torch.inf
            values, positions = torch.topk(similarity, min(k, len(known_ids)), dim=1)
        label = self.encoder.item_label if role == "item" else self.encoder.user_label
        frame = long_frame(
            query_ids,
            known_ids,
            positions.cpu().numpy(),
            values.cpu().numpy(),
            label,
            f"similar_{label}",
        )
        return frame.rename(columns={"score": "similarity"})

    # -- export and state ----------------------------------------------------------------------

    def export_onnx(self, path):
        """Write the scoring graph (network and cold-item blend) and its encoding."""
        encoding = encoding_spec(self.encoder, self.tasks)
        members = (self.members, self.task_member)
        return export_onnx(members, self.spec, self.tasks, encoding, self.cold_items, path)

    def onnx_inputs(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The rows of ``frame`` coded as the ONNX graph's inputs."""
        inputs = self.encoder.transform(frame)
        inputs["numeric"] = inputs["numeric"].astype(np.float32)
        return inputs

    def state(self) -> dict:
        """The fitted state as plain values and arrays (the weights and training history are
        written apart, by the caller)."""
        return {
            "network_spec_": self.spec,
            "tasks": [[task.name, task.kind] for task in self.tasks],
            "task_states": [task.state() for task in self.tasks],
            "encoder": self.encoder.state(),
            "catalog": None if self.catalog is None else self.catalog.state(),
            "histories": self.module.history_arrays(),
            "cold_ridges": self.cold_items.state(),
            "graph": None if self.graph is None else self.graph.state(),
        }

    @classmethod
    def from_state(cls, params: dict, fitted: dict, folder) -> FittedModel:
        """The model of ``state()`` and the side files of ``folder``, its net built from the
        estimator's ``params``. Every part is checked before it is used: a ValueError names
        the field or file."""
        spec = check_spec(fitted["network_spec_"])
        if not isinstance(fitted["tasks"], list) or not isinstance(fitted["task_states"], list):
            raise ValueError("fitted.tasks and fitted.task_states must be lists")
        kinds = dict(fitted["tasks"])
        if any(kind not in TASK_KINDS for kind in kinds.values()):
            raise ValueError(f"fitted.tasks has a kind outside {sorted(TASK_KINDS)}: {kinds}")
        # an implicit task's loss as fit chose it (``"auto"`` included): dot-scored, the softmax
        softmax = {task.get("name") for task in spec["tasks"] if task.get("scorer") == "dot"}
        tasks = [
            make_task(
                name, kind, {**params, "ranking_loss": "softmax" if name in softmax else "bce"}
            ).set_state(task_state)
            for (name, kind), task_state in zip(fitted["tasks"], fitted["task_states"], strict=True)
        ]
        encoder = FeatureEncoder.from_state(fitted["encoder"])
        catalog = None if fitted["catalog"] is None else Catalog.from_state(fitted["catalog"])
        histories = fitted["histories"]
        if not isinstance(histories, dict):
            raise ValueError("fitted.histories must be a mapping")
        cold_items = ColdItemBlend.from_state(fitted["cold_ridges"], params["cold_item_ridge"])
        graph = fitted["graph"]
        if graph is not None:
            graph = RetrievalGraph.from_state(graph)
            sizes = spec["inputs"]["n_users"] + 1, spec["inputs"]["n_items"] + 1
            if graph.filter.matrix.shape != sizes:
                raise ValueError(f"graph.shape must be {list(sizes)}, the users and items of fit")
            if graph.task not in softmax:
                raise ValueError(f"graph.task {graph.task!r} is not a retrieval task of the model")
        check_parts(spec, tasks, encoder, catalog, histories, cold_items.ridges)
        weights = fitted["weights"]
        tensors = read_weights(spec, folder.read(weights, "fitted.weights"), folder.path / weights)
        # data buffers of the network (item weights, projections) come with its weights
        empty = {"item_table": None, "content_projections": None}
        net = build_net(
            params, spec, tasks, catalog, empty,
            split=None, histories=histories or None, verbose=params["verbose"],
        )  # fmt: skip
        with torch.random.fork_rng(devices=cuda_devices(net.device)):
            net.initialize()  # draws initial weights, which the saved ones replace
        net.module_.load_state_dict(tensors)
        members = None
        if fitted["task_members"] is not None:
            members = read_members(fitted["task_members"], spec, len(tasks), net.module_, folder)
        history = fitted["history"]
        net.history = load_history(folder.read(history, "fitted.history"), folder.path / history)
        return cls(
            net, spec, tasks, encoder, catalog, cold_items, params["history_col"], graph, members
        )
