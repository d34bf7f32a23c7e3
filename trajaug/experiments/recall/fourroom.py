"""The Four-Room gridworld of the recall-traces experiments (Goyal et al., ICLR 2019, §5), with its exact reverse
dynamics.

Layout of a ``size × size`` grid (``size`` odd, ≥ 7): walls all around; one wall row and one wall column through the
middle (index ``m = size // 2``) split the interior into four rooms; each of the four wall segments has one doorway
at its middle (Sutton, Precup & Singh 1999 style). The agent starts in the top-left room's corner cell ``(1, 1)``;
the goal is the bottom-right room's corner cell ``(size−2, size−2)``.

States are the indices ``0 … n_states−1`` of the free cells in row-major order. Actions: 0 up, 1 down, 2 left,
3 right; a move into a wall leaves the agent where it is. Entering the goal gives reward 1 and ends the episode
(``terminated``); every other step gives 0; after ``max_episode_steps`` steps the episode is cut (``truncated``, to
be bootstrapped). With slip probability ``p`` the chosen action is replaced by a uniformly random one (of 4) before
it is executed (default 0: deterministic).

Why an own environment instead of ``minigrid``: the experiment needs (1) the *exact* backtracking model — the set of
all (s, a) with step(s, a) = s' — which needs the transition kernel as a table, not as an opaque ``step``; (2) a
vectorised step of many environments in one numpy indexing operation (``next_state[s, a]``) with no per-step Python
or rendering overhead, since a run is millions of steps on one core; (3) the exact success probability of a tabular
policy (a Markov chain over ≤ 300 states), which also needs the kernel as a table. minigrid has directions
(turn/forward actions), partial views and per-env Python steps, none of which the paper's task has.
"""

from __future__ import annotations

import numpy as np

from trajaug.core.errors import TrajaugInputError

N_ACTIONS = 4
ACTION_NAMES = ("up", "down", "left", "right")
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)], dtype=np.int64)
"""(4, 2) row/column change of each action."""


