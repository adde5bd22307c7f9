"""The training state machine's sharded branch driven from here, one process per task (as one
Lambda invocation per task), every step through `tailor training-step` and timed: wall seconds
and peak RSS per task. Prints per step the tasks, their median and largest wall time and their
largest peak RSS, and the version's metrics: the per-task figures README's 1M users × 1M items ×
1B events projection starts from.

    python3 tests/scale/sharded.py <tailor> <solution ARN> <campaign ARN>

(tests/scale/sharded.sh generates, imports and creates the solution first.)"""

import json
import statistics
import subprocess
import sys
import tempfile
import time

tailor, solution, campaign = sys.argv[1:4]
runs = {}


def step(name, **fields):
    with tempfile.NamedTemporaryFile("r") as t:
        event = json.dumps({"action": name, **fields})
        started = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name, tailor, "training-step", event],
                           capture_output=True, text=True)
        wall = time.monotonic() - started
        if p.returncode != 0:
            sys.exit(f"{name} {fields} failed:\n{p.stderr}")
        rss_mb = int(t.read().split()[-1]) / 1024
    runs.setdefault(name, []).append((wall, rss_mb))
    return json.loads(p.stdout)


started = time.monotonic()
arn = step("validate", solutionArn=solution, campaignArn=campaign, trainingMode="FULL")
assert arn["sharded"], arn
arn = arn["solutionVersionArn"]
ranges = step("shardPrepare", solutionVersionArn=arn)["ranges"]
for r in ranges:
    step("shardScan", solutionVersionArn=arn, range=r)
plan = step("shardPlan", solutionVersionArn=arn)
for r in ranges:
    step("shardCut", solutionVersionArn=arn, range=r)
for s in plan["userShards"]:
    step("shardUsers", solutionVersionArn=arn, shard=s)
for s in plan["itemShards"]:
    step("shardItems", solutionVersionArn=arn, shard=s)
for it in range(1, plan["iterations"] + 1):
    for s in plan["userShards"]:
        step("solveUsers", solutionVersionArn=arn, shard=s, iteration=it)
    for s in plan["itemShards"]:
        step("solveItems", solutionVersionArn=arn, shard=s, iteration=it)
done = step("shardFinish", solutionVersionArn=arn)
total = time.monotonic() - started

print(f"{len(ranges)} ranges, {len(plan['userShards'])} user shards, {len(plan['itemShards'])} item shards, "
      f"{plan['iterations']} iterations; {total:.1f} s in all, one task at a time")
print(f"{'step':<14}{'tasks':>6}{'median s':>10}{'max s':>8}{'max RSS MB':>12}")
for name, rs in runs.items():
    walls = [w for w, _ in rs]
    print(f"{name:<14}{len(rs):>6}{statistics.median(walls):>10.2f}{max(walls):>8.2f}{max(r for _, r in rs):>12.0f}")
print(json.dumps({"status": done["status"], "metrics": done["metrics"]}, indent=1))
