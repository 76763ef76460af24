#!/usr/bin/env python3
"""A read-only container registry on loopback that serves ONE image from a `dir:` copy (what
`buildah push --format v2s2 IMAGE dir:DIR` writes: manifest.json and one file per blob, named by its hex
digest), under ONE repository name, by digest only. For .ci/act-examples: the action's image reaches the
Docker daemon the way a runner gets a released action's image, by `docker pull REGISTRY/REPO@sha256:...`
of the name action.yml pins. Any other name or reference is a 404, so a wrong pin fails the run.

Usage: registry-from-dir.py DIR REPOSITORY     prints `listening on 127.0.0.1:PORT` and
`digest sha256:...` on stdout, then serves until killed.
"""

import hashlib
import http.server
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
repository = sys.argv[2]
manifest = (root / "manifest.json").read_bytes()
digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
media_type = json.loads(manifest).get("mediaType", "application/vnd.docker.distribution.manifest.v2+json")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("registry: " + (fmt % args) + "\n")

    def send(self, status, body=b"", content_type="application/json", extra=()):
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/v2/":
            return self.send(200, b"{}")
        prefix = f"/v2/{repository}/"
        if not path.startswith(prefix):
            return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
        kind, _, ref = path[len(prefix):].partition("/")
        if kind == "manifests" and ref == digest:
            return self.send(200, manifest, media_type, [("Docker-Content-Digest", digest)])
        if kind == "blobs" and ref.startswith("sha256:"):
            blob = root / ref[len("sha256:"):]
            if blob.is_file() and "/" not in ref:
                return self.send(200, blob.read_bytes(), "application/octet-stream", [("Docker-Content-Digest", ref)])
        return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')

    do_HEAD = do_GET


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
print(f"digest {digest}", flush=True)
server.serve_forever()
