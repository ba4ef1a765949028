"""Skew-aware group comparisons, multiplicity adjustment and adjusted estimates, in Spark.

The research question compares films per soundtrack genre or style with films without a
soundtrack. Popularity is heavy-tailed (a few blockbusters drive any mean), so the comparisons here
are rank-based and median-based:

- `rank_comparisons`: per comparison group against one baseline, the Mann-Whitney U test (normal
  approximation with tie correction and continuity correction, two-sided, as scipy's
  `mannwhitneyu(..., method="asymptotic")`), Cliff's delta as the effect size, and the medians of
  both sides with an exact distribution-free 95 % interval (order statistics, `median_ci_ranks`).
- `with_adjusted_p`: Holm and Benjamini-Hochberg adjusted p-values across the whole family of rows
  given (the caller states the family).
- `cross_products` and `ols`: ordinary least squares from X'X, X'y and y'y summed in one pass over
  the rows (k x k numbers reach the driver, whatever the rows), giving coefficients, standard
  errors, Student-t p-values and 95 % intervals; several models over the same rows share the pass.

Every data-sized computation is a Spark job; only per-group scalars (a handful of rows per
comparison) reach the driver. The functions take and return DataFrames and read or write nothing.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

ALPHA = 0.05
# Above this many values the binomial tail for the median interval is taken from the normal
# approximation (with continuity correction); its rank error is below one there.
EXACT_BINOMIAL_MAX_N = 5000
Z_975 = 1.959963984540054


@lru_cache(maxsize=4096)
def median_ci_ranks(n: int, confidence: float = 1 - ALPHA) -> tuple[int, int] | None:
    """1-based ranks (lo, hi) of the order statistics bounding an exact distribution-free interval
    for the median of n values: P(X_(lo) <= median <= X_(hi)) >= confidence for any continuous
    distribution. None when n is too small for any interval at that confidence (n < 6 at 95 %).

    lo is the largest rank with P(B <= lo - 1) <= (1 - confidence) / 2 for B ~ Binomial(n, 1/2),
    hi = n + 1 - lo.
    """
    if n <= 0:
        return None
    tail = (1 - confidence) / 2
    if n <= EXACT_BINOMIAL_MAX_N:
        log_half_n = n * math.log(0.5)
        cdf, lo = 0.0, 0
        for k in range(n + 1):  # cdf = P(B <= k)
            cdf += math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + log_half_n)
            if cdf > tail:
                lo = k  # P(B <= lo - 1) <= tail < P(B <= lo)
                break
    else:
        lo = int(math.floor(n / 2 - Z_975 * math.sqrt(n) / 2 - 0.5)) + 1
        lo = max(lo, 0)
    if lo < 1:
        return None
    return lo, n + 1 - lo


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return min(1.0, math.erfc(abs(z) / math.sqrt(2)))


@dataclass(frozen=True)
class RankTestResult:
    """One Mann-Whitney comparison, computed from its counts (see `mann_whitney_from_counts`)."""

    u: float
    z: float
    p_value: float
    cliffs_delta: float


def mann_whitney_from_counts(u: float, n1: int, n2: int, tie_term: float) -> RankTestResult | None:
    """The two-sided normal-approximation test from U of the first sample, the sample sizes and
    the tie term sum(t^3 - t) over the tied groups of the pooled sample. None when a side is
    empty or every value is tied (no test is possible)."""
    if n1 == 0 or n2 == 0:
        return None
    n = n1 + n2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return None
    z = (abs(u - mean) - 0.5) / math.sqrt(variance)
    z = max(z, 0.0)
    signed = math.copysign(z, u - mean)
    return RankTestResult(u=u, z=signed, p_value=normal_two_sided_p(z), cliffs_delta=2 * u / (n1 * n2) - 1)


def _tie(t: Column) -> Column:
    return t * t * t - t


def rank_comparisons(groups_df: DataFrame, baseline_df: DataFrame,
                     keys: tuple[str, ...] = ("comparison",)) -> DataFrame:
    """Mann-Whitney U, Cliff's delta and medians with exact intervals, each group against the baseline.

    Args:
        groups_df: the `keys` columns naming a group, `metric` (string), `y` (double; nulls
            ignored). A group's rows must not be part of the baseline (the samples are independent).
        baseline_df: `metric`, `y`: the one reference sample per metric.

    Returns:
        one row per (keys..., metric) with `n`, `baseline_n`, `median`, `median_ci_low`,
        `median_ci_high`, `baseline_median`, `baseline_median_ci_low`, `baseline_median_ci_high`,
        `median_diff`, `u_statistic` (U of the group: pairs where the group value is larger, ties
        counted half), `z`, `p_value` (two-sided), `cliffs_delta` (P(group > baseline) minus
        P(group < baseline), in [-1, 1]). The test columns are null where no test is possible.
    """
    keys = list(keys)
    groups = groups_df.select(*keys, "metric", F.col("y").cast("double").alias("y")).filter(F.col("y").isNotNull())
    base = baseline_df.select("metric", F.col("y").cast("double").alias("y")).filter(F.col("y").isNotNull())

    base_counts = base.groupBy("metric", "y").agg(F.count("*").alias("b_eq"))
    group_counts = groups.groupBy(*keys, "metric", "y").agg(F.count("*").alias("g_eq"))
    # Every distinct value of either side, with the number of baseline values strictly below it.
    values = (
        base_counts.select("metric", "y").unionByName(group_counts.select("metric", "y")).distinct()
        .join(base_counts, on=["metric", "y"], how="left")
        .withColumn("b_eq", F.coalesce("b_eq", F.lit(0)).cast("long"))
    )
    running = Window.partitionBy("metric").orderBy("y").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    values = values.withColumn("b_less", F.sum("b_eq").over(running) - F.col("b_eq"))
    base_totals = base_counts.groupBy("metric").agg(
        F.sum("b_eq").alias("baseline_n"), F.sum(_tie(F.col("b_eq").cast("double"))).alias("base_ties")
    )
    t = (F.col("g_eq") + F.col("b_eq")).cast("double")
    per_group = (
        group_counts.join(values, on=["metric", "y"], how="inner")
        .groupBy(*keys, "metric")
        .agg(
            F.sum("g_eq").alias("n"),
            F.sum(F.col("g_eq") * (F.col("b_less") + 0.5 * F.col("b_eq"))).alias("u_statistic"),
            F.sum(_tie(t) - _tie(F.col("b_eq").cast("double"))).alias("extra_ties"),
        )
        .join(base_totals, on="metric", how="left")
        .withColumn("baseline_n", F.coalesce("baseline_n", F.lit(0)).cast("long"))
        .withColumn("tie_term", F.col("extra_ties") + F.coalesce("base_ties", F.lit(0.0)))
    )
    tests = _with_test_columns(per_group, keys)
    group_medians = median_intervals(groups, [*keys, "metric"])
    base_medians = median_intervals(base, ["metric"]).select(
        "metric", *[F.col(c).alias(f"baseline_{c}") for c in ("median", "median_ci_low", "median_ci_high")]
    )
    return (
        tests.join(group_medians.drop("n"), on=[*keys, "metric"], how="left")
        .join(base_medians, on="metric", how="left")
        .withColumn("median_diff", F.col("median") - F.col("baseline_median"))
        .select(*keys, "metric", "n", "baseline_n", "median", "median_ci_low", "median_ci_high",
                "baseline_median", "baseline_median_ci_low", "baseline_median_ci_high", "median_diff",
                "u_statistic", "z", "p_value", "cliffs_delta")
    )


_TEST_SCHEMA = T.StructType([
    T.StructField("z", T.DoubleType()), T.StructField("p_value", T.DoubleType()),
    T.StructField("cliffs_delta", T.DoubleType()),
])


@F.udf(returnType=_TEST_SCHEMA)
def _rank_test_udf(u, n1, n2, tie_term):
    result = mann_whitney_from_counts(float(u), int(n1), int(n2), float(tie_term)) if u is not None else None
    if result is None:
        return None
    return (result.z, result.p_value, result.cliffs_delta)


def _with_test_columns(per_group: DataFrame, keys: list[str]) -> DataFrame:
    # The normal tail has no Spark SQL function: one Python call per comparison row (a few dozen).
    test = _rank_test_udf("u_statistic", "n", "baseline_n", "tie_term")
    return per_group.withColumn("_t", test).select(
        *keys, "metric", "n", "baseline_n", "u_statistic",
        F.col("_t.z").alias("z"), F.col("_t.p_value").alias("p_value"), F.col("_t.cliffs_delta").alias("cliffs_delta"),
    )


@F.udf(returnType=T.ArrayType(T.IntegerType()))
def _ci_ranks_udf(n):
    ranks = median_ci_ranks(int(n)) if n is not None else None
    return list(ranks) if ranks else None


def median_intervals(values_df: DataFrame, keys: list[str]) -> DataFrame:
    """Per `keys`: `n`, the exact `median` (Spark's `median`) and the order-statistic 95 % interval
    `median_ci_low`/`median_ci_high` (null when the group is too small for one, see
    `median_ci_ranks`). `values_df` has the keys and a double `y` without nulls."""
    by_key = Window.partitionBy(*keys).orderBy("y")
    sizes = values_df.groupBy(*keys).agg(F.count("*").alias("n"), F.median("y").alias("median"))
    sizes = sizes.withColumn("_ranks", _ci_ranks_udf("n"))
    ranked = values_df.withColumn("_rank", F.row_number().over(by_key)).join(
        sizes.select(*keys, "_ranks"), on=keys, how="inner"
    )
    bounds = ranked.groupBy(*keys).agg(
        F.max(F.when(F.col("_rank") == F.col("_ranks")[0], F.col("y"))).alias("median_ci_low"),
        F.max(F.when(F.col("_rank") == F.col("_ranks")[1], F.col("y"))).alias("median_ci_high"),
    )
    return sizes.drop("_ranks").join(bounds, on=keys, how="left")


def with_adjusted_p(tests_df: DataFrame, p_col: str = "p_value", by: Sequence[str] = ()) -> DataFrame:
    """Add `p_holm` (Holm's step-down, family-wise error) and `p_bh` (Benjamini-Hochberg, false
    discovery rate) over all rows of `tests_df` with a non-null p-value: the family is exactly the
    rows given, or, with `by`, the rows that share the values of those columns (one family each).
    Rows without a p-value get null adjusted values and do not count in the family."""
    with_p = tests_df.filter(F.col(p_col).isNotNull())
    without_p = tests_df.filter(F.col(p_col).isNull())
    # A family is small (one row per comparison and metric): one partition keeps its order total.
    family = [F.col(c) for c in by] or [F.lit(1)]
    ordered = Window.partitionBy(*family).orderBy(
        F.col(p_col).asc(), *[F.col(c).asc() for c in tests_df.columns if c != p_col and c not in by])
    m = F.count(F.lit(1)).over(Window.partitionBy(*family))
    ranked = with_p.withColumn("_i", F.row_number().over(ordered)).withColumn("_m", m)
    up_to = ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    from_here = ordered.rowsBetween(Window.currentRow, Window.unboundedFollowing)
    holm_raw = (F.col("_m") - F.col("_i") + 1) * F.col(p_col)
    bh_raw = F.col("_m") / F.col("_i") * F.col(p_col)
    adjusted = (
        ranked.withColumn("_holm", holm_raw).withColumn("_bh", bh_raw)
        .withColumn("p_holm", F.least(F.lit(1.0), F.max("_holm").over(up_to)))
        .withColumn("p_bh", F.least(F.lit(1.0), F.min("_bh").over(from_here)))
        .drop("_i", "_m", "_holm", "_bh")
    )
    nulls = without_p.withColumn("p_holm", F.lit(None).cast("double")).withColumn("p_bh", F.lit(None).cast("double"))
    return adjusted.unionByName(nulls)


# Beyond this many regressors the cross products (k x k per partition) would no longer be small.
MAX_REGRESSORS = 2000
# A regressor whose residual sum of squares, after the regressors kept before it, is below this
# share of its own sum of squares adds nothing estimable (constant, or collinear with others).
COLLINEAR_TOLERANCE = 1e-9
_INTERCEPT = "_intercept"


@dataclass(frozen=True)
class CrossProducts:
    """The sufficient statistics of least squares for one regressor matrix and several responses.

    For each response r (over the rows where r and every regressor are not null): `n[r]` rows,
    `xtx[r]` = X'X and `xty[r]` = X'y (X with a leading intercept column, `columns` order), and
    `yty[r]` = y'y. Sizes are k x k whatever the number of rows.
    """

    columns: tuple[str, ...]
    n: dict[str, int]
    xtx: dict[str, np.ndarray]
    xty: dict[str, np.ndarray]
    yty: dict[str, float]


def cross_products(df: DataFrame, responses: Sequence[str], regressors: Sequence[str]) -> CrossProducts:
    """X'X, X'y, y'y and n for every response in one pass over `df` (one Spark job).

    Each partition sums its rows with numpy and yields one row per response; the driver adds the
    partitions' k x k matrices. Rows with a null regressor are left out of every fit, rows with a
    null response out of that response's.
    """
    regressors, responses = list(regressors), list(responses)
    if len(regressors) > MAX_REGRESSORS:
        raise ValueError(f"{len(regressors)} regressors: more than {MAX_REGRESSORS}, the cross products would be too large")
    columns = (_INTERCEPT, *regressors)
    k = len(columns)
    used = df.select(*[F.col(c).cast("double").alias(f"y{i}") for i, c in enumerate(responses)],
                     *[F.col(c).cast("double").alias(f"x{i}") for i, c in enumerate(regressors)])
    x_names = [f"x{i}" for i in range(len(regressors))]

    def partition_sums(batches):
        sums = {r: [0, np.zeros((k, k)), np.zeros(k), 0.0] for r in range(len(responses))}
        for pdf in batches:
            x = np.column_stack([np.ones(len(pdf)), pdf[x_names].to_numpy(dtype="float64", na_value=np.nan)]) \
                if x_names else np.ones((len(pdf), 1))
            complete = ~np.isnan(x).any(axis=1)
            for r in sums:
                y = pdf[f"y{r}"].to_numpy(dtype="float64", na_value=np.nan)
                keep = complete & ~np.isnan(y)
                xr, yr = x[keep], y[keep]
                acc = sums[r]
                acc[0] += int(keep.sum())
                acc[1] += xr.T @ xr
                acc[2] += xr.T @ yr
                acc[3] += float(yr @ yr)
        yield pd.DataFrame({"r": list(sums), "n": [a[0] for a in sums.values()],
                            "xtx": [a[1].ravel().tolist() for a in sums.values()],
                            "xty": [a[2].tolist() for a in sums.values()],
                            "yty": [a[3] for a in sums.values()]})

    schema = "r int, n long, xtx array<double>, xty array<double>, yty double"
    n = {r: 0 for r in responses}
    xtx = {r: np.zeros((k, k)) for r in responses}
    xty = {r: np.zeros(k) for r in responses}
    yty = {r: 0.0 for r in responses}
    for row in used.mapInPandas(partition_sums, schema).collect():
        name = responses[row["r"]]
        n[name] += row["n"]
        xtx[name] += np.asarray(row["xtx"]).reshape(k, k)
        xty[name] += np.asarray(row["xty"])
        yty[name] += row["yty"]
    return CrossProducts(columns=columns, n=n, xtx=xtx, xty=xty, yty=yty)


def _estimable(xtx: np.ndarray, order: Sequence[int]) -> list[int]:
    """Indices of `order` kept in turn when each adds something the ones before it do not span
    (Gram-Schmidt on the cross products: the intercept first, then constant or collinear columns
    are dropped, as R's lm marks them aliased)."""
    kept: list[int] = []
    for j in order:
        own = xtx[j, j]
        if own <= 0:
            continue
        if kept:
            block = xtx[np.ix_(kept, kept)]
            cross = xtx[kept, j]
            residual = own - cross @ np.linalg.solve(block, cross)
        else:
            residual = own
        if residual > COLLINEAR_TOLERANCE * own:
            kept.append(j)
    return kept


def ols(products: CrossProducts, response: str, features: Sequence[str],
        report: Sequence[str] | None = None) -> list[dict]:
    """Ordinary least squares of `response` on an intercept and `features`, from the cross products.

    Features that are constant over the rows used or collinear with features listed before them
    are left out (their effect cannot be estimated). Standard errors from sigma^2 (X'X)^-1 with
    sigma^2 = RSS / (n - p); two-sided p-values from Student's t with n - p degrees of freedom.

    Returns:
        one dict per reported feature that could be estimated: `term`, `estimate`, `std_error`,
        `t_value`, `p_value`, `ci95_low`, `ci95_high`, `n`. Empty when the rows do not leave a
        degree of freedom.
    """
    index = {c: i for i, c in enumerate(products.columns)}
    n = products.n[response]
    xtx, xty = products.xtx[response], products.xty[response]
    if n == 0:
        return []
    kept = _estimable(xtx, [0, *[index[f] for f in features]])
    dof = n - len(kept)
    if dof <= 0 or len(kept) < 2:
        return []
    a, b = xtx[np.ix_(kept, kept)], xty[kept]
    beta = np.linalg.solve(a, b)
    rss = max(products.yty[response] - float(beta @ b), 0.0)
    covariance = (rss / dof) * np.linalg.inv(a)
    critical = _t_critical_975(dof)
    wanted = set(report if report is not None else features)
    rows = []
    for position, column in enumerate(kept):
        term = products.columns[column]
        if term not in wanted:
            continue
        estimate = float(beta[position])
        error = math.sqrt(max(float(covariance[position, position]), 0.0))
        t_value = estimate / error if error > 0 else math.copysign(math.inf, estimate)
        rows.append({"term": term, "estimate": estimate, "std_error": error, "t_value": t_value,
                     "p_value": t_two_sided_p(t_value, dof), "ci95_low": estimate - critical * error,
                     "ci95_high": estimate + critical * error, "n": n})
    return rows


def _continued_fraction_beta(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 20_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _continued_fraction_beta(a, b, x) / a
    return 1.0 - front * _continued_fraction_beta(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, dof: float) -> float:
    """P(|T| >= |t|) for Student's t with `dof` degrees of freedom."""
    if dof <= 0 or math.isnan(t):
        return float("nan")
    if math.isinf(t):
        return 0.0
    return min(1.0, regularized_beta(dof / (dof + t * t), dof / 2.0, 0.5))


def _t_critical_975(dof: int) -> float:
    """The 97.5 % quantile of Student's t with `dof` degrees of freedom (Cornish-Fisher expansion
    around the normal quantile; exact to 3 decimals from 5 degrees of freedom)."""
    if dof <= 0:
        return float("nan")
    z = Z_975
    g1 = (z ** 3 + z) / 4
    g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96
    g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384
    g4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160
    return z + g1 / dof + g2 / dof ** 2 + g3 / dof ** 3 + g4 / dof ** 4
