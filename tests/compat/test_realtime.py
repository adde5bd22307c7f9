"""Real time: PutEvents / PutItems / PutUsers change the very next request; the EXCLUDE_ITEM_IDS
extension."""

import collections
import json

import pytest

from conftest import (
    DEMO_FILTER, SIMS, UP, categories, category, dataset_arn, filter_arn, ids, new_id,
    put_views, raw_post,
)


def in_category(catalog, cat, k, skip=0):
    return [i for i in sorted(catalog) if category(catalog, i) == cat][skip:skip + k]


def share(catalog, items, cat):
    return sum(cat in categories(catalog, i) for i in items) / len(items)


# --- events ---------------------------------------------------------------------------------------

def test_events_of_a_new_user_change_the_next_answer(server, runtime, events, catalog):
    user = new_id("u")
    cold = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=10))
    assert share(catalog, cold, "Outdoors") < 0.5
    viewed = in_category(catalog, "Outdoors", 3)
    put_views(events, server, user, viewed)
    warm = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=10))
    assert warm != cold
    assert share(catalog, warm, "Outdoors") >= 0.6, [(i, category(catalog, i)) for i in warm]
    most, _ = collections.Counter(category(catalog, i) for i in warm).most_common(1)[0]
    assert most == "Outdoors"
    full = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500))
    # Personalize keeps items the user interacted with; only a filter drops them.
    assert set(viewed) <= set(full)


@pytest.mark.parametrize("cat", ["Kitchen", "Music"])
def test_events_steer_towards_the_viewed_category(server, runtime, events, catalog, cat):
    user = new_id("u")
    put_views(events, server, user, in_category(catalog, cat, 3, skip=10))
    warm = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=10))
    assert share(catalog, warm, cat) >= 0.6, [(i, category(catalog, i)) for i in warm]


def test_anonymous_session_events(server, runtime, events, catalog):
    session = new_id("sess")
    cold = ids(runtime.get_recommendations(campaignArn=UP, userId=session, numResults=10))
    viewed = in_category(catalog, "Fitness", 3, skip=5)
    put_views(events, server, None, viewed, session_id=session)
    warm = ids(runtime.get_recommendations(campaignArn=UP, userId=session, numResults=10))
    assert warm != cold
    assert share(catalog, warm, "Fitness") >= 0.6
    full = ids(runtime.get_recommendations(campaignArn=UP, userId=session, numResults=500))
    assert set(viewed) <= set(full), "viewed items stay candidates"


def test_anonymous_session_joins_the_user_who_signs_in(server, runtime, events, catalog):
    session, user = new_id("sess"), new_id("u")
    anonymous = in_category(catalog, "Toys", 3, skip=20)
    put_views(events, server, None, anonymous, session_id=session, event_type="Purchase")
    signed_in = in_category(catalog, "Toys", 1, skip=30)
    put_views(events, server, user, signed_in, session_id=session, event_type="Purchase")
    # The session's purchases are the user's now: demo-filter (EXCLUDE purchases) drops them all,
    # while without a filter they stay candidates, as in Personalize.
    bought = set(anonymous) | set(signed_in)
    filtered = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500,
                                               filterArn=DEMO_FILTER))
    assert len(filtered) == 500 and not bought & set(filtered)
    full = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500))
    assert bought & set(full)
    kept = [i for i in full if i not in bought]
    assert filtered[:len(kept)] == kept, "the filter only removes the purchases"


def test_events_of_a_known_user_change_the_next_answer(server, runtime, events, catalog):
    user = "U0100"
    before = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=10))
    top = before[0]
    put_views(events, server, user, [top])
    after = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=10))
    assert top in after, "a viewed item is not dropped"
    assert after != before


def test_events_affect_personalized_ranking(server, runtime, events, catalog):
    user = new_id("u")
    candidates = in_category(catalog, "Beauty", 3, skip=40) + in_category(catalog, "Garden", 3, skip=40)

    def garden_positions():
        ranked = ids(runtime.get_personalized_ranking(campaignArn=UP, userId=user, inputList=candidates))
        assert sorted(ranked) == sorted(candidates)
        return sum(p for p, i in enumerate(ranked) if category(catalog, i) == "Garden"), ranked[0]

    before, _ = garden_positions()
    put_views(events, server, user, in_category(catalog, "Garden", 3))
    after, first = garden_positions()
    assert after < before
    assert category(catalog, first) == "Garden"


