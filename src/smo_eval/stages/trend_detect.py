"""Change detection on KPI series: a binomial CUSUM per series, one limit for all of them set
so that the chance of any false alarm in a run is `trend.detect.level`.

Every monitored KPI is a rate of bad events per period (missed violations among positives
for recall, false flags among flagged items for precision, false positives among negatives
for FPR, disagreements among audited judgments for QA), and an alarm means that rate rose.

- **Baseline.** The first `baseline_periods` periods with data of a series: x0 bad events in
  n0 trials. A series with too few periods or baseline trials is "not enough data": it is
  reported, never alarmed.
- **CUSUM.** After the baseline, S_t = max(0, S_{t-1} + l_t) with the binomial
  log-likelihood ratio l_t = x_t log(p1/p0) + (n_t - x_t) log((1-p1)/(1-p0)) of the period's
  x_t bad events in n_t trials (Reynolds & Stoumbos' Bernoulli CUSUM, summed per period, so
  periods of any size weigh by their evidence); p0 is the baseline's Wilson upper bound at
  `margin` standard errors and p1 has `odds_ratio` times its odds. A period is in alarm when
  S_t > h, and the chart restarts at 0 after it (so a KPI that recovered stops alarming at
  once, and one that stays down alarms again); consecutive alarm periods are one episode,
  whose change started in the period after S was last 0.
  Why the margin: with p0 = x0/n0, a baseline that ran low by two standard errors makes every
  later period's increment positive on average, in proportion to the period's size, so over
  a dozen periods of a few hundred trials the CUSUM climbs with no change at all; across a
  hundred series some baseline always ran low, and the limit has to sit above that climb
  (on the sample world 29 instead of 5.5, and alarms came two periods later).
- **One limit, family-wise.** h is the (1 - level) quantile of max over series and periods
  of S in `simulations` histories drawn with no change: each series' baseline and periods
  redrawn as binomials at its rate (x0 + 1/2) / (n0 + 1) and its observed trials per period,
  the design re-derived from the redrawn baseline (so the uncertainty of a short baseline is
  in the limit), all series at once. So P(any alarm | no change) is about `level` across
  every series of the run - not per series, where hundreds of KPIs would cry wolf weekly.
  The simulation draws series independently; slices that overlap (a category and the whole)
  move together, which makes the largest of them, and with it the false-alarm rate, smaller
  (checked on 200 simulated stable item-level histories in tests/test_trend.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smo_eval.config.schema_trend import TrendDetectConfig

ALARM, IN_CONTROL, NOT_ENOUGH = "alarm", "in_control", "not_enough_data"


@dataclass(frozen=True)
class Baselines:
    """Per series: whether it is monitored (and why not), the last baseline period, counts."""

    monitored: np.ndarray   # bool (m,)
    reason: list[str]
    end: np.ndarray         # int (m,): last period of the baseline (-1: none)
    n0: np.ndarray
    x0: np.ndarray

    @property
    def p0(self) -> np.ndarray:
        return (self.x0 + 0.5) / (self.n0 + 1.0)


def wilson_upper(x: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    """Wilson score upper bound of x / n at z standard errors (above 0 at x = 0, below 1
    unless x = n); x / n itself at z = 0."""
    n = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    p = np.asarray(x, dtype=np.float64) / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return np.clip((centre + half) / (1 + z2 / n), 1e-6, 1 - 1e-6)


@dataclass(frozen=True)
class Detection:
    """What the CUSUM found: per series its state and path, the limit, the alarm episodes."""

    baselines: Baselines
    state: list[str]
    cusum: np.ndarray       # (m, T): NaN up to the baseline's end and for unmonitored series
    in_alarm: np.ndarray    # (m, T) bool
    limit: float
    episodes: list[dict[str, int]]   # series, change, alarm, end (period indices)


def baselines(trials: np.ndarray, cfg: TrendDetectConfig, bad: np.ndarray) -> Baselines:
    """Which series have enough data to monitor, and their baseline counts."""
    m = trials.shape[0]
    need = cfg.baseline_periods + cfg.min_periods
    end = np.full(m, -1, dtype=np.int64)
    n0 = np.zeros(m, dtype=np.float64)
    x0 = np.zeros(m, dtype=np.float64)
    monitored = np.zeros(m, dtype=bool)
    reason = []
    for i in range(m):
        with_data = np.flatnonzero(trials[i] > 0)
        if len(with_data) < need:
            reason.append(f"{len(with_data)} periods with data; needs {cfg.baseline_periods} "
                          f"baseline + {cfg.min_periods}")
            continue
        end[i] = with_data[cfg.baseline_periods - 1]
        n0[i], x0[i] = trials[i, :end[i] + 1].sum(), bad[i, :end[i] + 1].sum()
        if n0[i] < cfg.min_baseline:
            reason.append(f"baseline of {int(n0[i])} trials < {cfg.min_baseline}")
            continue
        monitored[i] = True
        reason.append("")
    return Baselines(monitored, reason, end, n0, x0)


def design(x0: np.ndarray, n0: np.ndarray, cfg: TrendDetectConfig
           ) -> tuple[np.ndarray, np.ndarray]:
    """Per-event and per-non-event log-likelihood ratios of p1 (odds x odds_ratio) against
    the in-control rate p0, the baseline's Wilson upper bound at `margin` standard errors."""
    p0 = wilson_upper(x0, n0, cfg.margin)
    odds = cfg.odds_ratio * p0 / (1.0 - p0)
    p1 = odds / (1.0 + odds)
    return np.log(p1 / p0), np.log((1.0 - p1) / (1.0 - p0))


