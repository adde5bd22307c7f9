"""Defaults, limits and error shapes (reference §0 error types, §1 limits)."""

import json

import pytest
from botocore.exceptions import ParamValidationError

from conftest import (
    NOMETA, POP, SIMS, UP, arn, assert_error, assert_raw_error, dataset_arn, filter_arn,
    ids, new_id, raw_post,
)

INVALID = "InvalidInputException"
NOT_FOUND = "ResourceNotFoundException"


def event(item="P00001", **extra):
    return {"eventType": "View", "itemId": item, "sentAt": 1_800_000_000, **extra}


# --- GetRecommendations -------------------------------------------------------------------------

def test_num_results_defaults_to_25(runtime):
    assert len(runtime.get_recommendations(campaignArn=UP, userId="U0003")["itemList"]) == 25
    assert len(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004")["itemList"]) == 25


def test_num_results_500_is_allowed(runtime):
    r = runtime.get_recommendations(campaignArn=UP, userId="U0004", numResults=500)
    assert len(r["itemList"]) == 500
    assert len(set(ids(r))) == 500


def test_num_results_501_is_invalid(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations,
                 campaignArn=UP, userId="U0004", numResults=501)


def test_num_results_negative_is_rejected_by_botocore_and_the_server(server, runtime):
    with pytest.raises(ParamValidationError):
        runtime.get_recommendations(campaignArn=UP, userId="U0004", numResults=-1)
    status, _, _ = raw_post(server, "/recommendations",
                            {"campaignArn": UP, "userId": "U0004", "numResults": -1})
    assert status == 400


def test_metadata_caps_num_results_at_50(runtime):
    cols = {"ITEMS": ["TITLE"]}
    r = runtime.get_recommendations(campaignArn=UP, userId="U0005", numResults=50, metadataColumns=cols)
    assert len(r["itemList"]) == 50
    assert_error(INVALID, 400, runtime.get_recommendations,
                 campaignArn=UP, userId="U0005", numResults=51, metadataColumns=cols)


def test_user_id_of_257_characters_is_invalid(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId="u" * 257)
    # 256 is fine
    runtime.get_recommendations(campaignArn=UP, userId="u" * 256, numResults=1)


def test_empty_user_id_is_invalid(runtime):
    # botocore's model gives userId no minimum length, so the server must refuse it
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId="")


def test_unknown_campaign_is_not_found(runtime):
    assert_error(NOT_FOUND, 404, runtime.get_recommendations,
                 campaignArn=arn("campaign", "no-such-campaign"), userId="U0001")
    assert_error(NOT_FOUND, 404, runtime.get_personalized_ranking,
                 campaignArn=arn("campaign", "no-such-campaign"), userId="U0001",
                 inputList=["P00001"])


def test_unknown_filter_is_not_found(runtime):
    assert_error(NOT_FOUND, 404, runtime.get_recommendations,
                 campaignArn=UP, userId="U0001", filterArn=arn("filter", "no-such-filter"))
    assert_error(NOT_FOUND, 404, runtime.get_personalized_ranking,
                 campaignArn=UP, userId="U0001", inputList=["P00001"],
                 filterArn=arn("filter", "no-such-filter"))


def test_unknown_promotion_filter_is_not_found(runtime):
    assert_error(NOT_FOUND, 404, runtime.get_recommendations,
                 campaignArn=UP, userId="U0001",
                 promotions=[{"name": "p", "percentPromotedItems": 10,
                              "filterArn": arn("filter", "no-such-filter")}])


def test_user_personalization_needs_a_user(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP)
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, itemId="P00001")


def test_related_items_needs_an_item(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=SIMS, userId="U0001")


def test_metadata_needs_a_campaign_with_metadata_enabled(runtime):
    cols = {"ITEMS": ["TITLE"]}
    assert_error(INVALID, 400, runtime.get_recommendations,
                 campaignArn=NOMETA, userId="U0001", metadataColumns=cols)
    assert_error(INVALID, 400, runtime.get_personalized_ranking,
                 campaignArn=NOMETA, userId="U0001", inputList=["P00001"], metadataColumns=cols)
    # the same request without metadata works on that campaign
    assert len(runtime.get_recommendations(campaignArn=NOMETA, userId="U0001", numResults=3)["itemList"]) == 3


