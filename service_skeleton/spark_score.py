"""`python -m nbs2i_service.spark` as a file Spark can run as its application (spark-submit's main
file, a SparkApplication's mainApplicationFile): OUT/service/spark_score.py, in an image
/opt/app-root/service/spark_score.py."""
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # where nbs2i_service is, whatever the caller's path
runpy.run_module("nbs2i_service.spark", run_name="__main__", alter_sys=True)
