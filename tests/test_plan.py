import json
import math

import numpy as np
import pytest

from staging.plan import (RankPlan, StagingPlan, assign_owners, least_loaded_slots, make_plan, make_rank_plan,
                          sample_with_replacement, sample_without_replacement)


def sample_paths(n, folder="/pfs/samples", *, year=2000):
    return [f"{folder}/data-{year}-01-{1 + i // 8:02d}-{i % 8:02d}-1.h5" for i in range(n)]


LAYOUTS = {
    "one rank": [0],
    "4 ranks on 4 nodes": [0, 1, 2, 3],
    "4 ranks on 2 nodes": [0, 0, 1, 1],
    "6 ranks on 1 node": [0] * 6,
    "7 ranks on 3 uneven nodes": [0, 0, 0, 0, 1, 2, 2],
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("n_files, samples", [(40, 10), (10, 25), (200, 3)])
def test_plan_invariants(layout, n_files, samples):
    plan = make_plan(sample_paths(n_files), n_ranks=len(layout), samples_per_rank=samples, seed=3,
                     validation_files=sample_paths(12, "/pfs/val", year=2010), node_of_rank=layout)
    needed = set().union(*(plan.needed_by_rank(r) for r in range(plan.n_ranks)))
    assert needed == set(range(len(plan.sources)))  # only needed files are in the plan
    # read once: the owners' read lists partition the distinct needed files
    read_lists = [plan.read_list(r) for r in range(plan.n_ranks)]
    assert sorted(i for lst in read_lists for i in lst) == sorted(needed)
    # balanced: no owner more than one file above the mean
    loads = [len(lst) for lst in read_lists]
    assert max(loads) - len(needed) / plan.n_ranks <= 1
    # one writer per file and node that needs it, on that node; the owner writes on its own node
    for i, writers in enumerate(plan.writers):
        nodes = {plan.node_of_rank[r] for r in range(plan.n_ranks) if i in plan.needed_by_rank(r)}
        assert set(writers) == nodes
        assert all(plan.node_of_rank[rank] == node for node, rank in writers.items())
        owner_node = plan.node_of_rank[plan.owner[i]]
        if owner_node in writers:
            assert writers[owner_node] == plan.owner[i]


def test_same_inputs_give_the_same_plan_and_another_seed_another():
    files = sample_paths(50)
    a = make_plan(files, n_ranks=4, samples_per_rank=20, seed=7, node_of_rank=[0, 0, 1, 1])
    b = make_plan(list(files), n_ranks=4, samples_per_rank=20, seed=7, node_of_rank=[0, 0, 1, 1])
    c = make_plan(files, n_ranks=4, samples_per_rank=20, seed=8, node_of_rank=[0, 0, 1, 1])
    assert a == b and a.to_dict() == b.to_dict()
    assert a.train != c.train


def test_samples_do_not_depend_on_the_node_layout():
    files = sample_paths(50)
    a = make_plan(files, n_ranks=4, samples_per_rank=20, seed=7, node_of_rank=[0, 0, 1, 1])
    b = make_plan(files, n_ranks=4, samples_per_rank=20, seed=7, node_of_rank=["n1", "n2", "n3", "n4"])
    assert [[a.sources[i] for i in row] for row in a.train] == [[b.sources[i] for i in row] for row in b.train]
    assert b.node_of_rank == (0, 1, 2, 3)


def test_training_samples_are_drawn_with_replacement_from_all_files():
    draw = sample_with_replacement(5, n_ranks=3, samples_per_rank=40, seed=0)
    assert draw.shape == (3, 40)
    for row in draw:
        assert len(set(row)) < len(row)  # repeats within a rank
    assert set(draw.ravel()) == set(range(5))
    counts = np.bincount(draw.ravel(), minlength=5)
    assert counts.min() > 10  # roughly uniform: 120 draws of 5 files


def test_manifest_lists_each_ranks_samples_by_name_with_repeats():
    files = sample_paths(4)
    plan = make_plan(files, n_ranks=2, samples_per_rank=9, seed=1)
    manifest = plan.manifest()
    for rank in range(2):
        names = manifest["ranks"][str(rank)]["train"]
        assert len(names) == 9
        assert names == [plan.sources[i].rsplit("/", 1)[1] for i in plan.train[rank]]
        assert manifest["ranks"][str(rank)]["validation"] == []


def test_validation_is_disjoint_across_ranks_when_there_are_enough_files():
    draw = sample_without_replacement(20, n_ranks=4, samples_per_rank=5, seed=2)
    assert sorted(draw.ravel()) == list(range(20))


def test_validation_with_too_few_files_wraps_around_evenly_without_repeats_in_a_rank():
    draw = sample_without_replacement(6, n_ranks=4, samples_per_rank=3, seed=2)
    for row in draw:
        assert len(set(row)) == 3
    assert np.bincount(draw.ravel(), minlength=6).tolist() == [2] * 6


def test_more_validation_samples_per_rank_than_files_is_an_error():
    with pytest.raises(ValueError, match="only 4 validation files"):
        sample_without_replacement(4, n_ranks=2, samples_per_rank=5, seed=0)


def test_default_validation_uses_every_validation_file():
    plan = make_plan(sample_paths(10), n_ranks=3, samples_per_rank=2,
                     validation_files=sample_paths(7, "/pfs/v", year=2010))
    assert plan.validation_samples_per_rank == 3
    used = {plan.sources[i] for row in plan.validation for i in row}
    assert used == set(sample_paths(7, "/pfs/v", year=2010))


def test_no_samples_gives_an_empty_plan_and_validation_alone_works():
    empty = make_plan(sample_paths(5), n_ranks=2, samples_per_rank=0)
    assert empty.sources == () and empty.train == ((), ()) and empty.owner == ()
    only_validation = make_plan(sample_paths(5), n_ranks=2, samples_per_rank=0,
                                validation_files=sample_paths(4, "/v", year=2010))
    assert len(only_validation.sources) == 4 and sorted(only_validation.owner) == [0, 0, 1, 1]


def test_owner_is_on_the_preferred_node_when_balance_allows():
    # node 0 is preferred by files 0-3, node 1 by files 4-7: dealt round-robin to each node's ranks
    owner = assign_owners([0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1])
    assert owner.tolist() == [0, 1, 0, 1, 2, 3, 2, 3]


def test_owners_spill_to_the_least_loaded_ranks_only_when_the_preferred_node_is_full():
    owner = assign_owners([0] * 8, [0, 1, 1, 1])  # one rank on node 0 is preferred by everything
    assert owner.tolist() == [0, 0, 1, 2, 3, 1, 2, 3]
    owner = assign_owners([1, 1, 1, 1, 1, 0], [0, 1, 2])  # node 1 (one rank) keeps 2
    assert owner.tolist() == [1, 1, 2, 0, 2, 0]  # spilled 2, 3, 4: to rank 2 (0 files), 0 (1, lower), 2


def test_least_loaded_slots_is_the_one_at_a_time_rule():
    rng = np.random.default_rng(0)
    for _ in range(50):
        load = rng.integers(0, 5, size=rng.integers(1, 6))
        count = int(rng.integers(0, 12))
        expected, current = [], load.copy()
        for _ in range(count):  # one at a time, to the least loaded, lowest index on ties
            j = min(range(len(current)), key=lambda j: (current[j], j))
            expected.append(j)
            current[j] += 1
        assert least_loaded_slots(load, count).tolist() == expected
    assert least_loaded_slots([0, 2, 1], 3, limit=2).tolist() == [0, 0, 2]
    with pytest.raises(ValueError, match="4 items do not fit below 2 per rank"):
        least_loaded_slots([0, 2, 1], 4, limit=2)


def test_same_base_name_in_two_folders_is_an_error():
    files = ["/a/data-2000-01-01-00-1.h5", "/b/data-2000-01-01-00-1.h5"]
    with pytest.raises(ValueError, match="/b/data-2000-01-01-00-1.h5: same file name as /a/"):
        make_plan(files, n_ranks=1, samples_per_rank=20, seed=0)


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError, match="no training files"):
        make_plan([], n_ranks=2, samples_per_rank=3)
    with pytest.raises(ValueError, match="n_ranks >= 1"):
        make_plan(sample_paths(3), n_ranks=0, samples_per_rank=3)
    with pytest.raises(ValueError, match="3 entries for 2 ranks"):
        make_plan(sample_paths(3), n_ranks=2, samples_per_rank=3, node_of_rank=[0, 0, 1])


