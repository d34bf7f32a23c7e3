"""The ``device`` run option: resolving it, where every trained network's tensors live, CPU checkpoints, Ray GPUs.

On a CPU-only machine the plumbing is checked on torch's ``meta`` device: a tensor left on the CPU in a meta
computation raises ("Tensor on device meta is not on the expected device cpu"), so a training step that runs on meta
built every tensor it uses on the device it was given. The end-to-end test runs on the CPU everywhere and, where torch
sees a GPU, on CUDA too (the only CUDA-marked case: the same assertions).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from trajaug.augment import ModelFiles, augment
from trajaug.augment.adversarial import ppo
from trajaug.augment.adversarial.gail import GAILConfig
from trajaug.augment.adversarial.ppo import ActorCritic, Rollout, optimizer_for, update
from trajaug.augment.adversarial.trainer import AdversarialTrainer
from trajaug.augment.backtracking.ensemble import GaussianEnsemble
from trajaug.augment.diffusion.synther import SynthERAugmenter, SynthERConfig, new_models
from trajaug.augment.networks import Discriminator
from trajaug.bc.policy import load_checkpoint as load_bc
from trajaug.bc.train import BCConfig, bc_step, train_bc, training_tensors
from trajaug.core import device as device_module
from trajaug.core.dataset import Dataset
from trajaug.core.device import cpu_state, device_record, on_cpu, resolve_device
from trajaug.core.errors import TrajaugInputError
from trajaug.executors import LocalExecutor, make_executor
from trajaug.offrl import IQL, TD3BC, Actor, IQLConfig, TD3BCConfig, train_offrl
from trajaug.offrl.checkpoint import load_checkpoint as load_offrl
from trajaug.offrl.replay import Replay, Transitions

META = torch.device("meta")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU here")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where torch sees neither CUDA nor MPS (whatever this one has)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)


@pytest.fixture
def cuda_flags(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Leave the process-wide cuDNN / TF32 flags and CUBLAS_WORKSPACE_CONFIG as they were."""
    cudnn: Any = torch.backends.cudnn
    backends = (torch.backends.cuda.matmul, cudnn, cudnn.conv, cudnn.rnn)
    saved = [b.fp32_precision for b in backends], cudnn.deterministic, cudnn.benchmark
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    for backend, value in zip(backends, saved[0], strict=True):
        backend.fp32_precision = value
    cudnn.deterministic, cudnn.benchmark = saved[1], saved[2]