def test_duplicate_event_id_counts_once(server, runtime, events):
    # Filters see the newest 100 interactions per event type (§5.1). Purchase A, push it out of that
    # window with 100 newer purchases, then resend A's event with the same eventId: a duplicate must
    # not bring A back into the window, while the same purchase with a new eventId does.
    user = new_id("u")
    related = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", userId=user,
                                              numResults=5, filterArn=DEMO_FILTER))
    a = related[0]

    def visible():
        got = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", userId=user,
                                              numResults=5, filterArn=DEMO_FILTER))
        return a in got

    event = {"eventId": new_id("dup"), "eventType": "Purchase", "itemId": a, "sentAt": 1_800_000_000}
    for _ in range(2):  # the same event twice at once: accepted, no error
        events.put_events(trackingId=server.tracking_id, userId=user, sessionId=new_id("s"),
                          eventList=[event])
    assert not visible()
    others = [f"P{i:05d}" for i in range(200, 400) if f"P{i:05d}" != a][:100]
    put_views(events, server, user, others, event_type="Purchase", start=1_800_000_100)
    assert visible(), "a purchase older than the newest 100 must no longer be filtered"
    events.put_events(trackingId=server.tracking_id, userId=user, sessionId=new_id("s"),
                      eventList=[event])
    assert visible(), "a duplicate eventId must be ignored"
    put_views(events, server, user, [a], event_type="Purchase", start=1_800_001_000)
    assert not visible()


def test_event_without_an_item_is_accepted(server, runtime, events):
    user = new_id("u")
    events.put_events(trackingId=server.tracking_id, userId=user, sessionId=new_id("s"),
                      eventList=[{"eventType": "Login", "sentAt": 1_800_000_000}])
    assert len(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=5)["itemList"]) == 5


def test_events_for_items_the_model_does_not_know(server, runtime, events):
    user = new_id("u")
    put_views(events, server, user, [new_id("item"), "P00001"])
    got = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500))
    assert len(got) == 500 and "P00001" in got


# --- PutItems / PutUsers ----------------------------------------------------------------------------

def item_properties(row, **changes):
    props = {"title": row["TITLE"], "categoryL1": row["CATEGORY_L1"],
             "categoryL2": row["CATEGORY_L2"] or None, "description": row["DESCRIPTION"] or None,
             "price": float(row["PRICE"]), "inStock": row["IN_STOCK"] == "true",
             "creationTimestamp": int(row["CREATION_TIMESTAMP"])}
    props.update(changes)
    return json.dumps(props)


def test_put_items_changes_filters_at_once(server, runtime, events, catalog):
    item = "P00004"  # Outdoors
    original = dict(catalog[item])
    assert original["CATEGORY_L1"] == "Outdoors"
    new_cat = "Zz" + new_id("c").replace("-", "")[-10:]
    user = new_id("u")
    outdoors = {"CATS": '"Outdoors"'}
    assert ids(runtime.get_recommendations(campaignArn=UP, userId=user, filterArn=filter_arn("f-cat"),
                                           filterValues={"CATS": json.dumps(new_cat)})) == []
    assert item in ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500,
                                                   filterArn=filter_arn("f-cat"), filterValues=outdoors))
    try:
        events.put_items(datasetArn=dataset_arn("ITEMS"),
                         items=[{"itemId": item, "properties": item_properties(original, categoryL1=new_cat)}])
        catalog[item] = dict(original, CATEGORY_L1=new_cat)
        got = ids(runtime.get_recommendations(campaignArn=UP, userId=user,
                                              filterArn=filter_arn("f-cat"),
                                              filterValues={"CATS": json.dumps(new_cat)}))
        assert got == [item]
        assert item not in ids(runtime.get_recommendations(
            campaignArn=UP, userId=user, numResults=500, filterArn=filter_arn("f-cat"),
            filterValues=outdoors))
        # metadata follows too
        r = runtime.get_recommendations(campaignArn=UP, userId=user, metadataColumns={"ITEMS": ["CATEGORY_L1"]},
                                        filterArn=filter_arn("f-cat"),
                                        filterValues={"CATS": json.dumps(new_cat)})
        assert r["itemList"][0]["metadata"] == {"category_l1": new_cat}
    finally:
        events.put_items(datasetArn=dataset_arn("ITEMS"),
                         items=[{"itemId": item, "properties": item_properties(original)}])
        catalog[item] = original
    assert item in ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500,
                                                   filterArn=filter_arn("f-cat"), filterValues=outdoors))