def test_plan_round_trips_through_json(tmp_path):
    plan = make_plan(sample_paths(30), n_ranks=4, samples_per_rank=6, seed=5,
                     validation_files=sample_paths(5, "/v", year=2010), node_of_rank=[0, 0, 1, 1])
    plan.save(tmp_path / "plan.json")
    assert StagingPlan.load(tmp_path / "plan.json") == plan
    assert json.loads((tmp_path / "plan.json").read_text())["n_ranks"] == 4


def test_loading_something_else_as_a_plan_names_the_file(tmp_path):
    (tmp_path / "plan.json").write_text('{"ranks": {}}')
    with pytest.raises(ValueError, match="plan.json: not a readable staging plan"):
        StagingPlan.load(tmp_path / "plan.json")


def test_balance_holds_for_a_large_plan():
    plan = make_plan(sample_paths(3000), n_ranks=96, samples_per_rank=50, seed=0,
                     node_of_rank=[r // 6 for r in range(96)])
    loads = np.bincount(plan.owner, minlength=96)
    assert loads.max() <= math.ceil(len(plan.sources) / 96)
    # most files are owned on a node that needs them
    on_needing_node = sum(plan.node_of_rank[o] in plan.writers[i] for i, o in enumerate(plan.owner))
    assert on_needing_node / len(plan.sources) > 0.95


RANK_PLAN_CASES = {
    "4 ranks on 2 nodes, validation": dict(n_files=40, samples=10, layout=[0, 0, 1, 1], validation=12),
    "7 ranks on 3 uneven nodes": dict(n_files=25, samples=7, layout=["a", "a", "a", "a", "b", "c", "c"], validation=0),
    "one rank": dict(n_files=5, samples=9, layout=[0], validation=3),
    "6 ranks, own nodes, fewer files than draws": dict(n_files=8, samples=30, layout=None, validation=4),
    "12 ranks on 3 nodes, many files": dict(n_files=500, samples=20, layout=[r // 4 for r in range(12)], validation=30),
}


@pytest.mark.parametrize("block_ranks", [1, 3, 1024])
@pytest.mark.parametrize("case", RANK_PLAN_CASES.values(), ids=RANK_PLAN_CASES.keys())
def test_each_rank_computes_alone_its_part_of_the_global_plan(case, block_ranks):
    n_ranks = len(case["layout"]) if case["layout"] else 6
    arguments = dict(n_ranks=n_ranks, samples_per_rank=case["samples"], seed=11,
                     validation_files=sample_paths(case["validation"], "/pfs/val", year=2010),
                     node_of_rank=case["layout"])
    plan = make_plan(sample_paths(case["n_files"]), **arguments)
    parts = [make_rank_plan(sample_paths(case["n_files"]), rank=rank, block_ranks=block_ranks, **arguments)
             for rank in range(n_ranks)]
    for rank, part in enumerate(parts):
        assert part == plan.for_rank(rank)
    # the union of the parts is the plan: every file owned once, every (file, node) copy written once
    assert sorted(i for part in parts for i in part.owned) == list(range(len(plan.sources)))
    copies = {(i, part.node): part.writer[i] for part in parts for i in part.writer}
    assert copies == {(i, node): rank for i, writers in enumerate(plan.writers) for node, rank in writers.items()}
    assert {r: part.train[r] for part in parts for r in part.train} == dict(enumerate(plan.train))
    assert {i: path for part in parts for i, path in part.sources.items()} == dict(enumerate(plan.sources))


def test_rank_plan_of_a_node_names_only_its_files_and_round_trips(tmp_path):
    files = sample_paths(400)
    part = make_rank_plan(files, rank=5, n_ranks=8, samples_per_rank=10, seed=2, node_of_rank=[r // 2 for r in range(8)])
    assert part.ranks_on_node == (4, 5) and part.node == 2
    node_files = part.needed_by_rank(4) | part.needed_by_rank(5)
    assert set(part.writer) == set(part.owner) == node_files
    assert set(part.sources) == node_files | set(part.owned) and len(part.sources) < part.n_sources
    assert set(part.manifest()["ranks"]) == {"4", "5"} and part.manifest()["n_ranks"] == 8
    part.save(tmp_path / "plan.json")
    assert RankPlan.load(tmp_path / "plan.json") == part
    with pytest.raises(ValueError, match="rank 8 is not one of the 8 ranks"):
        make_rank_plan(files, rank=8, n_ranks=8, samples_per_rank=10)


def test_drawing_in_blocks_continues_one_random_stream():
    """What make_rank_plan relies on: numpy's bounded integers drawn block by block are the one-shot draw."""
    whole = sample_with_replacement(63_000, n_ranks=50, samples_per_rank=7, seed=4)
    rng = np.random.default_rng([4, 0])
    blocks = np.concatenate([rng.integers(0, 63_000, size=(n, 7)) for n in (1, 20, 29)])
    assert (blocks == whole).all()
