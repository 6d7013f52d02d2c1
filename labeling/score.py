"""Score labels against the planted events of generated data (``climseg synth`` truth).

- TC detection: each true centre is matched to at most one detected centre (minimum total distance,
  pairs farther apart than ``max_distance_km`` do not count). Hit rate = matched / true; false
  alarms = detected - matched; centre error = mean great-circle distance of the matched pairs (km).
- Pixel IoU per class: TP / (TP + FP + FN), accumulated over all time steps (as the training IoU
  is accumulated over a validation set), so an empty time step neither helps nor hurts.

Examples
--------
>>> acc = ScoreAccumulator()                                          # doctest: +SKIP
>>> for step in range(8):                                             # doctest: +SKIP
...     result = label_time_step(fields[step], lat, lon, config=cfg)
...     acc.add(result.labels, [(c.lat_deg, c.lon_deg) for c in result.tc_centres],
...             truth_centres[step], truth.tc_mask[step], truth.ar_mask[step])
>>> acc.result().tc_iou                                               # doctest: +SKIP
"""

import dataclasses
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from climseg.contract import AR, TC
from climseg.sphere import great_circle_km


@dataclasses.dataclass(frozen=True)
class Score:
    """Scores of labels against truth over one or more time steps."""

    tc_true: int
    """Planted TCs."""
    tc_detected: int
    """Detected TC centres."""
    tc_hits: int
    """Planted TCs with a detected centre within ``max_distance_km``."""
    tc_centre_error_km: float
    """Mean distance of the matched centres (NaN without hits)."""
    tc_iou: float
    """Pixel IoU of the TC class (NaN when neither labels nor truth have TC pixels)."""
    ar_iou: float
    """Pixel IoU of the AR class (NaN when neither has AR pixels)."""
    max_distance_km: float = 100.0

    @property
    def tc_hit_rate(self) -> float:
        """Fraction of planted TCs found (NaN when none was planted)."""
        return self.tc_hits / self.tc_true if self.tc_true else float("nan")

    @property
    def tc_false_alarms(self) -> int:
        return self.tc_detected - self.tc_hits

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(tc_hit_rate=self.tc_hit_rate, tc_false_alarms=self.tc_false_alarms)
        return d

    def __str__(self) -> str:
        return (f"TC: {self.tc_hits}/{self.tc_true} found within {self.max_distance_km:g} km "
                f"(hit rate {self.tc_hit_rate:.3f}, {self.tc_false_alarms} false alarms, mean centre error "
                f"{self.tc_centre_error_km:.1f} km), TC IoU {self.tc_iou:.3f}, AR IoU {self.ar_iou:.3f}")


def match_centres(detected, true, *, max_distance_km: float = 100.0):
    """Pair detected with true centres, one-to-one, minimising the total great-circle distance.

    Parameters
    ----------
    detected, true : array-like (n, 2) and (m, 2), (lat, lon) in degrees
    max_distance_km : float, pairs farther apart are not matches

    Returns
    -------
    pairs : list of (i_detected, i_true)
    distances_km : ndarray (len(pairs),)
    """
    det = np.asarray(detected, dtype=np.float64).reshape(-1, 2)
    tru = np.asarray(true, dtype=np.float64).reshape(-1, 2)
    if len(det) == 0 or len(tru) == 0:
        return [], np.zeros(0)
    dist = great_circle_km(det[:, None, 0], det[:, None, 1], tru[None, :, 0], tru[None, :, 1])
    cost = np.where(dist <= max_distance_km, dist, 1e9)
    rows, cols = linear_sum_assignment(cost)
    ok = dist[rows, cols] <= max_distance_km
    return list(zip(rows[ok].tolist(), cols[ok].tolist())), dist[rows[ok], cols[ok]]


