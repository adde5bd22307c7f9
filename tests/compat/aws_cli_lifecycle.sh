#!/usr/bin/env bash
# Personalize's lifecycle through the AWS CLI (v1) against a tailor endpoint: dataset group,
# schemas, the Interactions and Items datasets, import jobs, solution, version, metrics,
# campaign, a recommendation, a second version and the campaign updated to it, paging, errors,
# and every resource deleted in dependency order. Exits non-zero at the first step
# that does not do what Personalize would.
#
# Usage: aws_cli_lifecycle.sh ENDPOINT_URL INTERACTIONS_CSV SCHEMA_JSON [ITEMS_CSV ITEMS_SCHEMA_JSON]
set -euo pipefail

endpoint=$1
csv=$2
schema_file=$3
items_csv=${4:-$(dirname "$csv")/items.csv}
items_schema_file=${5:-$(dirname "$schema_file")/ecommerce-items.json}
# Loopback only; the credentials are placeholders (tailor serve does not check signatures).
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
export AWS_MAX_ATTEMPTS=1 NO_PROXY=127.0.0.1,localhost

p() { aws --endpoint-url "$endpoint" personalize "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# Polls a Describe command until the resource leaves the pending states; prints the end status.
wait_status() {
    local status
    for _ in $(seq 1 1200); do
        status=$(p "$@" --output text)
        case $status in
            "CREATE PENDING" | "CREATE IN_PROGRESS") sleep 0.25 ;;
            *) echo "$status"; return ;;
        esac
    done
    echo "still $status"
}

run=$(date +%s%N | tail -c 9)

step "dataset group, schema, dataset"
group=$(p create-dataset-group --name "cli-g-$run" --query datasetGroupArn --output text)
[[ $group == arn:aws:personalize:*:dataset-group/cli-g-$run ]] || fail "group ARN $group"
[[ $(p describe-dataset-group --dataset-group-arn "$group" \
    --query datasetGroup.status --output text) == ACTIVE ]] || fail "group not ACTIVE"
schema=$(p create-schema --name "cli-s-$run" --schema "file://$schema_file" \
    --query schemaArn --output text)
dataset=$(p create-dataset --name "cli-d-$run" --dataset-type Interactions \
    --dataset-group-arn "$group" --schema-arn "$schema" --query datasetArn --output text)

step "import"
job=$(p create-dataset-import-job --job-name "cli-j-$run" --dataset-arn "$dataset" \
    --data-source "{\"dataLocation\": \"file://$csv\"}" \
    --role-arn arn:aws:iam::000000000000:role/personalize --query datasetImportJobArn --output text)
status=$(wait_status describe-dataset-import-job --dataset-import-job-arn "$job" \
    --query datasetImportJob.status)
[[ $status == ACTIVE ]] || fail "import job ended $status"
items_schema=$(p create-schema --name "cli-is-$run" --schema "file://$items_schema_file" \
    --query schemaArn --output text)
items_dataset=$(p create-dataset --name "cli-id-$run" --dataset-type Items \
    --dataset-group-arn "$group" --schema-arn "$items_schema" --query datasetArn --output text)
items_job=$(p create-dataset-import-job --job-name "cli-ij-$run" --dataset-arn "$items_dataset" \
    --data-source "{\"dataLocation\": \"$items_csv\"}" \
    --role-arn arn:aws:iam::000000000000:role/personalize --query datasetImportJobArn --output text)
status=$(wait_status describe-dataset-import-job --dataset-import-job-arn "$items_job" \
    --query datasetImportJob.status)
[[ $status == ACTIVE ]] || fail "items import job ended $status"

step "solution, version, metrics"
solution=$(p create-solution --name "cli-sol-$run" --dataset-group-arn "$group" \
    --recipe-arn arn:aws:personalize:::recipe/aws-user-personalization \
    --query solutionArn --output text)
version=$(p create-solution-version --solution-arn "$solution" \
    --query solutionVersionArn --output text)
status=$(wait_status describe-solution-version --solution-version-arn "$version" \
    --query solutionVersion.status)
[[ $status == ACTIVE ]] || fail "solution version ended $status"
ndcg=$(p get-solution-metrics --solution-version-arn "$version" \
    --query 'metrics.normalized_discounted_cumulative_gain_at_10' --output text)
awk -v x="$ndcg" 'BEGIN { exit !(x > 0 && x <= 1) }' || fail "NDCG@10 $ndcg"

step "campaign and a recommendation"
campaign=$(p create-campaign --name "cli-c-$run" --solution-version-arn "$version" \
    --min-provisioned-tps 1 --query campaignArn --output text)
n=$(aws --endpoint-url "$endpoint" personalize-runtime get-recommendations \
    --campaign-arn "$campaign" --user-id U0001 --num-results 5 \
    --query 'length(itemList)' --output text)
[[ $n == 5 ]] || fail "$n recommendations, not 5"

step "a second version, the campaign updated to it"
second=$(p create-solution-version --solution-arn "$solution" \
    --query solutionVersionArn --output text)
status=$(wait_status describe-solution-version --solution-version-arn "$second" \
    --query solutionVersion.status)
[[ $status == ACTIVE ]] || fail "second version ended $status"
p update-campaign --campaign-arn "$campaign" --solution-version-arn "$second" \
    --min-provisioned-tps 2 > /dev/null
[[ $(p describe-campaign --campaign-arn "$campaign" \
    --query '[campaign.solutionVersionArn, campaign.latestCampaignUpdate.status]' \
    --output text) == "$second"$'\t'ACTIVE ]] || fail "campaign not on the second version"
n=$(aws --endpoint-url "$endpoint" personalize-runtime get-recommendations \
    --campaign-arn "$campaign" --user-id U0001 --num-results 5 \
    --query 'length(itemList)' --output text)
[[ $n == 5 ]] || fail "$n recommendations after the update, not 5"

step "paging and errors"
# The CLI follows nextToken itself (one group per page here; a --query applies per page), and
# ours is among them exactly once.
found=$(p list-dataset-groups --page-size 1 --query 'datasetGroups[].datasetGroupArn' \
    --output text | tr '\t' '\n' | grep -cxF "$group" || true)
[[ $found == 1 ]] || fail "paged listing found our group $found times"
[[ $(p list-solution-versions --solution-arn "$solution" \
    --query 'length(solutionVersions)' --output text) == 2 ]] ||
    fail "list-solution-versions of the solution"
if p describe-dataset-group --dataset-group-arn "$group-none" 2>"$TMPDIR/err.txt" >/dev/null; then
    fail "describing a missing group succeeded"
fi
grep -q ResourceNotFoundException "$TMPDIR/err.txt" || fail "$(cat "$TMPDIR/err.txt")"
if p delete-solution --solution-arn "$solution" 2>"$TMPDIR/err.txt"; then
    fail "deleted a solution a campaign serves"
fi
grep -q ResourceInUseException "$TMPDIR/err.txt" || fail "$(cat "$TMPDIR/err.txt")"

step "delete in dependency order"
p delete-campaign --campaign-arn "$campaign"
p delete-solution --solution-arn "$solution"
p delete-dataset --dataset-arn "$dataset"
p delete-dataset --dataset-arn "$items_dataset"
p delete-dataset-group --dataset-group-arn "$group"
p delete-schema --schema-arn "$schema"
p delete-schema --schema-arn "$items_schema"
[[ $(p list-dataset-groups --query "length(datasetGroups[?datasetGroupArn=='$group'])" \
    --output text) == 0 ]] || fail "the group is still listed"
echo "lifecycle through the AWS CLI: ok"
