"""The figures of the insights endpoint and the sentences they support: framework-free.

The selectors aggregate the decision log into these figures; the intervals and tests are those of
`experiments.stats`; each sentence appears only when the evidence behind it holds, and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import pairwise

from experiments.stats import (
    ArmStats,
    ProportionStats,
    SampleStats,
    TestResult,
    UndefinedStatisticError,
    frequentist_test,
)

PERSONALIZED_ALGORITHMS = ("personalized", "retention_focus")  # everything else ranked without personal weights
ALPHA = 0.05  # 95% intervals
SATISFIED_RATING = 4
FUNNEL_STEPS = ("recommended", "viewed", "chosen", "converted", "satisfied")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


_CONSTANT_ARM = {
    ProportionStats: ProportionStats(n=2, conversions=0),
    SampleStats: SampleStats(n=2, sum=0.0, sum_squares=0.0),
}


def mean_interval(arm: ArmStats, *, lower: float, upper: float) -> Interval | None:
    """The 95% interval of one arm's mean, clipped to the metric's range [lower, upper].

    It is Welch's interval of `frequentist_test` against a constant arm (no variance): the effect is then
    the arm's mean, its standard error `sqrt(variance / n)` and the degrees of freedom `n - 1`, so this is
    the one-sample t interval on experiments.stats' variance convention. None when the data do not define
    it: fewer than 2 units, or no variation at all (every session converted, or none).
    """
    try:
        result = frequentist_test(_CONSTANT_ARM[type(arm)], arm, alpha=ALPHA, relative=False)
    except UndefinedStatisticError:
        return None
    return Interval(max(lower, result.ci_low), min(upper, result.ci_high))


def compare(control: ArmStats, treatment: ArmStats, *, relative: bool) -> TestResult | None:
    """Treatment against control (experiments.stats' Welch test at 95%), None where undefined."""
    try:
        return frequentist_test(control, treatment, alpha=ALPHA, relative=relative)
    except UndefinedStatisticError:
        return None


@dataclass(frozen=True)
class StrategyFigures:
    algorithm: str
    conversion: ProportionStats  # sessions, converted sessions
    satisfaction: SampleStats  # rated sessions: the ratings' count, sum and sum of squares

    @property
    def personalized(self) -> bool:
        return self.algorithm in PERSONALIZED_ALGORITHMS


@dataclass(frozen=True)
class ArmFigures:
    algorithms: tuple[str, ...]
    conversion: ProportionStats
    satisfaction: SampleStats


def arm_figures(strategies: tuple[StrategyFigures, ...], *, personalized: bool) -> ArmFigures:
    arm = [s for s in strategies if s.personalized == personalized]
    return ArmFigures(
        algorithms=tuple(sorted(s.algorithm for s in arm)),
        conversion=ProportionStats(
            n=sum(s.conversion.n for s in arm), conversions=sum(s.conversion.conversions for s in arm)
        ),
        satisfaction=SampleStats(
            n=sum(s.satisfaction.n for s in arm),
            sum=float(sum(s.satisfaction.sum for s in arm)),
            sum_squares=float(sum(s.satisfaction.sum_squares for s in arm)),
        ),
    )


@dataclass(frozen=True)
class FunnelFigures:
    """Sessions that reached each step or a later one (a reported outcome implies a choice, a rating of 4
    or 5 a conversion), so the steps never increase; `rated` are the converted sessions with a rating."""

    recommended: int
    viewed: int
    chosen: int
    converted: int
    satisfied: int
    rated: int

    def steps(self) -> tuple[tuple[str, int], ...]:
        return tuple((name, getattr(self, name)) for name in FUNNEL_STEPS)


@dataclass(frozen=True)
class TimeToMatch:
    """Hours from a session to its conversion: the outcome's conversion time where the platform reported
    it, else the customer's time to decision on the session."""

    matches: int
    from_conversion_time: int
    from_decision_time: int
    median_hours: float | None
    p90_hours: float | None

    @property
    def source(self) -> str | None:
        if self.from_conversion_time and self.from_decision_time:
            return "mixed"
        if self.from_conversion_time:
            return "conversion_time"
        return "decision_time" if self.from_decision_time else None


@dataclass(frozen=True)
class InsightFigures:
    strategies: tuple[StrategyFigures, ...]
    funnel: FunnelFigures
    satisfaction_first_half: SampleStats  # ratings of the sessions of the first half of the period
    satisfaction_second_half: SampleStats
    time_to_match: TimeToMatch

    @property
    def personalized(self) -> ArmFigures:
        return arm_figures(self.strategies, personalized=True)

    @property
    def non_personalized(self) -> ArmFigures:
        return arm_figures(self.strategies, personalized=False)


MIN_ARM_SESSIONS = 20  # sessions each side needs before personalization's conversion is judged
MIN_RATINGS = 10  # ratings each side needs before a satisfaction difference or trend is called
MIN_STEP_SESSIONS = 20  # sessions a funnel step starts from before its drop-off is called out
MIN_STRATEGY_SESSIONS = 30  # sessions a strategy needs before it can be named the best


@dataclass(frozen=True)
class Insight:
    kind: str
    message: str
    evidence: dict


def _test_evidence(result: TestResult) -> dict:
    return {
        "effect": round(result.effect, 6),
        "ci_low": round(result.ci_low, 6),
        "ci_high": round(result.ci_high, 6),
        "p_value": round(result.p_value, 6),
    }


def _personalization_conversion(treated: ProportionStats, control: ProportionStats) -> Insight | None:
    if min(treated.n, control.n) < MIN_ARM_SESSIONS:
        return None
    result = compare(control, treated, relative=True)
    if result is None or not result.significant:
        return None
    better = result.effect > 0
    action = (
        "Extend personal ranking to more customers and contexts."
        if better
        else "Review the personal weights before extending them; the segment ranking does better."
    )
    return Insight(
        "personalization_conversion",
        f"Personalized sessions convert significantly {'better' if better else 'worse'} than the others: "
        f"{treated.mean:.1%} of {treated.n} against {control.mean:.1%} of {control.n} (relative lift "
        f"{result.effect:+.0%}, 95% CI {result.ci_low:+.0%} to {result.ci_high:+.0%}). {action}",
        {
            "personalized_sessions": treated.n,
            "personalized_conversions": treated.conversions,
            "other_sessions": control.n,
            "other_conversions": control.conversions,
            **_test_evidence(result),
        },
    )


def _personalization_satisfaction(treated: SampleStats, control: SampleStats) -> Insight | None:
    if min(treated.n, control.n) < MIN_RATINGS:
        return None
    result = compare(control, treated, relative=False)
    if result is None or not result.significant:
        return None
    better = result.effect > 0
    action = (
        "Personal ranking finds manufacturers customers are happier with."
        if better
        else "Personal ranking picks manufacturers that disappoint: weigh quality and reliability more."
    )
    return Insight(
        "personalization_satisfaction",
        f"Personalized sessions are rated significantly {'higher' if better else 'lower'}: {treated.mean:.2f} "
        f"of 5 over {treated.n} ratings against {control.mean:.2f} over {control.n} (difference "
        f"{result.effect:+.2f}, 95% CI {result.ci_low:+.2f} to {result.ci_high:+.2f}). {action}",
        {"personalized_ratings": treated.n, "other_ratings": control.n, **_test_evidence(result)},
    )


_STEP_ADVICE = {
    "viewed": (
        "recommended sessions had no view or choice",
        "Make the top of the list and its explanations more compelling.",
    ),
    "chosen": (
        "sessions with views ended without a choice",
        "The lists miss what these customers want: review the candidates and the strategy behind them.",
    ),
    "converted": (
        "chosen sessions did not become a contract",
        "Check the chosen manufacturers' capacity, prices and response times.",
    ),
    "satisfied": (
        "rated contracts were rated below 4 of 5",
        "Follow up on delivery and quality with the manufacturers behind them.",
    ),
}


def _funnel_drop_off(funnel: FunnelFigures) -> Insight | None:
    """The step that loses the largest share of the sessions that reached the one before it. Satisfaction
    counts only the rated contracts: a contract not rated yet is not lost."""
    losses = []
    for (previous, reached), (step, count) in pairwise(funnel.steps()):
        if step == "satisfied":
            reached = funnel.rated
        if reached >= MIN_STEP_SESSIONS and reached > count:
            losses.append((1.0 - count / reached, step, previous, reached, reached - count))
    if not losses:
        return None
    share, step, previous, reached, lost = max(losses, key=lambda loss: loss[0])
    what, action = _STEP_ADVICE[step]
    return Insight(
        "funnel_drop_off",
        f"The journey loses most between {previous} and {step}: {share:.0%} of {reached} {what} ({lost}). {action}",
        {"step": step, "from_step": previous, "reached_previous": reached, "lost": lost, "drop_off": round(share, 6)},
    )


def _best_strategy(strategies: tuple[StrategyFigures, ...]) -> Insight | None:
    eligible = [s for s in strategies if s.conversion.n >= MIN_STRATEGY_SESSIONS]
    if len(eligible) < 2:
        return None
    best, runner_up = sorted(eligible, key=lambda s: (-s.conversion.mean, s.algorithm))[:2]
    result = compare(runner_up.conversion, best.conversion, relative=True)
    if result is None or not result.significant:
        return None
    return Insight(
        "best_strategy",
        f"The {best.algorithm} strategy converts best: {best.conversion.mean:.1%} of {best.conversion.n} sessions "
        f"against {runner_up.conversion.mean:.1%} of {runner_up.conversion.n} for {runner_up.algorithm}, the next "
        f"best (relative lift {result.effect:+.0%}, 95% CI {result.ci_low:+.0%} to {result.ci_high:+.0%}). "
        "Favour it in the contexts where it was used.",
        {
            "strategy": best.algorithm,
            "sessions": best.conversion.n,
            "conversions": best.conversion.conversions,
            "runner_up": runner_up.algorithm,
            "runner_up_sessions": runner_up.conversion.n,
            "runner_up_conversions": runner_up.conversion.conversions,
            **_test_evidence(result),
        },
    )


def _satisfaction_trend(first_half: SampleStats, second_half: SampleStats) -> Insight | None:
    if min(first_half.n, second_half.n) < MIN_RATINGS:
        return None
    result = compare(first_half, second_half, relative=False)
    if result is None or not result.ci_high < 0:
        return None
    return Insight(
        "satisfaction_trend",
        f"Satisfaction is trending down: {second_half.mean:.2f} of 5 over {second_half.n} rated sessions of the "
        f"second half of the period against {first_half.mean:.2f} over {first_half.n} of the first half "
        f"(difference {result.effect:+.2f}, 95% CI {result.ci_low:+.2f} to {result.ci_high:+.2f}). Look at the "
        "manufacturers and strategies behind the recent ratings.",
        {"first_half_ratings": first_half.n, "second_half_ratings": second_half.n, **_test_evidence(result)},
    )


def insight_sentences(figures: InsightFigures) -> tuple[Insight, ...]:
    """Actionable sentences, each only when its evidence holds (enough sessions, a significant test)."""
    personalized, others = figures.personalized, figures.non_personalized
    candidates = (
        _personalization_conversion(personalized.conversion, others.conversion),
        _personalization_satisfaction(personalized.satisfaction, others.satisfaction),
        _funnel_drop_off(figures.funnel),
        _best_strategy(figures.strategies),
        _satisfaction_trend(figures.satisfaction_first_half, figures.satisfaction_second_half),
    )
    return tuple(insight for insight in candidates if insight is not None)


# --- the insights body ---------------------------------------------------------------------------------------


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _interval_body(interval: Interval | None) -> dict | None:
    return None if interval is None else {"low": round(interval.low, 6), "high": round(interval.high, 6)}


def _arm_body(arm: ArmFigures) -> dict:
    conversion, satisfaction = arm.conversion, arm.satisfaction
    return {
        "algorithms": list(arm.algorithms),
        "sessions": conversion.n,
        "conversions": conversion.conversions,
        "conversion_rate": _rounded(conversion.mean) if conversion.n else None,
        "conversion_rate_ci": _interval_body(mean_interval(conversion, lower=0.0, upper=1.0)),
        "rated_sessions": satisfaction.n,
        "mean_satisfaction": _rounded(satisfaction.mean) if satisfaction.n else None,
        "mean_satisfaction_ci": _interval_body(mean_interval(satisfaction, lower=1.0, upper=5.0)),
    }


def _test_body(result: TestResult | None) -> dict | None:
    return None if result is None else {**_test_evidence(result), "significant": result.significant}


def _funnel_body(funnel: FunnelFigures) -> dict:
    steps, previous = [], None
    for name, count in funnel.steps():
        steps.append(
            {
                "step": name,
                "sessions": count,
                "share_of_recommended": _rounded(count / funnel.recommended) if funnel.recommended else None,
                "drop_off": _rounded(1.0 - count / previous) if previous else None,
            }
        )
        previous = count
    return {"steps": steps, "rated_conversions": funnel.rated}


def insights_body(
    figures: InsightFigures, *, customer_id: int | None, days: int, since: datetime, until: datetime
) -> dict:
    """The insights response: the figures, their tests, and the sentences they support."""
    personalized, others = figures.personalized, figures.non_personalized
    time_to_match = figures.time_to_match
    return {
        "scope": "platform" if customer_id is None else "customer",
        "customer_id": customer_id,
        "period": {"days": days, "start": since, "end": until},
        "performance": {
            "personalized": _arm_body(personalized),
            "non_personalized": _arm_body(others),
            "conversion_lift": _test_body(compare(others.conversion, personalized.conversion, relative=True)),
            "satisfaction_difference": _test_body(
                compare(others.satisfaction, personalized.satisfaction, relative=False)
            ),
        },
        "strategies": [
            {
                "algorithm": s.algorithm,
                "personalized": s.personalized,
                "sessions": s.conversion.n,
                "conversions": s.conversion.conversions,
                "conversion_rate": _rounded(s.conversion.mean),
                "rated_sessions": s.satisfaction.n,
                "mean_satisfaction": _rounded(s.satisfaction.mean) if s.satisfaction.n else None,
            }
            for s in sorted(figures.strategies, key=lambda s: (-s.conversion.n, s.algorithm))
        ],
        "funnel": _funnel_body(figures.funnel),
        "time_to_match": {
            "matches": time_to_match.matches,
            "median_hours": time_to_match.median_hours,
            "p90_hours": time_to_match.p90_hours,
            "source": time_to_match.source,
            "from_conversion_time": time_to_match.from_conversion_time,
            "from_decision_time": time_to_match.from_decision_time,
        },
        "insights": [asdict(insight) for insight in insight_sentences(figures)],
    }