def test_put_items_changes_current_item_filters(server, runtime, events, catalog):
    # the query item of a CurrentItem filter is read from the live item record too
    item = "P00010"
    original = dict(catalog[item])
    target = "Books" if original["CATEGORY_L1"] != "Books" else "Toys"
    try:
        events.put_items(datasetArn=dataset_arn("ITEMS"),
                         items=[{"itemId": item, "properties": item_properties(original, categoryL1=target)}])
        catalog[item] = dict(original, CATEGORY_L1=target)
        got = ids(runtime.get_recommendations(campaignArn=SIMS, itemId=item, numResults=20,
                                              filterArn=filter_arn("f-current")))
        assert got and all(category(catalog, i) == target for i in got)
    finally:
        events.put_items(datasetArn=dataset_arn("ITEMS"),
                         items=[{"itemId": item, "properties": item_properties(original)}])
        catalog[item] = original


def test_put_users_flips_an_if_current_user_filter(server, runtime, events, catalog):
    user = new_id("u")

    def answer():
        return ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=30,
                                               filterArn=filter_arn("f-premium")))

    def put(membership):
        events.put_users(datasetArn=dataset_arn("USERS"),
                         users=[{"userId": user, "properties": json.dumps({"membership": membership, "age": 40})}])

    put("free")
    assert {category(catalog, i) for i in answer()} != {"Books"}
    put("premium")
    premium = answer()
    assert len(premium) == 30 and {category(catalog, i) for i in premium} == {"Books"}
    put("plus")
    assert {category(catalog, i) for i in answer()} != {"Books"}


def test_put_users_on_a_sample_user(server, runtime, events, catalog):
    user = next(u for u, row in server.users.items() if row["MEMBERSHIP"] == "free" and u > "U0500")
    before = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=20,
                                             filterArn=filter_arn("f-premium")))
    assert {category(catalog, i) for i in before} != {"Books"}
    try:
        events.put_users(datasetArn=dataset_arn("USERS"),
                         users=[{"userId": user, "properties": json.dumps({"membership": "premium"})}])
        after = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=20,
                                                filterArn=filter_arn("f-premium")))
        assert {category(catalog, i) for i in after} == {"Books"}
    finally:
        row = server.users[user]
        events.put_users(datasetArn=dataset_arn("USERS"), users=[{"userId": user, "properties": json.dumps(
            {"membership": row["MEMBERSHIP"], "age": int(row["AGE"]) if row["AGE"] else None})}])


# --- tailor's EXCLUDE_ITEM_IDS extension ------------------------------------------------------------

def test_context_exclude_item_ids(runtime):
    user = new_id("u")
    plain = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=10))
    drop = plain[:2]
    got = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=10,
                                          context={"EXCLUDE_ITEM_IDS": ",".join(drop)}))
    assert len(got) == 10
    assert not set(drop) & set(got)
    assert got[:8] == plain[2:]


def test_context_exclude_item_ids_with_spaces_and_unknown_ids(runtime):
    plain = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", numResults=10))
    got = ids(runtime.get_recommendations(
        campaignArn=SIMS, itemId="P00004", numResults=10,
        context={"EXCLUDE_ITEM_IDS": f" {plain[0]} , NOT-AN-ITEM,,{plain[3]}"}))
    assert len(got) == 10
    assert plain[0] not in got and plain[3] not in got
    assert got[:8] == [i for i in plain if i not in (plain[0], plain[3])]


def test_context_exclude_item_ids_in_the_brief(runtime):
    user = new_id("u")
    got = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500,
                                          context={"EXCLUDE_ITEM_IDS": "P00001,P00002"}))
    assert len(got) == 500
    assert "P00001" not in got and "P00002" not in got


def test_exclude_item_ids_field(server, runtime):
    user = new_id("u")
    plain = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=5))
    status, _, body = raw_post(server, "/recommendations", {
        "campaignArn": UP, "userId": user, "numResults": 5, "excludeItemIds": plain[:3]})
    assert status == 200, body
    got = [i["itemId"] for i in body["itemList"]]
    assert len(got) == 5 and not set(plain[:3]) & set(got)
