"""The control plane through boto3's `personalize` client against a live `tailor serve` (AWS
JSON 1.1, `X-Amz-Target: AmazonPersonalize.<Operation>`): dataset groups, schemas and datasets
created, described, listed page by page and deleted in dependency order, and Personalize's
errors on the way."""

import json
import time
import uuid

import pytest

from conftest import PREFIX, ROOT, _client, arn, assert_error


@pytest.fixture(scope="module")
def control(server):
    return _client("personalize", server.url)


def unique(tag: str) -> str:
    return f"ctl-{tag}-{uuid.uuid4().hex[:8]}"


def schema_text(name: str) -> str:
    return (ROOT / "schemas" / name).read_text()


def test_dataset_group_schema_and_datasets_lifecycle(control):
    group_name, schema_name, items_schema = unique("g"), unique("s"), unique("si")
    group = control.create_dataset_group(name=group_name)["datasetGroupArn"]
    assert group == f"{PREFIX}:dataset-group/{group_name}"
    described = control.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]
    assert described["name"] == group_name and described["status"] == "ACTIVE"
    # Epoch seconds on the wire, parsed by botocore into datetimes.
    assert described["creationDateTime"].year >= 2024

    schema = control.create_schema(
        name=schema_name, schema=schema_text("ecommerce-interactions.json"))["schemaArn"]
    got = control.describe_schema(schemaArn=schema)["schema"]
    assert got["schemaArn"] == schema
    assert json.loads(got["schema"]) == json.loads(schema_text("ecommerce-interactions.json"))
    items = control.create_schema(
        name=items_schema, schema=schema_text("ecommerce-items.json"))["schemaArn"]

    interactions = control.create_dataset(
        name=unique("d"), schemaArn=schema, datasetGroupArn=group,
        datasetType="Interactions")["datasetArn"]
    catalogue = control.create_dataset(
        name=unique("d"), schemaArn=items, datasetGroupArn=group,
        datasetType="Items")["datasetArn"]
    dataset = control.describe_dataset(datasetArn=interactions)["dataset"]
    assert (dataset["datasetGroupArn"], dataset["schemaArn"], dataset["datasetType"].upper()) == \
        (group, schema, "INTERACTIONS")
    listed = control.list_datasets(datasetGroupArn=group)["datasets"]
    assert sorted(d["datasetArn"] for d in listed) == sorted([interactions, catalogue])
    assert set(listed[0]) >= {"name", "datasetArn", "datasetType", "status",
                              "creationDateTime", "lastUpdatedDateTime"}

    # In use: a group with datasets, a schema a dataset uses.
    assert_error("ResourceInUseException", 400, control.delete_dataset_group,
                 datasetGroupArn=group)
    assert_error("ResourceInUseException", 400, control.delete_schema, schemaArn=schema)
    # Dependency order: datasets, then the group and the schemas.
    control.delete_dataset(datasetArn=interactions)
    control.delete_dataset(datasetArn=catalogue)
    assert control.list_datasets(datasetGroupArn=group)["datasets"] == []
    control.delete_dataset_group(datasetGroupArn=group)
    control.delete_schema(schemaArn=schema)
    control.delete_schema(schemaArn=items)
    assert_error("ResourceNotFoundException", 400, control.describe_dataset_group,
                 datasetGroupArn=group)
    assert_error("ResourceNotFoundException", 400, control.describe_schema, schemaArn=schema)
    assert_error("ResourceNotFoundException", 400, control.describe_dataset,
                 datasetArn=interactions)


def test_errors_name_what_is_wrong(control):
    name = unique("dup")
    group = control.create_dataset_group(name=name)["datasetGroupArn"]
    try:
        assert_error("ResourceAlreadyExistsException", 400, control.create_dataset_group,
                     name=name)
        message = assert_error("InvalidInputException", 400, control.create_schema,
                               name=unique("bad"), schema='{"type": "record"')
        assert message
        message = assert_error("ResourceNotFoundException", 400, control.create_dataset,
                               name=unique("d"), schemaArn=f"{PREFIX}:schema/none-such",
                               datasetGroupArn=group, datasetType="Interactions")
        assert "none-such" in message
        # A schema that does not fit the dataset type.
        items = control.create_schema(
            name=unique("si"), schema=schema_text("ecommerce-items.json"))["schemaArn"]
        assert_error("InvalidInputException", 400, control.create_dataset,
                     name=unique("d"), schemaArn=items, datasetGroupArn=group,
                     datasetType="Interactions")
        message = assert_error("InvalidInputException", 400, control.create_dataset,
                               name=unique("d"), schemaArn=items, datasetGroupArn=group,
                               datasetType="Actions")
        assert "datasetType" in message
        control.delete_schema(schemaArn=items)
        assert_error("ResourceNotFoundException", 400, control.list_datasets,
                     datasetGroupArn=f"{PREFIX}:dataset-group/none-such")
    finally:
        control.delete_dataset_group(datasetGroupArn=group)


