"""Every runtime and events route, through boto3."""

import json

import pytest

from conftest import (
    DEMO_FILTER, NOMETA, POP, SIMS, UP, dataset_arn, ids, new_id, put_views,
)


def test_recommendations_for_a_user(runtime, catalog):
    r = runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=10)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    items = r["itemList"]
    assert len(items) == 10
    assert len(set(ids(r))) == 10
    assert all(i in catalog for i in ids(r))
    scores = [i["score"] for i in items]
    assert all(isinstance(s, float) for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert r["recommendationId"]


def test_recommendations_are_personal(runtime):
    a = ids(runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=20))
    b = ids(runtime.get_recommendations(campaignArn=UP, userId="U0002", numResults=20))
    assert a != b


def test_known_users_keep_items_from_their_history_unless_a_filter_drops_them(server, runtime):
    # Personalize does not drop what a user interacted with; an Interactions filter does.
    purchases = {}
    for row in server.interactions:
        if row["EVENT_TYPE"] == "Purchase":
            purchases.setdefault(row["USER_ID"], set()).add(row["ITEM_ID"])
    user = max(sorted(purchases), key=lambda u: len(purchases[u]))
    bought = purchases[user]
    seen = {row["ITEM_ID"] for row in server.interactions if row["USER_ID"] == user}
    got = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500))
    assert len(got) == 500
    assert seen & set(got)
    filtered = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500,
                                               filterArn=DEMO_FILTER))
    assert len(filtered) == 500 and not bought & set(filtered)
    kept = [i for i in got if i not in bought]
    assert filtered[:len(kept)] == kept, "the filter only removes the purchases"


def test_related_items(runtime, catalog):
    r = runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", numResults=10)
    got = ids(r)
    assert len(got) == 10
    assert "P00004" not in got
    assert all(i in catalog for i in got)
    # related-items recipes return no score
    assert all("score" not in i for i in r["itemList"])
    assert r["recommendationId"]


def test_related_items_of_an_unknown_item_are_popular(runtime):
    r = runtime.get_recommendations(campaignArn=SIMS, itemId=new_id("item"), numResults=5)
    assert len(r["itemList"]) == 5
    assert all(i.get("reason") == ["Popular item"] for i in r["itemList"])
    assert all("score" not in i for i in r["itemList"])


def test_popularity_campaign_needs_no_user(runtime):
    r = runtime.get_recommendations(campaignArn=POP, numResults=10)
    got = ids(r)
    assert len(got) == 10 and len(set(got)) == 10
    assert all("score" not in i for i in r["itemList"])
    # the same most popular items for anyone
    r2 = runtime.get_recommendations(campaignArn=POP, userId=new_id("u"), numResults=10)
    assert ids(r2) == got


def test_popularity_follows_interaction_counts(server, runtime):
    import collections

    # aws-popularity-count ranks by distinct users per item (reference §4).
    counts = collections.Counter(
        item for item, _ in {(row["ITEM_ID"], row["USER_ID"]) for row in server.interactions})
    top = ids(runtime.get_recommendations(campaignArn=POP, numResults=5))
    best = counts.most_common(1)[0][1]
    assert top[0] in {i for i, c in counts.items() if c == best}
    assert [counts[i] for i in top] == sorted((counts[i] for i in top), reverse=True)


def test_personalized_ranking(runtime):
    unknown = new_id("item")
    inputs = ["P00001", unknown, "P00004", "P00010", "P00015", "P00300"]
    r = runtime.get_personalized_ranking(campaignArn=UP, userId="U0001", inputList=inputs)
    ranked = r["personalizedRanking"]
    assert sorted(ids(r)) == sorted(inputs)
    assert ranked[-1]["itemId"] == unknown
    assert "score" not in ranked[-1]
    known = ranked[:-1]
    assert all(isinstance(i.get("score"), float) for i in known)
    scores = [i["score"] for i in known]
    assert scores == sorted(scores, reverse=True)
    assert r["recommendationId"]


