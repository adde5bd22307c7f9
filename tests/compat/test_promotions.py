"""Promotions (reference §5.3)."""

import json
import math

import pytest

from conftest import (
    POP, SIMS, UP, assert_error, categories, filter_arn, ids, new_id, price,
)


def promotion(cats, pct, name="promo1"):
    return {"name": name, "percentPromotedItems": pct, "filterArn": filter_arn("f-cat"),
            "filterValues": {"CATS": ",".join(json.dumps(c) for c in cats)}}


def split(response):
    items = response["itemList"]
    promoted = [i for i in items if "promotionName" in i]
    regular = [i for i in items if "promotionName" not in i]
    return promoted, regular


@pytest.mark.parametrize("n,pct", [(10, 20), (7, 30), (3, 1), (25, 50), (20, 100)])
def test_promoted_count_is_the_ceiling_of_the_percentage(runtime, catalog, n, pct):
    r = runtime.get_recommendations(campaignArn=UP, userId=new_id("u"), numResults=n,
                                    promotions=[promotion(["Toys"], pct)])
    promoted, regular = split(r)
    assert len(r["itemList"]) == n
    assert len(promoted) == math.ceil(n * pct / 100)
    assert len(set(ids(r))) == n


def test_promoted_items_are_marked_and_satisfy_the_promotion_filter(runtime, catalog):
    r = runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=20,
                                    promotions=[promotion(["Toys", "Garden"], 25, "spring-sale")])
    promoted, _ = split(r)
    assert len(promoted) == 5
    for item in promoted:
        assert item["promotionName"] == "spring-sale"
        assert item["reason"] == ["Promoted item"]
        assert categories(catalog, item["itemId"]) & {"Toys", "Garden"}


def test_request_filter_applies_only_to_non_promoted_items(runtime, catalog):
    # request filter: only Pets (f-chain without its EXCLUDE); promotion: only Toys
    r = runtime.get_recommendations(campaignArn=UP, userId=new_id("u"), numResults=10,
                                    filterArn=filter_arn("f-chain"),
                                    promotions=[promotion(["Toys"], 30)])
    promoted, regular = split(r)
    assert len(promoted) == 3 and len(regular) == 7
    assert all(categories(catalog, i["itemId"]) == {"Toys"} for i in promoted)
    assert all(categories(catalog, i["itemId"]) == {"Pets"} for i in regular)
    assert all("reason" not in i or "Promoted item" not in i["reason"] for i in regular)


def test_promoted_and_regular_items_keep_their_own_order(runtime):
    r = runtime.get_recommendations(campaignArn=UP, userId="U0002", numResults=30,
                                    promotions=[promotion(["Books"], 40)])
    promoted, regular = split(r)
    for part in (promoted, regular):
        scores = [i["score"] for i in part]
        assert scores == sorted(scores, reverse=True)
    # the regular items are the campaign's own answer, minus what was promoted
    plain = ids(runtime.get_recommendations(campaignArn=UP, userId="U0002", numResults=30))
    promoted_ids = {i["itemId"] for i in promoted}
    assert [i["itemId"] for i in regular] == [i for i in plain if i not in promoted_ids][:len(regular)]


def test_too_few_qualifying_items_promotes_what_there_is(runtime, catalog):
    # f-range-ge-lt as the promotion filter: items priced in [6, 7.5)
    few = {i for i in catalog if 6 <= price(catalog, i) < 7.5}
    assert 0 < len(few) < 10
    promo = {"name": "cheap", "percentPromotedItems": 100, "filterArn": filter_arn("f-range-ge-lt"),
             "filterValues": {"MIN": "6", "MAX": "7.5"}}
    r = runtime.get_recommendations(campaignArn=UP, userId=new_id("u"), numResults=10,
                                    promotions=[promo])
    promoted, regular = split(r)
    assert {i["itemId"] for i in promoted} == few
    assert len(r["itemList"]) == 10


def test_promotions_on_related_items_and_popularity(runtime, catalog):
    for kwargs in ({"campaignArn": SIMS, "itemId": "P00004"}, {"campaignArn": POP}):
        r = runtime.get_recommendations(numResults=10, promotions=[promotion(["Beauty"], 20)],
                                        **kwargs)
        promoted, regular = split(r)
        assert len(promoted) == 2, kwargs
        assert all(categories(catalog, i["itemId"]) == {"Beauty"} for i in promoted)
        assert all(i["promotionName"] == "promo1" for i in promoted)


def test_promotion_filter_with_a_missing_include_param_is_invalid(runtime):
    promo = {"name": "p", "percentPromotedItems": 10, "filterArn": filter_arn("f-cat")}
    assert_error("InvalidInputException", 400, runtime.get_recommendations,
                 campaignArn=UP, userId=new_id("u"), promotions=[promo])


def test_promotion_with_metadata(runtime, catalog):
    r = runtime.get_recommendations(campaignArn=UP, userId=new_id("u"), numResults=10,
                                    metadataColumns={"ITEMS": ["CATEGORY_L1"]},
                                    promotions=[promotion(["Music"], 50)])
    promoted, _ = split(r)
    assert len(promoted) == 5
    assert all(i["metadata"]["category_l1"] == "Music" for i in promoted)