def test_metadata_of_an_unknown_column_is_invalid(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations,
                 campaignArn=UP, userId="U0001", metadataColumns={"ITEMS": ["NO_SUCH_COLUMN"]})


def test_more_than_one_promotion_is_invalid(runtime):
    promo = {"name": "p", "percentPromotedItems": 10, "filterArn": filter_arn("f-cat"),
             "filterValues": {"CATS": '"Books"'}}
    assert_error(INVALID, 400, runtime.get_recommendations,
                 campaignArn=UP, userId="U0001", promotions=[promo, dict(promo, name="q")])


@pytest.mark.parametrize("pct", [0, 101])
def test_promotion_percent_out_of_range_is_invalid(server, runtime, pct):
    promo = {"name": "p", "percentPromotedItems": pct, "filterArn": filter_arn("f-cat"),
             "filterValues": {"CATS": '"Books"'}}
    if pct < 1:
        # botocore knows the minimum of 1 ...
        with pytest.raises(ParamValidationError):
            runtime.get_recommendations(campaignArn=UP, userId="U0001", promotions=[promo])
        # ... and so does the server
        assert_raw_error(server, "/recommendations",
                         {"campaignArn": UP, "userId": "U0001", "promotions": [promo]})
    else:
        assert_error(INVALID, 400, runtime.get_recommendations,
                     campaignArn=UP, userId="U0001", promotions=[promo])


def test_every_recommendation_response_has_a_recommendation_id(runtime):
    seen = set()
    for kwargs in (
        {"campaignArn": UP, "userId": "U0001"},
        {"campaignArn": UP, "userId": new_id("u")},
        {"campaignArn": UP, "userId": "U0001", "filterArn": filter_arn("f-cat"),
         "filterValues": {"CATS": '"Books"'}, "metadataColumns": {"ITEMS": ["TITLE"]}},
        {"campaignArn": SIMS, "itemId": "P00004"},
        {"campaignArn": SIMS, "itemId": new_id("item")},
        {"campaignArn": POP},
        {"campaignArn": NOMETA, "userId": "U0001"},
        # a filter nothing passes: an empty list, still with an id
        {"campaignArn": UP, "userId": "U0001", "filterArn": filter_arn("f-cat"),
         "filterValues": {"CATS": '"No such category"'}},
    ):
        r = runtime.get_recommendations(**kwargs)
        assert isinstance(r["recommendationId"], str) and r["recommendationId"], kwargs
        seen.add(r["recommendationId"])
    assert len(seen) == 8, "recommendation ids must be unique per response"


def test_an_empty_answer_is_an_empty_list(runtime):
    r = runtime.get_recommendations(campaignArn=UP, userId="U0001", filterArn=filter_arn("f-cat"),
                                    filterValues={"CATS": '"No such category"'})
    assert r["itemList"] == []


def test_error_wire_format(server):
    status, headers, body = raw_post(server, "/recommendations",
                                     {"campaignArn": arn("campaign", "nope"), "userId": "U0001"})
    assert status == 404
    assert headers["x-amzn-errortype"] == NOT_FOUND
    assert headers["content-type"].startswith("application/json")
    assert isinstance(body["message"], str) and body["message"]


def test_malformed_json_body_is_invalid_input(server):
    assert_raw_error(server, "/recommendations", b"{not json")
    assert_raw_error(server, "/events", b"[1, 2]")


# --- GetPersonalizedRanking ---------------------------------------------------------------------

def test_ranking_input_list_of_501_is_invalid(runtime):
    items = [f"P{i:05d}" for i in range(1, 502)]
    assert_error(INVALID, 400, runtime.get_personalized_ranking,
                 campaignArn=UP, userId="U0001", inputList=items)
    r = runtime.get_personalized_ranking(campaignArn=UP, userId="U0001", inputList=items[:500])
    assert len(r["personalizedRanking"]) == 500


