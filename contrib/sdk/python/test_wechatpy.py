"""wechatpy with wxtoken, against the stand-in (run by contrib/sdk/run).

Proves that the SDK's API calls carry wxtoken's token, that the SDK never
calls the token endpoint, and that a 40001 seen by a fleet of clients leads to
one invalidation in wxtoken and one fetch (by wxtoken), not one per client.
Needs WXTOKEN (the binary), WXTOKEN_API_BASE (the stand-in), WXTOKEN_DB,
WXTOKEN_SECRET and a throwaway HOME in the environment.
"""

import json
import os
import subprocess
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wxtoken_wechatpy import WxtokenClient  # noqa: E402

WXTOKEN = os.environ["WXTOKEN"]
BASE = os.environ["WXTOKEN_API_BASE"]


def standin(path):
    with urllib.request.urlopen(BASE + path) as r:
        return json.load(r)


def calls(path):
    return standin("/standin/calls?path=" + path)


def wxtoken(*args):
    return subprocess.run([WXTOKEN, *args], capture_output=True, text=True, check=True).stdout


def client(**kw):
    c = WxtokenClient("shop", appid="wxshop", wxtoken=WXTOKEN, **kw)
    c.API_BASE_URL = BASE + "/cgi-bin/"
    return c


def main():
    # The app in a config file, as a host running the refresh has it.
    config = os.path.join(os.environ["HOME"], "config.toml")
    with open(config, "w") as f:
        f.write('[[app]]\nname = "shop"\nappid = "wxshop"\nsecret_env = "WXTOKEN_SECRET"\n')
    os.environ["WXTOKEN_CONFIG"] = config
    wxtoken("refresh")
    first = wxtoken("show", "--app", "shop").strip()
    fetched = calls("/cgi-bin/token")["count"]
    assert fetched == 1, fetched

    # The SDK's calls carry wxtoken's token; the token endpoint is not called.
    c = client()
    assert c.misc.get_wechat_ips() == ["127.0.0.1"]
    ips = calls("/cgi-bin/getcallbackip")
    assert ips["access_tokens"] == [first], ips

    # Upstream kills the token: a fleet of clients each see 40001.
    standin("/standin/reject?access_token=" + first)
    fleet = [client(refresh=True) for _ in range(4)]
    errors = []

    def call(c):
        try:
            assert c.misc.get_wechat_ips() == ["127.0.0.1"]
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=call, args=(c,)) for c in fleet]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    second = wxtoken("show", "--app", "shop").strip()
    assert second != first
    token = calls("/cgi-bin/token")
    token_calls = token["access_tokens"]
    assert token["count"] == 2, "one fetch for the whole fleet: %r" % token
    # Each with the secret, which only wxtoken has: none by the SDK.
    assert token["with_secret"] == 2, token
    carried = calls("/cgi-bin/getcallbackip")["access_tokens"]
    refused = [t for t in carried if t == first]
    retried = [t for t in carried if t == second]
    assert len(retried) == 4, carried
    assert len(refused) >= 4, carried
    print("wechatpy: ok (%d business calls, %d token calls, all by wxtoken)"
          % (len(carried), len(token_calls)))


main()
