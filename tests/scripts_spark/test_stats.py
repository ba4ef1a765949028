"""Each statistic of scripts_spark.stats against an independent computation (scipy, numpy, brute force).

scipy is a test-only dependency here (the version Databricks Runtime 14.3 LTS ships); the tests skip
without it.
"""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from scripts_spark import stats

scipy_stats = pytest.importorskip("scipy.stats", reason="scipy (a test-only pin) is not installed")


def _groups_frame(spark, groups: dict[str, list], metric="popularity"):
    rows = [(name, metric, None if v is None else float(v)) for name, values in groups.items() for v in values]
    return spark.createDataFrame(rows, "comparison string, metric string, y double")


def _baseline_frame(spark, values, metric="popularity"):
    return spark.createDataFrame([(metric, None if v is None else float(v)) for v in values], "metric string, y double")



def _fit(df, label, features):
    """One model: the cross products of its rows, then the least-squares fit."""
    return stats.ols(stats.cross_products(df, [label], features), label, features)

def test_mann_whitney_matches_scipy_with_ties_and_nulls(spark):
    rng = random.Random(3)
    baseline = [round(rng.lognormvariate(0, 1), 1) for _ in range(300)] + [None, None]
    groups = {
        "heavy ties": [round(rng.lognormvariate(0.3, 1), 0) for _ in range(40)],
        "shifted": [round(rng.lognormvariate(0.8, 1), 2) for _ in range(25)] + [None],
        "same": [round(rng.lognormvariate(0, 1), 1) for _ in range(60)],
        "one value": [1.0],
    }
    got = {r["comparison"]: r for r in stats.rank_comparisons(_groups_frame(spark, groups),
                                                                _baseline_frame(spark, baseline)).collect()}
    base = [v for v in baseline if v is not None]
    for name, values in groups.items():
        values = [v for v in values if v is not None]
        expected = scipy_stats.mannwhitneyu(values, base, alternative="two-sided", method="asymptotic",
                                            use_continuity=True)
        row = got[name]
        assert row["n"] == len(values) and row["baseline_n"] == len(base)
        assert row["u_statistic"] == pytest.approx(expected.statistic)
        assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)
        brute = sum((x > y) - (x < y) for x in values for y in base) / (len(values) * len(base))
        assert row["cliffs_delta"] == pytest.approx(brute)
        assert row["median"] == pytest.approx(float(np.median(values)))
        assert row["baseline_median"] == pytest.approx(float(np.median(base)))
        assert row["median_diff"] == pytest.approx(float(np.median(values) - np.median(base)))


def test_no_test_when_everything_is_tied_or_a_side_is_empty(spark):
    got = {r["comparison"]: r for r in stats.rank_comparisons(
        _groups_frame(spark, {"tied": [2.0, 2.0, 2.0], "empty": [None]}), _baseline_frame(spark, [2.0] * 5)
    ).collect()}
    assert got["tied"]["p_value"] is None and got["tied"]["cliffs_delta"] is None
    assert "empty" not in got  # a group with no value has nothing to compare


@pytest.mark.parametrize("n", [6, 7, 10, 25, 99, 1000, 5000, 5001, 20000])
def test_median_interval_ranks_have_the_promised_exact_coverage(n):
    lo, hi = stats.median_ci_ranks(n)
    assert hi == n + 1 - lo
    coverage = 1 - 2 * scipy_stats.binom.cdf(lo - 1, n, 0.5)
    assert coverage >= 0.95 - (1e-3 if n > stats.EXACT_BINOMIAL_MAX_N else 0)
    if n <= stats.EXACT_BINOMIAL_MAX_N:  # the tightest such interval: one rank closer loses coverage
        assert 1 - 2 * scipy_stats.binom.cdf(lo, n, 0.5) < 0.95


def test_median_interval_is_none_below_six_values():
    assert stats.median_ci_ranks(5) is None and stats.median_ci_ranks(0) is None


