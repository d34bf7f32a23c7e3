"""A pool's workers get their share of the cores (``trajaug.core.cores``) and threaded code uses no more than it
(that the values do not depend on it: tests/test_ppo.py, tests/test_vector_task.py); numpy's BLAS runs on one
thread inside ``augment`` and gives the same products on any number."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from trajaug.augment import augment
from trajaug.augment.adversarial.envs import DemoHints
from trajaug.augment.noise import NoiseAugmenter
from trajaug.core.cores import CORES_VARIABLE, blas_threads, machine_cores, usable_cores
from trajaug.core.dataset import Dataset
from trajaug.executors import LocalExecutor
from trajaug.sim.rollout import make_env
from trajaug.sim.vector_task import VectorTask


def cores_in_worker(cell: int) -> tuple[int, str]:
    import os

    return usable_cores(), os.environ.get(CORES_VARIABLE, "")


def test_pool_workers_get_their_share_of_the_cores() -> None:
    with LocalExecutor(2) as pool:
        seen = dict(pool.map_unordered(cores_in_worker, [0, 1]))
    share = max(1, machine_cores() // 2)
    assert seen == {0: (share, str(share)), 1: (share, str(share))}


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3), ("", None), ("many", None), ("0", 1)])
def test_usable_cores_reads_the_share(monkeypatch: pytest.MonkeyPatch, value: str, expected: int | None) -> None:
    monkeypatch.setenv(CORES_VARIABLE, value)
    assert usable_cores() == (machine_cores() if expected is None else expected)


@pytest.mark.parametrize(("share", "copies", "threads"), [("1", 32, 1), ("2", 32, 2), ("2", 8, 1)])
def test_vector_task_steps_on_no_more_threads_than_its_share(monkeypatch: pytest.MonkeyPatch, share: str,
                                                             copies: int, threads: int) -> None:
    monkeypatch.setenv(CORES_VARIABLE, share)
    task = VectorTask([make_env("HalfCheetah-v5") for _ in range(copies)])
    try:
        assert task.threads == threads
    finally:
        task.close()


def blas_thread_counts() -> list[int]:
    """Threads of each BLAS library loaded in this process (numpy's OpenBLAS)."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_threads_holds_numpys_blas_to_the_count_and_restores_it() -> None:
    before = blas_thread_counts()
    assert before, "numpy's BLAS library was not found"
    with blas_threads(1):
        assert blas_thread_counts() == [1] * len(before)
    assert blas_thread_counts() == before


def test_the_nearest_demo_rows_are_the_same_on_one_blas_thread_or_several(cheetah_demos: Dataset) -> None:
    """CAT's hint product may differ in its last bits with OpenBLAS's thread count (on an AMD EPYC without AVX-512,
    (32 × 17)·(17 × 7 000) on two threads differed from one thread's in 5% of its elements, by ≤ 4e-6); the
    nearest demo rows it picks, all the hint uses, do not. (``augment`` runs on one thread anyway: the next test.)"""
    std = cheetah_demos.observations.std(axis=0) + 1e-3
    mean = cheetah_demos.observations.mean(axis=0)
    hints = DemoHints(cheetah_demos, mean, std, "nearest")
    rng = np.random.default_rng(0)
    states = cheetah_demos.observations[rng.choice(len(cheetah_demos), 32)] + 0.3 * std * rng.standard_normal((32, 17))
    with blas_threads(1):
        one = hints.nearest_rows(states)
    with blas_threads(max(2, machine_cores())):
        several = hints.nearest_rows(states)
    np.testing.assert_array_equal(one, several)
    assert len(set(one.tolist())) > 16  # the queries are spread over the demos, not one row


def test_augmenters_fit_and_sample_on_one_blas_thread(short_cheetah_demos: Dataset,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[int]] = []
    fit, sample = NoiseAugmenter.fit, NoiseAugmenter.sample

    def recording_fit(self: NoiseAugmenter, *args: object, **kwargs: object) -> object:
        seen.append(blas_thread_counts())
        return fit(self, *args, **kwargs)  # type: ignore[arg-type]

    def recording_sample(self: NoiseAugmenter, *args: object, **kwargs: object) -> object:
        seen.append(blas_thread_counts())
        return sample(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(NoiseAugmenter, "fit", recording_fit)
    monkeypatch.setattr(NoiseAugmenter, "sample", recording_sample)
    before = blas_thread_counts()
    augment("noise", short_cheetah_demos, per_episode=1, seed=0)
    assert seen == [[1] * len(before)] * 2
    assert blas_thread_counts() == before
