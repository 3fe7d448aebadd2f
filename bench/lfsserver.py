"""A real Git LFS server on 127.0.0.1 for the tests and the benchmark: giftless with
local storage behind waitress, JWT auth for clients and for its signed action URLs
(giftless's anonymous mode signs actions with `sub: null`, which PyJWT >= 2.10 refuses).

    with LfsServer(tmp) as server:
        server.endpoint("org", "repo")   # http://127.0.0.1:PORT/org/repo.git/info/lfs
        server.token()                   # a JWT for org/*, used as HTTP basic `_jwt:<token>`
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

KEY = "git-model-test-key-not-a-secret-0123456789"  # HS256 wants 32+ bytes


class LfsServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> LfsServer:
        self.objects.mkdir(parents=True, exist_ok=True)
        config = self.root / "giftless.yaml"
        jwt = f'{{factory: "giftless.auth.jwt:factory", options: {{algorithm: HS256, private_key: "{KEY}"'
        config.write_text(
            "LEGACY_ENDPOINTS: false\n"
            f"AUTH_PROVIDERS: [{jwt}}}}}]\n"
            f"PRE_AUTHORIZED_ACTION_PROVIDER: {jwt}, default_lifetime: 900}}}}\n"
            f"TRANSFER_ADAPTERS: {{basic: {{options: {{storage_options: {{path: {self.objects}}}}}}}}}\n")
        env = {**os.environ, "GIFTLESS_CONFIG_FILE": str(config)}
        waitress = Path(sys.executable).with_name("waitress-serve")
        self.proc = subprocess.Popen(
            [str(waitress), "--listen=127.0.0.1:0", "--threads=8", "giftless.wsgi_entrypoint:app"],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # waitress says where it listens once it does
            match = re.search(r"Serving on http://127\.0\.0\.1:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                break
        if not self.port:
            self.__exit__(None, None, None)
            raise RuntimeError("giftless did not start")
        # keep draining its log so that it never blocks on a full pipe
        import threading
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self, org: str = "org", repo: str = "repo") -> str:
        return f"{self.base}/{org}/{repo}.git/info/lfs"

    def token(self, org: str = "org") -> str:
        import jwt
        return jwt.encode({"sub": "tester", "exp": int(time.time()) + 3600,
                           "scopes": [f"obj:{org}/*"]}, KEY, algorithm="HS256")

    def credential_url(self, org: str = "org") -> str:
        """A `credential.helper store` line: git-lfs and `git credential fill` find it."""
        return f"http://_jwt:{self.token(org)}@127.0.0.1:{self.port}"
