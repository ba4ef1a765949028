"""The Column helpers, value by value (chispa's assert_column_equality), nulls and unicode included."""
from chispa import assert_column_equality
from pyspark.sql import functions as F

from scripts_spark.columns import array_or_empty, sorted_distinct


def test_array_or_empty(spark):
    df = spark.createDataFrame(
        [(["a", "b"], ["a", "b"]), (None, []), ([], []), ([None], [None]), (["千と千尋", "Amélie"], ["千と千尋", "Amélie"])],
        "values array<string>, expected array<string>",
    )
    assert_column_equality(df.withColumn("out", array_or_empty("values")), "out", "expected")


def test_array_or_empty_keeps_the_element_type(spark):
    df = spark.createDataFrame([([{"id": 1, "name": "Joe Hisaishi"}],), (None,)],
                               "crew array<struct<id:long,name:string>>")
    out = df.select(array_or_empty(F.col("crew")).alias("crew"), F.size(array_or_empty("crew")).alias("n"))
    assert dict(out.dtypes)["crew"] == "array<struct<id:bigint,name:string>>"
    assert [r.n for r in out.collect()] == [1, 0]


def test_sorted_distinct(spark):
    df = spark.createDataFrame(
        [(["b", "a", "b"], ["a", "b"]), (["x", None, "x"], ["x"]), ([None], []), ([], []), (None, None),
         (["올드보이", "Oldboy", "もののけ姫"], ["Oldboy", "もののけ姫", "올드보이"])],
        "values array<string>, expected array<string>",
    )
    assert_column_equality(df.withColumn("out", sorted_distinct("values")), "out", "expected")


def test_sorted_distinct_of_numbers(spark):
    df = spark.createDataFrame([([2001, 1997, 2001, None], [1997, 2001])], "values array<int>, expected array<int>")
    assert_column_equality(df.withColumn("out", sorted_distinct(F.col("values"))), "out", "expected")
