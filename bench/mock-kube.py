"""A stand-in Kubernetes API server for `marquee-bench deploy` in cluster mode (there is no
cluster here): it takes the control plane's Performance applies and deletes, lists what it
holds, and on exit prints how many objects arrived and when, relative to the first.
Usage: python3 bench/mock-kube.py PORT   then   MARQUEE_KUBE_API=http://127.0.0.1:PORT marquee-bench ..."""
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/apis/marquee.dev/v1alpha1/performances"
objects = {}
arrivals = []


class Api(BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def do_GET(self):
        if self.path.split("?")[0] == PREFIX:
            self.reply(200, {"apiVersion": "marquee.dev/v1alpha1", "kind": "PerformanceList", "metadata": {}, "items": list(objects.values())})
        else:
            self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound"})

    def do_PATCH(self):
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        obj = self.body()
        obj.setdefault("metadata", {})["uid"] = f"uid-{name}"
        objects[name] = obj
        arrivals.append(time.monotonic())
        self.reply(200, obj)

    def do_DELETE(self):
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        obj = objects.pop(name, None)
        self.reply(200 if obj else 404, obj or {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound"})

    def log_message(self, *args):
        pass


def report(*_):
    print(f"mock-kube: {len(arrivals)} Performance applies, {len(objects)} objects held", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
signal.signal(signal.SIGINT, report)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Api).serve_forever()
