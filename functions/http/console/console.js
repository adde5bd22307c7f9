// tailor's console: a page over the same endpoints boto3 calls — the control plane (POST / with
// X-Amz-Target: AmazonPersonalize.<Operation>) and the runtime (POST /recommendations,
// /personalize-ranking). No build step, no dependencies, no network beyond this origin.
"use strict";

// Series colours; console.css has the same as classes c0..c5 (the page's policy allows no
// inline styles).
const COLORS = ["#2458c6", "#e07b00", "#18794e", "#8e44ad", "#b42318", "#0f8a9d"];

/// The control plane, as boto3's "personalize" client calls it.
async function control(operation, params = {}) {
  const r = await fetch("/", {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": "AmazonPersonalize." + operation,
    },
    body: JSON.stringify(params),
  });
  const body = await r.json();
  if (!r.ok) throw new Error(`${operation}: ${body.__type || r.status}: ${body.message || ""}`);
  return body;
}

/// The runtime, as boto3's "personalize-runtime" client calls it.
async function runtime(path, params) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(params),
  });
  const body = await r.json();
  if (!r.ok) throw new Error(`${path}: ${body.__type || r.status}: ${body.message || ""}`);
  return body;
}

/// Every page of a List operation.
async function listAll(operation, key, params = {}) {
  let out = [], token;
  do {
    const page = await control(operation, token ? { ...params, nextToken: token } : params);
    out = out.concat(page[key] || []);
    token = page.nextToken;
  } while (token);
  return out;
}

// --- small DOM helpers -------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const link = (hash, text) => h("a", { href: hash }, text);
const route = (kind, arn) => `#/${kind}/${encodeURIComponent(arn)}`;
const when = (t) => (t ? new Date(typeof t === "number" ? t * 1000 : t).toISOString().replace("T", " ").slice(0, 19) : "");
const status = (s) => h("span", { class: "status-" + String(s).replace(/ /g, "-") }, s);
const shortName = (arn) => String(arn).split("/").pop();

function table(columns, rows, testid) {
  return h("table", { "data-testid": testid },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((v) => h("td", {}, v))))));
}

function section(title, testid, ...content) {
  return h("section", { "data-testid": testid }, h("h2", {}, title), ...content);
}

function setPage(title, crumbs, ...content) {
  document.title = `${title} · tailor console`;
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...crumbs.flatMap((c, i) => (i ? [" / ", c] : [c])));
  document.getElementById("page").replaceChildren(h("h1", {}, title), ...content);
}

// --- charts (plain SVG) ------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/// Bars over time: `points` are [label, value].
function histogram(points, testid) {
  const w = 640, hgt = 140, pad = 24;
  const max = Math.max(1, ...points.map((p) => p[1]));
  const bw = (w - 2 * pad) / Math.max(1, points.length);
  const svg = s("svg", { width: w, height: hgt + 20, viewBox: `0 0 ${w} ${hgt + 20}`, "data-testid": testid, role: "img" });
  points.forEach(([label, v], i) => {
    const bh = (hgt - pad) * (v / max);
    const rect = s("rect", { x: pad + i * bw + 1, y: hgt - bh, width: Math.max(1, bw - 2), height: bh, fill: COLORS[0] });
    rect.append(s("title", {}, `${label}: ${v}`));
    svg.append(rect);
  });
  if (points.length) {
    svg.append(s("text", { x: pad, y: hgt + 14 }, points[0][0]));
    svg.append(s("text", { x: w - pad, y: hgt + 14, "text-anchor": "end" }, points[points.length - 1][0]));
  }
  svg.append(s("text", { x: 2, y: 12 }, String(max)));
  return svg;
}

/// Grouped bars: one group per series name, one bar per version.
function groupedBars(metrics, versions, testid) {
  const w = 640, hgt = 180, pad = 28;
  const groupW = (w - 2 * pad) / Math.max(1, metrics.length);
  const bw = Math.min(36, (groupW - 12) / Math.max(1, versions.length));
  const svg = s("svg", { width: w, height: hgt + 24, viewBox: `0 0 ${w} ${hgt + 24}`, "data-testid": testid, role: "img" });
  metrics.forEach(([name], g) => {
    versions.forEach((v, i) => {
      const value = v.metrics[name] || 0;
      const bh = (hgt - pad) * Math.min(1, value);
      const rect = s("rect", { x: pad + g * groupW + i * bw, y: hgt - bh, width: bw - 2, height: bh, fill: COLORS[i % COLORS.length] });
      rect.append(s("title", {}, `${shortName(v.arn)} ${name}: ${value.toFixed(4)}`));
      svg.append(rect);
    });
    svg.append(s("text", { x: pad + g * groupW, y: hgt + 16 }, metrics[g][1]));
  });
  svg.append(s("text", { x: 2, y: 12 }, "1.0"));
  const legend = h("div", { class: "legend" }, versions.map((v, i) =>
    h("span", {}, h("i", { class: `c${i % COLORS.length}` }), shortName(v.arn))));
  return h("div", {}, svg, legend);
}

