"""The predictions issue's figures: feature building and training time of the four models at 10k, 50k and
100k simulated orders (one core), and their holdout metrics next to the baseline's and the oracle's."""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import brier_score_loss, mean_absolute_error, roc_auc_score

from bench.harness import Report
from marketplace.simulation import WorldConfig, build_world, simulate_history
from marketplace.truth.prediction_data import oracle_churn_rolling, prediction_frames
from marketplace.truth.success_ceiling import customer_sample, success_ceiling
from predictions.ml import features as F
from predictions.ml import training as T

SIZES = (10_000, 50_000, 100_000)
ORDERS_PER_CUSTOMER = 20.5  # a year of the simulated marketplace, churn included
CHURN_CUTOFFS = F.rolling_cutoffs(60, 270, every=30)
SEGMENT_CUTOFFS = F.rolling_cutoffs(90, 240, every=30)
CEILING_CUSTOMERS = 300  # the success ceiling's sample of holdout customers (it costs about 0.1 s each)
# The ceiling again with this many draws per customer (against its default 20,000): how much a sampler that a
# training budget could afford loses to sampling alone.
CEILING_FEW_DRAWS = 1_000


def _frames(data) -> tuple[dict[str, F.LabelledFrame], float]:
    start = time.perf_counter()
    frames = {
        "success": F.success_frame(data.orders, data.customers, cutoff=data.end_day),
        "satisfaction": F.satisfaction_frame(data.orders, data.customers, cutoff=data.end_day),
        "churn": F.rolling_frames("churn", data.orders, data.customers, CHURN_CUTOFFS),
        "segment": F.rolling_frames("segment", data.orders, data.customers, SEGMENT_CUTOFFS, label_window=120.0),
    }
    return frames, time.perf_counter() - start


def _train(frames: dict[str, F.LabelledFrame]) -> tuple[dict[str, T.TrainingResult], dict[str, float]]:
    gaps = {"success": 0.0, "satisfaction": 0.0, "churn": 90.0, "segment": 120.0}
    results, seconds = {}, {}
    for model_type, frame in frames.items():
        start = time.perf_counter()
        results[model_type] = T.train_model(
            model_type,
            frame.features,
            frame.labels,
            times=frame.times,
            groups=frame.groups,
            seed=1,
            gap=gaps[model_type],
        )
        seconds[model_type] = time.perf_counter() - start
    return results, seconds


def _quality(world, history, data, results: dict[str, T.TrainingResult]) -> tuple[dict, dict[str, bool]]:
    oracle = data.order_oracle.set_index("order_id")
    figures, goals = {}, {}
    success = results["success"]
    p = oracle.loc[success.holdout_index, "p_convert_true"].to_numpy()
    figures["success ROC AUC model / base / oracle"] = (
        f"{success.metrics['roc_auc']:.4f} / {success.baseline_metrics['roc_auc']:.4f} / "
        f"{roc_auc_score(success.holdout_labels, p):.4f}"
    )
    figures["success Brier model / base / oracle"] = (
        f"{success.metrics['brier']:.4f} / {success.baseline_metrics['brier']:.4f} / "
        f"{brier_score_loss(success.holdout_labels, p):.4f}"
    )
    goals["success ROC AUC within 0.03 of the oracle's"] = (
        success.metrics["roc_auc"] >= roc_auc_score(success.holdout_labels, p) - 0.03
    )
    goals["success Brier at most 1.1 x the oracle's"] = success.metrics["brier"] <= 1.1 * brier_score_loss(
        success.holdout_labels, p
    )
    figures.update(_success_ceiling(world, history, success, oracle["p_convert_true"]))
    oracle_accuracy = float(np.mean((p >= 0.5) == success.holdout_labels.astype(bool)))
    figures["success accuracy at 0.5 model / base rate / oracle (the specification's >85%)"] = (
        f"{success.metrics['accuracy']:.4f} / {success.baseline_metrics['accuracy']:.4f} / {oracle_accuracy:.4f}"
    )
    satisfaction = results["satisfaction"]
    expected = oracle.loc[satisfaction.holdout_index, "expected_satisfaction_true"].to_numpy()
    figures["satisfaction MAE model / mean / oracle"] = (
        f"{satisfaction.metrics['mae']:.4f} / {satisfaction.baseline_metrics['mae']:.4f} / "
        f"{mean_absolute_error(satisfaction.holdout_labels, expected):.4f}"
    )
    goals["satisfaction MAE at most 1.1 x the oracle's"] = satisfaction.metrics["mae"] <= 1.1 * mean_absolute_error(
        satisfaction.holdout_labels, expected
    )
    churn = results["churn"]
    truth = oracle_churn_rolling(world, history, CHURN_CUTOFFS).loc[churn.holdout_index].to_numpy()
    hidden = oracle_churn_rolling(world, history, CHURN_CUTOFFS, hidden_state=True)
    hidden = hidden.loc[churn.holdout_index].to_numpy()
    figures["churn ROC AUC model / base / oracle / hidden state"] = (
        f"{churn.metrics['roc_auc']:.4f} / {churn.baseline_metrics['roc_auc']:.4f} / "
        f"{roc_auc_score(churn.holdout_labels, truth):.4f} / {roc_auc_score(churn.holdout_labels, hidden):.4f}"
    )
    figures["churn Brier model / base / oracle / hidden state"] = (
        f"{churn.metrics['brier']:.4f} / {churn.baseline_metrics['brier']:.4f} / "
        f"{brier_score_loss(churn.holdout_labels, truth):.4f} / {brier_score_loss(churn.holdout_labels, hidden):.4f}"
    )
    goals["churn ROC AUC within 0.05 of the oracle's (the Bayes rule with the true rates)"] = (
        churn.metrics["roc_auc"] >= roc_auc_score(churn.holdout_labels, truth) - 0.05
    )
    segment = results["segment"]
    figures["segment macro-F1 model / majority"] = (
        f"{segment.metrics['macro_f1']:.4f} / {segment.baseline_metrics['macro_f1']:.4f}"
    )
    return figures, goals