def test_personalized_ranking_order_follows_recommendations(runtime):
    top = ids(runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=3))
    tail = ids(runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=500))[-3:]
    r = runtime.get_personalized_ranking(campaignArn=UP, userId="U0001",
                                         inputList=tail[::-1] + top[::-1])
    assert ids(r) == top + tail


def test_personalized_ranking_on_campaign_without_metadata(runtime):
    r = runtime.get_personalized_ranking(campaignArn=NOMETA, userId="U0002",
                                         inputList=["P00001", "P00002"])
    assert sorted(ids(r)) == ["P00001", "P00002"]


def test_put_events_returns_empty_success(server, events):
    r = events.put_events(
        trackingId=server.tracking_id, userId=new_id("u"), sessionId=new_id("s"),
        eventList=[{"eventType": "View", "itemId": "P00001", "sentAt": 1_800_000_000,
                    "eventValue": 1.0, "properties": json.dumps({"device": "mobile"})}],
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(r) == {"ResponseMetadata"}


def test_put_events_with_recommendation_id_and_impression(server, runtime, events):
    user = new_id("u")
    rec = runtime.get_recommendations(campaignArn=UP, userId=user, numResults=5)
    shown = ids(rec)
    r = events.put_events(
        trackingId=server.tracking_id, userId=user, sessionId=new_id("s"),
        eventList=[{"eventType": "View", "itemId": shown[0], "sentAt": 1_800_000_000,
                    "recommendationId": rec["recommendationId"], "impression": shown}],
    )
    assert set(r) == {"ResponseMetadata"}


def test_put_items_returns_empty_success(events):
    r = events.put_items(
        datasetArn=dataset_arn("ITEMS"),
        items=[{"itemId": new_id("item"), "properties": json.dumps({
            "title": "Compat Widget", "categoryL1": "Books", "price": 9.5,
            "inStock": True, "creationTimestamp": 1_800_000_000})}],
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(r) == {"ResponseMetadata"}


def test_put_users_returns_empty_success(events):
    r = events.put_users(
        datasetArn=dataset_arn("USERS"),
        users=[{"userId": new_id("u"), "properties": json.dumps({"membership": "plus", "age": 33})}],
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(r) == {"ResponseMetadata"}


def test_put_views_helper_roundtrip(server, runtime, events):
    user = new_id("u")
    cold = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500))
    put_views(events, server, user, ["P00001"])
    warm = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500))
    assert warm != cold, "the view reached the user's history"
    assert "P00001" in warm, "and the viewed item stays a candidate"


def test_recommendation_scores_are_catalog_probabilities(runtime):
    # §1.1: User-Personalization scores are a softmax over the catalog: in [0, 1], summing to <= 1
    for user in ("U0001", new_id("u")):
        r = runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500)
        scores = [i["score"] for i in r["itemList"] if "score" in i]
        assert scores
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert sum(scores) <= 1.0 + 1e-6


def test_personalized_ranking_scores_are_probabilities_over_the_input(runtime):
    # §1.2: Personalized-Ranking applies the same softmax restricted to the input items
    inputs = ["P00001", "P00004", "P00010", "P00015", "P00300", "P00777", "P01200"]
    r = runtime.get_personalized_ranking(campaignArn=UP, userId="U0001", inputList=inputs)
    scores = [i["score"] for i in r["personalizedRanking"]]
    assert all(0.0 <= s <= 1.0 for s in scores), scores
    assert abs(sum(scores) - 1.0) < 1e-3, scores


def test_reasons_are_the_documented_ones(runtime):
    documented = {"Promoted item", "Popular item", "Exploration"}
    seen = set()
    for user in ("U0001", "U0002", new_id("u")):
        r = runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500)
        for item in r["itemList"]:
            seen.update(item.get("reason", []))
    r = runtime.get_recommendations(campaignArn=SIMS, itemId=new_id("item"), numResults=5)
    for item in r["itemList"]:
        seen.update(item.get("reason", []))
    assert seen and seen <= documented