def cusum(trials: np.ndarray, bad: np.ndarray, end: np.ndarray, up: np.ndarray,
          down: np.ndarray, limit: float = math.inf) -> np.ndarray:
    """S per series and period; NaN up to each series' baseline end. After a period with
    data where S > limit the chart restarts at 0 (the period keeps its S). `trials`/`bad`
    may carry a leading replicate axis (the simulation), `end`, `up`, `down` broadcast."""
    periods = trials.shape[-1]
    out = np.full(trials.shape, np.nan)
    s = np.zeros(trials.shape[:-1])
    for t in range(periods):
        active = t > end
        step = bad[..., t] * up + (trials[..., t] - bad[..., t]) * down
        s = np.where(active, np.maximum(0.0, s + step), 0.0)
        out[..., t] = np.where(active, s, np.nan)
        s = np.where((s > limit) & (trials[..., t] > 0), 0.0, s)
    return out


def limit(trials: np.ndarray, base: Baselines, cfg: TrendDetectConfig,
          rng: np.random.Generator) -> float:
    """The family-wise limit h: P(max over series and periods of S > h) <= level in
    histories without a change (see the module docstring). The recursion is `cusum`'s,
    without restarts: the first time any series crosses is what a false alarm is."""
    keep = base.monitored
    if not keep.any():
        return math.nan
    end, n0, p0 = base.end[keep], base.n0[keep].astype(np.int64), base.p0[keep]
    n = trials[keep].astype(np.int64)
    reps = cfg.simulations
    largest = np.zeros(reps)
    # Replicates in blocks keep memory at block x series.
    block = max(1, min(reps, int(4e6 // max(len(p0), 1))))
    for first in range(0, reps, block):
        size = min(block, reps - first)
        up, down = design(rng.binomial(n0, p0, size=(size, len(p0))), n0, cfg)
        s = np.zeros((size, len(p0)))
        top = np.zeros(size)
        for t in range(int(end.min()) + 1, n.shape[1]):
            active = t > end
            bad = rng.binomial(np.where(active, n[:, t], 0), p0, size=(size, len(p0)))
            s = np.where(active, np.maximum(0.0, s + bad * up + (n[:, t] - bad) * down), 0.0)
            np.maximum(top, s.max(axis=1), out=top)
        largest[first:first + size] = top
    rank = min(reps, math.ceil((1.0 - cfg.level) * (reps + 1)))
    return float(np.sort(largest)[rank - 1])


def detect(trials: np.ndarray, bad: np.ndarray, cfg: TrendDetectConfig,
           rng: np.random.Generator) -> Detection:
    """Baselines, CUSUM paths, the family-wise limit and the alarm episodes of m series over
    T periods (`trials`, `bad`: (m, T) counts)."""
    base = baselines(trials, cfg, bad)
    up, down = design(base.x0, base.n0, cfg)
    h = limit(trials, base, cfg, rng)
    path = cusum(trials.astype(np.float64), bad.astype(np.float64), base.end, up, down,
                 h if np.isfinite(h) else math.inf)
    path[~base.monitored] = np.nan
    # A period without data observes nothing: it is never "in alarm" (nor ends an episode).
    in_alarm = (np.nan_to_num(path, nan=-np.inf) > h) & (trials > 0) if np.isfinite(h) else \
        np.zeros(path.shape, dtype=bool)
    episodes = []
    for i in np.flatnonzero(in_alarm.any(axis=1)):
        episodes += _episodes(int(i), path[i], in_alarm[i], trials[i], int(base.end[i]))
    state = [ALARM if in_alarm[i].any() else IN_CONTROL if base.monitored[i] else NOT_ENOUGH
             for i in range(len(base.monitored))]
    return Detection(base, state, path, in_alarm, h, episodes)


def _episodes(series: int, path: np.ndarray, alarm: np.ndarray, trials: np.ndarray,
              end: int) -> list[dict[str, int]]:
    """Runs of alarm periods (periods without data in between do not break a run); each
    change starts at the first period with data after S was last 0."""
    observed = np.flatnonzero(trials > 0)
    out = []
    k = 0
    while k < len(observed):
        if not alarm[observed[k]]:
            k += 1
            continue
        first = k
        while k + 1 < len(observed) and alarm[observed[k + 1]]:
            k += 1
        start = int(observed[first])
        # S was 0 after the period (a zero, or a restart after an earlier signal)
        restarted = np.where(alarm[:start], 0.0, path[:start])
        reset = max([end, *np.flatnonzero(restarted == 0.0)])
        change = int(observed[observed > reset][0])
        out.append({"series": series, "change": change, "alarm": start,
                    "end": int(observed[k])})
        k += 1
    return out
