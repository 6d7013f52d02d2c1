"""The workflow's labelling and training settings, checked before anything runs.

``config/config.yaml`` passes ``label.parameters`` to ``climseg label --config`` and ``train.parameters`` to
``climseg train --config``. The schema only knows their shape; without this check a mistyped key
(``percentle: 90``) would pass, and fail inside a job after hours in a cluster's queue, or worse, a
setting the rule sets by a flag (``train.parameters.epochs`` beside ``train.epochs``) would be silently
overridden. :func:`check_workflow_settings` checks them against the very dataclasses the commands use
(:class:`labeling.config.LabelConfig`, :class:`training.config.TrainConfig`) and names every bad key with the
closest valid one. ``workflow/rules/common.smk`` calls it at workflow start.

Every training setting has one place in the workflow configuration:

- a key of the ``train`` section that is also a ``TrainConfig`` field (``model``, ``epochs``, ``precision``,
  ...) is passed by the train rule as a flag; it must not be repeated in ``train.parameters``;
- ``data``, ``validation_data`` and ``stats`` are the workflow's own (the staged manifest, ``stats.h5``);
- every other ``TrainConfig`` field goes into ``train.parameters``.

Only the standard library and PyYAML are needed (the Snakemake process has no science stack):
``labeling/config.py`` is loaded from its file, without the ``labeling`` package's numerical imports.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import sys
from pathlib import Path

WORKFLOW_TRAIN_KEYS = {"data": "the staged manifest.json", "validation_data": "the staged manifest.json",
                       "stats": "the workflow's stats.h5"}
"""TrainConfig fields the train rule sets from the workflow's own files."""


class SettingsError(ValueError):
    """Bad workflow settings: one line per problem, each naming the key."""


def _label_config_module():
    """``labeling.config``, loaded from its file when the ``labeling`` package is not imported yet."""
    if "labeling.config" in sys.modules:
        return sys.modules["labeling.config"]
    path = Path(__file__).resolve().parents[1] / "labeling" / "config.py"
    spec = importlib.util.spec_from_file_location("climseg_settings_label_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def closest(key: str, valid) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``valid`` to ``key``, or ``" (valid: ...)"`` when none is close."""
    valid = sorted(valid)
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else f" (valid: {', '.join(valid)})"


def unknown_keys(given, valid, *, where: str) -> list[str]:
    """One message per key of ``given`` not in ``valid``: ``where.key: unknown setting; did you mean ...``."""
    return [f"{where}.{key}: unknown setting{closest(str(key), valid)}" for key in given if key not in valid]


def _field_names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def label_settings_problems(parameters) -> list[str]:
    """Problems of ``label.parameters`` (a partial :class:`LabelConfig` as a nested mapping)."""
    where = "label.parameters"
    if parameters is None:
        return []
    if not isinstance(parameters, dict):
        return [f"{where}: expected a mapping of labelling settings, got {parameters!r}"]
    module = _label_config_module()
    sections = _field_names(module.LabelConfig)
    section_classes = {"ivt": module.IVTConfig, "ar": module.ARConfig, "tc": module.TCConfig}
    problems = unknown_keys(parameters, sections, where=where)
    for name, cls in section_classes.items():
        section = parameters.get(name)
        if isinstance(section, dict):
            problems += unknown_keys(section, _field_names(cls), where=f"{where}.{name}")
    if not problems:
        try:
            module.LabelConfig.from_dict(parameters)
        except (TypeError, ValueError) as error:
            problems.append(f"{where}: {error}")
    return problems


def train_settings_problems(train: dict, *, ranks: int = 1) -> list[str]:
    """Problems of the ``train`` section: ``train.parameters`` checked against :class:`TrainConfig`, keys set in
    two places, and the whole run's configuration (as the train rule will pass it) checked by ``check_config``."""
    from training.config import TrainConfig, check_config

    where = "train.parameters"
    parameters = train.get("parameters") or {}
    if not isinstance(parameters, dict):
        return [f"{where}: expected a mapping of training settings, got {parameters!r}"]
    fields = _field_names(TrainConfig)
    problems = unknown_keys(parameters, fields, where=where)
    rule_keys = {key for key in train if key in fields}
    for key in parameters:
        if key in rule_keys:
            problems.append(f"{where}.{key}: set by train.{key} (the train rule passes it as --"
                            f"{key.replace('_', '-')}); give it there only")
        elif key in WORKFLOW_TRAIN_KEYS:
            problems.append(f"{where}.{key}: set by the workflow ({WORKFLOW_TRAIN_KEYS[key]}); remove it")
    if problems:
        return problems
    values = {**parameters, **{key: train[key] for key in rule_keys},
              **{key: f"<{source}>" for key, source in WORKFLOW_TRAIN_KEYS.items()}}
    try:
        check_config(TrainConfig.from_dict(values, source=where), ranks=ranks)
    except (TypeError, ValueError) as error:
        problems.append(f"{where}: {error}")
    return problems


def check_workflow_settings(config: dict, *, ranks: int = 1) -> None:
    """Raise :class:`SettingsError` listing every problem of ``label.parameters`` and ``train``.

    Parameters
    ----------
    config : dict
        The workflow configuration (``config/config.yaml`` after the machine overlay), schema-validated.
    ranks : int
        Ranks of the training job (the train rule's ``RANKS``).
    """
    problems = label_settings_problems(config.get("label", {}).get("parameters"))
    if "train" in config:
        problems += train_settings_problems(config["train"], ranks=ranks)
    if problems:
        raise SettingsError("bad workflow settings (config/config.yaml or --configfile/--config):\n  "
                            + "\n  ".join(problems))