// --- pages -------------------------------------------------------------------------------

async function groupsPage() {
  const groups = await listAll("ListDatasetGroups", "datasetGroups");
  setPage("Dataset groups", [link("#/", "dataset groups")],
    groups.length
      ? table(["name", "status", "created"], groups.map((g) =>
          [link(route("group", g.datasetGroupArn), g.name), status(g.status), when(g.creationDateTime)]), "groups")
      : h("p", { class: "muted" }, "No dataset groups yet: `tailor demo` makes one."));
}

function statistics(stats) {
  if (!stats) return h("p", { class: "muted" }, "No statistics yet: each import computes them.");
  const [from, to] = stats.timeRange || [];
  const facts = [["rows", stats.rows], ["users", stats.users], ["items", stats.items],
    ["first event", from && when(from)], ["last event", to && when(to)]].filter((f) => f[1] !== undefined);
  const out = [h("div", { class: "stats", "data-testid": "dataset-stats" },
    facts.map(([k, v]) => h("div", {}, h("b", {}, v), h("span", { class: "muted" }, k))))];
  if (stats.eventTypes && stats.eventTypes.length) {
    out.push(h("p", { "data-testid": "event-types" }, "event types: ", stats.eventTypes.map(([t, n]) => `${t} (${n})`).join(", ")));
  }
  if (stats.histogram && stats.histogram.length) {
    const days = stats.histogram.length > 1 ? Math.round((stats.histogram[1].start - stats.histogram[0].start) / 86400) : 1;
    out.push(h("p", { class: "muted" }, `interactions per ${days === 1 ? "day" : days + " days"}`),
      histogram(stats.histogram.map((b) => [when(b.start).slice(0, 10), b.count]), "interactions-histogram"));
  }
  if (stats.popularItems && stats.popularItems.length) {
    out.push(h("p", { class: "muted" }, "most popular items"),
      table(["item", "interactions"], stats.popularItems.map((p) => [p.itemId, p.count]), "popular-items"));
  }
  return h("div", {}, ...out);
}

async function groupPage(arn) {
  const [{ datasetGroup: group }, datasets, solutions, filters, trackers] = await Promise.all([
    control("DescribeDatasetGroup", { datasetGroupArn: arn }),
    listAll("ListDatasets", "datasets", { datasetGroupArn: arn }),
    listAll("ListSolutions", "solutions", { datasetGroupArn: arn }),
    listAll("ListFilters", "Filters", { datasetGroupArn: arn }),
    listAll("ListEventTrackers", "eventTrackers", { datasetGroupArn: arn }),
  ]);
  const datasetSections = await Promise.all(datasets.map(async (d) => {
    const [{ dataset }, jobs] = await Promise.all([
      control("DescribeDataset", { datasetArn: d.datasetArn }),
      listAll("ListDatasetImportJobs", "datasetImportJobs", { datasetArn: d.datasetArn }),
    ]);
    const described = await Promise.all(jobs.map((j) =>
      control("DescribeDatasetImportJob", { datasetImportJobArn: j.datasetImportJobArn })));
    return h("div", { "data-testid": "dataset" },
      h("h3", {}, `${dataset.datasetType} · ${dataset.name} `, status(dataset.status)),
      statistics(dataset.statistics),
      table(["import job", "status", "created", "failure"], described.map(({ datasetImportJob: j }) =>
        [j.jobName, status(j.status), when(j.creationDateTime), h("span", { class: "error" }, j.failureReason || "")]), "import-jobs"));
  }));
  const solutionSections = await Promise.all(solutions.map(solutionSection));
  // Filter summaries carry no expression: each filter is described.
  const described = await Promise.all(filters.map(async (f) =>
    (await control("DescribeFilter", { filterArn: f.filterArn })).filter));
  setPage(group.name, [link("#/", "dataset groups"), link(route("group", arn), group.name)],
    section("Datasets and import jobs", "datasets", ...datasetSections),
    section("Solutions and versions", "solutions", ...solutionSections),
    section("Filters", "filters", table(["name", "expression", "status"], described.map((f) =>
      [link(route("filter", f.filterArn), f.name), h("code", {}, f.filterExpression), status(f.status)]), "filter-list")),
    section("Event trackers", "trackers", table(["name", "status", "created"], trackers.map((t) =>
      [link(route("tracker", t.eventTrackerArn), t.name), status(t.status), when(t.creationDateTime)]), "tracker-list")));
}