def test_lists_page_with_max_results_one(control):
    made = [control.create_dataset_group(name=unique("p"))["datasetGroupArn"] for _ in range(3)]
    try:
        seen, token, pages = [], None, 0
        while True:
            kwargs = {"maxResults": 1}
            if token:
                kwargs["nextToken"] = token
            page = control.list_dataset_groups(**kwargs)
            assert len(page["datasetGroups"]) <= 1
            seen += [g["datasetGroupArn"] for g in page["datasetGroups"]]
            pages += 1
            token = page.get("nextToken")
            if not token:
                break
        assert len(seen) == len(set(seen)) == pages
        assert set(made) <= set(seen)
        whole = [g["datasetGroupArn"] for g in control.list_dataset_groups()["datasetGroups"]]
        assert seen == whole
        # boto3's own paginator walks the same pages.
        paginated = [g["datasetGroupArn"]
                     for p in control.get_paginator("list_dataset_groups").paginate(
                         PaginationConfig={"PageSize": 1})
                     for g in p["datasetGroups"]]
        assert paginated == whole
        assert_error("InvalidNextTokenException", 400, control.list_dataset_groups,
                     nextToken="not-a-token")
        schemas = control.list_schemas(maxResults=1)
        assert len(schemas["schemas"]) == 1 and "nextToken" in schemas
        # A token belongs to its list: another operation's, or another parent's, is refused.
        groups_token = control.list_dataset_groups(maxResults=1)["nextToken"]
        assert_error("InvalidNextTokenException", 400, control.list_schemas,
                     nextToken=groups_token)
        assert_error("InvalidNextTokenException", 400, control.list_datasets,
                     datasetGroupArn=made[0], nextToken=groups_token)
    finally:
        for g in made:
            control.delete_dataset_group(datasetGroupArn=g)


def test_filters_and_event_trackers(control):
    group = control.create_dataset_group(name=unique("ft"))["datasetGroupArn"]
    schema = control.create_schema(
        name=unique("s"), schema=schema_text("ecommerce-interactions.json"))["schemaArn"]
    dataset = control.create_dataset(name=unique("d"), schemaArn=schema, datasetGroupArn=group,
                                     datasetType="Interactions")["datasetArn"]
    made = control.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    tracker = made["eventTrackerArn"]
    described = control.describe_event_tracker(eventTrackerArn=tracker)["eventTracker"]
    assert described["trackingId"] == made["trackingId"]
    assert (described["datasetGroupArn"], described["accountId"]) == (group, "000000000000")
    listed = control.list_event_trackers(datasetGroupArn=group)["eventTrackers"]
    assert [t["eventTrackerArn"] for t in listed] == [tracker]

    expression = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    flt = control.create_filter(name=unique("f"), datasetGroupArn=group,
                                filterExpression=expression)["filterArn"]
    got = control.describe_filter(filterArn=flt)["filter"]
    assert (got["filterExpression"], got["datasetGroupArn"]) == (expression, group)
    page = control.list_filters(datasetGroupArn=group)
    assert [f["filterArn"] for f in page["Filters"]] == [flt]
    message = assert_error("InvalidInputException", 400, control.create_filter,
                           name=unique("f"), datasetGroupArn=group,
                           filterExpression="INCLUDE ItemID WHERE Items.GENRE IN")
    assert "offset" in message

    # Personalize's quota: 10 filters per dataset group.
    more = [control.create_filter(name=unique("f"), datasetGroupArn=group,
                                  filterExpression=expression)["filterArn"] for _ in range(9)]
    message = assert_error("LimitExceededException", 400, control.create_filter,
                           name=unique("f"), datasetGroupArn=group, filterExpression=expression)
    assert "filters-per-group" in message
    for f in more:
        control.delete_filter(filterArn=f)

    assert_error("ResourceInUseException", 400, control.delete_dataset_group,
                 datasetGroupArn=group)
    control.delete_filter(filterArn=flt)
    control.delete_event_tracker(eventTrackerArn=tracker)
    assert control.list_filters(datasetGroupArn=group)["Filters"] == []
    assert_error("ResourceNotFoundException", 400, control.describe_event_tracker,
                 eventTrackerArn=tracker)
    control.delete_dataset(datasetArn=dataset)
    control.delete_dataset_group(datasetGroupArn=group)
    control.delete_schema(schemaArn=schema)


