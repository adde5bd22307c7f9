"""Filters (reference §5.1): every operator, parameters, chaining, IF, CurrentItem, Interactions.

For a brand-new user the User-Personalization answer is scored over the whole catalog, so when a
filter lets through at most numResults items the answer must be exactly the items that pass it;
that is checked against the sample's items.csv.
"""

import json

import pytest

from conftest import (
    CATEGORIES, DEMO_FILTER, SIMS, UP, assert_error, categories, category, dataset_arn,
    filter_arn, ids, new_id, price, put_views,
)

INVALID = "InvalidInputException"


def recommend(runtime, name, values=None, user=None, n=500, **extra):
    kwargs = {"campaignArn": UP, "userId": user or new_id("u"), "numResults": n,
              "filterArn": filter_arn(name), **extra}
    if values:
        kwargs["filterValues"] = values
    return ids(runtime.get_recommendations(**kwargs))


def expected(catalog, pred):
    return {i for i in catalog if pred(i)}


def assert_exactly(got, want):
    assert len(got) == len(set(got)), "duplicates in the answer"
    assert 0 < len(want) <= 500, "the test needs a non-empty set within numResults"
    assert set(got) == want, (sorted(set(got) - want)[:10], sorted(want - set(got))[:10])


# --- each operator on item fields -----------------------------------------------------------------

def test_in_with_one_quoted_value(runtime, catalog):
    got = recommend(runtime, "f-cat", {"CATS": '"Outdoors"'})
    assert_exactly(got, expected(catalog, lambda i: "Outdoors" in categories(catalog, i)))


def test_in_with_a_quoted_list(runtime, catalog):
    got = recommend(runtime, "f-cat", {"CATS": '"Books","Toys"'})
    assert_exactly(got, expected(catalog, lambda i: categories(catalog, i) & {"Books", "Toys"}))


def test_in_with_a_spaced_quoted_list(runtime, catalog):
    got = recommend(runtime, "f-cat", {"CATS": '"Music", "Pets"'})
    assert_exactly(got, expected(catalog, lambda i: categories(catalog, i) & {"Music", "Pets"}))


def test_in_is_an_exact_case_sensitive_match(runtime):
    assert recommend(runtime, "f-cat", {"CATS": '"outdoors"'}) == []
    assert recommend(runtime, "f-cat", {"CATS": '"Outdoor"'}) == []


def test_not_in_and_a_literal_number(runtime, catalog):
    # f-notin: CATEGORY_L1 NOT IN ("Books", "Toys") AND PRICE <= 15.99
    got = recommend(runtime, "f-notin")
    assert_exactly(got, expected(catalog, lambda i: not categories(catalog, i) & {"Books", "Toys"}
                                 and price(catalog, i) <= 15.99))


# FLOAT columns hold f32 values; filters must still compare the catalogue's own decimals.
def test_greater_or_equal_and_less_than_at_the_boundaries(runtime, catalog):
    # both bounds are prices that occur in the sample, so the boundaries matter
    low, high = 19.99, 24.99
    assert expected(catalog, lambda i: price(catalog, i) == low)
    assert expected(catalog, lambda i: price(catalog, i) == high)
    got = recommend(runtime, "f-range-ge-lt", {"MIN": str(low), "MAX": str(high)})
    assert_exactly(got, expected(catalog, lambda i: low <= price(catalog, i) < high))


def test_greater_or_equal_and_less_than(runtime, catalog):
    got = recommend(runtime, "f-range-ge-lt", {"MIN": "20", "MAX": "25"})
    assert_exactly(got, expected(catalog, lambda i: 20 <= price(catalog, i) < 25))


def test_greater_than_and_less_or_equal_at_the_boundaries(runtime, catalog):
    low, high = 19.99, 24.99
    got = recommend(runtime, "f-range-gt-le", {"MIN": str(low), "MAX": str(high)})
    assert_exactly(got, expected(catalog, lambda i: low < price(catalog, i) <= high))


def test_numeric_params_as_quoted_strings(runtime, catalog):
    got = recommend(runtime, "f-range-ge-lt", {"MIN": '"30"', "MAX": '"35"'})
    assert_exactly(got, expected(catalog, lambda i: 30 <= price(catalog, i) < 35))


def test_numeric_params_with_integers(runtime, catalog):
    got = recommend(runtime, "f-range-gt-le", {"MIN": "30", "MAX": "35"})
    assert_exactly(got, expected(catalog, lambda i: 30 < price(catalog, i) <= 35))


def test_equals_with_a_string_literal(runtime, catalog):
    # f-chain without its EXCLUDE parameter: INCLUDE CATEGORY_L1 = "Pets"
    got = recommend(runtime, "f-chain")
    assert_exactly(got, expected(catalog, lambda i: "Pets" in categories(catalog, i)))


def test_equals_with_a_numeric_param(runtime, catalog):
    want = expected(catalog, lambda i: price(catalog, i) == 13.99)
    got = recommend(runtime, "f-num-eq", {"PRICE": "13.99"})
    assert_exactly(got, want)


