"""`tailor recommend` answers exactly what GetRecommendations answers: the CLI and the server run
the same answer path over the same stores (same items, same scores)."""

import json

from conftest import UP, ids, new_id, put_views, run_cli, tailor_bin


def cli_recommend(server, user, n):
    out = run_cli(tailor_bin(), server.data_dir, "recommend", "--campaign", "demo-campaign",
                  "--user-id", user, "--num-results", str(n), "--json")
    return json.loads(out.strip().splitlines()[-1])["itemList"]


def pairs(items):
    return [(i["itemId"], i.get("score"), tuple(i.get("reason", []))) for i in items]


def test_cli_recommend_equals_the_server_for_a_known_user(server, runtime):
    user = sorted(server.users)[3]
    served = runtime.get_recommendations(campaignArn=UP, userId=user, numResults=15)["itemList"]
    assert len(served) == 15
    assert pairs(cli_recommend(server, user, 15)) == pairs(served)


def test_cli_recommend_equals_the_server_for_a_user_known_only_from_events(
        server, runtime, events, catalog):
    user = new_id("parity")
    put_views(events, server, user, sorted(catalog)[5:8])
    served = runtime.get_recommendations(campaignArn=UP, userId=user, numResults=10)["itemList"]
    cold = runtime.get_recommendations(campaignArn=UP, userId=new_id("nobody"),
                                       numResults=10)["itemList"]
    assert ids({"itemList": served}) != ids({"itemList": cold}), "the events shaped the answer"
    assert pairs(cli_recommend(server, user, 10)) == pairs(served)