def _success_ceiling(world, history, success: T.TrainingResult, oracle) -> dict:
    """The model, the Bayes ceiling (`success_ceiling`: the true population, only what the customer did) and
    the oracle on the holdout orders of a seeded sample of customers."""
    customers = customer_sample(history, success.holdout_index, CEILING_CUSTOMERS, seed=0)
    ceiling = success_ceiling(world, history, customers=customers, seed=0)
    rows = np.isin(success.holdout_index, ceiling.p_convert.index)
    ids, y = success.holdout_index[rows], success.holdout_labels[rows]
    predictors = {
        "model": success.holdout_predictions[rows],
        "ceiling": ceiling.p_convert.loc[ids].to_numpy(),
        "oracle": oracle.loc[ids].to_numpy(),
    }
    auc = {name: roc_auc_score(y, p) for name, p in predictors.items()}
    brier = {name: brier_score_loss(y, p) for name, p in predictors.items()}
    few = success_ceiling(world, history, customers=customers, draws=CEILING_FEW_DRAWS, seed=0).p_convert.loc[ids]
    label = f"success on {len(customers)} customers' holdout orders ({len(y)})"
    return {
        f"{label}: ROC AUC model / ceiling / oracle": " / ".join(f"{auc[n]:.4f}" for n in predictors),
        f"{label}: Brier model / ceiling / oracle": " / ".join(f"{brier[n]:.4f}" for n in predictors),
        f"{label}: Brier / the oracle's, model / ceiling": (
            f"{brier['model'] / brier['oracle']:.3f} / {brier['ceiling'] / brier['oracle']:.3f}"
        ),
        f"{label}: ceiling's effective draws, median": round(float(np.nanmedian(ceiling.effective_draws.loc[ids])), 1),
        f"{label}: the ceiling with {CEILING_FEW_DRAWS:,} draws per customer, ROC AUC / Brier": (
            f"{roc_auc_score(y, few):.4f} / {brier_score_loss(y, few):.4f}"
        ),
    }


def run(report: Report) -> None:
    figures: dict = {}
    goals: dict[str, bool] = {}
    for size in SIZES:
        config = WorldConfig(n_manufacturers=500, n_customers=round(size / ORDERS_PER_CUSTOMER), days=365, seed=17)
        world = build_world(config)
        history = simulate_history(world)  # outside the timing
        data = prediction_frames(world, history)
        frames, feature_seconds = _frames(data)
        results, train_seconds = _train(frames)
        total = sum(train_seconds.values())
        label = f"{len(data.orders) // 1000}k orders"
        figures[f"{label}: feature building s"] = round(feature_seconds, 2)
        figures[f"{label}: training s (success/satisfaction/churn/segment)"] = " / ".join(
            f"{train_seconds[m]:.1f}" for m in T.MODEL_TYPES
        )
        figures[f"{label}: training s, all four"] = round(total, 2)
        figures[f"{label}: features + training s, all four"] = round(total + feature_seconds, 2)
        figures[f"{label}: rows (success/satisfaction/churn/segment)"] = " / ".join(
            str(results[m].n_rows["labelled"]) for m in T.MODEL_TYPES
        )
        if size == SIZES[-1]:
            quality_figures, quality_goals = _quality(world, history, data, results)
            figures.update(quality_figures)
            goals.update(quality_goals)
            goals["training all four on 100k orders < 120 s (one core)"] = total < 120.0
            goals["features + training of all four on 100k orders < 120 s"] = total + feature_seconds < 120.0
    report.add(
        "predictive models",
        figures,
        goals=goals,
        notes="One seeded year of the simulated marketplace per size; the world and its history are built outside "
        "the timing. Training includes the time-ordered CV and the permutation importance.",
    )


if __name__ == "__main__":
    report = Report()
    run(report)
    print(report.table())
