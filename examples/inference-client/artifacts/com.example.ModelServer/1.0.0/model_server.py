"""A model server speaking the SageMaker container contract: GET /ping, POST /invocations.

The 'model' scores the input's bytes into three class probabilities. Replace
`predict` with a real model; the contract stays the same.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

LABELS = ["cat", "dog", "bird"]


def predict(body: bytes) -> list:
    weights = [1 + (sum(body[i::3]) % 7) for i in range(3)]
    return [round(w / sum(weights), 4) for w in weights]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ping" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = json.dumps(predict(body)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        return


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
GreengrassCoreIPCClientV2().update_state(state="RUNNING")  # dependents start once we listen
print(f"model server listening on 127.0.0.1:{sys.argv[1]}", flush=True)
server.serve_forever()