def test_ranking_input_list_with_metadata_is_capped_at_50(runtime):
    items = [f"P{i:05d}" for i in range(1, 52)]
    cols = {"ITEMS": ["TITLE"]}
    assert_error(INVALID, 400, runtime.get_personalized_ranking,
                 campaignArn=UP, userId="U0001", inputList=items, metadataColumns=cols)
    r = runtime.get_personalized_ranking(campaignArn=UP, userId="U0001", inputList=items[:50],
                                         metadataColumns=cols)
    assert len(r["personalizedRanking"]) == 50


def test_ranking_needs_a_user_and_items(server):
    assert_raw_error(server, "/personalize-ranking", {"campaignArn": UP, "inputList": ["P00001"]})
    assert_raw_error(server, "/personalize-ranking", {"campaignArn": UP, "userId": "U0001", "inputList": []})


def test_ranking_on_a_related_items_campaign_is_invalid(runtime):
    assert_error(INVALID, 400, runtime.get_personalized_ranking,
                 campaignArn=SIMS, userId="U0001", inputList=["P00001"])


# --- PutEvents ----------------------------------------------------------------------------------

def test_event_list_of_11_is_invalid(server, events):
    # botocore only checks minimums, so 11 events reach the server
    assert_error(INVALID, 400, events.put_events, trackingId=server.tracking_id,
                 userId=new_id("u"), sessionId=new_id("s"), eventList=[event()] * 11)
    events.put_events(trackingId=server.tracking_id, userId=new_id("u"), sessionId=new_id("s"),
                      eventList=[event(eventId=new_id("e")) for _ in range(10)])


def test_empty_event_list(server, events):
    with pytest.raises(ParamValidationError):
        events.put_events(trackingId=server.tracking_id, sessionId=new_id("s"), eventList=[])
    assert_raw_error(server, "/events",
                     {"trackingId": server.tracking_id, "sessionId": "s", "eventList": []})


def test_event_user_id_of_257_characters_is_invalid(server, events):
    assert_error(INVALID, 400, events.put_events, trackingId=server.tracking_id,
                 userId="u" * 257, sessionId=new_id("s"), eventList=[event()])


def test_event_without_session_or_sent_at(server, events):
    with pytest.raises(ParamValidationError):
        events.put_events(trackingId=server.tracking_id, eventList=[event()])
    with pytest.raises(ParamValidationError):
        events.put_events(trackingId=server.tracking_id, sessionId="s",
                          eventList=[{"eventType": "View", "itemId": "P00001"}])
    assert_raw_error(server, "/events", {"trackingId": server.tracking_id, "eventList": [event()]})
    assert_raw_error(server, "/events", {"trackingId": server.tracking_id, "sessionId": "s",
                                         "eventList": [{"eventType": "View", "itemId": "P00001"}]})


@pytest.mark.parametrize("key", ["userId", "SESSIONID", "eventType", "timestamp",
                                 "recommendationId", "impression"])
def test_event_properties_with_a_forbidden_key_are_invalid(server, events, key):
    assert_error(INVALID, 400, events.put_events, trackingId=server.tracking_id,
                 userId=new_id("u"), sessionId=new_id("s"),
                 eventList=[event(properties=json.dumps({key: "x"}))])


@pytest.mark.parametrize("props", ["not json", '{"device": ', '["a list"]'])
def test_event_properties_that_are_not_a_json_object_are_invalid(server, events, props):
    assert_error(INVALID, 400, events.put_events, trackingId=server.tracking_id,
                 userId=new_id("u"), sessionId=new_id("s"), eventList=[event(properties=props)])


def test_event_properties_over_1024_characters_are_invalid(server, events):
    props = json.dumps({"device": "x" * 1100})
    assert_error(INVALID, 400, events.put_events, trackingId=server.tracking_id,
                 userId=new_id("u"), sessionId=new_id("s"), eventList=[event(properties=props)])


