"""climseg.settings: the workflow's label/train settings checked against the commands' own dataclasses."""

import copy
from pathlib import Path

import pytest
import yaml

from climseg.settings import SettingsError, check_workflow_settings, closest, label_settings_problems, \
    train_settings_problems

DEMO = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())


def with_changes(label=None, train=None):
    config = copy.deepcopy(DEMO)
    config["label"]["parameters"].update(label or {})
    config["train"]["parameters"].update(train or {})
    return config


def test_the_demo_configuration_passes():
    check_workflow_settings(DEMO, ranks=2)


@pytest.mark.parametrize("label, problem", [
    ({"ar": {"percentle": 90.0}}, "label.parameters.ar.percentle: unknown setting; did you mean 'percentile'?"),
    ({"tc": {"vorticity_threshold": 1e-4}},
     "label.parameters.tc.vorticity_threshold: unknown setting; did you mean 'vorticity_threshold_per_s'?"),
    ({"tc_exclusion_radius": 2.0},
     "label.parameters.tc_exclusion_radius: unknown setting; did you mean 'tc_exclusion_radius_factor'?"),
    ({"ar": {"percentile": 140.0}}, "label.parameters: ARConfig.percentile"),
])
def test_label_typos_and_bad_values_name_the_key_and_the_closest_one(label, problem):
    problems = label_settings_problems(with_changes(label=label)["label"]["parameters"])
    assert len(problems) == 1 and problems[0].startswith(problem), problems


@pytest.mark.parametrize("train, problem", [
    ({"learning_rat": 0.01}, "train.parameters.learning_rat: unknown setting; did you mean 'learning_rate'?"),
    ({"read_worker": 2}, "train.parameters.read_worker: unknown setting; did you mean 'read_workers'?"),
    ({"epochs": 10}, "train.parameters.epochs: set by train.epochs (the train rule passes it as --epochs)"),
    ({"precision": "fp32"}, "train.parameters.precision: set by train.precision"),
    ({"model": "tiramisu"}, "train.parameters.model: set by train.model"),
    ({"stats": "my.h5"}, "train.parameters.stats: set by the workflow"),
    ({"optimizer": "adamw"}, "train.parameters: optimizer: 'adamw' is not one of adam, sgd"),
    ({"read_workers": 0}, "train.parameters: read_workers: must be at least 1, got 0"),
])
def test_train_typos_double_settings_and_bad_values_are_errors(train, problem):
    problems = train_settings_problems(with_changes(train=train)["train"], ranks=2)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_every_problem_is_reported_at_once():
    config = with_changes(label={"ar": {"percentle": 90.0}}, train={"learning_rat": 0.1, "epochs": 3})
    with pytest.raises(SettingsError) as error:
        check_workflow_settings(config)
    lines = str(error.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == [
        "label.parameters.ar.percentle", "train.parameters.learning_rat", "train.parameters.epochs"]


def test_a_key_far_from_every_valid_one_lists_them():
    assert closest("zzz", ["b", "a"]) == " (valid: a, b)"


def test_label_settings_are_checked_without_the_labeling_package(tmp_path):
    """The Snakemake process has no numpy: the check loads labeling/config.py alone."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['numpy'] = None\n"
            "from climseg.settings import label_settings_problems\n"
            "print(label_settings_problems({'ar': {'percentle': 1}}))\n"
            "print('labeling' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert "did you mean 'percentile'" in result.stdout and result.stdout.split()[-1] == "False"
