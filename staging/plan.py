"""Which rank stages which sample files: a deterministic plan, computed without MPI.

Following Kurth et al. (SC18), every rank trains on its own random sample of the training files,
drawn *with replacement*, copied once to node-local storage. A :class:`StagingPlan` says

- which samples each rank gets (training with replacement; validation without replacement),
- which rank *owns* each distinct needed file: the one rank that reads it from the shared file
  system and sends it to the others (so each file is read from the source at most once),
- which rank *writes* each file on each node that needs it (once per node, not once per rank).

The plan is a pure function of the file lists, the number of ranks, the samples per rank, the seed
and the node of every rank. Owners: each file *prefers* one of the nodes needing it, a pseudo-random
choice (:func:`preference_keys`); a node owns the files preferring it up to ``ceil(files / ranks)`` per
rank, and the rest go to the least-loaded ranks. Writers: the owner on its own node, else the node's
rank with the fewest writes.

The whole plan (:func:`make_plan`) is for tests and small jobs: at the paper's scale (27,360 ranks on
4,560 nodes, 63K files, 250 samples per rank) it holds 6.8M draws and 6.7M (file, node) copies, about
1 GB. ``climseg stage`` instead has every rank compute only its own part, a :class:`RankPlan`
(:func:`make_rank_plan`: its node's files and samples and its own read list, equal to
``make_plan(...).for_rank(rank)``), in about a second and a few tens of MB (``bench/stage_plan.py``);
each node saves its first rank's part as ``plan.json`` beside the staged data.

Examples
--------
>>> plan = make_plan([f"/data/data-2000-01-01-0{i}-1.h5" for i in range(8)],
...                  n_ranks=4, samples_per_rank=3, seed=1, node_of_rank=[0, 0, 1, 1])
>>> len(plan.train[0]), plan.n_nodes
(3, 2)
>>> sorted(i for rank in range(4) for i in plan.read_list(rank)) == list(range(len(plan.sources)))
True
>>> make_rank_plan([f"/data/data-2000-01-01-0{i}-1.h5" for i in range(8)], rank=2,
...                n_ranks=4, samples_per_rank=3, seed=1, node_of_rank=[0, 0, 1, 1]) == plan.for_rank(2)
True
"""

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from climseg.atomic import atomic_output

PLAN_FORMAT = "climseg-staging-plan/1"
NODE_BITS = 20
"""Preference keys (:func:`preference_keys`) carry the node in their low bits: at most 2**20 nodes."""
NODE_MASK = (1 << NODE_BITS) - 1