const METRICS = [
  ["normalized_discounted_cumulative_gain_at_10", "NDCG@10"],
  ["precision_at_10", "precision@10"],
  ["coverage", "coverage"],
];

async function solutionSection(summary) {
  const [{ solution }, versions, campaigns] = await Promise.all([
    control("DescribeSolution", { solutionArn: summary.solutionArn }),
    listAll("ListSolutionVersions", "solutionVersions", { solutionArn: summary.solutionArn }),
    listAll("ListCampaigns", "campaigns", { solutionArn: summary.solutionArn }),
  ]);
  const details = await Promise.all(versions.map(async (v) => {
    const { solutionVersion: d } = await control("DescribeSolutionVersion", { solutionVersionArn: v.solutionVersionArn });
    const metrics = d.status === "ACTIVE"
      ? (await control("GetSolutionMetrics", { solutionVersionArn: v.solutionVersionArn })).metrics || {}
      : {};
    return { arn: v.solutionVersionArn, d, metrics };
  }));
  details.sort((a, b) => a.d.creationDateTime - b.d.creationDateTime);
  const active = details.filter((v) => Object.keys(v.metrics).length);
  return h("div", { "data-testid": "solution" },
    h("h3", {}, `${solution.name} · ${shortName(solution.recipeArn)}`),
    table(["version", "status", "mode", "type", "training hours", ...METRICS.map((m) => m[1])],
      details.map((v) => [shortName(v.arn), status(v.d.status), v.d.trainingMode, v.d.trainingType || "",
        v.d.trainingHours === undefined ? "" : v.d.trainingHours.toFixed(5),
        ...METRICS.map(([k]) => (v.metrics[k] === undefined ? "" : v.metrics[k].toFixed(4)))]), "versions"),
    active.length ? groupedBars(METRICS, active, "metrics-chart") : null,
    campaigns.length ? h("p", {}, "campaigns: ", campaigns.map((c, i) =>
      [i ? ", " : "", link(route("campaign", c.campaignArn), c.name)])) : null);
}

/// The columns of the group's Items schema (for metadataColumns).
async function itemColumns(groupArn) {
  const datasets = await listAll("ListDatasets", "datasets", { datasetGroupArn: groupArn });
  const items = datasets.find((d) => d.datasetType === "ITEMS" || d.datasetType === "Items");
  if (!items) return [];
  const { dataset } = await control("DescribeDataset", { datasetArn: items.datasetArn });
  const { schema } = await control("DescribeSchema", { schemaArn: dataset.schemaArn });
  return JSON.parse(schema.schema).fields.map((f) => f.name).filter((n) => n !== "ITEM_ID");
}