def validate_size(size: int) -> None:
    """Raise :class:`TrajaugInputError` unless ``size`` is an odd integer ≥ 7 (rooms of at least 2 × 2 cells)."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise TrajaugInputError(f"size: must be an integer, got {size!r}")
    if size < 7 or size % 2 == 0:
        raise TrajaugInputError(f"size: must be odd and at least 7, got {size}")


def four_room_walls(size: int) -> np.ndarray:
    """(size, size) bool, True where a wall is: the border, the middle row and column minus four doorways."""
    validate_size(size)
    m = size // 2
    walls = np.zeros((size, size), dtype=bool)
    walls[[0, -1], :] = True
    walls[:, [0, -1]] = True
    walls[m, :] = True
    walls[:, m] = True
    low, high = m // 2, (m + 1 + size - 2) // 2  # the middles of the segments [1, m−1] and [m+1, size−2]
    walls[low, m] = walls[high, m] = False  # doorways in the vertical wall
    walls[m, low] = walls[m, high] = False  # doorways in the horizontal wall
    return walls


class FourRoom:
    """The Four-Room task as tables: ``next_state`` (n_states, 4) is the deterministic kernel step(s, a)."""

    def __init__(self, size: int, max_episode_steps: int, slip: float = 0.0) -> None:
        validate_size(size)
        if max_episode_steps < 1:
            raise TrajaugInputError(f"max_episode_steps: must be ≥ 1, got {max_episode_steps}")
        if not 0.0 <= slip <= 1.0:
            raise TrajaugInputError(f"slip: must be in [0, 1], got {slip}")
        self.size, self.max_episode_steps, self.slip = size, max_episode_steps, float(slip)
        self.walls = four_room_walls(size)
        self.cells = np.argwhere(~self.walls)  # (n_states, 2) row, column of each state
        self.index = np.full((size, size), -1, dtype=np.int64)
        self.index[self.cells[:, 0], self.cells[:, 1]] = np.arange(len(self.cells))
        target = self.cells[:, None, :] + MOVES[None, :, :]  # (n_states, 4, 2); the border keeps it inside
        blocked = self.walls[target[..., 0], target[..., 1]]
        moved = self.index[target[..., 0], target[..., 1]]
        self.next_state = np.where(blocked, np.arange(len(self.cells))[:, None], moved)
        self.start = int(self.index[1, 1])
        self.goal = int(self.index[size - 2, size - 2])
        self._tables = {loops: self._predecessor_table(loops) for loops in (True, False)}

    @property
    def n_states(self) -> int:
        return len(self.cells)

    @property
    def n_actions(self) -> int:
        return N_ACTIONS

    def step(self, state: int, action: int) -> int:
        """The deterministic kernel: the state reached from ``state`` by ``action`` (no slip, no termination)."""
        return int(self.next_state[state, action])

    def coords(self, state: int) -> tuple[int, int]:
        row, col = self.cells[state]
        return int(row), int(col)

    def shortest_path_length(self) -> int:
        """Number of steps of a shortest path from the start to the goal (breadth-first search)."""
        distance = np.full(self.n_states, -1)
        distance[self.start] = 0
        frontier = [self.start]
        while frontier and distance[self.goal] < 0:
            nxt = np.unique(self.next_state[frontier].ravel())
            nxt = nxt[distance[nxt] < 0]
            distance[nxt] = distance[frontier[0]] + 1
            frontier = nxt.tolist()
        return int(distance[self.goal])

    def _predecessor_table(self, self_loops: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded (n_states, max_pred) prev states and actions and (n_states,) counts of :meth:`predecessors`."""
        lists: list[list[tuple[int, int]]] = [[] for _ in range(self.n_states)]
        for prev in range(self.n_states):
            if prev == self.goal:  # terminal: no transition ever leaves it
                continue
            for action in range(N_ACTIONS):
                state = int(self.next_state[prev, action])
                if self_loops or state != prev:
                    lists[state].append((prev, action))
        width = max(len(p) for p in lists)
        states = np.zeros((self.n_states, width), dtype=np.int64)
        actions = np.zeros((self.n_states, width), dtype=np.int64)
        for state, pairs in enumerate(lists):
            for j, (prev, action) in enumerate(pairs):
                states[state, j], actions[state, j] = prev, action
        return states, actions, np.array([len(p) for p in lists], dtype=np.int64)

    def predecessors(self, state: int, self_loops: bool = True) -> list[tuple[int, int]]:
        """Every (prev_state, action) with step(prev_state, action) == ``state``, prev_state not the (terminal)
        goal. A move into a wall is a self-loop, so a state next to a wall lists itself (unless not
        ``self_loops``)."""
        prev, actions, counts = self._tables[self_loops]
        count = int(counts[state])
        return list(zip(prev[state, :count].tolist(), actions[state, :count].tolist(), strict=True))

    def sample_predecessors(self, states: np.ndarray, rng: np.random.Generator,
                            self_loops: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """For (B,) states, one (prev_state, action) each, uniformly among :meth:`predecessors`: two (B,) arrays."""
        prev, actions, counts = self._tables[self_loops]
        count = counts[states]
        if np.any(count == 0):
            raise ValueError("a state without predecessors")
        j = np.minimum((rng.random(len(states)) * count).astype(np.int64), count - 1)
        return prev[states, j], actions[states, j]

    def effective_policy(self, probs: np.ndarray) -> np.ndarray:
        """(n_states, 4) distribution of the *executed* action under policy ``probs`` and the slip."""
        return (1.0 - self.slip) * probs + self.slip / N_ACTIONS

    def success_probability(self, probs: np.ndarray) -> float:
        """Exact probability that the stochastic tabular policy ``probs`` (n_states, 4) reaches the goal from the
        start within ``max_episode_steps`` steps = its expected undiscounted episode return. Forward propagation
        of the state distribution of the absorbing Markov chain (one ``bincount`` per step)."""
        flow_table = self.effective_policy(probs)
        targets = self.next_state.ravel()
        dist: np.ndarray = np.zeros(self.n_states)
        dist[self.start] = 1.0
        reached = 0.0
        for _ in range(self.max_episode_steps):
            dist = np.bincount(targets, weights=(dist[:, None] * flow_table).ravel(), minlength=self.n_states)
            reached += dist[self.goal]
            dist[self.goal] = 0.0
        return float(min(reached, 1.0))


class TrueBacktrackingModel:
    """The exact backtracking model of :class:`FourRoom` (the paper's "access to the true backtracking model"):
    from s', (s, a) is drawn uniformly among the predecessors of s' — with the self-loops of wall bumps, or, with
    ``self_loops=False``, among the predecessors that moved (a bump carries no information on how s' is reached)."""

    def __init__(self, env: FourRoom, self_loops: bool = True) -> None:
        self.env, self.self_loops = env, self_loops

    def sample_traces(self, ends: np.ndarray, length: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Backward traces of ``length`` steps ending in the (B,) states ``ends``, returned in forward order:
        states (B, length + 1) with ``states[:, -1] == ends`` and actions (B, length) with
        ``step(states[:, t], actions[:, t]) == states[:, t + 1]``."""
        ends = np.asarray(ends, dtype=np.int64)
        states = np.empty((len(ends), length + 1), dtype=np.int64)
        actions = np.empty((len(ends), length), dtype=np.int64)
        states[:, length] = ends
        for t in range(length - 1, -1, -1):
            states[:, t], actions[:, t] = self.env.sample_predecessors(states[:, t + 1], rng, self.self_loops)
        return states, actions

    def sample_trace(self, end_state: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One trace ending in ``end_state``: states (length + 1,), actions (length,) in forward order."""
        states, actions = self.sample_traces(np.array([end_state]), length, rng)
        return states[0], actions[0]


class VectorFourRoom:
    """``n_envs`` copies of ``env`` stepped together; a finished episode restarts at the start state at once."""

    def __init__(self, env: FourRoom, n_envs: int, rng: np.random.Generator) -> None:
        self.env, self.rng = env, rng
        self.states = np.full(n_envs, env.start, dtype=np.int64)
        self.elapsed = np.zeros(n_envs, dtype=np.int64)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Apply (n_envs,) actions: (next_states, rewards float64, terminated, truncated), each (n_envs,).
        ``next_states`` are the states reached (before any reset); ``self.states`` then holds the states the next
        step starts from (the start state where an episode ended)."""
        env = self.env
        if env.slip > 0.0:
            slipped = self.rng.random(len(actions)) < env.slip
            actions = np.where(slipped, self.rng.integers(0, N_ACTIONS, len(actions)), actions)
        next_states = env.next_state[self.states, actions]
        terminated = next_states == env.goal
        self.elapsed += 1
        truncated = (self.elapsed >= env.max_episode_steps) & ~terminated
        done = terminated | truncated
        self.states = np.where(done, env.start, next_states)
        self.elapsed[done] = 0
        return next_states, terminated.astype(np.float64), terminated, truncated