def non_fused(*optimizers: torch.optim.Optimizer) -> None:
    """torch's fused Adam has no meta kernel; the loop's arithmetic is the same."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["fused"] = False


def devices(*modules: torch.nn.Module) -> set[str]:
    return {t.device.type for m in modules for t in (*m.parameters(), *m.buffers())}


# -- resolving ---------------------------------------------------------------------------------------------------

def test_cpu_and_auto_without_a_gpu_resolve_to_the_cpu(no_gpu: None) -> None:
    assert resolve_device("cpu") == resolve_device("auto") == resolve_device(" AUTO ") == torch.device("cpu")
    assert resolve_device(META) == META  # a torch.device is taken as it is (tests, internal callers)
    assert device_record("cpu") == {"type": "cpu", "index": None, "name": None}


@pytest.mark.parametrize("spec", ["cuda:3", "cuda", "mps", "tpu", "cuda:x", "meta"])
def test_an_unavailable_or_unknown_device_is_one_line_naming_the_option(no_gpu: None, spec: str) -> None:
    with pytest.raises(TrajaugInputError) as caught:
        resolve_device(spec)
    message = str(caught.value)
    assert message.startswith(f"--device {spec}:") and "\n" not in message
    assert ("sees no" in message) if spec in ("cuda:3", "cuda", "mps") else ("one of auto, cpu, cuda" in message)


def test_a_missing_gpu_index_names_the_gpus_torch_sees(monkeypatch: pytest.MonkeyPatch, cuda_flags: None) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(TrajaugInputError, match=r"^--device cuda:3: torch sees 2 CUDA GPUs \(cuda:0 to cuda:1\)$"):
        resolve_device("cuda:3")


def test_auto_takes_the_first_gpu_and_sets_the_determinism_flags(monkeypatch: pytest.MonkeyPatch,
                                                                 cuda_flags: None) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"Test GPU {index}")
    cudnn: Any = torch.backends.cudnn
    cudnn.benchmark = True
    assert resolve_device("auto") == resolve_device("cuda") == resolve_device("CUDA:0") == torch.device("cuda", 0)
    assert cudnn.deterministic and not cudnn.benchmark
    assert {b.fp32_precision for b in (torch.backends.cuda.matmul, cudnn, cudnn.conv, cudnn.rnn)} == {"ieee"}
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    record = device_record(torch.device("cuda", 0))
    assert (record["type"], record["index"], record["name"], record["cudnn_deterministic"]) == (
        "cuda", 0, "Test GPU 0", True)


def test_checkpoint_state_is_copied_to_the_cpu() -> None:
    weights = torch.ones(3)
    state = cpu_state({"net": {"w": weights}, "groups": [{"params": [0, 1], "betas": (0.9, 0.99)}], "step": 3})
    assert state["groups"] == [{"params": [0, 1], "betas": (0.9, 0.99)}] and state["step"] == 3
    assert state["net"]["w"].device.type == "cpu" and state["net"]["w"].data_ptr() != weights.data_ptr()
    module = torch.nn.Linear(2, 2)
    assert on_cpu(module) is module  # already on the CPU: evaluated as it is, no copy


# -- every trained network builds and steps on the device it is given (meta) ------------------------------------

def test_bc_policy_and_resident_data_live_on_the_device_and_a_step_stays_there(
        short_cheetah_demos: Dataset) -> None:
    policy, inputs, targets = training_tensors(short_cheetah_demos, BCConfig(hidden=(16,)), META)
    assert devices(policy) == {"meta"} and inputs.device == targets.device == META
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
    loss = bc_step(policy, optimizer, inputs, targets, torch.zeros(8, dtype=torch.long, device=META))
    assert loss.device == META and devices(policy) == {"meta"}


def tiny_transitions(rows: int = 40, obs_dim: int = 3, act_dim: int = 2) -> Transitions:
    rng = np.random.default_rng(0)
    return Transitions(rng.normal(size=(rows, obs_dim)).astype(np.float32),
                       rng.uniform(-1, 1, (rows, act_dim)).astype(np.float32), rng.normal(size=rows).astype(np.float32),
                       rng.normal(size=(rows, obs_dim)).astype(np.float32), rng.random(rows) < 0.1, 0, 0)


@pytest.mark.parametrize("learner_cls, config", [(TD3BC, TD3BCConfig(hidden=(8,))), (IQL, IQLConfig(hidden=(8,)))])
def test_offline_rl_networks_replay_and_updates_live_on_the_device(learner_cls: Any, config: Any) -> None:
    replay = Replay(tiny_transitions(), np.zeros(3), np.ones(3), device=META)
    assert replay.rows.device == META
    actor = Actor(3, 2, (8,)).to(META)
    learner = learner_cls(config, actor, seed=0)
    non_fused(*(v for v in vars(learner).values() if isinstance(v, torch.optim.Optimizer)))
    for _ in range(2):  # TD3+BC's actor and targets move every second update
        losses = learner.update(replay.sample(4))
    assert losses.device == META
    assert devices(*learner.networks().values()) == {"meta"}


def test_reverse_ensembles_and_their_statistics_live_on_the_device() -> None:
    ensemble = GaussianEnsemble(np.zeros((10, 3)), np.ones((10, 2)), members=3, hidden=(8,), seed=0, device=META)
    assert devices(ensemble) == {"meta"}
    assert {t.device for t in (ensemble.x_mean, ensemble.x_std, ensemble.y_mean, ensemble.y_std)} == {META}
    nll = ensemble.nll(torch.zeros(3, 4, 3, device=META), torch.zeros(3, 4, 2, device=META))
    assert nll.device == META and nll.shape == (3, 4)


def test_synther_denoiser_trains_on_the_device() -> None:
    config = SynthERConfig(width=8, layers=1, steps=3, batch_size=4)
    augmenter = SynthERAugmenter(config, device=META)
    augmenter.model, augmenter.ema = new_models(5, config, seed=0, device=augmenter.device)
    losses = augmenter._train(torch.zeros(20, 5, device=META), None)
    assert losses.device == META and losses.shape == (3,)
    assert devices(augmenter.model, augmenter.ema) == {"meta"}


def test_ppo_update_moves_the_rollout_to_the_policy_device() -> None:
    policy = ActorCritic(3, 2, (8,), 0.0).to(META)
    optimizer = optimizer_for(policy, 1e-3)
    rollout = Rollout(8, 2, 3, 2)
    rollout.finish(np.zeros(2, np.float32), np.zeros(2, bool), 0.99, 0.95)
    update(policy, optimizer, rollout, GAILConfig(ppo_batch_size=4, ppo_epochs=1), np.random.RandomState(0), None)
    assert devices(policy) == {"meta"}
    assert {t.device.type for state in optimizer.state.values() for t in state.values() if t.dim()} == {"meta"}


def test_discriminator_and_adversarial_trainer_train_on_the_device(short_cheetah_demos: Dataset) -> None:
    discriminator = Discriminator(3, 2, np.zeros(3), np.ones(3), (8,), 1e-3, device=META)
    assert devices(discriminator) == {"meta"}
    assert {p.device for group in discriminator.optimizer.param_groups for p in group["params"]} == {META}
    trainer = AdversarialTrainer(short_cheetah_demos, GAILConfig(disc_hidden=(8,)), seed=0, device=META)
    assert devices(trainer.discriminator) == {"meta"}


def test_checkpoints_load_onto_the_device_they_are_asked_for(short_cheetah_demos: Dataset, tmp_path: Path) -> None:
    train_bc(short_cheetah_demos, BCConfig(steps=2, hidden=(8,)), tmp_path / "bc")
    assert devices(load_bc(tmp_path / "bc" / "policy.pt", device=META).policy) == {"meta"}


def test_the_device_paths_of_gail_compute_what_the_cpu_path_computes(monkeypatch: pytest.MonkeyPatch,
                                                                     short_cheetah_demos: Dataset) -> None:
    """The paths a GPU takes, forced on the CPU: PPO updates a copy of the policy and copies its weights back to the
    collecting one (no second thread), the discriminator scores through a CPU copy refreshed after each update. They
    must give the CPU path's bytes."""
    config = GAILConfig(total_steps=512, n_envs=2, n_steps=128, ppo_batch_size=64, ppo_epochs=2, hidden=(16,),
                        disc_hidden=(16,), bc_warmstart_steps=10)
    direct, _ = augment("gail", short_cheetah_demos, config, per_episode=1, seed=0)
    apart: list[object] = []
    monkeypatch.setattr(ppo, "trains_apart", lambda device: apart.append(device) or True)
    monkeypatch.setattr(Discriminator, "scores_itself", lambda self: apart.append(self) is None and False)
    forced, _ = augment("gail", short_cheetah_demos, config, per_episode=1, seed=0)
    assert len(apart) > 2  # both forced paths ran
    for name in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts"):
        assert np.array_equal(getattr(forced, name), getattr(direct, name)), name