async function campaignPage(arn) {
  const { campaign } = await control("DescribeCampaign", { campaignArn: arn });
  const { solutionVersion: version } = await control("DescribeSolutionVersion", { solutionVersionArn: campaign.solutionVersionArn });
  const { recipe } = await control("DescribeRecipe", { recipeArn: version.recipeArn });
  const groupArn = version.datasetGroupArn;
  const [{ datasetGroup: group }, filters] = await Promise.all([
    control("DescribeDatasetGroup", { datasetGroupArn: groupArn }),
    listAll("ListFilters", "Filters", { datasetGroupArn: groupArn }),
  ]);
  const withMetadata = campaign.campaignConfig && campaign.campaignConfig.enableMetadataWithRecommendations;
  const columns = withMetadata ? await itemColumns(groupArn) : [];
  const kind = recipe.recipeType;
  const filterSelect = (name) => h("select", { name, "data-testid": name },
    h("option", { value: "" }, "(none)"), filters.map((f) => h("option", { value: f.filterArn }, f.name)));
  const field = (label, input) => [h("label", {}, label), input];
  const form = h("form", { class: "try", "data-testid": "try-form" },
    kind === "RELATED_ITEMS"
      ? field("item id", h("input", { name: "itemId", "data-testid": "itemId", required: "" }))
      : field("user id", h("input", { name: "userId", "data-testid": "userId", required: "" })),
    kind === "PERSONALIZED_RANKING"
      ? field("items to rank", h("textarea", { name: "inputList", "data-testid": "inputList", rows: 2, placeholder: "comma-separated item ids" }))
      : field("number of results", h("input", { name: "numResults", type: "number", min: 1, max: 500, value: 10, "data-testid": "numResults" })),
    field("filter", filterSelect("filterArn")),
    field("filter values", h("input", { name: "filterValues", placeholder: '{"$CATEGORY": "\\"Books\\""}', "data-testid": "filterValues" })),
    kind === "USER_PERSONALIZATION" ? field("promotion filter", filterSelect("promotionFilterArn")) : [],
    kind === "USER_PERSONALIZATION" ? field("promoted %", h("input", { name: "percent", type: "number", min: 0, max: 100, value: 0 })) : [],
    field("context", h("input", { name: "context", placeholder: '{"DEVICE": "mobile"}', "data-testid": "context" })),
    h("span"), h("button", { type: "submit", "data-testid": "ask" }, "Ask"));
  const result = h("div", { "data-testid": "try-result" });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const json = (name) => (f.get(name) ? JSON.parse(f.get(name)) : undefined);
    const req = { campaignArn: arn };
    if (f.get("filterArn")) { req.filterArn = f.get("filterArn"); req.filterValues = json("filterValues"); }
    if (f.get("context")) req.context = json("context");
    if (columns.length) req.metadataColumns = { ITEMS: columns };
    let answer, list;
    try {
      if (kind === "PERSONALIZED_RANKING") {
        req.userId = f.get("userId");
        req.inputList = String(f.get("inputList")).split(",").map((x) => x.trim()).filter(Boolean);
        answer = await runtime("/personalize-ranking", req);
        list = answer.personalizedRanking;
      } else {
        if (f.get("userId")) req.userId = f.get("userId");
        if (f.get("itemId")) req.itemId = f.get("itemId");
        req.numResults = Number(f.get("numResults") || 10);
        if (f.get("promotionFilterArn")) {
          req.promotions = [{ name: "promoted", filterArn: f.get("promotionFilterArn"), percentPromotedItems: Number(f.get("percent") || 0) }];
        }
        answer = await runtime("/recommendations", req);
        list = answer.itemList;
      }
    } catch (err) {
      result.replaceChildren(h("p", { class: "error", "data-testid": "try-error" }, err.message));
      return;
    }
    result.replaceChildren(
      h("p", { class: "muted" }, `recommendationId ${answer.recommendationId}`),
      h("ol", { "data-testid": "items" }, list.map((p) => h("li", { "data-testid": "item", "data-item-id": p.itemId },
        h("b", {}, p.itemId),
        p.score === undefined ? "" : ` · score ${p.score.toFixed(4)}`,
        p.reason && p.reason.length ? ` · ${p.reason.join(", ")}` : "",
        p.promotionName ? ` · ${p.promotionName}` : "",
        p.metadata ? h("div", { class: "muted" }, Object.entries(p.metadata).map(([k, v]) => `${k}: ${v}`).join(" · ")) : ""))));
  });
  setPage(campaign.name, [link("#/", "dataset groups"), link(route("group", groupArn), group.name), link(route("campaign", arn), campaign.name)],
    section("Campaign", "campaign", table(["status", "solution version", "recipe", "minProvisionedTPS"],
      [[status(campaign.status), shortName(campaign.solutionVersionArn), `${shortName(recipe.recipeArn)} (${kind})`, campaign.minProvisionedTPS]], "campaign-info")),
    section("Try it", "try-it", form, result));
}

