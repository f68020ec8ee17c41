"""The estimator's saving methods: the safe model folder, ONNX export.

``__safe_state__`` and ``__from_safe_state__`` are what ``skmtrec.save`` and ``skmtrec.load``
call; the fitted state itself is the fitted model's (``FittedModel.state``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.torch import save_file as save_tensors
from sklearn.utils.validation import check_is_fitted

from .._config import settings, upgrade_params
from .._prepare.targets import check_tasks
from .._serving.fitted import FittedModel
from .fitted_state import FITTED_KEYS
from .save_load import save, usable_device
from .state_checks import expect_array, expect_int, expect_keys
from .trusted import check_load_rules


class PersistenceMethods:
    """Saving, loading and exporting a ``MultiTaskRecommender``, as methods of the estimator."""

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Save the model to the folder ``path`` without pickle: JSON, NumPy arrays and
        safetensors weights, loaded back by :func:`skmtrec.load`.

        ``estimator.json`` holds the parameters, ``network_spec_``, the task encodings, the id
        and category vocabularies, a format version and the size and digest of every other
        file; ``arrays.npz`` the catalog, the histories and other arrays;
        ``weights.safetensors`` the network's weights and ``history.json`` its training
        history. The folder is written beside ``path`` and swapped in at once, so an
        interrupted save leaves an earlier model there as it was.

        Parameters
        ----------
        path : str or path-like
            A folder: new, empty, or holding a model an earlier save wrote (it is replaced).

        Returns
        -------
        path : Path
            The folder.

        Raises
        ------
        TypeError
            When ``callbacks`` holds callbacks: they are code, which a safe file cannot hold.
            Save with ``callbacks=None`` and set them again after loading.

        Examples
        --------
        >>> import tempfile, skmtrec
        >>> from skmtrec import MultiTaskRecommender
        >>> from skmtrec.datasets import make_interactions
        >>> X, y = make_interactions(n_users=30, n_items=20, n_interactions=300, random_state=0)
        >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
        >>> folder = model.fit(X, y[["rating"]]).save(tempfile.mkdtemp())
        >>> len(skmtrec.load(folder).recommend(X[["user_id"]].head(1), k=3))
        3
        """
        return save(self, path)

    def export_onnx(self, path) -> Path:
        """Export the network's scoring path as ONNX, for serving outside Python.

        The graph's inputs are integer-coded rows: ``numeric`` (float32, each column
        standardized with its fit mean and scale), ``categorical`` (int64 codes) and ``user``
        and ``item`` (int64 codes), each with the batch as first dimension. A code is the
        position of the value in its vocabulary plus 1, and 0 for a value not seen in fit.
        The outputs, one per task named as the task, are what ``predict`` (regression) and
        ``predict_proba`` give: a value in y units, the probability of ``classes_[task][1]``
        (binary, implicit), the probabilities of ``classes_[task]`` (multiclass, multilabel).
        Histories are pooled once, at export: the graph serves the histories kept in fit,
        not one given at predict time.

        Beside the graph, ``<path>.json`` (same name, ``.json``) holds the vocabularies, the
        numeric columns' means and scales, and the tasks' kinds and classes, as plain JSON:
        what a serving process in any language needs to code a row. ``onnx_inputs`` codes a
        DataFrame the same way.

        Parameters
        ----------
        path : str or path-like
            The ``.onnx`` file to write.

        Returns
        -------
        path : Path

        Examples
        --------
        >>> import tempfile, onnxruntime
        >>> from skmtrec import MultiTaskRecommender
        >>> from skmtrec.datasets import make_interactions
        >>> X, y = make_interactions(n_users=30, n_items=20, n_interactions=300, random_state=0)
        >>> X = X.drop(columns="item_text")
        >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
        >>> path = model.fit(X, y[["rating"]]).export_onnx(tempfile.mkdtemp() + "/model.onnx")
        >>> session = onnxruntime.InferenceSession(path)
        >>> (rating,) = session.run(None, model.onnx_inputs(X.head(3)))
        >>> bool(abs(rating - model.predict(X.head(3))).max() < 1e-4)
        True
        """
        check_is_fitted(self)
        return self.model_.export_onnx(path)

    def onnx_inputs(self, X) -> dict[str, np.ndarray]:
        """The rows of ``X`` coded as the inputs of the graph ``export_onnx`` writes.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions with the columns of fit.

        Returns
        -------
        inputs : dict of {str: ndarray}
            ``numeric``, ``categorical`` and, where the model has them, ``user`` and ``item``.
        """
        frame, _ = self._rows(X)
        return self.model_.onnx_inputs(frame)

    def __safe_state__(self, folder) -> dict:
        """The model as parameters, plain values and arrays, its weights written to side
        files of ``folder`` (see ``skmtrec.save``)."""
        if self.callbacks:
            raise TypeError(
                "The parameter `callbacks` holds callbacks, which skmtrec cannot save safely "
                "(they are code). Save with model.set_params(callbacks=None) and set them "
                "again after loading."
            )
        state = {"params": self.get_params(deep=False)}
        if not hasattr(self, "model_"):
            return state
        weights, history = folder.new_file("weights.safetensors"), folder.new_file("history.json")
        self.net_.save_params(f_params=weights, f_history=history, use_safetensors=True)
        task_members = None
        if self.model_.other_members:  # per-task stopping: a weights file per other network
            files = []
            for member in self.model_.other_members:
                path = folder.new_file("weights.safetensors")
                save_tensors({k: v.contiguous() for k, v in member.state_dict().items()}, path)
                files.append(path.name)
            task_members = {"task_member": self.model_.task_member, "weights": files}
        state["fitted"] = {
            "n_features_in_": self.n_features_in_,
            "feature_names_in_": getattr(self, "feature_names_in_", None),
            **self.model_.state(),
            "weights": weights.name,
            "history": history.name,
            "task_members": task_members,
        }
        return state

    @classmethod
    def __from_safe_state__(cls, state: dict, folder, device: str | None = None):
        """The model of ``__safe_state__``, its network on ``device`` (see ``skmtrec.load``).
        Every part is checked before it is used: a ValueError names the field or file."""
        state = expect_keys(
            state, ("params", "fitted") if "fitted" in state else ("params",), "state"
        )
        params = expect_keys(upgrade_params(state["params"]), cls._get_param_names(), "params")
        model = cls(**params)
        model._validate_params()
        check_load_rules(params)
        if model.callbacks is not None:
            raise ValueError("params.callbacks must be None in a saved model (callbacks are code)")
        model.set_params(device=usable_device(model.device, device))
        if "fitted" not in state:
            return model
        fitted = state["fitted"]
        if isinstance(fitted, dict):
            # saved before the graph filter and per-task stopping: none
            fitted = {"graph": None, "task_members": None, **fitted}
        fitted = expect_keys(fitted, FITTED_KEYS, "fitted")
        declared = check_tasks(model.tasks)
        fitted_model = FittedModel.from_state(settings(model), fitted, folder)
        kinds = {task.name: task.kind for task in fitted_model.tasks}
        if declared is not None and declared != kinds:
            raise ValueError(f"params.tasks {declared} are not the fitted tasks {kinds}")
        model._set_fitted(fitted_model)
        model.n_features_in_ = expect_int(fitted["n_features_in_"], "fitted.n_features_in_")
        if fitted["feature_names_in_"] is not None:
            names = expect_array(
                fitted["feature_names_in_"], "fitted.feature_names_in_", kinds="O", ndim=1
            )
            if len(names) != model.n_features_in_:
                raise ValueError("fitted.feature_names_in_ has one name per feature")
            model.feature_names_in_ = names
        return model
