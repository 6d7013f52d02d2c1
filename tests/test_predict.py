"""climseg predict (training/predict.py): a full disk is one line naming the file, and leaves no file."""

import errno

import h5py
import pytest

from training import predict
from training.predict import predict_files
from training.run import TrainedRun


def test_full_disk_while_writing_a_prediction(tiny_trained_run, small_tmpfs, tmp_path, monkeypatch):
    run = TrainedRun(tiny_trained_run["run"])
    samples = sorted(tiny_trained_run["samples"].glob("data-*.h5"))
    if small_tmpfs is None:  # no mount allowed: the write call fails as on a full disk
        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(h5py.Group, "create_dataset", full)
    out = small_tmpfs or tmp_path
    with pytest.raises(OSError) as caught:
        predict_files(run, samples, out, progress=False)
    message = str(caught.value)
    failed = message.split(":")[0]
    assert failed.startswith(str(out)) and failed.endswith(".h5") and "\n" not in message
    assert "disk full or quota exceeded: needs " in message and f"free in {out}; no file was left" in message
    assert caught.value.errno == errno.ENOSPC
    assert not [p for p in out.iterdir() if p.name.startswith(".")]   # no temporary file left
    for written in out.iterdir():                                      # those before it are complete
        with h5py.File(written, "r") as f:
            assert f["prediction"].shape == (46, 70)
    assert predict.sample_probabilities(run, samples[0])[0].shape == (46, 70, 3)