def test_median_interval_covers_a_known_median_in_simulation():
    # Lognormal(0, 1) has median exactly 1: the interval must contain it in at least ~95 % of samples.
    rng = np.random.default_rng(11)
    n, trials = 31, 4000
    lo, hi = stats.median_ci_ranks(n)
    samples = np.sort(rng.lognormal(0.0, 1.0, size=(trials, n)), axis=1)
    covered = np.mean((samples[:, lo - 1] <= 1.0) & (samples[:, hi - 1] >= 1.0))
    assert 0.95 - 0.01 <= covered <= 0.995


def test_median_intervals_pick_the_order_statistics(spark):
    values = [float(v) for v in (9, 1, 8, 2, 7, 3, 6, 4, 5, 10, 11, 12)]
    df = spark.createDataFrame([("g", v) for v in values], "comparison string, y double")
    row = stats.median_intervals(df, ["comparison"]).first()
    lo, hi = stats.median_ci_ranks(len(values))
    ordered = sorted(values)
    assert (row["median_ci_low"], row["median_ci_high"]) == (ordered[lo - 1], ordered[hi - 1])
    assert row["median"] == pytest.approx(6.5)


def _holm(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        out[i] = min(1.0, running)
    return out


def _bh(p):
    m = len(p)
    # Definition: adjusted p_i = min over j with p_j >= p_i of m * p_j / rank_j.
    ranks = {i: r + 1 for r, i in enumerate(sorted(range(m), key=lambda i: p[i]))}
    return [min(1.0, min(m * p[j] / ranks[j] for j in range(m) if p[j] >= p[i])) for i in range(m)]


def test_holm_and_benjamini_hochberg_match_their_definitions(spark):
    p = [0.001, 0.04, 0.03, 0.2, 0.011, 0.5, 0.049, 0.0001]
    df = spark.createDataFrame([(f"c{i}", v) for i, v in enumerate(p)] + [("untested", None)],
                               "comparison string, p_value double")
    got = {r["comparison"]: r for r in stats.with_adjusted_p(df).collect()}
    for i, (holm, bh) in enumerate(zip(_holm(p), _bh(p))):
        assert got[f"c{i}"]["p_holm"] == pytest.approx(holm)
        assert got[f"c{i}"]["p_bh"] == pytest.approx(bh)
    assert got["untested"]["p_holm"] is None and got["untested"]["p_bh"] is None


def test_holm_is_never_below_the_raw_p_and_bh_never_above_holm(spark):
    rng = random.Random(5)
    p = [rng.random() ** 3 for _ in range(40)]
    df = spark.createDataFrame([(f"c{i}", v) for i, v in enumerate(p)], "comparison string, p_value double")
    for row in stats.with_adjusted_p(df).collect():
        assert row["p_value"] <= row["p_bh"] <= row["p_holm"] <= 1.0


def test_regression_matches_least_squares(spark):
    rng = np.random.default_rng(2)
    n = 400
    x1 = rng.integers(0, 2, n).astype(float)
    x2 = rng.normal(size=n)
    x3 = rng.integers(0, 2, n).astype(float)
    y = 1.5 + 0.7 * x1 - 0.3 * x2 + rng.normal(scale=0.8, size=n)
    rows = [(float(a), float(b), float(c), float(d), 1.0) for a, b, c, d in zip(y, x1, x2, x3)]
    rows.append((None, 1.0, 0.0, 0.0, 1.0))  # a null label is left out
    df = spark.createDataFrame(rows, "y double, x1 double, x2 double, x3 double, constant double")
    got = {r["term"]: r for r in _fit(df, "y", ["x1", "x2", "x3", "constant"])}
    assert "constant" not in got  # no spread: not estimable beside the intercept

    design = np.column_stack([np.ones(n), x1, x2, x3])
    beta, residual, *_ = np.linalg.lstsq(design, y, rcond=None)
    sigma2 = residual[0] / (n - design.shape[1])
    errors = np.sqrt(np.diag(sigma2 * np.linalg.inv(design.T @ design)))
    for i, term in enumerate(("x1", "x2", "x3"), start=1):
        assert got[term]["estimate"] == pytest.approx(beta[i], rel=1e-6)
        assert got[term]["std_error"] == pytest.approx(errors[i], rel=1e-6)
        p = 2 * scipy_stats.t.sf(abs(beta[i] / errors[i]), n - 4)
        assert got[term]["p_value"] == pytest.approx(p, rel=1e-4, abs=1e-12)
        half = scipy_stats.t.ppf(0.975, n - 4) * errors[i]
        assert got[term]["ci95_low"] == pytest.approx(beta[i] - half, rel=1e-4)
        assert got[term]["n"] == n


def test_t_quantile_is_close_to_scipy():
    for dof in (5, 10, 30, 100, 1000):
        assert stats._t_critical_975(dof) == pytest.approx(scipy_stats.t.ppf(0.975, dof), abs=2e-3)


def test_normal_tail():
    for z in (0.0, 0.5, 1.96, 3.0):
        assert stats.normal_two_sided_p(z) == pytest.approx(2 * scipy_stats.norm.sf(z))
    assert math.isclose(stats.normal_two_sided_p(-1.96), stats.normal_two_sided_p(1.96))


def test_t_two_sided_p_matches_scipy_from_one_to_a_million_degrees_of_freedom():
    for dof in (1, 2, 5, 30, 396, 10_000, 1_000_000):
        for t in (0.0, 0.3, 1.0, 1.96, 2.5, 4.0, 8.0, -3.0):
            expected = 2 * scipy_stats.t.sf(abs(t), dof)
            assert stats.t_two_sided_p(t, dof) == pytest.approx(expected, rel=1e-7, abs=1e-14), (t, dof)
    assert stats.t_two_sided_p(math.inf, 10) == 0.0 and math.isnan(stats.t_two_sided_p(1.0, 0))


def test_cross_products_are_one_pass_over_partitions_with_nulls_per_response(spark):
    rng = np.random.default_rng(8)
    n = 500
    x1, x2 = rng.normal(size=n), rng.integers(0, 2, n).astype(float)
    y1, y2 = 1 + 2 * x1 + rng.normal(size=n), -x2 + rng.normal(size=n)
    rows = [(float(a), None if i % 7 == 0 else float(b), float(c), None if i % 11 == 0 else float(d))
            for i, (a, b, c, d) in enumerate(zip(y1, y2, x1, x2))]
    df = spark.createDataFrame(rows, "y1 double, y2 double, x1 double, x2 double").repartition(5)
    products = stats.cross_products(df, ["y1", "y2"], ["x1", "x2"])
    x_ok = np.array([i % 11 != 0 for i in range(n)])
    for name, y, ok in (("y1", y1, x_ok), ("y2", y2, x_ok & np.array([i % 7 != 0 for i in range(n)]))):
        design = np.column_stack([np.ones(ok.sum()), x1[ok], x2[ok]])
        assert products.n[name] == ok.sum()
        np.testing.assert_allclose(products.xtx[name], design.T @ design, rtol=1e-10)
        np.testing.assert_allclose(products.xty[name], design.T @ y[ok], rtol=1e-10)
        assert products.yty[name] == pytest.approx(float(y[ok] @ y[ok]), rel=1e-10)


def test_a_collinear_feature_is_left_out_and_the_rest_is_still_estimated(spark):
    rng = np.random.default_rng(9)
    n = 300
    a = rng.integers(0, 2, n).astype(float)
    b = rng.normal(size=n)
    y = 2 + 0.5 * a + 1.5 * b + rng.normal(scale=0.2, size=n)
    rows = [(float(v), float(p), float(q), float(p)) for v, p, q in zip(y, a, b)]   # copy_of_a == a
    df = spark.createDataFrame(rows, "y double, a double, b double, copy_of_a double")
    got = {r["term"]: r for r in _fit(df, "y", ["a", "b", "copy_of_a"])}
    assert set(got) == {"a", "b"}   # the later copy adds nothing: left out, as R's lm aliases it
    beta = np.linalg.lstsq(np.column_stack([np.ones(n), a, b]), y, rcond=None)[0]
    assert got["a"]["estimate"] == pytest.approx(beta[1], rel=1e-8)
    assert got["b"]["estimate"] == pytest.approx(beta[2], rel=1e-8)
    assert _fit(df.limit(2), "y", ["a", "b"]) == []   # no degree of freedom left
