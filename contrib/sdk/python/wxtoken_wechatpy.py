"""wechatpy with wxtoken: the client reads the token wxtoken keeps and never
calls WeChat's token API itself.

    from wxtoken_wechatpy import WxtokenClient
    client = WxtokenClient("shop", appid="wx85871939f7f9b647")
    client.menu.get()

wechatpy asks for a token through its session storage and, on errcode
40001/40014/42001, calls fetch_access_token() and retries once. Here the
storage reads `wxtoken show` (or the export_dir file), and fetch_access_token()
runs `wxtoken invalidate --if-token -` with the refused token, so that a whole
fleet of clients holding one stale token marks it once, then reads again. With
refresh=True (hosts that hold the config and secret) it also runs `wxtoken
refresh --app NAME`: its lease lets one process fetch while the others wait.
"""

import subprocess
import threading

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage


class WxtokenStorage(SessionStorage):
    """Session storage whose `<appid>_access_token` is wxtoken's token; the
    SDK's own writes are dropped (wxtoken is the only writer)."""

    def __init__(self, app, wxtoken="wxtoken", token_file=None, env=None):
        self.app = app
        self.wxtoken = wxtoken
        self.token_file = token_file
        self.env = env
        self.seen = threading.local()

    def read(self):
        """The stored valid token, or None (with wxtoken's reason kept)."""
        token = None
        if self.token_file:
            try:
                with open(self.token_file, encoding="ascii") as f:
                    token = f.read() or None
            except OSError as e:
                self.reason = str(e)
        else:
            run = subprocess.run(
                [self.wxtoken, "show", "--app", self.app],
                capture_output=True, text=True, env=self.env,
            )
            token = run.stdout.strip() if run.returncode == 0 else None
            self.reason = run.stderr.strip()
        # The token this thread's next call is made with: the one to
        # invalidate if that call is refused.
        self.seen.token = token
        return token

    def get(self, key, default=None):
        if key.endswith("_access_token"):
            return self.read() or default
        return default

    def set(self, key, value, ttl=None):
        pass

    def delete(self, key):
        pass


class WxtokenClient(WeChatClient):
    """wechatpy's WeChatClient, its token from wxtoken."""

    def __init__(self, app, appid=None, wxtoken="wxtoken", token_file=None,
                 refresh=False, env=None, **kwargs):
        self.storage = WxtokenStorage(app, wxtoken, token_file, env)
        self.refresh = refresh
        super().__init__(appid or app, None, session=self.storage, **kwargs)

    def _wxtoken(self, *args, stdin=None):
        return subprocess.run(
            [self.storage.wxtoken, *args], input=stdin,
            capture_output=True, text=True, env=self.storage.env,
        )

    def fetch_access_token(self):
        """Called by wechatpy when it has no token, or after upstream refused
        one: never the token API. The refused token is invalidated (only if
        it is still the stored one), then the token is read again."""
        refused = getattr(self.storage.seen, "token", None)
        if refused:
            self._wxtoken("invalidate", "--app", self.storage.app,
                          "--if-token", "-", stdin=refused + "\n")
            if self.refresh:
                self._wxtoken("refresh", "--app", self.storage.app)
        token = self.storage.read()
        if not token or token == refused:
            raise WeChatClientException(
                None, "wxtoken has no valid token for app %r: %s"
                % (self.storage.app, getattr(self.storage, "reason", "")),
                client=self)
        return {"access_token": token}
