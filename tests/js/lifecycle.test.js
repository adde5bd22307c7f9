// The AWS SDK for JavaScript v3 against a live `tailor serve`: Personalize's lifecycle through
// @aws-sdk/client-personalize, then GetRecommendations and a PutEvents round trip through the
// runtime and events clients. Run by tests/compat/test_js_sdk.py, which starts the server and
// passes TAILOR_URL, TAILOR_INTERACTIONS (a sample interactions CSV) and TAILOR_SCHEMA.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";

import * as P from "@aws-sdk/client-personalize";
import { PersonalizeRuntimeClient, GetRecommendationsCommand } from "@aws-sdk/client-personalize-runtime";
import { PersonalizeEventsClient, PutEventsCommand } from "@aws-sdk/client-personalize-events";

const endpoint = process.env.TAILOR_URL;
const settings = {
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  maxAttempts: 1,
};
const control = new P.PersonalizeClient(settings);
const runtime = new PersonalizeRuntimeClient(settings);
const events = new PersonalizeEventsClient(settings);
const run = randomUUID().slice(0, 8);

/** Polls a Describe until the resource leaves the pending states; returns it. */
async function settled(describe, field) {
  for (let i = 0; i < 1200; i++) {
    const resource = (await control.send(describe))[field];
    if (!["CREATE PENDING", "CREATE IN_PROGRESS"].includes(resource.status)) return resource;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${field} never settled`);
}

test("the lifecycle, a recommendation and PutEvents through the JavaScript SDK v3", async () => {
  assert.ok(endpoint, "TAILOR_URL is not set");
  const { datasetGroupArn } = await control.send(
    new P.CreateDatasetGroupCommand({ name: `js-g-${run}`, tags: [{ tagKey: "sdk", tagValue: "js" }] }),
  );
  const { datasetGroup } = await control.send(new P.DescribeDatasetGroupCommand({ datasetGroupArn }));
  assert.equal(datasetGroup.status, "ACTIVE");
  // Epoch seconds on the wire, Dates in the SDK.
  assert.ok(datasetGroup.creationDateTime instanceof Date);
  assert.ok(datasetGroup.creationDateTime.getFullYear() >= 2024);
  const tags = await control.send(new P.ListTagsForResourceCommand({ resourceArn: datasetGroupArn }));
  assert.deepEqual(tags.tags, [{ tagKey: "sdk", tagValue: "js" }]);

  const { schemaArn } = await control.send(
    new P.CreateSchemaCommand({ name: `js-s-${run}`, schema: readFileSync(process.env.TAILOR_SCHEMA, "utf8") }),
  );
  const { datasetArn } = await control.send(
    new P.CreateDatasetCommand({ name: `js-d-${run}`, schemaArn, datasetGroupArn, datasetType: "Interactions" }),
  );
  const { datasetImportJobArn } = await control.send(
    new P.CreateDatasetImportJobCommand({
      jobName: `js-j-${run}`,
      datasetArn,
      dataSource: { dataLocation: `file://${process.env.TAILOR_INTERACTIONS}` },
      roleArn: "arn:aws:iam::000000000000:role/personalize",
    }),
  );
  const job = await settled(new P.DescribeDatasetImportJobCommand({ datasetImportJobArn }), "datasetImportJob");
  assert.equal(job.status, "ACTIVE", job.failureReason);

  const { solutionArn } = await control.send(
    new P.CreateSolutionCommand({
      name: `js-sol-${run}`,
      datasetGroupArn,
      recipeArn: "arn:aws:personalize:::recipe/aws-user-personalization",
    }),
  );
  const { solutionVersionArn } = await control.send(new P.CreateSolutionVersionCommand({ solutionArn }));
  const version = await settled(new P.DescribeSolutionVersionCommand({ solutionVersionArn }), "solutionVersion");
  assert.equal(version.status, "ACTIVE", version.failureReason);
  const { metrics } = await control.send(new P.GetSolutionMetricsCommand({ solutionVersionArn }));
  assert.ok(metrics.normalized_discounted_cumulative_gain_at_10 > 0);

  const { campaignArn } = await control.send(
    new P.CreateCampaignCommand({ name: `js-c-${run}`, solutionVersionArn, minProvisionedTPS: 1 }),
  );
  const { eventTrackerArn, trackingId } = await control.send(
    new P.CreateEventTrackerCommand({ name: `js-t-${run}`, datasetGroupArn }),
  );

  // The SDK's own paginator over one-result pages sees the group exactly once.
  const seen = [];
  for await (const page of P.paginateListDatasetGroups({ client: control, pageSize: 1 }, {})) {
    assert.ok(page.datasetGroups.length <= 1);
    seen.push(...page.datasetGroups.map((g) => g.datasetGroupArn));
  }
  assert.equal(seen.filter((a) => a === datasetGroupArn).length, 1);

  // Errors arrive as the SDK's typed exceptions.
  await assert.rejects(
    control.send(new P.DescribeCampaignCommand({ campaignArn: `${campaignArn}-none` })),
    P.ResourceNotFoundException,
  );
  await assert.rejects(
    control.send(new P.DeleteSolutionCommand({ solutionArn })),
    P.ResourceInUseException,
  );

  // A recommendation, then an event for a brand-new user, whose next request reflects it.
  const user = `js-user-${run}`;
  const before = await runtime.send(new GetRecommendationsCommand({ campaignArn, userId: "U0001", numResults: 5 }));
  assert.equal(before.itemList.length, 5);
  assert.ok(before.recommendationId);
  const cold = await runtime.send(new GetRecommendationsCommand({ campaignArn, userId: user, numResults: 10 }));
  const clicked = before.itemList[0].itemId;
  await events.send(
    new PutEventsCommand({
      trackingId,
      userId: user,
      sessionId: `js-session-${run}`,
      eventList: [{ eventType: "click", itemId: clicked, sentAt: new Date() }],
    }),
  );
  const warm = await runtime.send(new GetRecommendationsCommand({ campaignArn, userId: user, numResults: 10 }));
  assert.equal(warm.itemList.length, 10);
  assert.notDeepEqual(
    warm.itemList.map((i) => i.itemId),
    cold.itemList.map((i) => i.itemId),
    "the user's first event changed the next answer",
  );

  // A second version; the campaign moves to it and answers from it.
  const second = await control.send(new P.CreateSolutionVersionCommand({ solutionArn }));
  const secondDone = await settled(
    new P.DescribeSolutionVersionCommand({ solutionVersionArn: second.solutionVersionArn }),
    "solutionVersion",
  );
  assert.equal(secondDone.status, "ACTIVE", secondDone.failureReason);
  await control.send(
    new P.UpdateCampaignCommand({ campaignArn, solutionVersionArn: second.solutionVersionArn, minProvisionedTPS: 2 }),
  );
  const { campaign } = await control.send(new P.DescribeCampaignCommand({ campaignArn }));
  assert.equal(campaign.solutionVersionArn, second.solutionVersionArn);
  assert.equal(campaign.latestCampaignUpdate.status, "ACTIVE");
  assert.equal(campaign.latestCampaignUpdate.minProvisionedTPS, 2);
  assert.ok(campaign.latestCampaignUpdate.creationDateTime instanceof Date);
  const after = await runtime.send(new GetRecommendationsCommand({ campaignArn, userId: "U0001", numResults: 5 }));
  assert.equal(after.itemList.length, 5);

  // Deleted in dependency order.
  await control.send(new P.DeleteEventTrackerCommand({ eventTrackerArn }));
  await control.send(new P.DeleteCampaignCommand({ campaignArn }));
  await control.send(new P.DeleteSolutionCommand({ solutionArn }));
  await control.send(new P.DeleteDatasetCommand({ datasetArn }));
  await control.send(new P.DeleteDatasetGroupCommand({ datasetGroupArn }));
  await control.send(new P.DeleteSchemaCommand({ schemaArn }));
  await assert.rejects(
    control.send(new P.DescribeDatasetGroupCommand({ datasetGroupArn })),
    P.ResourceNotFoundException,
  );
});