def mask_iou(predicted, truth) -> float:
    """Intersection over union of two boolean masks; NaN when both are empty."""
    p = np.asarray(predicted, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise ValueError(f"masks differ in shape: {p.shape} vs {t.shape}")
    union = np.count_nonzero(p | t)
    return np.count_nonzero(p & t) / union if union else float("nan")


class ScoreAccumulator:
    """Accumulates hits, centre errors and per-class intersections/unions over time steps."""

    def __init__(self, *, max_distance_km: float = 100.0):
        self.max_distance_km = float(max_distance_km)
        self._tc_true = self._tc_detected = self._tc_hits = 0
        self._errors = []
        self._inter = {TC: 0, AR: 0}
        self._union = {TC: 0, AR: 0}

    def add(self, labels, detected_centres, true_centres, true_tc_mask, true_ar_mask):
        """Add one time step.

        Parameters
        ----------
        labels : ndarray (lat, lon) int, 0/1/2 (climseg.contract)
        detected_centres, true_centres : array-like (n, 2), (lat, lon) degrees
        true_tc_mask, true_ar_mask : ndarray (lat, lon) bool
        """
        labels = np.asarray(labels)
        for cls, truth in ((TC, true_tc_mask), (AR, true_ar_mask)):
            truth = np.asarray(truth, dtype=bool)
            if truth.shape != labels.shape:
                raise ValueError(f"truth mask shape {truth.shape} differs from labels {labels.shape}")
            predicted = labels == cls
            self._inter[cls] += int(np.count_nonzero(predicted & truth))
            self._union[cls] += int(np.count_nonzero(predicted | truth))
        detected = np.asarray(detected_centres, dtype=np.float64).reshape(-1, 2)
        true = np.asarray(true_centres, dtype=np.float64).reshape(-1, 2)
        pairs, distances = match_centres(detected, true, max_distance_km=self.max_distance_km)
        self._tc_true += len(true)
        self._tc_detected += len(detected)
        self._tc_hits += len(pairs)
        self._errors.extend(distances.tolist())
        return self

    def result(self) -> Score:
        def iou(cls):
            return self._inter[cls] / self._union[cls] if self._union[cls] else float("nan")

        error = float(np.mean(self._errors)) if self._errors else math.nan
        return Score(self._tc_true, self._tc_detected, self._tc_hits, error, iou(TC), iou(AR), self.max_distance_km)


def score_results(results, truth, *, max_distance_km: float = 100.0) -> Score:
    """Score the :class:`labeling.labels.LabelResult` of each time step against a synth ``Truth``.

    Parameters
    ----------
    results : sequence of LabelResult, one per time step of ``truth``
    truth : climseg.synth.Truth (``tc_mask``, ``ar_mask`` (time, lat, lon), ``tcs_at(step)``)
    """
    acc = ScoreAccumulator(max_distance_km=max_distance_km)
    if len(results) != len(truth.tc_mask):
        raise ValueError(f"{len(results)} label results for {len(truth.tc_mask)} truth time steps")
    for step, result in enumerate(results):
        detected = [(c.lat_deg, c.lon_deg) for c in result.tc_centres]
        acc.add(result.labels, detected, truth_centres(truth, step), truth.tc_mask[step], truth.ar_mask[step])
    return acc.result()


def score_sample_files(sample_paths, truth, *, max_distance_km: float = 100.0) -> Score:
    """Score written sample files (``data-YYYY-MM-DD-TT-R.h5`` from ``climseg label``) against a synth truth.

    Parameters
    ----------
    sample_paths : iterable of paths
        Samples of days covered by ``truth``; time step TT of the name is the index into the truth's day.
    truth : climseg.synth.Truth
        What was planted (read a ``.truth.h5`` file with ``climseg.synth.read_truth``: the labelling package
        itself does not import the demo-data generator).

    Raises
    ------
    ValueError
        Naming the sample when its day is not the truth's, its grid differs, or it has no ``tc_centres``
        attribute (it was not written by ``climseg label``).
    """
    import json

    from climseg.contract import parse_sample_file_name
    from labeling.sample import read_sample

    if not hasattr(truth, "tc_mask"):
        raise TypeError(f"truth: expected a climseg.synth.Truth (read the file with climseg.synth.read_truth), "
                        f"got {truth!r}")
    days = {t.date() for t in truth.times}
    acc = ScoreAccumulator(max_distance_km=max_distance_km)
    for path in sample_paths:
        name = parse_sample_file_name(str(path))
        if name.date not in days or not 0 <= name.step < len(truth.times):
            raise ValueError(f"{path}: time step {name.date} {name.step:02d} is not in the truth "
                             f"({min(days)}..{max(days)})")
        sample = read_sample(path, data=False)
        if sample.labels.shape != truth.tc_mask.shape[1:]:
            raise ValueError(f"{path}: grid {sample.labels.shape} differs from the truth's {truth.tc_mask.shape[1:]}")
        if "tc_centres" not in sample.attrs:
            raise ValueError(f"{path}: no tc_centres attribute (not written by climseg label)")
        detected = [(c["lat_deg"], c["lon_deg"]) for c in json.loads(sample.attrs["tc_centres"])]
        acc.add(sample.labels, detected, truth_centres(truth, name.step), truth.tc_mask[name.step],
                truth.ar_mask[name.step])
    return acc.result()


def truth_centres(truth, step: int):
    """(n, 2) array of the planted TC centres (lat, lon degrees) of one time step of a synth Truth."""
    return np.array([(tc.lat_deg, tc.lon_deg) for tc in truth.tcs_at(step)], dtype=np.float64).reshape(-1, 2)