def test_equals_with_a_numeric_param_that_matches_nothing(runtime):
    assert recommend(runtime, "f-num-eq", {"PRICE": "13.5"}) == []


def test_union_of_includes(runtime, catalog):
    got = recommend(runtime, "f-union")
    assert_exactly(got, expected(catalog, lambda i: "Music" in categories(catalog, i)
                                 or price(catalog, i) < 8))


def test_non_numeric_value_for_an_ordering_operator_is_invalid(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId=new_id("u"),
                 filterArn=filter_arn("f-range-ge-lt"),
                 filterValues={"MIN": '"cheap"', "MAX": "10"})


def test_malformed_filter_values_are_invalid(runtime):
    # filterValues are comma-separated JSON-quoted strings: a bare word is not one
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId=new_id("u"),
                 filterArn=filter_arn("f-cat"), filterValues={"CATS": "Books"})


# --- parameters -------------------------------------------------------------------------------------

def test_include_with_a_missing_param_is_invalid(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId=new_id("u"),
                 filterArn=filter_arn("f-cat"))
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId=new_id("u"),
                 filterArn=filter_arn("f-range-ge-lt"), filterValues={"MIN": "10"})


def test_exclude_with_a_missing_param_is_switched_off(runtime, catalog):
    # f-chain: INCLUDE CATEGORY_L1 = "Pets" | EXCLUDE PRICE > $XMAX; XMAX omitted or blank
    want = expected(catalog, lambda i: "Pets" in categories(catalog, i))
    assert_exactly(recommend(runtime, "f-chain"), want)
    assert_exactly(recommend(runtime, "f-chain", {"XMAX": ""}), want)


def test_chaining_include_and_exclude(runtime, catalog):
    want = expected(catalog, lambda i: "Pets" in categories(catalog, i) and price(catalog, i) <= 20)
    got = recommend(runtime, "f-chain", {"XMAX": "20"})
    assert_exactly(got, want)
    assert len(want) < len(expected(catalog, lambda i: "Pets" in categories(catalog, i)))


def test_params_are_case_sensitive(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId=new_id("u"),
                 filterArn=filter_arn("f-cat"), filterValues={"cats": '"Books"'})


# --- IF CurrentUser -----------------------------------------------------------------------------

def test_if_current_user_true(server, runtime, catalog):
    premium = next(u for u, row in server.users.items() if row["MEMBERSHIP"] == "premium")
    got = recommend(runtime, "f-premium", user=premium, n=50)
    assert len(got) == 50
    assert all(category(catalog, i) == "Books" for i in got)


def test_if_current_user_false(server, runtime, catalog):
    # A free user whose unfiltered answer is not all Books, so the filter would show if applied.
    def plain(u):
        return ids(runtime.get_recommendations(campaignArn=UP, userId=u, numResults=50))

    free = next(u for u, row in server.users.items()
                if row["MEMBERSHIP"] == "free"
                and {category(catalog, i) for i in plain(u)} != {"Books"})
    got = recommend(runtime, "f-premium", user=free, n=50)
    assert len(got) == 50
    assert {category(catalog, i) for i in got} != {"Books"}
    # exactly what the unfiltered campaign answers
    assert got == plain(free)


def test_if_current_user_unknown_user_switches_the_expression_off(runtime):
    user = new_id("u")
    got = recommend(runtime, "f-premium", user=user, n=30)
    assert got == ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=30))


# --- CurrentItem (related items) ------------------------------------------------------------------

@pytest.mark.parametrize("item", ["P00004", "P00001", "P00777"])
def test_current_item_on_related_items(runtime, catalog, item):
    r = runtime.get_recommendations(campaignArn=SIMS, itemId=item, numResults=40,
                                    filterArn=filter_arn("f-current"))
    got = ids(r)
    assert len(got) == 40
    assert item not in got
    assert all(categories(catalog, i) & categories(catalog, item) for i in got), \
        [(i, category(catalog, i)) for i in got]


def test_current_item_needs_an_item(runtime):
    assert_error(INVALID, 400, runtime.get_recommendations, campaignArn=UP, userId=new_id("u"),
                 filterArn=filter_arn("f-current"))


# --- Interactions --------------------------------------------------------------------------------

def test_purchase_exclusion_on_user_personalization(server, runtime, events):
    user = new_id("u")
    before = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=10,
                                             filterArn=DEMO_FILTER))
    bought = before[0]
    put_views(events, server, user, [bought], event_type="Purchase")
    for _ in range(2):
        after = ids(runtime.get_recommendations(campaignArn=UP, userId=user, numResults=500,
                                                filterArn=DEMO_FILTER))
        assert bought not in after


