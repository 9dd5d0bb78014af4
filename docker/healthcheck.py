"""Container health check: GET /ping on the inference port.

TorchServe 0.12 checks the inference token on /ping too, so the key is read
from the key_file.json TorchServe wrote in its working directory; with token
authorisation off there is no key file and no header is sent. Exit 0 = healthy.
"""

import json
import os
import sys
import urllib.error
import urllib.request

RUN_DIR = os.environ.get("REALCHECK_RUN_DIR", "/home/model-server/run")
URL = os.environ.get("REALCHECK_PING_URL", "http://127.0.0.1:8080/ping")


def main() -> int:
    headers = {}
    try:
        with open(os.path.join(RUN_DIR, "key_file.json"), encoding="utf-8") as f:
            headers["Authorization"] = "Bearer " + json.load(f)["inference"]["key"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        with urllib.request.urlopen(urllib.request.Request(URL, headers=headers), timeout=4) as answer:
            body = answer.read(200).decode("utf-8", "replace")
            print(answer.status, body.strip())
            return 0 if answer.status == 200 else 1
    except urllib.error.HTTPError as err:
        print(err.code, err.read(200).decode("utf-8", "replace").strip())
    except OSError as err:
        print("unreachable:", err)
    return 1


if __name__ == "__main__":
    sys.exit(main())