# -- end to end: the CPU everywhere, CUDA where torch sees a GPU ------------------------------------------------

def file_devices(path: Path) -> set[str]:
    """Devices of every tensor in a torch file, loaded without ``map_location`` (where it was saved from)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            found.add(value.device.type)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(torch.load(path, weights_only=True))
    return found


@pytest.mark.parametrize("device", DEVICES)
def test_every_trained_network_runs_on_the_device_and_saves_cpu_checkpoints(
        device: str, short_cheetah_demos: Dataset, tmp_path: Path) -> None:
    where = resolve_device(device)
    policy, metrics = train_bc(short_cheetah_demos, BCConfig(steps=30, hidden=(16,)), tmp_path / "bc", device=device)
    again, _ = train_bc(short_cheetah_demos, BCConfig(steps=30, hidden=(16,)), device=device)
    assert devices(policy) == {"cpu"} and metrics["device"] == device_record(where)
    assert all(torch.equal(a, b) for a, b in zip(policy.state_dict().values(), again.state_dict().values(),
                                                 strict=True))  # the same seed on the same device: the same bits
    assert file_devices(tmp_path / "bc" / "policy.pt") == {"cpu"}
    assert devices(load_bc(tmp_path / "bc" / "policy.pt", device=device).policy) == {where.type}

    actor, offrl = train_offrl(short_cheetah_demos, "td3bc", TD3BCConfig(steps=20, hidden=(16,)), tmp_path / "offrl",
                               eval_every=10, eval_episodes=1, eval_noise=(0.0,), device=device)
    assert devices(actor) == {"cpu"} and offrl["device"]["type"] == where.type and len(offrl["final"]) == 1
    assert file_devices(tmp_path / "offrl" / "policy.pt") == {"cpu"}
    assert devices(load_offrl(tmp_path / "offrl" / "policy.pt", device=device).policy) == {where.type}

    runs = {"synther": SynthERConfig(width=16, layers=1, steps=20, batch_size=32, sample_steps=4),
            "gail": GAILConfig(total_steps=256, n_envs=2, n_steps=128, ppo_batch_size=64, ppo_epochs=1, hidden=(16,),
                               disc_hidden=(16,), bc_warmstart_steps=10)}
    with warnings.catch_warnings():  # warn_only determinism on CUDA: an op without a deterministic kernel warns
        warnings.filterwarnings("error", message=".*deterministic.*")
        for method, config in runs.items():
            saved = tmp_path / f"{method}.pt"
            augmented, _ = augment(method, short_cheetah_demos, config, per_episode=1, seed=0, device=device,
                                   files=ModelFiles(save=str(saved)))
            assert augmented.metadata["device"] == device_record(where)
            assert np.isfinite(augmented.observations).all() and len(augmented)
            assert file_devices(saved) == {"cpu"}
        noise, _ = augment("noise", short_cheetah_demos, per_episode=1, device=device)
        assert noise.metadata["device"] is None  # trains nothing: no device to record


# -- Ray: a cell can ask for a GPU --------------------------------------------------------------------------------

class FakeRay:
    """Just enough of ``ray`` for :meth:`RayExecutor.map_unordered`: records each task's ``options``."""

    exceptions = SimpleNamespace(RayTaskError=type("RayTaskError", (Exception,), {}),
                                 RayError=type("RayError", (Exception,), {}))

    def __init__(self) -> None:
        self.options: list[dict[str, Any]] = []

    def is_initialized(self) -> bool:
        return True

    def remote(self, fn: Any) -> Any:
        fake = self

        class Task:
            def options(self, **options: Any) -> Any:
                fake.options.append(options)
                return SimpleNamespace(remote=lambda run, cell, keys, *values: (run(cell), "node"))

        return Task()

    def put(self, value: Any) -> Any:
        return value

    def wait(self, refs: list[Any], num_returns: int) -> tuple[list[Any], list[Any]]:
        return refs[:1], refs[1:]

    def get(self, ref: Any) -> Any:
        return ref

    def cancel(self, ref: Any) -> None:
        pass


