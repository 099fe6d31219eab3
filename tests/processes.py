"""The portal served by a separate OS process (its own interpreter, its own database connections), as a
second gunicorn worker would be: for tests where two web processes must really run at once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
SERVE = """
import sys
from werkzeug.serving import make_server
from portal import create_app
server = make_server("127.0.0.1", 0, create_app(), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


class WebProcess:
    def __init__(self, database_url: str):
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RATELIMIT_STORAGE_URI": REDIS_URL,
               "PASSWORD_HASH_PROFILE": "fast", "PORTAL_DOTENV": "/dev/null", "MAIL_SERVER": "",
               "PORTAL_URL": "http://portal.test", "RATELIMIT_ENABLED": "0", "SECRET_KEY": "web-process-test", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVE], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise RuntimeError(f"the web process did not start (exit {self.proc.poll()})")
        self.url = f"http://127.0.0.1:{int(line)}"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
