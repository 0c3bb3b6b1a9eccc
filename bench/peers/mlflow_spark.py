"""MLflow's spark_udf on the MLflow model of the kmeans estimator (env_manager="local": the
executors use this venv's packages, as nbs2i's use OUT/venv; MLflow's "virtualenv" would first
rebuild the model's environment on each executor). Scores a Parquet file of x, y columns on
Spark local[CORES] and writes the labels as JSON Lines. Runs in the MLflow venv, with pyspark.
Args: MODEL_DIR PARQUET TARGET CORES. Prints the first row's label and the rows written."""
import json
import sys

import mlflow.pyfunc
from pyspark.sql import SparkSession

model_dir, source, target, cores = sys.argv[1:5]
spark = (SparkSession.builder.master(f"local[{cores}]").appName("mlflow spark_udf")
         .config("spark.ui.enabled", "false").getOrCreate())
udf = mlflow.pyfunc.spark_udf(spark, model_dir, env_manager="local", result_type="long")
spark.read.parquet(source).select(udf("x", "y").alias("prediction")).write.mode("overwrite").json(target)
written = spark.read.json(target)
print(json.dumps({"first": written.first()["prediction"], "rows": written.count()}))