async function filterPage(arn) {
  const { filter } = await control("DescribeFilter", { filterArn: arn });
  const groupArn = filter.datasetGroupArn;
  const [{ datasetGroup: group }, solutions] = await Promise.all([
    control("DescribeDatasetGroup", { datasetGroupArn: groupArn }),
    listAll("ListSolutions", "solutions", { datasetGroupArn: groupArn }),
  ]);
  const campaigns = (await Promise.all(solutions.map((s) =>
    listAll("ListCampaigns", "campaigns", { solutionArn: s.solutionArn })))).flat();
  const form = h("form", { class: "try", "data-testid": "preview-form" },
    h("label", {}, "campaign"), h("select", { name: "campaignArn", "data-testid": "campaign" }, campaigns.map((c) => h("option", { value: c.campaignArn }, c.name))),
    h("label", {}, "user id"), h("input", { name: "userId", "data-testid": "userId" }),
    h("label", {}, "filter values"), h("input", { name: "filterValues", placeholder: '{"$X": "\\"v\\""}' }),
    h("span"), h("button", { type: "submit", "data-testid": "preview" }, "Preview"));
  const out = h("div", { "data-testid": "preview-result" });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const base = { campaignArn: f.get("campaignArn"), numResults: 100 };
    if (f.get("userId")) base.userId = f.get("userId");
    try {
      const [all, kept] = await Promise.all([
        runtime("/recommendations", base),
        runtime("/recommendations", { ...base, filterArn: arn, filterValues: f.get("filterValues") ? JSON.parse(f.get("filterValues")) : undefined }),
      ]);
      const passes = new Set(kept.itemList.map((p) => p.itemId));
      out.replaceChildren(h("p", {}, `${passes.size} of the campaign's best ${all.itemList.length} pass; the answer with the filter:`),
        h("ol", { "data-testid": "passing" }, kept.itemList.map((p) => h("li", { "data-testid": "item", "data-item-id": p.itemId }, p.itemId))),
        h("p", { class: "muted" }, "removed: ", all.itemList.filter((p) => !passes.has(p.itemId)).map((p) => p.itemId).join(", ")));
    } catch (err) {
      out.replaceChildren(h("p", { class: "error" }, err.message));
    }
  });
  setPage(filter.name, [link("#/", "dataset groups"), link(route("group", groupArn), group.name), link(route("filter", arn), filter.name)],
    section("Expression", "filter-expression", h("pre", {}, filter.filterExpression), h("p", {}, status(filter.status))),
    section("Which items pass", "filter-preview", form, out));
}

async function trackerPage(arn) {
  const first = await control("DescribeEventTracker", { eventTrackerArn: arn });
  const tracker = first.eventTracker;
  const { datasetGroup: group } = await control("DescribeDatasetGroup", { datasetGroupArn: tracker.datasetGroupArn });
  const tail = h("tbody", {});
  const render = (events) => tail.replaceChildren(...(events || []).slice().reverse().map((e) =>
    h("tr", { "data-testid": "event" }, [when(e.sentAt), e.userId || "", e.sessionId || "", e.eventType, e.itemId || ""].map((v) => h("td", {}, v)))));
  render(first.recentEvents);
  setPage(tracker.name, [link("#/", "dataset groups"), link(route("group", tracker.datasetGroupArn), group.name), link(route("tracker", arn), tracker.name)],
    section("Event tracker", "tracker", table(["tracking id", "status", "created"], [[h("code", {}, tracker.trackingId), status(tracker.status), when(tracker.creationDateTime)]], "tracker-info")),
    section("Recent events (live)", "tail", h("table", { "data-testid": "events" },
      h("thead", {}, h("tr", {}, ["sent at", "user", "session", "type", "item"].map((c) => h("th", {}, c)))), tail)));
  // Polls while this page is shown.
  const timer = setInterval(async () => {
    if (!location.hash.startsWith("#/tracker/")) return clearInterval(timer);
    try { render((await control("DescribeEventTracker", { eventTrackerArn: arn })).recentEvents); } catch (_) { /* next tick */ }
  }, 2000);
}

// --- router ------------------------------------------------------------------------------

async function show() {
  const [, kind, arn] = location.hash.match(/^#\/(\w+)\/(.+)$/) || [];
  const page = document.getElementById("page");
  page.setAttribute("aria-busy", "true");
  try {
    const arg = arn && decodeURIComponent(arn);
    if (kind === "group") await groupPage(arg);
    else if (kind === "campaign") await campaignPage(arg);
    else if (kind === "filter") await filterPage(arg);
    else if (kind === "tracker") await trackerPage(arg);
    else await groupsPage();
  } catch (err) {
    page.replaceChildren(h("p", { class: "error", "data-testid": "page-error" }, err.message));
  } finally {
    page.setAttribute("aria-busy", "false");
    page.dataset.loaded = location.hash || "#/";
  }
}

window.addEventListener("hashchange", show);
show();