def test_purchase_exclusion_is_what_the_filter_does(server, runtime, events):
    # Related items ignore the user's history, so only the filter can drop the purchased item.
    user = new_id("u")
    related = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", userId=user,
                                              numResults=10, filterArn=DEMO_FILTER))
    bought = related[0]
    put_views(events, server, user, [bought], event_type="Purchase")
    filtered = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", userId=user,
                                               numResults=10, filterArn=DEMO_FILTER))
    assert bought not in filtered
    assert filtered == [i for i in related if i != bought] + filtered[9:]
    # another user, and the same user without the filter, still get it
    other = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", userId=new_id("u"),
                                            numResults=10, filterArn=DEMO_FILTER))
    assert bought in other
    unfiltered = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", userId=user,
                                                 numResults=10))
    assert bought in unfiltered


def test_event_type_match_is_case_insensitive(server, runtime, events):
    user = new_id("u")
    related = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00001", userId=user,
                                              numResults=5, filterArn=DEMO_FILTER))
    put_views(events, server, user, [related[0]], event_type="PURCHASE")
    after = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00001", userId=user,
                                            numResults=5, filterArn=DEMO_FILTER))
    assert related[0] not in after


def test_views_are_not_purchases(server, runtime, events):
    user = new_id("u")
    related = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", userId=user,
                                              numResults=5, filterArn=DEMO_FILTER))
    put_views(events, server, user, [related[0]], event_type="View")
    after = ids(runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", userId=user,
                                            numResults=5, filterArn=DEMO_FILTER))
    assert related[0] in after


def test_sample_purchases_are_excluded(server, runtime):
    bought = {}
    for row in server.interactions:
        if row["EVENT_TYPE"] == "Purchase":
            bought.setdefault(row["USER_ID"], set()).add(row["ITEM_ID"])
    user = max(bought, key=lambda u: len(bought[u]))
    for item in ("P00004", "P00001"):
        got = ids(runtime.get_recommendations(campaignArn=SIMS, itemId=item, userId=user,
                                              numResults=200, filterArn=DEMO_FILTER))
        assert got and not set(got) & bought[user]


# --- the filter applies to ranking too ----------------------------------------------------------

def test_filter_on_personalized_ranking(runtime, catalog):
    inputs = ["P00001", "P00002", "P00003", "P00004", "P00005", "P00006"]
    r = runtime.get_personalized_ranking(campaignArn=UP, userId=new_id("u"), inputList=inputs,
                                         filterArn=filter_arn("f-cat"),
                                         filterValues={"CATS": '"Books","Outdoors"'})
    assert sorted(ids(r)) == sorted(i for i in inputs if categories(catalog, i) & {"Books", "Outdoors"})


# --- filters hold for known users and popular back-fill ---------------------------------------------

@pytest.mark.parametrize("cat", CATEGORIES[:4])
def test_filtered_answers_of_known_users_satisfy_the_filter(runtime, catalog, cat):
    got = recommend(runtime, "f-cat", {"CATS": json.dumps(cat)}, user="U0010", n=100)
    assert len(got) == 100
    assert all(cat in categories(catalog, i) for i in got)


def test_filtered_related_items_are_backfilled_with_items_that_pass(runtime, catalog):
    r = runtime.get_recommendations(campaignArn=SIMS, itemId="P00004", numResults=120,
                                    filterArn=filter_arn("f-cat"),
                                    filterValues={"CATS": '"Kitchen"'})
    got = ids(r)
    assert len(got) == 120
    assert all(category(catalog, i) == "Kitchen" for i in got)
    assert any(i.get("reason") == ["Popular item"] for i in r["itemList"])


def test_multi_value_categorical(server, runtime, events, catalog):
    # PutItems a categorical multi-value (joined with '|'): each value matches IN on its own
    item = "P01499"
    original = dict(catalog[item])
    tag = "Multi" + new_id("x").replace("-", "")[-8:]
    props = {"title": original["TITLE"], "categoryL1": f"Garden|{tag}", "price": 1.5,
             "inStock": True, "creationTimestamp": int(original["CREATION_TIMESTAMP"])}
    try:
        events.put_items(datasetArn=dataset_arn("ITEMS"),
                         items=[{"itemId": item, "properties": json.dumps(props)}])
        catalog[item] = dict(original, CATEGORY_L1=f"Garden|{tag}", PRICE="1.5")
        assert recommend(runtime, "f-cat", {"CATS": json.dumps(tag)}) == [item]
        assert item in recommend(runtime, "f-cat", {"CATS": '"Garden"'})
        assert item not in recommend(runtime, "f-cat", {"CATS": json.dumps(f"Garden|{tag}")})
    finally:
        restore_item(events, catalog, item, original)


def restore_item(events, catalog, item, original):
    props = {"title": original["TITLE"], "categoryL1": original["CATEGORY_L1"],
             "categoryL2": original["CATEGORY_L2"] or None,
             "description": original["DESCRIPTION"] or None,
             "price": float(original["PRICE"]), "inStock": original["IN_STOCK"] == "true",
             "creationTimestamp": int(original["CREATION_TIMESTAMP"])}
    events.put_items(datasetArn=dataset_arn("ITEMS"),
                     items=[{"itemId": item, "properties": json.dumps(props)}])
    catalog[item] = original