@dataclass(frozen=True)
class StagingPlan:
    """Who needs, reads and writes which file; all indices point into :attr:`sources`."""

    sources: tuple[str, ...]
    """Distinct needed source paths, sorted; their base names are distinct."""
    train: tuple[tuple[int, ...], ...]
    """Per rank, its training samples in sample order (with repeats: drawn with replacement)."""
    validation: tuple[tuple[int, ...], ...]
    """Per rank, its validation samples (no repeats within a rank)."""
    owner: tuple[int, ...]
    """Per source, the rank that reads it from the source and sends it on."""
    node_of_rank: tuple[int, ...]
    """Per rank, its node, numbered 0, 1, ... in order of each node's first rank."""
    writers: tuple[dict[int, int], ...]
    """Per source, ``{node: rank}``: the rank writing it on each node that needs it."""
    seed: int
    samples_per_rank: int
    validation_samples_per_rank: int

    @property
    def n_ranks(self) -> int:
        return len(self.node_of_rank)

    @property
    def n_nodes(self) -> int:
        return max(self.node_of_rank) + 1

    @property
    def names(self) -> tuple[str, ...]:
        """Base name of every source: the staged file name inside the node-local directory."""
        return tuple(os.path.basename(path) for path in self.sources)

    def ranks_on_node(self, node: int) -> list[int]:
        return [rank for rank, n in enumerate(self.node_of_rank) if n == node]

    def needed_by_rank(self, rank: int) -> set[int]:
        """Sources that ``rank`` reads during training or validation."""
        return set(self.train[rank]) | set(self.validation[rank])

    def read_list(self, rank: int) -> list[int]:
        """Sources owned by ``rank``: the ones it reads from the shared file system."""
        return [i for i, owner in enumerate(self.owner) if owner == rank]

    def manifest(self) -> dict:
        """What each rank reads, by staged file name (relative to the node-local directory)."""
        names = self.names
        return {
            "ranks": {str(rank): {"train": [names[i] for i in self.train[rank]],
                                  "validation": [names[i] for i in self.validation[rank]]}
                      for rank in range(self.n_ranks)},
            "node_of_rank": list(self.node_of_rank),
        }

    def for_rank(self, rank: int) -> "RankPlan":
        """The part of this plan that ``rank`` needs: its node's files and samples, and what it owns."""
        node = self.node_of_rank[rank]
        ranks = tuple(self.ranks_on_node(node))
        node_files = [i for i, writers in enumerate(self.writers) if node in writers]
        owned = tuple(self.read_list(rank))
        return RankPlan(rank=rank, n_ranks=self.n_ranks, n_nodes=self.n_nodes, node=node, ranks_on_node=ranks,
                        n_sources=len(self.sources),
                        sources={i: self.sources[i] for i in sorted({*node_files, *owned})},
                        train={r: self.train[r] for r in ranks}, validation={r: self.validation[r] for r in ranks},
                        owner={i: self.owner[i] for i in node_files},
                        writer={i: self.writers[i][node] for i in node_files}, owned=owned, seed=self.seed,
                        samples_per_rank=self.samples_per_rank,
                        validation_samples_per_rank=self.validation_samples_per_rank)

    def to_dict(self) -> dict:
        return {
            "format": PLAN_FORMAT,
            "seed": self.seed,
            "n_ranks": self.n_ranks,
            "samples_per_rank": self.samples_per_rank,
            "validation_samples_per_rank": self.validation_samples_per_rank,
            "node_of_rank": list(self.node_of_rank),
            "sources": list(self.sources),
            "owner": list(self.owner),
            "writers": [{str(node): rank for node, rank in sorted(w.items())} for w in self.writers],
            "train": [list(s) for s in self.train],
            "validation": [list(s) for s in self.validation],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "StagingPlan":
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"not a staging plan of format {PLAN_FORMAT}: format is {data.get('format')!r}")
        return cls(
            sources=tuple(data["sources"]),
            train=tuple(tuple(s) for s in data["train"]),
            validation=tuple(tuple(s) for s in data["validation"]),
            owner=tuple(data["owner"]),
            node_of_rank=tuple(data["node_of_rank"]),
            writers=tuple({int(node): rank for node, rank in w.items()} for w in data["writers"]),
            seed=data["seed"],
            samples_per_rank=data["samples_per_rank"],
            validation_samples_per_rank=data["validation_samples_per_rank"],
        )

    def save(self, path) -> None:
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path) -> "StagingPlan":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a readable staging plan ({error})") from None


RANK_PLAN_FORMAT = "climseg-staging-rank-plan/1"