def test_recommendation_id_over_40_characters_is_invalid(server, events):
    assert_error(INVALID, 400, events.put_events, trackingId=server.tracking_id,
                 userId=new_id("u"), sessionId=new_id("s"),
                 eventList=[event(recommendationId="r" * 41)])


def test_impression_over_25_items_is_invalid(server, events):
    assert_error(INVALID, 400, events.put_events, trackingId=server.tracking_id,
                 userId=new_id("u"), sessionId=new_id("s"),
                 eventList=[event(impression=[f"P{i:05d}" for i in range(1, 27)])])


def test_unknown_tracking_id_is_invalid_input(events):
    assert_error(INVALID, 400, events.put_events, trackingId="00000000-0000-0000-0000-000000000000",
                 userId=new_id("u"), sessionId=new_id("s"), eventList=[event()])


# --- PutItems / PutUsers ------------------------------------------------------------------------

def test_put_items_to_a_missing_dataset_is_not_found(events):
    assert_error(NOT_FOUND, 404, events.put_items,
                 datasetArn=arn("dataset", "no-such-group/ITEMS"),
                 items=[{"itemId": "X1", "properties": json.dumps({"title": "x"})}])


def test_put_users_to_a_missing_dataset_is_not_found(events):
    assert_error(NOT_FOUND, 404, events.put_users,
                 datasetArn=arn("dataset", "no-such-group/USERS"),
                 users=[{"userId": "X1", "properties": json.dumps({"membership": "free"})}])


def test_put_items_to_a_users_dataset_is_invalid(events):
    assert_error(INVALID, 400, events.put_items, datasetArn=dataset_arn("USERS"),
                 items=[{"itemId": "X1", "properties": json.dumps({"membership": "free"})}])


def test_put_items_with_a_property_not_in_the_schema_is_invalid(events):
    assert_error(INVALID, 400, events.put_items, datasetArn=dataset_arn("ITEMS"),
                 items=[{"itemId": new_id("item"), "properties": json.dumps({"colour": "red"})}])


def test_put_items_with_a_mistyped_property_is_invalid(events):
    assert_error(INVALID, 400, events.put_items, datasetArn=dataset_arn("ITEMS"),
                 items=[{"itemId": new_id("item"), "properties": json.dumps({"price": "cheap"})}])


def test_put_items_with_properties_that_are_not_json_is_invalid(events):
    assert_error(INVALID, 400, events.put_items, datasetArn=dataset_arn("ITEMS"),
                 items=[{"itemId": new_id("item"), "properties": "title=x"}])


def test_put_items_of_11_records_is_invalid(events):
    assert_error(INVALID, 400, events.put_items, datasetArn=dataset_arn("ITEMS"),
                 items=[{"itemId": new_id("item"), "properties": json.dumps({"title": "x"})}
                        for _ in range(11)])


def test_put_users_with_a_property_not_in_the_schema_is_invalid(events):
    assert_error(INVALID, 400, events.put_users, datasetArn=dataset_arn("USERS"),
                 users=[{"userId": new_id("u"), "properties": json.dumps({"shoeSize": 44})}])


def test_put_users_of_11_records_is_invalid(events):
    assert_error(INVALID, 400, events.put_users, datasetArn=dataset_arn("USERS"),
                 users=[{"userId": new_id("u"), "properties": json.dumps({"membership": "free"})}
                        for _ in range(11)])


def test_campaign_and_recommender_together_are_invalid(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP,
                 recommenderArn=arn("recommender", "r"), userId="U0001")


def test_context_key_with_forbidden_characters_is_invalid(runtime):
    # botocore does not check the key pattern [A-Za-z0-9_]+, the server does
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId="U0001",
                 context={"DEVICE-TYPE": "mobile"})
    runtime.get_recommendations(campaignArn=UP, userId="U0001", context={"DEVICE": "mobile"})


def test_more_than_25_filter_values_are_invalid(runtime):
    values = {f"P{i}": '"x"' for i in range(26)}
    values["CATS"] = '"Books"'
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId="U0001",
                 filterArn=filter_arn("f-cat"), filterValues=values)
