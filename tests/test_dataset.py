"""The dataset type: validation, the episode-split rule, subsetting, concatenation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from trajaug.core.dataset import Dataset, TrailingEpisodeWarning, concatenate


def make(n: int = 10, ends: tuple[int, ...] = (3, 9), terminal_at: tuple[int, ...] = (), **kwargs) -> Dataset:
    obs = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    timeouts = np.zeros(n, bool)
    timeouts[list(ends)] = True
    terminals = np.zeros(n, bool)
    terminals[list(terminal_at)] = True
    fields = dict(observations=obs, actions=np.zeros((n, 1), np.float32), rewards=np.ones(n, np.float32),
                  next_observations=obs + 1, terminals=terminals, timeouts=timeouts, env_id="Hopper-v5")
    fields.update(kwargs)
    return Dataset(**fields)


def test_episode_split_on_terminals_and_timeouts() -> None:
    data = make(10, ends=(3, 9), terminal_at=(5,))
    assert data.n_episodes == 3
    assert data.episode_bounds.tolist() == [[0, 4], [4, 6], [6, 10]]
    assert data.episode_lengths().tolist() == [4, 2, 4]
    assert [e.terminated for e in data.episodes()] == [False, True, False]
    assert data.episode_returns().tolist() == [4.0, 2.0, 4.0]


def test_terminal_wins_over_timeout() -> None:
    data = make(4, ends=(3,), terminal_at=(3,))
    assert data.n_episodes == 1
    assert data.episode(0).terminated


def test_trailing_segment_is_kept_and_warned() -> None:
    with pytest.warns(TrailingEpisodeWarning, match="last 2 rows"):
        data = make(6, ends=(3,))
    assert data.n_episodes == 2
    assert len(data.episode(1)) == 2


def test_arrays_are_read_only() -> None:
    data = make()
    with pytest.raises(ValueError, match="read-only"):
        data.observations[0, 0] = 5.0


@pytest.mark.parametrize(("field", "value", "message"), [
    ("rewards", np.ones(9, np.float32), "rewards: has 9 rows"),
    ("actions", np.zeros(10, np.float32), "actions: expected 2 dimensions"),
    ("next_observations", np.zeros((10, 3), np.float32), "next_observations: shape"),
    ("rewards", np.array([np.nan] + [1.0] * 9, np.float32), r"rewards: non-finite value .* row 0"),
    ("qpos", np.zeros((10, 3)), "qpos: qpos and qvel must be given together"),
    ("method", np.full(10, 3, np.int16), r"method: indices must lie in \[0, 1\)"),
])
def test_post_init_names_the_bad_field(field: str, value: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**{field: value})


def test_first_episodes_and_seeded_subset() -> None:
    data = make(10, ends=(1, 3, 5, 7, 9))
    first = data.first_episodes(2)
    assert first.n_episodes == 2 and len(first) == 4
    np.testing.assert_array_equal(first.observations, data.observations[:4])
    a, b = data.first_episodes(3, seed=7), data.first_episodes(3, seed=7)
    np.testing.assert_array_equal(a.observations, b.observations)
    assert a.n_episodes == 3
    with pytest.raises(ValueError, match="asked for 6, dataset has 5"):
        data.first_episodes(6)


def test_concatenate_merges_method_names_and_provenance() -> None:
    demos = make(4, ends=(3,))
    augmented = dataclasses.replace(make(4, ends=(3,)), method_names=("cat",),
                                    source_episode=np.zeros(4, np.int32))
    joined = concatenate([demos, augmented])
    assert joined.method_names == ("expert", "cat")
    assert joined.method.tolist() == [0] * 4 + [1] * 4
    assert joined.source_episode.tolist() == [-1] * 4 + [0] * 4
    assert joined.n_episodes == 2


def test_concatenate_refuses_mixed_environments() -> None:
    with pytest.raises(ValueError, match="env_id: cannot join"):
        concatenate([make(), dataclasses.replace(make(), env_id="Walker2d-v5")])


def test_integer_provenance_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="source_episode: values outside the int32 range"):
        make(source_episode=np.full(10, 2**40, np.int64))


def test_drop_terminated_keeps_only_episodes_that_did_not_end_in_a_terminal() -> None:
    from trajaug.datasets.filter import drop_terminated

    data = make(12, ends=(3, 7, 11), terminal_at=(7,))  # episodes [0,4) timeout, [4,8) terminal, [8,12) timeout
    kept, dropped = drop_terminated(data)
    assert dropped == 1 and kept.n_episodes == 2 and len(kept) == 8
    assert not kept.terminals.any() and kept.metadata["dropped_terminated_episodes"] == 1
    assert np.array_equal(kept.observations, np.concatenate([data.observations[:4], data.observations[8:]]))