@dataclass(frozen=True)
class RankPlan:
    """One rank's part of a :class:`StagingPlan`: what its node needs and what it owns, by source index.

    Source indices are those of the whole plan (positions in the sorted list of every needed file), so
    the ranks' parts fit together: the union over all ranks is the whole plan (:meth:`StagingPlan.for_rank`).
    At the paper's scale it holds about 1,500 files of its node instead of 63K files and 6.8M draws.
    """

    rank: int
    n_ranks: int
    n_nodes: int
    node: int
    ranks_on_node: tuple[int, ...]
    """The ranks of this rank's node, ascending."""
    n_sources: int
    """Distinct files the whole job needs (all nodes)."""
    sources: dict[int, str]
    """Path of every source this part names: the node's files and this rank's own."""
    train: dict[int, tuple[int, ...]]
    """Per rank of the node, its training samples in sample order (with repeats)."""
    validation: dict[int, tuple[int, ...]]
    """Per rank of the node, its validation samples."""
    owner: dict[int, int]
    """Per file the node needs, the rank that reads it from the source."""
    writer: dict[int, int]
    """Per file the node needs, the rank of this node that writes it."""
    owned: tuple[int, ...]
    """The sources this rank reads from the shared file system, ascending."""
    seed: int
    samples_per_rank: int
    validation_samples_per_rank: int

    @property
    def names(self) -> dict[int, str]:
        """Base name of every source named here: the staged file name inside the node-local directory."""
        return {i: os.path.basename(path) for i, path in self.sources.items()}

    def needed_by_rank(self, rank: int) -> set[int]:
        """Sources that ``rank`` (of this node) reads during training or validation."""
        return set(self.train[rank]) | set(self.validation[rank])

    def manifest(self) -> dict:
        """What each rank of the node reads, by staged file name (relative to the node-local directory).

        ``{"ranks": {"R": {"train": [names], "validation": [names]}} for the node's ranks R, "n_ranks": N,
        "node_of_rank": {"R": node}}``: a node's manifest lists its own ranks only.
        """
        names = self.names
        return {
            "ranks": {str(rank): {"train": [names[i] for i in self.train[rank]],
                                  "validation": [names[i] for i in self.validation[rank]]}
                      for rank in self.ranks_on_node},
            "n_ranks": self.n_ranks,
            "node_of_rank": {str(rank): self.node for rank in self.ranks_on_node},
        }

    def to_dict(self) -> dict:
        return {
            "format": RANK_PLAN_FORMAT, "rank": self.rank, "n_ranks": self.n_ranks, "n_nodes": self.n_nodes,
            "node": self.node, "ranks_on_node": list(self.ranks_on_node), "n_sources": self.n_sources,
            "seed": self.seed, "samples_per_rank": self.samples_per_rank,
            "validation_samples_per_rank": self.validation_samples_per_rank,
            "sources": {str(i): path for i, path in sorted(self.sources.items())},
            "train": {str(r): list(s) for r, s in self.train.items()},
            "validation": {str(r): list(s) for r, s in self.validation.items()},
            "owner": {str(i): r for i, r in sorted(self.owner.items())},
            "writer": {str(i): r for i, r in sorted(self.writer.items())},
            "owned": list(self.owned),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "RankPlan":
        if data.get("format") != RANK_PLAN_FORMAT:
            raise ValueError(f"not a staging plan of format {RANK_PLAN_FORMAT}: format is {data.get('format')!r}")

        def by_int(mapping, value=lambda v: v):
            return {int(k): value(v) for k, v in mapping.items()}
        return cls(rank=data["rank"], n_ranks=data["n_ranks"], n_nodes=data["n_nodes"], node=data["node"],
                   ranks_on_node=tuple(data["ranks_on_node"]), n_sources=data["n_sources"],
                   sources=by_int(data["sources"]), train=by_int(data["train"], tuple),
                   validation=by_int(data["validation"], tuple), owner=by_int(data["owner"]),
                   writer=by_int(data["writer"]), owned=tuple(data["owned"]), seed=data["seed"],
                   samples_per_rank=data["samples_per_rank"],
                   validation_samples_per_rank=data["validation_samples_per_rank"])

    def save(self, path) -> None:
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path) -> "RankPlan":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a readable staging plan ({error})") from None


def sample_with_replacement(n_files: int, *, n_ranks: int, samples_per_rank: int, seed: int) -> np.ndarray:
    """Draw every rank's training samples, with replacement, from ``n_files`` files.

    Returns
    -------
    ndarray (n_ranks, samples_per_rank), int
        File indices; rank r takes row r.
    """
    if n_files < 1:
        raise ValueError("no training files to sample from")
    rng = np.random.default_rng([seed, 0])
    return rng.integers(0, n_files, size=(n_ranks, samples_per_rank))


def sample_without_replacement(n_files: int, *, n_ranks: int, samples_per_rank: int, seed: int) -> np.ndarray:
    """Draw every rank's validation samples without replacement, disjoint across ranks where possible.

    The files are shuffled once and dealt out in consecutive blocks of ``samples_per_rank``. With at
    least ``n_ranks * samples_per_rank`` files the ranks' samples are disjoint; with fewer, the deal
    wraps around the shuffled list, so every file is used and the overlap between ranks is spread
    evenly. Within one rank no file repeats; ``samples_per_rank`` above ``n_files`` is a ValueError.

    Returns
    -------
    ndarray (n_ranks, samples_per_rank), int
        File indices; rank r takes row r.
    """
    if samples_per_rank > n_files:  # the message of check_plan_arguments
        raise ValueError(f"asked for {samples_per_rank} validation samples per rank without replacement, "
                         f"but there are only {n_files} validation files")
    order = np.random.default_rng([seed, 1]).permutation(n_files)
    positions = np.arange(n_ranks * samples_per_rank).reshape(n_ranks, samples_per_rank) % max(n_files, 1)
    return order[positions]


