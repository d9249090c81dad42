"""Feed sources over http(s), through `pinsync check --json`: streaming,
conditional GET (304 -> unchanged, validators exposed), redirects, basic
auth from the URL and from a password file (never echoed), truncated and
cut downloads (fatal), error statuses, TLS verification always on, gzip
over HTTP. A local http.server on 127.0.0.1 plays the shop."""

import gzip
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import pinsync_binary  # noqa: E402

ITEM = ("<item><g:id>{i}</g:id><g:title>T{i}</g:title><g:description>D</g:description>"
        "<g:link>https://s.test/{i}</g:link><g:image_link>https://s.test/{i}.jpg"
        "</g:image_link><g:price>1.00 USD</g:price><g:availability>in stock"
        "</g:availability></item>\n")


def feed(n):
    body = "".join(ITEM.format(i=i) for i in range(n))
    return ('<?xml version="1.0"?><rss xmlns:g="http://base.google.com/ns/1.0">'
            f"<channel>{body}</channel></rss>\n").encode()


FEED = feed(50)
ETAG = '"v1-abc"'
LASTMOD = "Wed, 21 Oct 2015 07:28:00 GMT"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log = []

    def log_message(self, *args):
        pass

    def send_body(self, body, ctype="application/xml", extra=()):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        Handler.log.append((self.path, dict(self.headers)))
        p = self.path
        if p == "/feed.xml":
            if self.headers.get("If-None-Match") == ETAG:
                self.send_response(304)
                self.send_header("ETag", ETAG)
                self.end_headers()
                return
            self.send_body(FEED, extra=[("ETag", ETAG), ("Last-Modified", LASTMOD)])
        elif p == "/since.xml":
            if self.headers.get("If-Modified-Since") == LASTMOD:
                self.send_response(304)
                self.end_headers()
                return
            self.send_body(FEED, extra=[("Last-Modified", LASTMOD)])
        elif p == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/feed.xml")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif p == "/private.xml":
            want = "Basic " + __import__("base64").b64encode(b"shop:s3cr3t-pw").decode()
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="feed"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_body(FEED)
        elif p == "/short.xml":
            # Content-Length promises more than is sent, then the close.
            self.send_response(200)
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED[: len(FEED) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif p == "/cut-chunked.csv":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            data = b"id,title\n1,a\n2,b\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            self.close_connection = True  # no terminating 0-chunk
        elif p == "/missing.xml":
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not found")
        elif p == "/feed.xml.gz":
            self.send_body(gzip.compress(FEED), ctype="application/gzip")
        elif p == "/big.xml":
            # Streamed in pieces, slowly enough that a reader holding the
            # whole body would be seen; 20k items, about 6 MB.
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            head = b'<?xml version="1.0"?><rss xmlns:g="http://base.google.com/ns/1.0"><channel>'
            self.wfile.write(b"%x\r\n%s\r\n" % (len(head), head))
            for k in range(200):
                part = "".join(ITEM.format(i=k * 100 + i) for i in range(100)).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            tail = b"</channel></rss>\n"
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


class Server:
    def __init__(self, tls_context=None):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def check(*args, expect=None):
    r = subprocess.run([pinsync_binary(), "check", "--json", *args], capture_output=True,
                       text=True, timeout=120)
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"check {args}: rc {r.returncode}, want {expect}\n"
                             f"{r.stdout}\n{r.stderr}")
    out = json.loads(r.stdout) if r.stdout.strip().startswith("{") else None
    return r, out


class UrlSourceTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.base = f"http://127.0.0.1:{cls.srv.port}"
        cls.tmp = tempfile.mkdtemp(prefix="ps_src_")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_download_and_validators(self):
        r, out = check(self.base + "/feed.xml", expect=0)
        self.assertEqual(out["items"], 50)
        self.assertEqual(out["valid"], 50)
        self.assertEqual(out["http_status"], 200)
        self.assertEqual(out["etag"], ETAG)
        self.assertEqual(out["last_modified"], LASTMOD)
        self.assertEqual(out["bytes"], len(FEED))

    def test_conditional_get_unchanged(self):
        Handler.log.clear()
        r, out = check("--if-none-match", ETAG, self.base + "/feed.xml", expect=0)
        self.assertTrue(out["unchanged"])
        self.assertEqual(out["items"], 0)
        self.assertEqual(out["http_status"], 304)
        self.assertEqual(Handler.log[-1][1].get("If-None-Match"), ETAG)
        r, out = check("--if-modified-since", LASTMOD, self.base + "/since.xml", expect=0)
        self.assertTrue(out["unchanged"])
        # A stale validator: the full feed again.
        r, out = check("--if-none-match", '"old"', self.base + "/feed.xml", expect=0)
        self.assertFalse(out["unchanged"])
        self.assertEqual(out["items"], 50)

    def test_header_injection_refused(self):
        r, out = check("--if-none-match", '"a"\r\nX-Evil: 1', self.base + "/feed.xml")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not a valid header value", r.stdout + r.stderr)

    def test_redirect_followed(self):
        r, out = check(self.base + "/redirect", expect=0)
        self.assertEqual(out["items"], 50)

    def test_basic_auth_url_and_password_file(self):
        url = f"http://shop:s3cr3t-pw@127.0.0.1:{self.srv.port}/private.xml"
        r, out = check(url, expect=0)
        self.assertEqual(out["items"], 50)
        self.assertNotIn("s3cr3t-pw", r.stdout + r.stderr)
        self.assertIn("shop:***@", out["feed"])
        pw = os.path.join(self.tmp, "pw")
        with open(pw, "w") as fp:
            fp.write("s3cr3t-pw\n")
        r, out = check("--password-file", pw,
                       f"http://shop@127.0.0.1:{self.srv.port}/private.xml", expect=0)
        self.assertEqual(out["items"], 50)
        # Wrong password: a clear error, the password nowhere.
        r, out = check(f"http://shop:wrong-pw-123@127.0.0.1:{self.srv.port}/private.xml",
                       expect=3)
        self.assertIn("HTTP 401", out["reason"])
        self.assertNotIn("wrong-pw-123", r.stdout + r.stderr)

    def test_truncated_download_is_fatal(self):
        r, out = check(self.base + "/short.xml", expect=3)
        self.assertFalse(out["usable"])
        self.assertIn("truncated", out["reason"])
        # A cut chunked CSV would parse as a shorter feed: it must not.
        r, out = check(self.base + "/cut-chunked.csv", expect=3)
        self.assertIn("download", out["reason"])

    def test_error_status(self):
        r, out = check(self.base + "/missing.xml", expect=3)
        self.assertIn("HTTP 404", out["reason"])

    def test_gzip_over_http(self):
        r, out = check(self.base + "/feed.xml.gz", expect=0)
        self.assertEqual(out["items"], 50)

    @unittest.skipIf(os.environ.get("PINSYNC_SANITIZED"),
                     "ASan's quarantine keeps freed memory: figures only in the plain build")
    def test_streamed_not_buffered(self):
        # 20k items (~6 MB) stream through in constant memory: peak RSS
        # stays far below what holding the body would need on top.
        r, out = check(self.base + "/big.xml", expect=0)
        self.assertEqual(out["items"], 20000)
        self.assertLess(out["peak_rss_kb"], 40 * 1024, out)


class TlsTest(unittest.TestCase):
    """TLS verification is always on: a self-signed server is refused, and
    trusted when its certificate is given with --ca-file."""

    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("openssl not installed")
        cls.tmp = tempfile.mkdtemp(prefix="ps_tls_")
        cls.cert = os.path.join(cls.tmp, "cert.pem")
        key = os.path.join(cls.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cls.cert], check=True, capture_output=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cls.cert, key)
        cls.srv = Server(ctx)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_self_signed_refused_then_trusted(self):
        url = f"https://127.0.0.1:{self.srv.port}/feed.xml"
        r, out = check(url, expect=3)
        self.assertIn("TLS", out["reason"])
        r, out = check("--ca-file", self.cert, url, expect=0)
        self.assertEqual(out["items"], 50)


if __name__ == "__main__":
    unittest.main()