def test_ray_cells_ask_for_the_gpus_the_executor_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from trajaug.executors import ray as ray_executor

    fake = FakeRay()
    monkeypatch.setattr(ray_executor, "_import_ray", lambda: fake)
    for num_gpus, expected in ((0, {"num_cpus": 1}), (0.5, {"num_cpus": 1, "num_gpus": 0.5})):
        pool = make_executor("ray", num_gpus=num_gpus)
        assert sorted(value for _, value in pool.map_unordered(abs, [-1, -2])) == [1, 2]
        assert all({k: o[k] for k in o if k.startswith("num_")} == expected for o in fake.options[-2:])
    with pytest.raises(TrajaugInputError, match="^--num-gpus -1: must be ≥ 0$"):
        make_executor("ray", num_gpus=-1)
    assert isinstance(make_executor("local", workers=1, num_gpus=1), LocalExecutor)  # local cells ignore it


def test_cpu_runs_are_the_same_whatever_the_device_spelling(no_gpu: None, short_cheetah_demos: Dataset) -> None:
    config = BCConfig(steps=20, hidden=(16,))
    runs = [train_bc(short_cheetah_demos, config, device=spec)[0] for spec in ("cpu", "auto", torch.device("cpu"))]
    default = train_bc(short_cheetah_demos, config)[0]
    for policy in runs:
        assert all(torch.equal(a, b) for a, b in zip(policy.state_dict().values(), default.state_dict().values(),
                                                     strict=True))
    for hyperparameters in (BCConfig, TD3BCConfig, IQLConfig, SynthERConfig, GAILConfig):  # a run option, kept apart
        assert "device" not in {field.name for field in dataclasses.fields(hyperparameters)}