def validation_rows(order: np.ndarray, first_rank: int, n_ranks: int, samples_per_rank: int) -> np.ndarray:
    """Rows ``first_rank .. first_rank + n_ranks - 1`` of :func:`sample_without_replacement`, given its shuffled
    file order: ndarray (n_ranks, samples_per_rank) of file indices."""
    positions = np.arange(first_rank * samples_per_rank, (first_rank + n_ranks) * samples_per_rank)
    return order[positions.reshape(n_ranks, samples_per_rank) % max(len(order), 1)]


def _node_numbers(node_of_rank, n_ranks: int) -> np.ndarray:
    """Node of every rank renumbered 0, 1, ... in order of first appearance: ndarray (n_ranks,) int64."""
    node_of_rank = list(range(n_ranks)) if node_of_rank is None else list(node_of_rank)
    if len(node_of_rank) != n_ranks:
        raise ValueError(f"node_of_rank has {len(node_of_rank)} entries for {n_ranks} ranks")
    number = {node: k for k, node in enumerate(dict.fromkeys(node_of_rank))}
    nodes = np.array([number[node] for node in node_of_rank], dtype=np.int64)
    if len(number) > 1 << NODE_BITS:
        raise ValueError(f"{len(number)} nodes: at most {1 << NODE_BITS} are supported")
    return nodes


