"""Control-plane figures against a live `tailor serve` (issue 12's "Measure"): the time from
CreateDatasetImportJob and CreateSolutionVersion to ACTIVE on MovieLens latest-small, and boto3
round-trip latency (p50, p99 over 2,000 calls) of Describe and List operations.

    python tests/load/control_plane.py target/release/tailor ../shared/data/movielens-small

Needs boto3 (the compatibility tests' venv has it). Loopback only; a scratch data dir.
"""
import csv
import os
import re
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

binp, movielens = sys.argv[1], sys.argv[2]
work = tempfile.mkdtemp(prefix="tailor-control-")
data = os.path.join(work, "data")
interactions = os.path.join(work, "interactions.csv")
with open(os.path.join(movielens, "ratings.csv")) as f, open(interactions, "w", newline="") as o:
    w = csv.writer(o)
    w.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"])
    for row in csv.DictReader(f):
        w.writerow([row["userId"], row["movieId"], row["timestamp"], "rating", row["rating"]])
schema_path = os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "movielens-interactions.json")
# 21 dataset groups: above Personalize's default quota of 5, raised as Personalize would on request.
proc = subprocess.Popen([binp, "--data-dir", data, "serve", "--port", "0"], stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, text=True,
                        env={**os.environ, "TAILOR_QUOTAS": "dataset-groups=50"})
url = None
for line in proc.stdout:
    m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    if m:
        url = m.group(1); break
os.environ["NO_PROXY"] = "127.0.0.1"
assert url, "the server printed no address"
pz = boto3.client("personalize", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))
try:
    g = pz.create_dataset_group(name="ml")["datasetGroupArn"]
    s = pz.create_schema(name="ml-i", schema=open(schema_path).read())["schemaArn"]
    d = pz.create_dataset(name="ml-i", schemaArn=s, datasetGroupArn=g, datasetType="Interactions")["datasetArn"]
    for i in range(20):
        pz.create_dataset_group(name=f"extra-{i}")
    t0 = time.monotonic()
    j = pz.create_dataset_import_job(jobName="ml", datasetArn=d, dataSource={"dataLocation": interactions}, roleArn="arn:aws:iam::000000000000:role/x")["datasetImportJobArn"]
    while pz.describe_dataset_import_job(datasetImportJobArn=j)["datasetImportJob"]["status"] not in ("ACTIVE", "CREATE FAILED"):
        time.sleep(0.05)
    print("import job create→ACTIVE %.2f s" % (time.monotonic() - t0))
    sol = pz.create_solution(name="ml-up", datasetGroupArn=g, recipeArn="arn:aws:personalize:::recipe/aws-user-personalization")["solutionArn"]
    t0 = time.monotonic()
    v = pz.create_solution_version(solutionArn=sol)["solutionVersionArn"]
    while True:
        st = pz.describe_solution_version(solutionVersionArn=v)["solutionVersion"]["status"]
        if st in ("ACTIVE", "CREATE FAILED"): break
        time.sleep(0.05)
    print("CreateSolutionVersion→%s %.2f s" % (st, time.monotonic() - t0))
    print("metrics", pz.get_solution_metrics(solutionVersionArn=v)["metrics"]["normalized_discounted_cumulative_gain_at_10"])
    for name, call in [("DescribeDatasetGroup", lambda: pz.describe_dataset_group(datasetGroupArn=g)),
                       ("ListDatasetGroups (21 groups)", lambda: pz.list_dataset_groups()),
                       ("ListDatasetGroups maxResults=5", lambda: pz.list_dataset_groups(maxResults=5)),
                       ("ListDatasets of one group", lambda: pz.list_datasets(datasetGroupArn=g)),
                       ("DescribeSolutionVersion", lambda: pz.describe_solution_version(solutionVersionArn=v))]:
        for _ in range(50): call()
        lat = []
        for _ in range(2000):
            t = time.perf_counter(); call(); lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        print("%s: p50 %.2f ms, p99 %.2f ms (boto3 round trip, 2000 calls)" % (name, lat[1000], lat[1980]))
finally:
    proc.terminate()
    proc.wait()
    subprocess.run(["rm", "-rf", work])
