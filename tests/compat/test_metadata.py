"""metadataColumns (reference §1.1): item metadata, keyed by lower-cased column name."""

import pytest

from conftest import POP, SIMS, UP, ids, new_id


def assert_metadata_matches(items, catalog, columns):
    assert items
    for item in items:
        row = catalog[item["itemId"]]
        assert item["metadata"] == {c.lower(): row[c] for c in columns}, item["itemId"]


def test_title_and_category_on_user_personalization(runtime, catalog):
    cols = ["TITLE", "CATEGORY_L1"]
    r = runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=50,
                                    metadataColumns={"ITEMS": cols})
    assert len(r["itemList"]) == 50
    assert_metadata_matches(r["itemList"], catalog, cols)


def test_metadata_on_related_items_and_popularity(runtime, catalog):
    cols = ["TITLE", "CATEGORY_L1", "CATEGORY_L2"]
    for kwargs in ({"campaignArn": SIMS, "itemId": "P00004"}, {"campaignArn": POP}):
        r = runtime.get_recommendations(numResults=20, metadataColumns={"ITEMS": cols}, **kwargs)
        assert_metadata_matches(r["itemList"], catalog, cols)


def test_text_and_whole_number_columns(runtime, catalog):
    cols = ["DESCRIPTION", "IN_STOCK", "CREATION_TIMESTAMP"]
    r = runtime.get_recommendations(campaignArn=UP, userId=new_id("u"), numResults=30,
                                    metadataColumns={"ITEMS": cols})
    assert_metadata_matches(r["itemList"], catalog, cols)


def test_float_column(runtime, catalog):
    r = runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=10,
                                    metadataColumns={"ITEMS": ["PRICE"]})
    for item in r["itemList"]:
        assert float(item["metadata"]["price"]) == float(catalog[item["itemId"]]["PRICE"])
        assert item["metadata"]["price"] == catalog[item["itemId"]]["PRICE"]


def test_no_metadata_unless_asked(runtime):
    r = runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=5)
    assert all("metadata" not in i for i in r["itemList"])


def test_metadata_on_personalized_ranking(runtime, catalog):
    unknown = new_id("item")
    cols = ["TITLE", "CATEGORY_L1"]
    inputs = ["P00001", "P00002", unknown, "P00003"]
    r = runtime.get_personalized_ranking(campaignArn=UP, userId="U0001", inputList=inputs,
                                         metadataColumns={"ITEMS": cols})
    ranked = r["personalizedRanking"]
    assert sorted(ids(r)) == sorted(inputs)
    assert ranked[-1]["itemId"] == unknown
    assert_metadata_matches(ranked[:-1], catalog, cols)
    assert not ranked[-1].get("metadata")