def sample_universe(train_files, validation_files=()) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Every listed path once, sorted, and where each list's entries are in it.

    Returns
    -------
    paths : tuple of str
        The distinct paths of both lists, sorted.
    train_index, validation_index : ndarray (n_train,), (n_validation,) int64
        Position of each list entry in ``paths``.

    Raises ValueError naming both paths when two different paths share a base name (staged files are
    stored flat, by base name), whether or not the draw needs both.
    """
    train_files, validation_files = [str(f) for f in train_files], [str(f) for f in validation_files]
    paths = tuple(sorted(set(train_files) | set(validation_files)))
    by_name: dict[str, str] = {}
    for path in paths:
        other = by_name.setdefault(os.path.basename(path), path)
        if other != path:
            raise ValueError(f"{path}: same file name as {other}; staged files are stored by base name")
    index = {path: k for k, path in enumerate(paths)}
    return (paths, np.array([index[f] for f in train_files], dtype=np.int64),
            np.array([index[f] for f in validation_files], dtype=np.int64))


def check_plan_arguments(n_train: int, n_validation: int, *, n_ranks: int, samples_per_rank: int,
                         validation_samples_per_rank: int | None) -> int:
    """Raise ValueError for arguments no plan can satisfy; return the validation samples per rank in force
    (default ``ceil(n_validation / n_ranks)``)."""
    if n_ranks < 1 or samples_per_rank < 0:
        raise ValueError(f"need n_ranks >= 1 and samples_per_rank >= 0, got {n_ranks} and {samples_per_rank}")
    if n_train < 1:
        raise ValueError("no training files to sample from")
    if validation_samples_per_rank is None:
        validation_samples_per_rank = math.ceil(n_validation / n_ranks)
    if validation_samples_per_rank > n_validation:
        raise ValueError(f"asked for {validation_samples_per_rank} validation samples per rank without replacement, "
                         f"but there are only {n_validation} validation files")
    return validation_samples_per_rank


def preference_keys(files: np.ndarray, nodes: np.ndarray, seed: int) -> np.ndarray:
    """A pseudo-random key per (file, node) pair that keeps the node in its low :data:`NODE_BITS` bits.

    The node with the smallest key among those needing a file is the file's *preferred* node: a uniform
    random choice among the needing nodes that any rank computes alone (the minimum does not depend on
    the order in which pairs are seen).

    Parameters
    ----------
    files, nodes : ndarray of int, broadcastable
        Universe indices (:func:`sample_universe`) and node numbers.

    Returns ndarray of uint64, the broadcast shape.
    """
    with np.errstate(over="ignore"):
        x = (np.asarray(files, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
             + np.asarray(nodes, dtype=np.uint64) * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(seed & (2**64 - 1)))
        x ^= x >> np.uint64(31)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(29)
    return (x & ~np.uint64(NODE_MASK)) | np.asarray(nodes, dtype=np.uint64)


def least_loaded_slots(load: np.ndarray, count: int, *, limit: int | None = None) -> np.ndarray:
    """Which of ``len(load)`` ranks takes each of ``count`` new items, one at a time to the least loaded
    (lowest index on ties), never above ``limit`` items.

    Vectorized: rank j offers slots at levels ``load[j], load[j] + 1, ...``; the items take the slots in
    order of (level, index), which is what the one-at-a-time rule does.

    Returns ndarray (count,) of indices into ``load``.
    """
    load = np.asarray(load, dtype=np.int64)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    top = max(int(load.max()), (int(load.sum()) + count) // len(load) + 1) if limit is None else limit
    free = np.maximum(top - load, 0)
    if free.sum() < count:
        raise ValueError(f"{count} items do not fit below {limit} per rank")
    slot_rank = np.repeat(np.arange(len(load)), free)
    first_slot = np.cumsum(free) - free
    slot_level = load[slot_rank] + np.arange(len(slot_rank)) - first_slot[slot_rank]
    return slot_rank[np.lexsort((slot_rank, slot_level))[:count]]


def assign_owners(preferred_node, node_of_rank) -> np.ndarray:
    """Give every needed file one owner rank: balanced, on the file's preferred node while it has room.

    Every rank owns at most ``ceil(n_files / n_ranks)`` files, within one file of the mean. A node takes
    the files preferring it, in order, up to that many per rank, dealt round-robin to its ranks; the
    files beyond go, in order, one at a time to the least-loaded rank (lowest rank on ties) anywhere.

    Parameters
    ----------
    preferred_node : sequence (n_files,) of int
        Per file, a node that needs it (see :func:`preference_keys`).
    node_of_rank : sequence (n_ranks,) of int
        Nodes numbered 0, 1, ...

    Returns
    -------
    ndarray (n_files,) of int64
        The owner rank of every file.
    """
    preferred = np.asarray(preferred_node, dtype=np.int64)
    nodes = np.asarray(node_of_rank, dtype=np.int64)
    n_files, n_nodes = len(preferred), int(nodes.max()) + 1
    owner = np.full(n_files, -1, dtype=np.int64)
    if n_files == 0:
        return owner
    capacity = -(-n_files // len(nodes))
    ranks_by_node = np.argsort(nodes, kind="stable")  # ascending rank within each node
    node_size = np.bincount(nodes, minlength=n_nodes)
    node_first = np.cumsum(node_size) - node_size
    order = np.argsort(preferred, kind="stable")  # files grouped by preferred node, ascending within
    per_node = np.bincount(preferred, minlength=n_nodes)
    node_of_file = preferred[order]
    position = np.arange(n_files) - (np.cumsum(per_node) - per_node)[node_of_file]
    kept = position < capacity * node_size[node_of_file]
    node_of_kept = node_of_file[kept]
    owner[order[kept]] = ranks_by_node[node_first[node_of_kept] + position[kept] % node_size[node_of_kept]]
    spilled = np.sort(order[~kept])
    load = np.bincount(owner[order[kept]], minlength=len(nodes))
    owner[spilled] = least_loaded_slots(load, len(spilled), limit=capacity)
    return owner


def assign_writers_on_node(owner, ranks_on_node, node_of_owner) -> np.ndarray:
    """Pick, for every file one node needs, the rank of that node that writes it there.

    The owner writes a file its own node needs (no message needed); the node's other files go, in
    order, one at a time to the node's rank with the fewest writes so far (lowest rank on ties), so the
    ranks of a node share the writing.

    Parameters
    ----------
    owner : ndarray (n_files,) of int
        Owner of each file the node needs, files in ascending source order.
    ranks_on_node : ndarray (k,) of int, ascending
    node_of_owner : ndarray (n_files,) of bool
        Whether each owner is on this node.

    Returns ndarray (n_files,) of int64: the writing rank of each file.
    """
    owner, ranks = np.asarray(owner, dtype=np.int64), np.asarray(ranks_on_node, dtype=np.int64)
    local = np.asarray(node_of_owner, dtype=bool)
    writer = owner.copy()
    writes = np.bincount(np.searchsorted(ranks, owner[local]), minlength=len(ranks))
    writer[~local] = ranks[least_loaded_slots(writes, int((~local).sum()))]
    return writer


def make_plan(train_files, *, n_ranks: int, samples_per_rank: int, seed: int = 0, validation_files=(),
              validation_samples_per_rank: int | None = None, node_of_rank=None) -> StagingPlan:
    """Plan the staging of ``samples_per_rank`` training samples (and validation samples) per rank: every rank's part.

    Parameters
    ----------
    train_files : sequence of str
        Training sample paths; rank samples are drawn from them with replacement.
    n_ranks : int
    samples_per_rank : int
    seed : int
        The training and validation draws depend only on the file lists, ``n_ranks``, the samples
        per rank and ``seed``.
    validation_files : sequence of str, optional
    validation_samples_per_rank : int, optional
        Default: ``ceil(len(validation_files) / n_ranks)``, so every validation file is used.
        See :func:`sample_without_replacement` for fewer files than ranks times samples.
    node_of_rank : sequence, optional
        Node of every rank, any hashable id (default: each rank on its own node); renumbered 0, 1, ...
        in order of first appearance. Only owners and writers depend on it.

    Raises ValueError when two different listed paths share a base name (staged files are stored flat).
    Every rank's part of the result is what :func:`make_rank_plan` computes for that rank alone.
    """
    train_files, validation_files = list(train_files), list(validation_files)
    validation_samples_per_rank = check_plan_arguments(
        len(train_files), len(validation_files), n_ranks=n_ranks, samples_per_rank=samples_per_rank,
        validation_samples_per_rank=validation_samples_per_rank)
    nodes = _node_numbers(node_of_rank, n_ranks)
    paths, train_index, validation_index = sample_universe(train_files, validation_files)
    train_draw = train_index[sample_with_replacement(len(train_files), n_ranks=n_ranks,
                                                     samples_per_rank=samples_per_rank, seed=seed)]
    validation_draw = validation_index[sample_without_replacement(
        len(validation_files), n_ranks=n_ranks, samples_per_rank=validation_samples_per_rank, seed=seed)]

    needed = np.zeros(len(paths), dtype=bool)
    keys = np.full(len(paths), np.iinfo(np.uint64).max, dtype=np.uint64)
    for draw in (train_draw, validation_draw):
        needed[draw] = True
        np.minimum.at(keys, draw.ravel(), preference_keys(draw, nodes[:, None], seed).ravel())
    source_of = np.cumsum(needed) - 1
    sources = tuple(paths[k] for k in np.flatnonzero(needed))
    owner = assign_owners((keys[needed] & np.uint64(NODE_MASK)).astype(np.int64), nodes)

    n_nodes, n_sources = int(nodes.max()) + 1, len(sources)
    pairs = np.unique(np.concatenate([(nodes[:, None] * n_sources + source_of[draw]).ravel()
                                      for draw in (train_draw, validation_draw)]))  # node-major, sources ascending
    writers: list[dict[int, int]] = [{} for _ in range(n_sources)]
    node_ends = np.searchsorted(pairs, np.arange(1, n_nodes + 1) * n_sources)
    for node, (start, end) in enumerate(zip([0, *node_ends[:-1]], node_ends)):
        files = pairs[start:end] - node * n_sources
        writer = assign_writers_on_node(owner[files], np.flatnonzero(nodes == node), nodes[owner[files]] == node)
        for i, rank in zip(files.tolist(), writer.tolist()):
            writers[i][node] = rank
    return StagingPlan(sources=sources, train=tuple(map(tuple, source_of[train_draw].tolist())),
                       validation=tuple(map(tuple, source_of[validation_draw].tolist())),
                       owner=tuple(owner.tolist()), node_of_rank=tuple(nodes.tolist()), writers=tuple(writers),
                       seed=seed, samples_per_rank=samples_per_rank,
                       validation_samples_per_rank=validation_samples_per_rank)


def make_rank_plan(train_files, *, rank: int, n_ranks: int, samples_per_rank: int, seed: int = 0,
                   validation_files=(), validation_samples_per_rank: int | None = None, node_of_rank=None,
                   block_ranks: int = 1024) -> RankPlan:
    """``make_plan(...).for_rank(rank)``, computed by ``rank`` alone in memory that does not grow with the draws.

    Streams over the ranks' draws in blocks of ``block_ranks`` ranks (the same random stream as
    :func:`make_plan`), keeping per listed file only whether some rank needs it and its preference key
    (:func:`preference_keys`), and the draws of this rank's node. Owners come from the preferred nodes
    (:func:`assign_owners`, arrays of one entry per file and per rank), writers from the node's files
    (:func:`assign_writers_on_node`). At 27,360 ranks x 250 samples of 63K files: 0.4 s and 24 MB traced
    (``bench/stage_plan.py``; the whole plan: 13 s and 965 MB); other parameters as :func:`make_plan`.
    """
    train_files, validation_files = list(train_files), list(validation_files)
    validation_samples_per_rank = check_plan_arguments(
        len(train_files), len(validation_files), n_ranks=n_ranks, samples_per_rank=samples_per_rank,
        validation_samples_per_rank=validation_samples_per_rank)
    if not 0 <= rank < n_ranks:
        raise ValueError(f"rank {rank} is not one of the {n_ranks} ranks")
    nodes = _node_numbers(node_of_rank, n_ranks)
    paths, train_index, validation_index = sample_universe(train_files, validation_files)
    node = int(nodes[rank])
    node_ranks = np.flatnonzero(nodes == node)

    rng = np.random.default_rng([seed, 0])  # the stream of sample_with_replacement, drawn block by block
    validation_order = np.random.default_rng([seed, 1]).permutation(len(validation_files))
    needed = np.zeros(len(paths), dtype=bool)
    keys = np.full(len(paths), np.iinfo(np.uint64).max, dtype=np.uint64)
    node_train, node_validation = {}, {}
    for first in range(0, n_ranks, block_ranks):
        count = min(block_ranks, n_ranks - first)
        train_draw = train_index[rng.integers(0, len(train_files), size=(count, samples_per_rank))]
        validation_draw = validation_index[validation_rows(validation_order, first, count,
                                                           validation_samples_per_rank)]
        for draw in (train_draw, validation_draw):
            needed[draw] = True
            np.minimum.at(keys, draw.ravel(), preference_keys(draw, nodes[first:first + count, None], seed).ravel())
        for r in node_ranks[(node_ranks >= first) & (node_ranks < first + count)]:
            node_train[int(r)], node_validation[int(r)] = train_draw[r - first], validation_draw[r - first]

    source_of = np.cumsum(needed) - 1
    path_of_source = np.flatnonzero(needed)
    owner = assign_owners((keys[needed] & np.uint64(NODE_MASK)).astype(np.int64), nodes)
    node_files = np.unique(source_of[np.concatenate([*node_train.values(), *node_validation.values(),
                                                      np.zeros(0, dtype=np.int64)])])
    writer = assign_writers_on_node(owner[node_files], node_ranks, nodes[owner[node_files]] == node)
    owned = np.flatnonzero(owner == rank)
    return RankPlan(
        rank=rank, n_ranks=n_ranks, n_nodes=int(nodes.max()) + 1, node=node, ranks_on_node=tuple(node_ranks.tolist()),
        n_sources=len(path_of_source),
        sources={i: paths[path_of_source[i]] for i in np.union1d(node_files, owned).tolist()},
        train={r: tuple(source_of[row].tolist()) for r, row in node_train.items()},
        validation={r: tuple(source_of[row].tolist()) for r, row in node_validation.items()},
        owner=dict(zip(node_files.tolist(), owner[node_files].tolist())),
        writer=dict(zip(node_files.tolist(), writer.tolist())), owned=tuple(owned.tolist()), seed=seed,
        samples_per_rank=samples_per_rank, validation_samples_per_rank=validation_samples_per_rank)