def wait_for(describe, key: str, timeout: float = 300.0) -> dict:
    """Polls a Describe call until its resource leaves the CREATE PENDING / IN_PROGRESS /
    STOPPING states (batch jobs spell theirs PENDING / IN PROGRESS)."""
    import time

    deadline = time.monotonic() + timeout
    states = []
    while True:
        resource = describe()[key]
        if not states or states[-1] != resource["status"]:
            states.append(resource["status"])
        if resource["status"] not in ("CREATE PENDING", "CREATE IN_PROGRESS", "CREATE STOPPING",
                                      "PENDING", "IN PROGRESS"):
            resource["seen"] = states
            return resource
        assert time.monotonic() < deadline, f"{key} stuck in {states}"
        time.sleep(0.2)


def test_the_whole_lifecycle_through_boto3(control, server, tmp_path):
    import subprocess

    from conftest import cli_env, tailor_bin

    subprocess.run([str(tailor_bin()), "--data-dir", str(tmp_path / "scratch"), "sample",
                    "--out", str(tmp_path / "sample")], check=True, env=cli_env(),
                   capture_output=True)
    csv_path = tmp_path / "sample" / "interactions.csv"

    group = control.create_dataset_group(name=unique("life"))["datasetGroupArn"]
    schema = control.create_schema(
        name=unique("s"), schema=schema_text("ecommerce-interactions.json"))["schemaArn"]
    dataset = control.create_dataset(name=unique("d"), schemaArn=schema, datasetGroupArn=group,
                                     datasetType="Interactions")["datasetArn"]

    # A location that is not there fails at once, naming the field.
    message = assert_error("InvalidInputException", 400, control.create_dataset_import_job,
                           jobName=unique("j"), datasetArn=dataset,
                           dataSource={"dataLocation": str(tmp_path / "none.csv")},
                           roleArn="arn:aws:iam::000000000000:role/x")
    assert "dataSource.dataLocation" in message

    job = control.create_dataset_import_job(
        jobName=unique("j"), datasetArn=dataset,
        dataSource={"dataLocation": f"file://{csv_path}"},
        roleArn="arn:aws:iam::000000000000:role/x",
        publishAttributionMetricsToS3=True)["datasetImportJobArn"]
    done = wait_for(lambda: control.describe_dataset_import_job(datasetImportJobArn=job),
                    "datasetImportJob")
    assert done["status"] == "ACTIVE", done
    assert done["seen"][0] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    assert "lease" not in done
    # What the request gave is what Describe gives back.
    assert done["roleArn"] == "arn:aws:iam::000000000000:role/x"
    assert done["publishAttributionMetricsToS3"] is True
    assert done["importMode"] == "FULL"
    jobs = control.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
    assert [j["datasetImportJobArn"] for j in jobs] == [job]

    # The Items dataset, imported the same way.
    items_schema = control.create_schema(
        name=unique("s"), schema=schema_text("ecommerce-items.json"))["schemaArn"]
    items_dataset = control.create_dataset(name=unique("d"), schemaArn=items_schema,
                                           datasetGroupArn=group, datasetType="Items")["datasetArn"]
    items_job = control.create_dataset_import_job(
        jobName=unique("j"), datasetArn=items_dataset, importMode="FULL",
        dataSource={"dataLocation": str(tmp_path / "sample" / "items.csv")},
        roleArn="arn:aws:iam::000000000000:role/x")["datasetImportJobArn"]
    items_done = wait_for(
        lambda: control.describe_dataset_import_job(datasetImportJobArn=items_job),
        "datasetImportJob")
    assert (items_done["status"], items_done["importMode"]) == ("ACTIVE", "FULL"), \
        items_done.get("failureReason")
    assert items_done["publishAttributionMetricsToS3"] is False
    assert_error("ResourceAlreadyExistsException", 400, control.create_dataset,
                 name=unique("d"), schemaArn=items_schema, datasetGroupArn=group,
                 datasetType="Items")

    recipes = [r["recipeArn"] for r in control.list_recipes()["recipes"]]
    up = "arn:aws:personalize:::recipe/aws-user-personalization"
    assert up in recipes
    assert control.describe_recipe(recipeArn=up)["recipe"]["recipeType"] == "USER_PERSONALIZATION"

    solution = control.create_solution(name=unique("sol"), datasetGroupArn=group,
                                       recipeArn=up, performIncrementalUpdate=True)["solutionArn"]
    assert control.describe_solution(solutionArn=solution)["solution"][
        "performIncrementalUpdate"] is True
    first = control.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    trained = wait_for(lambda: control.describe_solution_version(solutionVersionArn=first),
                       "solutionVersion")
    assert trained["status"] == "ACTIVE", trained
    metrics = control.get_solution_metrics(solutionVersionArn=first)["metrics"]
    assert 0.0 < metrics["normalized_discounted_cumulative_gain_at_10"] <= 1.0
    described = control.describe_solution(solutionArn=solution)["solution"]
    latest = described["latestSolutionVersion"]
    assert latest["solutionVersionArn"] == first
    # Personalize's default: automatic training on; a version made by hand is MANUAL.
    assert described["performAutoTraining"] is True
    assert trained["trainingType"] == "MANUAL"
    auto = control.create_solution(
        name=unique("auto"), datasetGroupArn=group, recipeArn=up, performAutoTraining=True,
        solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(3 days)"}},
    )["solutionArn"]
    config = control.describe_solution(solutionArn=auto)["solution"]["solutionConfig"]
    assert config["autoTrainingConfig"] == {"schedulingExpression": "rate(3 days)"}
    assert_error("InvalidInputException", 400, control.create_solution, name=unique("auto"),
                 datasetGroupArn=group, recipeArn=up, performAutoTraining=True,
                 solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(45 days)"}})
    control.delete_solution(solutionArn=auto)

    assert_error("InvalidInputException", 400, control.create_campaign, name=unique("c"),
                 solutionVersionArn=first,
                 campaignConfig={"rankingInfluence": {"POPULARITY": 1.5}})
    config = {"itemExplorationConfig": {"explorationWeight": "0.2"},
              "rankingInfluence": {"FRESHNESS": 0.5}}
    campaign = control.create_campaign(name=unique("c"), solutionVersionArn=first,
                                       minProvisionedTPS=1, campaignConfig=config)["campaignArn"]
    described = control.describe_campaign(campaignArn=campaign)["campaign"]
    assert described["status"] == "ACTIVE"
    assert described["campaignConfig"]["rankingInfluence"] == {"FRESHNESS": 0.5}
    assert described["campaignConfig"]["itemExplorationConfig"] == {"explorationWeight": "0.2"}
    runtime = _client("personalize-runtime", server.url)
    items = runtime.get_recommendations(campaignArn=campaign, userId="U0001",
                                        numResults=5)["itemList"]
    assert len(items) == 5

    # The campaign moves to a second version.
    second = control.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert wait_for(lambda: control.describe_solution_version(solutionVersionArn=second),
                    "solutionVersion")["status"] == "ACTIVE"
    # A third is stopped at once: it never becomes ACTIVE, and cannot be stopped twice.
    third = control.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    control.stop_solution_version_creation(solutionVersionArn=third)
    stopped = wait_for(lambda: control.describe_solution_version(solutionVersionArn=third),
                       "solutionVersion")
    assert stopped["status"] == "CREATE STOPPED", stopped
    assert_error("ResourceInUseException", 400, control.stop_solution_version_creation,
                 solutionVersionArn=third)
    assert_error("ResourceInUseException", 400, control.create_campaign, name=unique("c"),
                 solutionVersionArn=third)
    control.update_campaign(campaignArn=campaign, solutionVersionArn=second, minProvisionedTPS=2)
    updated = control.describe_campaign(campaignArn=campaign)["campaign"]
    assert (updated["solutionVersionArn"], updated["minProvisionedTPS"]) == (second, 2)
    latest = updated["latestCampaignUpdate"]
    assert (latest["solutionVersionArn"], latest["minProvisionedTPS"], latest["status"]) == \
        (second, 2, "ACTIVE")
    assert latest["creationDateTime"].year >= 2024
    # An update is checked as a Create is.
    assert_error("InvalidInputException", 400, control.update_campaign, campaignArn=campaign,
                 campaignConfig={"itemExplorationConfig": {"explorationWeight": "5"}})
    # The campaign answers from its new version at once.
    after = runtime.get_recommendations(campaignArn=campaign, userId="U0001",
                                        numResults=5)["itemList"]
    assert len(after) == 5
    listed = control.list_solution_versions(solutionArn=solution, maxResults=1)
    assert len(listed["solutionVersions"]) == 1 and "nextToken" in listed
    pages = [v["solutionVersionArn"]
             for p in control.get_paginator("list_solution_versions").paginate(
                 solutionArn=solution, PaginationConfig={"PageSize": 1})
             for v in p["solutionVersions"]]
    assert sorted(pages) == sorted([first, second, third])
    assert [c["campaignArn"] for c in control.list_campaigns(solutionArn=solution)["campaigns"]] \
        == [campaign]

    # Everything deleted in dependency order; in use until then.
    assert_error("ResourceInUseException", 400, control.delete_solution, solutionArn=solution)
    control.delete_campaign(campaignArn=campaign)
    control.delete_solution(solutionArn=solution)
    assert_error("ResourceInUseException", 400, control.delete_schema, schemaArn=items_schema)
    control.delete_dataset(datasetArn=dataset)
    control.delete_dataset(datasetArn=items_dataset)
    control.delete_dataset_group(datasetGroupArn=group)
    control.delete_schema(schemaArn=schema)
    control.delete_schema(schemaArn=items_schema)
    assert_error("ResourceNotFoundException", 400, control.describe_solution_version,
                 solutionVersionArn=first)


def test_tags_on_create_and_after(control):
    name = unique("tagged")
    group = control.create_dataset_group(
        name=name, tags=[{"tagKey": "team", "tagValue": "growth"}])["datasetGroupArn"]
    try:
        assert control.list_tags_for_resource(resourceArn=group)["tags"] == \
            [{"tagKey": "team", "tagValue": "growth"}]
        control.tag_resource(resourceArn=group, tags=[
            {"tagKey": "team", "tagValue": "search"}, {"tagKey": "cost centre", "tagValue": "7"}])
        tags = control.list_tags_for_resource(resourceArn=group)["tags"]
        assert sorted((t["tagKey"], t["tagValue"]) for t in tags) == \
            [("cost centre", "7"), ("team", "search")]
        control.untag_resource(resourceArn=group, tagKeys=["team", "never-there"])
        assert control.list_tags_for_resource(resourceArn=group)["tags"] == \
            [{"tagKey": "cost centre", "tagValue": "7"}]

        many = [{"tagKey": f"k{i}", "tagValue": "v"} for i in range(50)]
        assert_error("TooManyTagsException", 400, control.tag_resource,
                     resourceArn=group, tags=many)
        assert_error("TooManyTagKeysException", 400, control.untag_resource,
                     resourceArn=group, tagKeys=[f"k{i}" for i in range(51)])
        message = assert_error("InvalidInputException", 400, control.tag_resource,
                               resourceArn=group, tags=[{"tagKey": "aws:x", "tagValue": "v"}])
        assert "tags[0].tagKey" in message
        assert_error("ResourceNotFoundException", 400, control.list_tags_for_resource,
                     resourceArn=f"{PREFIX}:dataset-group/none-such")
        # A bad tag on a Create creates nothing.
        other = unique("bad")
        assert_error("InvalidInputException", 400, control.create_dataset_group, name=other,
                     tags=[{"tagKey": "a;b", "tagValue": "v"}])
        assert_error("ResourceNotFoundException", 400, control.describe_dataset_group,
                     datasetGroupArn=f"{PREFIX}:dataset-group/{other}")
    finally:
        control.delete_dataset_group(datasetGroupArn=group)
    # The tags went with the group: the same name again starts untagged.
    again = control.create_dataset_group(name=name)["datasetGroupArn"]
    try:
        assert control.list_tags_for_resource(resourceArn=again)["tags"] == []
    finally:
        control.delete_dataset_group(datasetGroupArn=again)


def test_imports_read_s3_locations_from_the_emulator(control, tmp_path):
    """`s3://bucket/key` and `s3://bucket/prefix/` locations, read by the local server from the
    emulator at AWS_ENDPOINT_URL; a location with nothing there fails the job with a reason."""
    import subprocess

    import boto3
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError

    from conftest import EMULATOR, cli_env, tailor_bin

    s3 = boto3.client("s3", endpoint_url=EMULATOR, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test",
                      config=Config(s3={"addressing_style": "path"}))
    try:
        s3.list_buckets()
    except EndpointConnectionError:
        pytest.fail(f"no AWS emulator at {EMULATOR}: start it with `bash tests/emulator.sh start`")
    subprocess.run([str(tailor_bin()), "--data-dir", str(tmp_path / "scratch"), "sample",
                    "--out", str(tmp_path / "sample")], check=True, env=cli_env(),
                   capture_output=True)
    lines = (tmp_path / "sample" / "interactions.csv").read_text().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    bucket = unique("bkt")
    s3.create_bucket(Bucket=bucket)
    half = len(rows) // 2
    s3.put_object(Bucket=bucket, Key="in/part-1.csv", Body="".join([header] + rows[:half]))
    s3.put_object(Bucket=bucket, Key="in/part-2.csv", Body="".join([header] + rows[half:]))

    group = control.create_dataset_group(name=unique("s3"))["datasetGroupArn"]
    schema = control.create_schema(
        name=unique("s"), schema=schema_text("ecommerce-interactions.json"))["schemaArn"]
    dataset = control.create_dataset(name=unique("d"), schemaArn=schema, datasetGroupArn=group,
                                     datasetType="Interactions")["datasetArn"]
    try:
        def imported(location):
            job = control.create_dataset_import_job(
                jobName=unique("j"), datasetArn=dataset,
                dataSource={"dataLocation": location},
                roleArn="arn:aws:iam::000000000000:role/x")["datasetImportJobArn"]
            return wait_for(lambda: control.describe_dataset_import_job(
                datasetImportJobArn=job), "datasetImportJob")

        for location in (f"s3://{bucket}/in/part-1.csv", f"s3://{bucket}/in/",
                         f"s3://{bucket}/in"):
            done = imported(location)
            assert done["status"] == "ACTIVE", (location, done)
            assert done["dataSource"]["dataLocation"] == location
        missing = imported(f"s3://{bucket}/none.csv")
        assert missing["status"] == "CREATE FAILED"
        assert "no object at" in missing["failureReason"], missing
        message = assert_error("InvalidInputException", 400, control.create_dataset_import_job,
                               jobName=unique("j"), datasetArn=dataset,
                               dataSource={"dataLocation": f"s3://{bucket}"})
        assert "dataSource.dataLocation" in message
    finally:
        control.delete_dataset(datasetArn=dataset)
        control.delete_dataset_group(datasetGroupArn=group)
        control.delete_schema(schemaArn=schema)
        for key in ("in/part-1.csv", "in/part-2.csv"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)


def test_batch_inference_and_deletion_jobs_through_boto3(control, server, tmp_path):
    solution = arn("solution", "demo-personalization")
    versions = control.list_solution_versions(solutionArn=solution)["solutionVersions"]
    version = max((v for v in versions if v["status"] == "ACTIVE"),
                  key=lambda v: v["creationDateTime"])["solutionVersionArn"]
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "users.json").write_text(
        "\n".join(json.dumps({"userId": f"U{u:04}"}) for u in range(1, 21)) + "\n{broken\n")
    out = tmp_path / "out"
    job = control.create_batch_inference_job(
        jobName=unique("batch"), solutionVersionArn=version, numResults=7,
        jobInput={"s3DataSource": {"path": str(inputs / "users.json")}},
        jobOutput={"s3DataDestination": {"path": str(out)}},
        roleArn="arn:aws:iam::000000000000:role/x")["batchInferenceJobArn"]
    done = wait_for(lambda: control.describe_batch_inference_job(batchInferenceJobArn=job),
                    "batchInferenceJob")
    assert done["status"] == "ACTIVE", done
    # Personalize's batch states: PENDING -> IN PROGRESS -> ACTIVE (botocore's model).
    assert set(done["seen"]) <= {"PENDING", "IN PROGRESS", "ACTIVE"}, done["seen"]
    assert done["batchInferenceJobMode"] == "BATCH_INFERENCE"
    assert done["jobOutput"]["s3DataDestination"]["path"] == str(out)
    lines = [json.loads(line) for line in (out / "users.json.out").read_text().splitlines()]
    assert len(lines) == 21
    assert lines[20]["error"].startswith("line 21:") and lines[20]["output"] is None
    runtime = _client("personalize-runtime", server.url)
    for line in lines[:3]:
        assert line["error"] is None and line["input"]["userId"].startswith("U")
        online = runtime.get_recommendations(campaignArn=arn("campaign", "compat-nometa"),
                                             userId=line["input"]["userId"], numResults=7)
        assert line["output"]["recommendedItems"] == [i["itemId"] for i in online["itemList"]]
        assert len(line["output"]["scores"]) == 7
    summaries = control.list_batch_inference_jobs(solutionVersionArn=version)["batchInferenceJobs"]
    assert job in [s["batchInferenceJobArn"] for s in summaries]
    # A user-personalization version serves no batch segment job.
    message = assert_error("InvalidInputException", 400, control.create_batch_segment_job,
                           jobName=unique("seg"), solutionVersionArn=version,
                           jobInput={"s3DataSource": {"path": str(inputs)}},
                           jobOutput={"s3DataDestination": {"path": str(out)}},
                           roleArn="arn:aws:iam::000000000000:role/x")
    assert "aws-item-affinity" in message

    group = control.create_dataset_group(name=unique("forget"))["datasetGroupArn"]
    csv_path = tmp_path / "forget.csv"
    csv_path.write_text("USER_ID\nU0001\n")
    deletion = control.create_data_deletion_job(
        jobName=unique("del"), datasetGroupArn=group,
        dataSource={"dataLocation": str(csv_path)},
        roleArn="arn:aws:iam::000000000000:role/x")["dataDeletionJobArn"]
    for _ in range(200):
        d = control.describe_data_deletion_job(dataDeletionJobArn=deletion)["dataDeletionJob"]
        if d["status"] not in ("PENDING", "IN_PROGRESS"):
            break
        time.sleep(0.05)
    assert (d["status"], d["numDeleted"]) == ("COMPLETED", 0), d
    listed = control.list_data_deletion_jobs(datasetGroupArn=group)["dataDeletionJobs"]
    assert [j["dataDeletionJobArn"] for j in listed] == [deletion]
    control.delete_dataset_group(datasetGroupArn=group)


def test_a_batch_segment_job_through_boto3(control, server, tmp_path):
    """CreateBatchSegmentJob on an aws-item-affinity version of the demo group goes PENDING ->
    IN PROGRESS -> ACTIVE and writes `<input>.out` in Personalize's segment shape, one line per
    item in input order."""
    solution = control.create_solution(
        name=unique("aff"), datasetGroupArn=arn("dataset-group", "demo"),
        recipeArn="arn:aws:personalize:::recipe/aws-item-affinity")["solutionArn"]
    try:
        version = control.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        trained = wait_for(lambda: control.describe_solution_version(solutionVersionArn=version),
                           "solutionVersion")
        assert trained["status"] == "ACTIVE", trained
        items = list(dict.fromkeys(row["ITEM_ID"] for row in server.interactions))[:3]
        (tmp_path / "items.json").write_text(
            "".join(json.dumps({"itemId": i}) + "\n" for i in items))
        out = tmp_path / "segments"
        job = control.create_batch_segment_job(
            jobName=unique("seg"), solutionVersionArn=version, numResults=10,
            jobInput={"s3DataSource": {"path": str(tmp_path / "items.json")}},
            jobOutput={"s3DataDestination": {"path": str(out)}},
            roleArn="arn:aws:iam::000000000000:role/x")["batchSegmentJobArn"]
        done = wait_for(lambda: control.describe_batch_segment_job(batchSegmentJobArn=job),
                        "batchSegmentJob")
        assert done["status"] == "ACTIVE", done
        assert set(done["seen"]) <= {"PENDING", "IN PROGRESS", "ACTIVE"}, done["seen"]
        assert done["numResults"] == 10
        lines = [json.loads(line) for line in (out / "items.json.out").read_text().splitlines()]
        assert [line["input"] for line in lines] == [{"itemId": i} for i in items]
        known = {row["USER_ID"] for row in server.interactions}
        for line in lines:
            assert line.get("error") is None, line
            assert list(line["output"]) == ["recommendedUsers"], line
            users = line["output"]["recommendedUsers"]
            assert len(users) == len(set(users)) == 10 and set(users) <= known, users
        listed = control.list_batch_segment_jobs(solutionVersionArn=version)["batchSegmentJobs"]
        assert [j["batchSegmentJobArn"] for j in listed] == [job]
    finally:
        control.delete_solution(solutionArn=solution)
