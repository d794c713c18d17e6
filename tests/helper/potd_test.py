#!/usr/bin/env python3
"""potd_test.py — potd over HTTP: every behaviour of RFC-CHECKLIST.md that applies to the
endpoints potd has (token, authorize, revoke, introspect, metadata, JWKS, healthz,
metrics) and DESIGN.md's error contract, plus interop (PyJWT, pam_pot through pamtester,
Authlib), signals and a kill -9 in the middle of a stream of refreshes; and potd's
refresh-token socket with pam_pot's refresh-token logins through it (TestSocket).

Each potd runs on a free loopback port with its own state directory, under pam_wrapper
(service potd-test checks passwords with pam_matrix) and nss_wrapper (alice, bob, groups),
under timeout(1). Started as root (CI) it drops to `nobody`, so the temp directory is
made traversable. Time-dependent cases (rotation grace, code and token expiry) run a potd
under libfaketime whose clock the test moves forward.

Environment (exported by `make check`): POT_TOP_SRCDIR, POT_TOP_BUILDDIR, PAM_POT_SO,
POT_MINT, PAM_WRAPPER_SO, NSS_WRAPPER_SO, PYTHON3, POT_SANITIZERS.
Python 3 standard library plus PyJWT (python3-jwt); Authlib (python3-authlib),
libfaketime (faketime), pamtester and prlimit (util-linux) are optional: their cases are
skipped, with the reason, without them.
"""
import base64
import hashlib
import hmac
import html.parser
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import stat as stat_mod
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import jwt
from cryptography.hazmat.primitives import serialization

TOP_SRCDIR = os.environ.get("POT_TOP_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_BUILDDIR = os.environ.get("POT_TOP_BUILDDIR") or os.getcwd()
POTD = os.path.join(TOP_BUILDDIR, "potd")
POT = os.path.join(TOP_BUILDDIR, "pot")
PAM_POT_SO = os.environ.get("PAM_POT_SO") or os.path.join(TOP_BUILDDIR, ".libs", "pam_pot.so")
PAM_WRAPPER_SO = os.environ.get("PAM_WRAPPER_SO", "")
NSS_WRAPPER_SO = os.environ.get("NSS_WRAPPER_SO", "")
SANITIZERS = os.environ.get("POT_SANITIZERS", "no") == "yes"
PAM_MATRIX = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
# the MT variant: potd is multi-threaded, and libfaketime.so.1 with FAKETIME_NO_CACHE now and
# then gives one of two racing threads the real time (a token "expires", a connection idles)
FAKETIME_SO = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
START_TIMEOUT = 30 if SANITIZERS else 15
POTD_LIFETIME = 600        # timeout(1) around every potd

sys.dont_write_bytecode = True         # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(TOP_SRCDIR, "tests", "interop"))
import authlib_flow  # noqa: E402

IS_ROOT = os.geteuid() == 0
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}
RT_RE = re.compile(r"^pot_rt_[A-Za-z0-9_-]{43}$")
CODE_RE = re.compile(r"^pot_ac_[A-Za-z0-9_-]{43}$")
CS_RE = re.compile(r"^pot_cs_[A-Za-z0-9_-]{43}$")


# --- small helpers ------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def new_verifier():
    return b64url(os.urandom(32))           # 43 characters of the RFC 7636 alphabet


def challenge_of(verifier):
    return b64url(hashlib.sha256(verifier.encode()).digest())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def query_of(location):
    return {k: v[0] if len(v) == 1 else v
            for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).items()}


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Page(html.parser.HTMLParser):
    """What a browser (and a screen reader) would see of potd's pages."""

    def __init__(self, text):
        super().__init__()
        self.forms = []
        self.labels = {}
        self.ids = set()
        self.scripts = 0
        self.handlers = []
        self.text = []
        self._label = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        self.handlers += [k for k in a if k.startswith("on")]
        if tag == "script":
            self.scripts += 1
        elif tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"),
                               "hidden": {}, "inputs": [], "buttons": []})
        elif tag == "input" and self.forms:
            f = self.forms[-1]
            f["inputs"].append(a)
            if a.get("type") == "hidden":
                f["hidden"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"].append(a)
        elif tag == "label":
            self._label = a.get("for")

    def handle_endtag(self, tag):
        if tag == "label":
            self._label = None

    def handle_data(self, data):
        self.text.append(data)
        if self._label is not None and data.strip():
            self.labels[self._label] = data.strip()

    @property
    def all_text(self):
        return " ".join(t.strip() for t in self.text if t.strip())


# --- one potd ------------------------------------------------------------------------------

PASSWD = """root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1001:1001:Alice:/home/alice:/bin/sh
bob:x:1002:1002:Bob:/home/bob:/bin/sh
"""
GROUP = """root:x:0:
nogroup:x:65534:
alice:x:1001:
ops:x:1002:
wheel:x:10:alice
"""
SCOPES = """scope.login = *
scope.sudo = alice
scope.api = *
scope.admin = @wheel
scope.ops = @ops
"""


class Potd:
    """A potd with its own temp dir, config, wrappers, clients and log."""

    def __init__(self, extra_conf="", faketime=False, name="potd"):
        self.dir = tempfile.mkdtemp(prefix="potd-test.")
        os.chmod(self.dir, 0o755)           # potd drops to nobody when started as root
        self.name = name
        self.port = free_port()
        self.issuer = "http://127.0.0.1:%d" % self.port
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "pot.conf")
        self.jwks = os.path.join(self.state, "jwks.json")
        self.logpath = os.path.join(self.dir, "potd.log")
        self.faketime = os.path.join(self.dir, "faketime") if faketime else None
        self.proc = None
        self.clients = {}
        self.secrets = set()            # every RT, code, AT and client secret seen
        self.extra_conf = extra_conf
        self._write("passwd", PASSWD)
        self._write("group", GROUP)
        self._write("passdb", "".join("%s:%s:potd-test\n" % kv for kv in PASSWORDS.items()))
        os.mkdir(os.path.join(self.dir, "services"))
        os.chmod(os.path.join(self.dir, "services"), 0o755)
        matrix = "%s passdb=%s" % (PAM_MATRIX, os.path.join(self.dir, "passdb"))
        self._write("services/potd-test", "auth required %s\naccount required %s\n" % (matrix, matrix))
        if self.faketime:
            self._write("faketime", "+0\n")
        self.write_conf()

    @property
    def socket(self):
        """potd's refresh-token socket, in a directory of its own that potd creates."""
        return os.path.join(self.dir, "run", "potd.sock")

    def _write(self, rel, text, mode=0o644):
        path = os.path.join(self.dir, rel)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def write_conf(self, extra=None):
        self._write("pot.conf", (
            "issuer = %s\nlisten = 127.0.0.1:%d\nstate_dir = %s\njwks = %s\nuser = nobody\n"
            "socket = %s\nlogin_service = potd-test\n%s%s\n") % (
                self.issuer, self.port, self.state, self.jwks, self.socket, SCOPES,
                self.extra_conf if extra is None else extra))

    def env(self, preload=True):
        """The environment of potd (and pamtester): the wrappers, and libfaketime."""
        e = dict(os.environ)
        pre = [PAM_WRAPPER_SO, NSS_WRAPPER_SO]
        if self.faketime:
            pre.insert(0, FAKETIME_SO)
            e.update(FAKETIME_TIMESTAMP_FILE=self.faketime, FAKETIME_NO_CACHE="1",
                     FAKETIME_DONT_FAKE_MONOTONIC="1")
        e.update(PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=os.path.join(self.dir, "services"),
                 NSS_WRAPPER_PASSWD=os.path.join(self.dir, "passwd"),
                 NSS_WRAPPER_GROUP=os.path.join(self.dir, "group"),
                 UID_WRAPPER_DISABLE_DEEPBIND="1", NSS_WRAPPER_DISABLE_DEEPBIND="1")
        if preload:
            e["LD_PRELOAD"] = ":".join(pre)
        if SANITIZERS:
            # the wrappers are preloaded before libasan; LSan cannot inspect a process
            # that dropped root, so leaks are the business of the cmocka suites
            e["ASAN_OPTIONS"] = "verify_asan_link_order=0:detect_leaks=0"
        return e

    def potd_argv(self, lifetime=POTD_LIFETIME):
        """potd under timeout(1); only potd gets the preloads (env(1) execs it)."""
        return ["timeout", "-k", "5", str(lifetime), "env", "LD_PRELOAD=" + self.env()["LD_PRELOAD"],
                POTD, "--config", self.conf, "--foreground"]

    def run_potd(self):
        """potd expected to refuse to start: its exit status and output."""
        r = subprocess.run(self.potd_argv(20), env=self.env(preload=False), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        return r.returncode, r.stdout

    # time under libfaketime: potd's clock runs `offset` seconds ahead of the real one
    def set_offset(self, seconds):
        with open(self.faketime + ".tmp", "w") as f:
            f.write("%+ds\n" % seconds)
        os.chmod(self.faketime + ".tmp", 0o644)
        os.replace(self.faketime + ".tmp", self.faketime)

    def pot(self, *args, check=True):
        env = self.env(preload=False)       # pot needs no PAM: no pam_wrapper directory
        env["LD_PRELOAD"] = NSS_WRAPPER_SO
        r = subprocess.run([POT, "--config", self.conf] + list(args), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           universal_newlines=True)
        if check and r.returncode != 0:
            raise AssertionError("pot %s: exit %d\n%s%s" % (" ".join(args), r.returncode,
                                                             r.stdout, r.stderr))
        return r

    def add_client(self, name, scope, redirects=(), public=False, first_party=False,
                   grants=None, introspect=False, no_rotate=False):
        args = ["--json", "client", "add", name, "--scope", scope]
        for u in redirects:
            args += ["--redirect-uri", u]
        if public:
            args.append("--public")
        if first_party:
            args.append("--first-party")
        if grants:
            args += ["--grant", grants]
        if introspect:
            args.append("--introspect")
        if no_rotate:
            args.append("--no-rotate")
        out = json.loads(self.pot(*args).stdout)
        c = {"id": out["client_id"], "secret": out.get("client_secret"), "public": public,
             "redirect": redirects[0] if redirects else None, "scope": scope}
        if c["secret"]:
            self.secrets.add(c["secret"])
        self.clients[name] = c
        return c

    def start(self):
        if getattr(self, "log", None) is not None and not self.log.closed:
            self.log.close()
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.potd_argv(), env=self.env(preload=False), stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.potd_pid = None
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.potd_pid is None:
                self.potd_pid = self._child_of(self.proc.pid)
                if self.potd_pid is not None:
                    POTD_PIDS.add(self.potd_pid)
            if self.proc.poll() is not None:
                raise AssertionError("potd exited %d at start:\n%s" % (self.proc.returncode,
                                                                       self.read_log()))
            try:
                if self.potd_pid is not None and self.get("/healthz").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("potd did not answer /healthz:\n" + self.read_log())

    @staticmethod
    def _child_of(parent):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                return int(pid)
        return None

    def pid(self):
        """potd's own pid (timeout(1)'s child)."""
        return self.potd_pid

    def send(self, sig):
        os.kill(self.potd_pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops potd with sig; its exit status (timeout(1) passes it on)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        try:
            self.send(sig)
            rc = self.proc.wait(timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.cleanup(rmtree=False)
            rc = self.proc.returncode
        self.log.close()
        reap_pam_dirs()
        return rc

    def cleanup(self, rmtree=True):
        """Kills potd (itself first: timeout(1) killed would leave it running), then timeout."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.potd_pid, signal.SIGKILL)
                self.proc.wait(10)
            except (TypeError, ProcessLookupError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and not self.log.closed:
            self.log.close()
        reap_pam_dirs()
        if rmtree:
            self.kept_log = self.read_log()     # for the report of a failure, after this
            shutil.rmtree(self.dir, ignore_errors=True)

    def read_log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return getattr(self, "kept_log", "(no log)")

    # --- HTTP ---------------------------------------------------------------------------
    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method, path, body=None, headers=None, query=None):
        if query is not None:
            path += "?" + urllib.parse.urlencode(query)
        h = dict(headers or {})
        if isinstance(body, (dict, list, tuple)):
            body = urllib.parse.urlencode(body)
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            resp = Resp(r.status, r.msg, r.read())
        finally:
            conn.close()
        self._collect(resp)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body if body is not None else {}, **kw)

    def _collect(self, resp):
        if resp.header("Location"):
            code = query_of(resp.header("Location")).get("code")
            if isinstance(code, str):
                self.secrets.add(code)
        if (resp.header("Content-Type") or "").startswith("application/json"):
            try:
                j = resp.json()
            except ValueError:
                return
            if isinstance(j, dict):
                for k in ("access_token", "refresh_token"):
                    if isinstance(j.get(k), str):
                        self.secrets.add(j[k])


POTD_PIDS = set()


def reap_pam_dirs():
    """pam_wrapper makes /tmp/pam.X (X one of 62 characters) for each process and removes it
    at exit, which potd cannot do once it dropped root, nor a killed potd: remove those of
    our dead potds, or the 62 names run out for every pam_wrapper user of the machine."""
    for d in [os.path.join("/tmp", n) for n in os.listdir("/tmp") if re.match(r"^pam\.\w$", n)]:
        try:
            with open(os.path.join(d, "pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if pid not in POTD_PIDS:
            continue
        try:
            os.kill(pid, 0)
            continue                    # still running
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            continue


# --- the shared test base ------------------------------------------------------------------

def basic(client_id, secret):
    q = urllib.parse.quote_plus
    return "Basic " + base64.b64encode(("%s:%s" % (q(client_id), q(secret))).encode()).decode()


class PotdCase(unittest.TestCase):
    """Helpers shared by the test classes; self.p is the potd under test."""

    p = None

    @classmethod
    def start_shared(cls, p, prepare):
        """cls.p, one potd for the whole class: prepare(p), then started; its log is shown
        and it is cleaned up when either fails."""
        cls.p = p
        try:
            prepare(p)
            p.start()
        except BaseException:
            sys.stderr.write(p.read_log())
            p.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.p is not None:           # a class-wide potd (start_shared)
            cls.p.cleanup()

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before and self.p:
            sys.stderr.write("\n----- potd log (%s, %s) -----\n%s----- end of potd log -----\n"
                             % (self.p.name, self.id(), self.p.read_log()[-6000:]))
        return out

    # --- the token endpoint ---------------------------------------------------------------
    def token(self, client, params, auth="basic", headers=None):
        """POSTs to /token as client: basic, body (client_secret_post) or none (public)."""
        body = list(params.items()) if isinstance(params, dict) else list(params)
        h = dict(headers or {})
        if client is not None:
            if client["public"] or auth == "none":
                body.append(("client_id", client["id"]))
            elif auth == "basic":
                h["Authorization"] = basic(client["id"], client["secret"])
            else:
                body += [("client_id", client["id"]), ("client_secret", client["secret"])]
        return self.p.post("/auth/v2/token", body, headers=h)

    def assert_error(self, r, status, error):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r.header("Content-Type"))
        self.assertEqual(r.json()["error"], error, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertEqual(r.header("Pragma"), "no-cache")
        if status == 401:
            self.assertTrue((r.header("WWW-Authenticate") or "").startswith("Basic realm="), r.headers)

    def assert_ok(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertEqual(r.header("Pragma"), "no-cache")
        return r.json()

    def refresh(self, client, rt, **extra):
        return self.token(client, dict(grant_type="refresh_token", refresh_token=rt, **extra))

    def cc(self, client, **extra):
        return self.token(client, dict(grant_type="client_credentials", **extra))

    def introspect(self, token, client=None):
        client = client or self.p.clients["rs"]
        return self.p.post("/auth/v2/introspect", [("token", token)],
                           headers={"Authorization": basic(client["id"], client["secret"])})

    def revoke(self, client, token):
        body = [("token", token)]
        h = {}
        if client["public"]:
            body.append(("client_id", client["id"]))
        else:
            h["Authorization"] = basic(client["id"], client["secret"])
        return self.p.post("/auth/v2/revoke", body, headers=h)

    # --- the authorization endpoint --------------------------------------------------------
    def authz_query(self, client, redirect=None, scope=None, state="st-1", challenge=None,
                    method="S256", response_type="code", verifier=None):
        q = [("client_id", client["id"]), ("redirect_uri", redirect or client["redirect"]),
             ("response_type", response_type), ("state", state)]
        if challenge is not False:
            q.append(("code_challenge", challenge or challenge_of(verifier or new_verifier())))
        if method is not None:
            q.append(("code_challenge_method", method))
        if scope is not None:
            q.append(("scope", scope))
        return [(k, v) for k, v in q if v is not None]

    def authorize_get(self, query):
        return self.p.get("/auth/v2/authorize?" + urllib.parse.urlencode(query))

    def login_form(self, client, **kw):
        r = self.authorize_get(self.authz_query(client, **kw))
        self.assertEqual(r.status, 200, r)
        page = Page(r.text)
        self.assertEqual(len(page.forms), 1, r.text)
        return r, page.forms[0]

    def post_form(self, form, **fields):
        body = dict(form["hidden"])
        body.update(fields)
        return self.p.post(form["action"], body)

    def consent_form(self, client, user="alice", **kw):
        _, form = self.login_form(client, **kw)
        r = self.post_form(form, username=user, password=PASSWORDS[user])
        self.assertEqual(r.status, 200, r)
        page = Page(r.text)
        self.assertEqual(len(page.forms), 1, r.text)
        return r, page.forms[0]

    def authorize(self, client, user="alice", scope=None, redirect=None, state="st-1",
                  decision="allow"):
        """The browser part: login (and consent); returns (redirect query, verifier, redirect)."""
        verifier = new_verifier()
        redirect = redirect or client["redirect"]
        _, form = self.login_form(client, redirect=redirect, scope=scope, state=state,
                                  verifier=verifier)
        r = self.post_form(form, username=user, password=PASSWORDS[user])
        if r.status == 200:                 # third-party: the consent page
            form = Page(r.text).forms[0]
            r = self.post_form(form, decision=decision)
        self.assertEqual(r.status, 303, r)
        loc = r.header("Location")
        self.assertTrue(loc.startswith(redirect + ("&" if "?" in redirect else "?")), loc)
        return query_of(loc), verifier, redirect

    def code_for(self, client, **kw):
        q, verifier, redirect = self.authorize(client, **kw)
        self.assertIn("code", q, q)
        return q["code"], verifier, redirect

    def exchange(self, client, code, verifier, redirect, auth="basic"):
        return self.token(client, dict(grant_type="authorization_code", code=code,
                                       redirect_uri=redirect, code_verifier=verifier), auth=auth)

    def tokens_for(self, client, **kw):
        code, verifier, redirect = self.code_for(client, **kw)
        return self.assert_ok(self.exchange(client, code, verifier, redirect))

    def throttle(self, c, failures=7):
        """Bad secrets until `failures` of them were really checked; 5 are free, then each
        one doubles the wait (1 s, 2 s, 4 s): the right secret is refused for seconds."""
        checked, deadline = 0, time.time() + 20
        while checked < failures:
            self.assertLess(time.time(), deadline)
            r = self.cc(dict(c, secret="pot_cs_" + "D" * 43))
            self.assert_error(r, 401, "invalid_client")
            if "too many" in r.json()["error_description"]:
                self.assertGreaterEqual(checked, 5)
                time.sleep(0.25)
            else:
                checked += 1

    def parallel(self, n, fn):
        barrier = threading.Barrier(n)
        results = [None] * n

        def one(i):
            barrier.wait()
            try:
                results[i] = fn()
            except Exception as e:  # noqa: BLE001
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return results

    def pamtester(self, user, token, service="potd-pam"):
        """pam_pot (auth, then account) through pamtester, in potd's wrappers and clock."""
        env = self.p.env()
        if SANITIZERS:
            asan = re.search(r"(\S*libasan\.so\S*) =>\s*(\S+)",
                             subprocess.run(["ldd", PAM_POT_SO], stdout=subprocess.PIPE,
                                            universal_newlines=True).stdout)
            if asan:            # first, or right after libfaketime (before it, pamtester hangs)
                pre = env["LD_PRELOAD"].split(":")
                pre.insert(1 if pre[0] == FAKETIME_SO else 0, asan.group(2))
                env["LD_PRELOAD"] = ":".join(pre)
        return subprocess.run(["pamtester", "-v", service, user, "authenticate", "acct_mgmt"],
                              input=token + "\n", env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)

    def wait_log(self, pattern, timeout=5):
        """The first match of pattern in potd's log, waiting for it; None after timeout."""
        deadline = time.time() + timeout
        while True:
            m = re.search(pattern, self.p.read_log())
            if m or time.time() > deadline:
                return m
            time.sleep(0.05)

    def jwks_key(self, kid=None):
        keys = json.loads(self.p.get("/auth/v2/jwks").body)["keys"]
        return keys[0] if kid is None else [k for k in keys if k["kid"] == kid][0]

    def verify_at(self, at, jwks=None):
        jwks = jwks or json.loads(self.p.get("/auth/v2/jwks").body)
        header = jwt.get_unverified_header(at)
        keys = {k["kid"]: k for k in jwks["keys"]}
        jwk = jwt.PyJWK(keys[header["kid"]])
        alg = keys[header["kid"]].get("alg") or {"EC": "ES256", "RSA": "RS256"}[jwk.key_type]
        claims = jwt.decode(at, jwk.key, algorithms=[alg], audience="pot", issuer=self.p.issuer,
                            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]})
        return header, claims, alg


def setup_clients(p):
    p.add_client("web", "login sudo api admin ops",
                 ["https://app.example/cb", "http://127.0.0.1:8080/cb"], first_party=True)
    p.add_client("third", "login sudo api", ["https://third.example/cb?tenant=1"])
    p.add_client("native", "login sudo", ["http://127.0.0.1/cb"], public=True)
    p.add_client("spa", "login api", ["https://spa.example/cb"], public=True, first_party=True)
    p.add_client("svc", "api login", grants="client_credentials")
    p.add_client("rs", "api", grants="client_credentials", introspect=True)
    p.add_client("codeonly", "login", ["https://codeonly.example/cb"], first_party=True,
                 grants="authorization_code")
    p.add_client("thr", "api", grants="client_credentials")
    p.add_client("badsecret", "api", grants="client_credentials")


# =========================================================================================
class TestPotd(PotdCase):
    """One potd for the cases that do not need a clock, a signal or a throttled address."""

    @classmethod
    def setUpClass(cls):
        cls.start_shared(Potd(name="main"), setup_clients)

    def client(self, name):
        return self.p.clients[name]

    # --- token endpoint, general (checklist 1-14) ----------------------------------------
    def test_token_only_post(self):
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            r = self.p.request(method, "/auth/v2/token")
            self.assertEqual(r.status, 405, (method, r))
            self.assertEqual(r.header("Allow"), "POST")
        for path in ("/auth/v2/revoke", "/auth/v2/introspect"):
            self.assertEqual(self.p.get(path).status, 405)
        self.assertEqual(self.p.post("/auth/v2/jwks").status, 405)
        self.assertEqual(self.p.post("/.well-known/oauth-authorization-server").status, 405)

    def test_repeated_parameter(self):
        svc = self.client("svc")
        r = self.token(svc, [("grant_type", "client_credentials"), ("scope", "api"),
                             ("scope", "api")])
        self.assert_error(r, 400, "invalid_request")
        r = self.token(svc, [("grant_type", "client_credentials"), ("grant_type", "client_credentials")])
        self.assert_error(r, 400, "invalid_request")

    def test_empty_parameter_is_absent(self):
        svc = self.client("svc")
        j = self.assert_ok(self.token(svc, dict(grant_type="client_credentials", scope="")))
        self.assertEqual(j["scope"], "api login")         # absent scope: the registered one
        # an empty client_secret in the body is no second authentication method
        j = self.assert_ok(self.token(svc, dict(grant_type="client_credentials", client_secret="")))
        self.assertEqual(j["token_type"], "Bearer")
        self.assert_error(self.token(svc, dict(grant_type="")), 400, "invalid_request")

    def test_unknown_parameters_ignored(self):
        j = self.assert_ok(self.token(self.client("svc"), dict(grant_type="client_credentials",
                                                              frobnicate="1", resource_x="y")))
        self.assertIn("access_token", j)

    def test_credentials_in_query(self):
        svc = self.client("svc")
        for q in ({"client_id": svc["id"]}, {"client_secret": svc["secret"]}):
            r = self.p.post("/auth/v2/token?" + urllib.parse.urlencode(q),
                            {"grant_type": "client_credentials"},
                            headers={"Authorization": basic(svc["id"], svc["secret"])})
            self.assert_error(r, 400, "invalid_request")
        r = self.p.post("/auth/v2/token?" + urllib.parse.urlencode(
            {"client_id": svc["id"], "client_secret": svc["secret"]}), {"grant_type": "client_credentials"})
        self.assert_error(r, 400, "invalid_request")

    def test_two_authentication_methods(self):
        svc = self.client("svc")
        r = self.token(svc, dict(grant_type="client_credentials", client_secret=svc["secret"]))
        self.assert_error(r, 400, "invalid_request")         # Basic + body secret
        r = self.token(svc, dict(grant_type="client_credentials", client_id="web"))
        self.assert_error(r, 400, "invalid_request")         # Basic for svc, body names web

    def test_wrong_secret_basic(self):
        c = self.client("badsecret")
        wrong = dict(c, secret="pot_cs_" + "A" * 43)
        r = self.cc(wrong)
        self.assert_error(r, 401, "invalid_client")
        self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="potd"')
        r = self.cc(dict(c, secret="not-even-a-secret"))
        self.assert_error(r, 401, "invalid_client")
        # an empty or overlong user-id is no client either (not a store failure)
        for userpass in (b":x", b":", b"a" * 70 + b":x"):
            r = self.p.post("/auth/v2/token", {"grant_type": "client_credentials"},
                            headers={"Authorization": "Basic " + base64.b64encode(userpass).decode()})
            self.assert_error(r, 401, "invalid_client")
        self.assert_ok(self.cc(c))                           # clears the failures

    def test_wrong_secret_body(self):
        c = self.client("badsecret")
        r = self.token(dict(c, secret="pot_cs_" + "B" * 43), dict(grant_type="client_credentials"),
                       auth="post")
        self.assert_error(r, 401, "invalid_client")
        r = self.token(c, dict(grant_type="client_credentials"), auth="none")   # no secret at all
        self.assert_error(r, 401, "invalid_client")
        r = self.p.post("/auth/v2/token", {"grant_type": "client_credentials"})  # nobody
        self.assert_error(r, 401, "invalid_client")
        r = self.token({"id": "no-such-client", "secret": "pot_cs_" + "C" * 43, "public": False},
                       dict(grant_type="client_credentials"))
        self.assert_error(r, 401, "invalid_client")
        self.assert_ok(self.token(c, dict(grant_type="client_credentials"), auth="post"))

    def test_basic_is_form_urlencoded(self):
        c = self.client("badsecret")
        # every character percent-encoded, id and secret: decoded before the comparison
        enc = lambda s: "".join("%%%02X" % ord(ch) for ch in s)       # noqa: E731
        hdr = "Basic " + base64.b64encode(("%s:%s" % (enc(c["id"]), enc(c["secret"]))).encode()).decode()
        self.assert_ok(self.p.post("/auth/v2/token", {"grant_type": "client_credentials"},
                                   headers={"Authorization": hdr}))
        # an encoded ':' belongs to the id (split first, then decode): client "bad:secret"
        hdr = "Basic " + base64.b64encode(b"bad%3Asecret:" + c["secret"].encode()).decode()
        r = self.p.post("/auth/v2/token", {"grant_type": "client_credentials"}, headers={"Authorization": hdr})
        self.assert_error(r, 401, "invalid_client")
        # '%' itself travels as %25; a bad escape is a malformed request
        hdr = "Basic " + base64.b64encode(b"100%25:" + c["secret"].encode()).decode()
        self.assert_error(self.p.post("/auth/v2/token", {"grant_type": "client_credentials"},
                                      headers={"Authorization": hdr}), 401, "invalid_client")
        hdr = "Basic " + base64.b64encode(b"bad%zz:" + c["secret"].encode()).decode()
        self.assert_error(self.p.post("/auth/v2/token", {"grant_type": "client_credentials"},
                                      headers={"Authorization": hdr}), 400, "invalid_request")
        self.assert_error(self.p.post("/auth/v2/token", {"grant_type": "client_credentials"},
                                      headers={"Authorization": "Basic !!!"}), 400, "invalid_request")
        self.assert_ok(self.cc(c))

    def test_cache_headers_on_every_token_response(self):
        svc = self.client("svc")
        self.assert_ok(self.cc(svc))
        for r in (self.token(svc, dict(grant_type="nope")), self.cc(dict(svc, secret="x")),
                  self.p.post("/auth/v2/token", {"grant_type": "client_credentials"}),
                  self.revoke(svc, "whatever"), self.introspect("whatever"),
                  self.introspect("x", client=svc)):
            self.assertEqual(r.header("Cache-Control"), "no-store", r)
            self.assertEqual(r.header("Pragma"), "no-cache", r)
            self.assertTrue(r.header("Content-Type").startswith("application/json"), r)
            self.assertIsInstance(r.json(), dict)
        self.assert_ok(self.cc(svc))

    def test_throttle_bad_secrets(self):
        c = self.client("thr")
        self.throttle(c)
        r = self.cc(c)          # the right secret, refused for a while
        self.assert_error(r, 401, "invalid_client")
        self.assertIn("too many", r.json()["error_description"])
        # another client is not affected
        self.assert_ok(self.cc(self.client("svc")))

    def test_unsupported_grant_type(self):
        svc = self.client("svc")
        for gt in ("nope", "password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"):
            self.assert_error(self.token(svc, dict(grant_type=gt, username="alice",
                                                   password=PASSWORDS["alice"])),
                              400, "unsupported_grant_type")
        self.assert_error(self.token(svc, {}), 400, "invalid_request")

    def test_unauthorized_client(self):
        # svc has only client_credentials; codeonly has no refresh_token; native is public
        self.assert_error(self.token(self.client("svc"), dict(grant_type="authorization_code",
                          code="pot_ac_" + "A" * 43, redirect_uri="https://x/", code_verifier="a" * 43)),
                          400, "unauthorized_client")
        self.assert_error(self.refresh(self.client("codeonly"), "pot_rt_" + "A" * 43),
                          400, "unauthorized_client")

    def test_invalid_scope(self):
        self.assert_error(self.cc(self.client("svc"), scope="api sudo"), 400, "invalid_scope")
        self.assert_error(self.cc(self.client("svc"), scope="admin"), 400, "invalid_scope")
        j = self.assert_ok(self.cc(self.client("svc"), scope="api"))
        self.assertEqual(j["scope"], "api")

    def test_malformed_bodies(self):
        svc = self.client("svc")
        auth = {"Authorization": basic(svc["id"], svc["secret"])}
        r = self.p.request("POST", "/auth/v2/token", body=json.dumps({"grant_type": "client_credentials"}),
                           headers=dict(auth, **{"Content-Type": "application/json"}))
        self.assert_error(r, 400, "invalid_request")
        r = self.p.request("POST", "/auth/v2/token", body="grant_type=client_credentials&pad=" + "x" * 20000,
                           headers=dict(auth, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(r.status, 413, r)
        self.assert_error(self.p.get("/no/such/path"), 404, "not_found")

    def test_token_formats(self):
        j = self.tokens_for(self.client("web"), scope="login")
        self.assertRegex(j["refresh_token"], RT_RE)
        self.assertRegex(self.client("web")["secret"], CS_RE)
        code, _, _ = self.code_for(self.client("web"))
        self.assertRegex(code, CODE_RE)
        # 43 base64url characters are 256 bits (checklist 10)
        self.assertEqual(len(b64url_decode(j["refresh_token"][7:])), 32)
        self.assertEqual(len(b64url_decode(code[7:])), 32)
        self.assertEqual(j["token_type"], "Bearer")
        self.assertEqual(j["expires_in"], 600)

    # --- authorization endpoint (checklist 15-17, 21-22) ----------------------------------
    def assert_error_page(self, r, status=400):
        self.assertEqual(r.status, status, r)
        self.assertIsNone(r.header("Location"), r.headers)
        self.assertTrue(r.header("Content-Type").startswith("text/html"), r.header("Content-Type"))
        page = Page(r.text)
        self.assertEqual(page.scripts, 0)
        return page

    def test_redirect_uri_exact_match(self):
        web = self.client("web")
        for bad in ("https://app.example/cb/", "https://app.example/cb?x=1", "https://APP.example/cb",
                    "https://app.example/CB", "http://app.example/cb", "https://app.example:443/cb",
                    "https://app.example/cb#f", "https://app.example/c", "https://app.example/cb%2F",
                    "http://127.0.0.1:8081/cb",     # a confidential client gets no any-port
                    "https://evil.example/cb"):
            r = self.authorize_get(self.authz_query(web, redirect=bad, verifier=new_verifier()))
            page = self.assert_error_page(r)
            self.assertIn("redirect URI", page.all_text, bad)
        # the registered ones work, with the registered query kept
        self.login_form(web, verifier=new_verifier())
        self.login_form(web, redirect="http://127.0.0.1:8080/cb", verifier=new_verifier())
        q, _, _ = self.authorize(self.client("third"))
        self.assertIn("code", q)
        self.assertEqual(q["tenant"], "1")

    def test_loopback_any_port_public(self):
        native = self.client("native")
        for port in (1024, 51234, 65535):
            redirect = "http://127.0.0.1:%d/cb" % port
            q, verifier, _ = self.authorize(native, redirect=redirect)
            self.assertIn("code", q)
            if port == 51234:   # the code is bound to the port used
                self.assert_error(self.exchange(native, q["code"], verifier, "http://127.0.0.1:1/cb"),
                                  400, "invalid_grant")
        for bad in ("http://127.0.0.1:51234/other", "http://localhost:51234/cb",
                    "http://127.0.0.1.evil.example:51234/cb", "http://127.0.0.1:51234@evil.example/cb",
                    "https://127.0.0.1:51234/cb", "http://127.0.0.1:/cb", "http://127.0.0.1:51234/cb/"):
            r = self.authorize_get(self.authz_query(native, redirect=bad, verifier=new_verifier()))
            self.assert_error_page(r)

    def test_unknown_or_missing_client_is_a_page(self):
        web = self.client("web")
        q = self.authz_query(web, verifier=new_verifier())
        for query in ([("client_id", "nope")] + q[1:], q[1:], [q[0]] + q[2:], []):
            self.assert_error_page(self.authorize_get(query))
        # a repeated parameter is refused the same way
        self.assert_error_page(self.authorize_get(q + [("state", "again")]))

    def assert_redirect_error(self, r, client, error, state="st-1"):
        self.assertEqual(r.status, 303, r)
        loc = r.header("Location")
        self.assertTrue(loc.startswith(client["redirect"] + ("&" if "?" in client["redirect"] else "?")), loc)
        q = query_of(loc)
        self.assertEqual(q["error"], error, q)
        self.assertEqual(q.get("state"), state)
        self.assertEqual(q["iss"], self.p.issuer)
        self.assertNotIn("code", q)
        return q

    def test_pkce_required(self):
        web = self.client("web")
        v = new_verifier()
        cases = [dict(challenge=False), dict(challenge=False, method=None),
                 dict(verifier=v, method=None),              # absent method means plain
                 dict(challenge=v, method="plain"), dict(verifier=v, method="s256"),
                 dict(verifier=v, method="S512"), dict(challenge="short", method="S256")]
        for kw in cases:
            r = self.authorize_get(self.authz_query(web, **kw))
            self.assert_redirect_error(r, web, "invalid_request")
        self.assert_redirect_error(self.authorize_get(self.authz_query(self.client("native"),
                                   redirect="http://127.0.0.1:4000/cb", challenge=False)),
                                   dict(self.client("native"), redirect="http://127.0.0.1:4000/cb"),
                                   "invalid_request")

    def test_response_type(self):
        web = self.client("web")
        for rt in ("token", "id_token", "code token", None):
            r = self.authorize_get(self.authz_query(web, verifier=new_verifier(), response_type=rt))
            self.assert_redirect_error(r, web, "unsupported_response_type")

    def test_authorize_scope_beyond_registration(self):
        r = self.authorize_get(self.authz_query(self.client("native"), redirect="http://127.0.0.1:9/cb",
                                                scope="login api", verifier=new_verifier()))
        self.assert_redirect_error(r, dict(self.client("native"), redirect="http://127.0.0.1:9/cb"),
                                   "invalid_scope")
        svc_only = self.authorize_get(self.authz_query(
            dict(self.client("svc"), redirect="https://x.example/cb"), verifier=new_verifier()))
        self.assert_error_page(svc_only)     # no redirect URI registered at all

    def test_login_page(self):
        r, form = self.login_form(self.client("web"), verifier=new_verifier())
        page = Page(r.text)
        self.assertEqual(page.scripts, 0)
        self.assertEqual(page.handlers, [])
        self.assertEqual(form["method"], "post")
        self.assertEqual(form["action"], "/auth/v2/authorize")
        names = {i.get("name"): i for i in form["inputs"]}
        self.assertEqual(names["username"].get("type"), "text")
        self.assertEqual(names["password"].get("type"), "password")
        self.assertEqual(names["password"].get("autocomplete"), "current-password")
        self.assertIn(page.labels.get("username"), ("User name", "Username"))
        self.assertEqual(page.labels.get("password"), "Password")
        self.assertIn("username", page.ids)
        self.assertIn("password", page.ids)
        self.assertEqual(r.header("X-Frame-Options"), "DENY")
        self.assertIn("frame-ancestors 'none'", r.header("Content-Security-Policy"))
        self.assertNotIn("script-src", r.header("Content-Security-Policy"))
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        self.assertIn('<html lang="en">', r.text)

    def test_form_action_allows_the_redirect(self):
        """Browsers hold the redirect that answers a form post to the page's CSP form-action
        (Chromium blocks it under a bare 'self'): the sign-in and consent pages name the
        origin of the checked redirect URI, and only that; error pages name none."""
        def form_action(r):
            csp = r.header("Content-Security-Policy")
            return [d.strip() for d in csp.split(";") if d.strip().startswith("form-action")][0]
        r, _ = self.login_form(self.client("web"), verifier=new_verifier())
        self.assertEqual(form_action(r), "form-action 'self' https://app.example")
        r, _ = self.login_form(self.client("native"), redirect="http://127.0.0.1:53682/cb",
                               verifier=new_verifier())
        self.assertEqual(form_action(r), "form-action 'self' http://127.0.0.1:53682")
        r, _ = self.consent_form(self.client("third"), verifier=new_verifier())
        self.assertEqual(form_action(r), "form-action 'self' https://third.example")
        r = self.authorize_get(self.authz_query(self.client("web"), redirect="https://evil.example/cb",
                                                verifier=new_verifier()))
        self.assertEqual(r.status, 400, r)
        self.assertEqual(form_action(r), "form-action 'self'")

    def test_no_cors(self):
        q = self.authz_query(self.client("web"), verifier=new_verifier())
        for r in (self.p.get("/auth/v2/authorize?" + urllib.parse.urlencode(q),
                             headers={"Origin": "https://evil.example"}),
                  self.p.request("OPTIONS", "/auth/v2/authorize",
                                 headers={"Origin": "https://evil.example",
                                          "Access-Control-Request-Method": "POST"})):
            self.assertIsNone(r.header("Access-Control-Allow-Origin"), r.headers)

    def test_wrong_password(self):
        _, form = self.login_form(self.client("web"), verifier=new_verifier())
        r = self.post_form(form, username="alice", password="wrong")
        self.assertEqual(r.status, 401, r)
        # every 401 names a challenge (RFC 9110), never Basic: no browser password dialog
        self.assertTrue(r.header("WWW-Authenticate"), r.headers)
        self.assertFalse(r.header("WWW-Authenticate").lower().startswith("basic"))
        page = Page(r.text)
        self.assertIn("Sign-in failed", page.all_text)
        self.assertIsNone(r.header("Location"))
        # the page is a new login form that still works
        r = self.post_form(page.forms[0], username="alice", password=PASSWORDS["alice"])
        self.assertEqual(r.status, 303, r)
        # unknown user (its name shown back, escaped), empty password
        r = self.post_form(form, username='"><script>alert(1)</script>', password="x")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(Page(r.text).scripts, 0)
        self.assertIn("&lt;script&gt;", r.text)
        r = self.post_form(form, username="alice", password="")
        self.assertEqual(r.status, 400, r)

    def test_state_too_long(self):
        web = self.client("web")
        r = self.authorize_get(self.authz_query(web, state="s" * 2000, verifier=new_verifier()))
        self.assertEqual(r.status, 303, r)
        q = query_of(r.header("Location"))
        self.assertEqual(q["error"], "invalid_request")
        self.assertNotIn("state", q)
        _, form = self.login_form(web, state="s" * 500, verifier=new_verifier())   # long is fine

    def test_first_party_redirects_with_code_state_iss(self):
        web = self.client("web")
        state = "s t&a=te/\u00e9"
        verifier = new_verifier()
        _, form = self.login_form(web, state=state, verifier=verifier)
        r = self.post_form(form, username="alice", password=PASSWORDS["alice"])
        self.assertEqual(r.status, 303, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        q = query_of(r.header("Location"))
        self.assertEqual(set(q), {"code", "state", "iss"})
        self.assertEqual(q["state"], state)
        self.assertEqual(q["iss"], self.p.issuer)
        self.assertRegex(q["code"], CODE_RE)
        # no state asked, none sent
        q, _, _ = self.authorize(web, state=None)
        self.assertNotIn("state", q)

    def test_third_party_consent(self):
        third = self.client("third")
        r, form = self.consent_form(third, scope="login sudo")
        page = Page(r.text)
        self.assertEqual(page.scripts, 0)
        self.assertIn("third", page.all_text)
        self.assertIn("sudo", page.all_text)
        self.assertEqual({b.get("value") for b in form["buttons"]}, {"allow", "deny"})
        r = self.post_form(form, decision="allow")
        self.assertEqual(r.status, 303)
        q = query_of(r.header("Location"))
        self.assertEqual(q["iss"], self.p.issuer)
        self.assertEqual(q["state"], "st-1")
        self.assertRegex(q["code"], CODE_RE)

    def test_consent_deny(self):
        third = self.client("third")
        _, form = self.consent_form(third)
        r = self.post_form(form, decision="deny")
        self.assert_redirect_error(r, third, "access_denied")

    def test_tampered_form(self):
        third = self.client("third")
        _, form = self.consent_form(third, scope="login")
        req = json.loads(b64url_decode(form["hidden"]["req"]))
        for field, value in (("granted", "login sudo api"), ("user", "bob"), ("redirect_uri", "https://evil.example/")):
            forged = dict(req, **{field: value})
            raw = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()
            r = self.post_form(form, req=b64url(raw), decision="allow")
            self.assert_error_page(r)
        mac = form["hidden"]["mac"]
        r = self.post_form(form, mac=("A" if mac[0] != "A" else "B") + mac[1:], decision="allow")
        self.assert_error_page(r)
        self.assertIn("This consent form was changed or is too old", r.text)
        # a login form's seal does not open a consent form
        _, login = self.login_form(third, verifier=new_verifier())
        r = self.post_form(login, step="consent", decision="allow")
        self.assert_error_page(r)
        # nor does a changed login form sign in
        mac = login["hidden"]["mac"]
        r = self.post_form(login, mac=("A" if mac[0] != "A" else "B") + mac[1:], username="alice",
                           password=PASSWORDS["alice"])
        self.assert_error_page(r)
        self.assertIn("This sign-in form was changed or is too old", r.text)
        self.assert_error_page(self.p.post("/auth/v2/authorize", {"step": "consent"}))
        self.assert_error_page(self.p.post("/auth/v2/authorize", {"step": "nope"}))
        # the untouched form still works once
        self.assertEqual(self.post_form(form, decision="allow").status, 303)

    def test_replayed_consent(self):
        _, form = self.consent_form(self.client("third"))
        self.assertEqual(self.post_form(form, decision="allow").status, 303)
        self.assert_error_page(self.post_form(form, decision="allow"))
        self.assert_error_page(self.post_form(form, decision="deny"))
        _, form = self.consent_form(self.client("third"))
        self.assertEqual(self.post_form(form, decision="deny").status, 303)
        self.assert_error_page(self.post_form(form, decision="allow"))

    def test_authorize_post_credentials_in_query(self):
        _, form = self.login_form(self.client("web"), verifier=new_verifier())
        body = dict(form["hidden"], username="alice", password=PASSWORDS["alice"])
        r = self.p.post("/auth/v2/authorize?client_secret=x", body)
        self.assert_error_page(r)

    # --- code exchange (checklist 19-20, 23-25) ---------------------------------------------
    def test_code_exchange(self):
        web = self.client("web")
        code, verifier, redirect = self.code_for(web, scope="login api")
        j = self.assert_ok(self.exchange(web, code, verifier, redirect))
        self.assertEqual(set(j), {"access_token", "token_type", "expires_in", "scope", "refresh_token"})
        self.assertEqual(j["scope"], "login api")
        # client_secret_post works as well
        code, verifier, redirect = self.code_for(web)
        self.assert_ok(self.exchange(web, code, verifier, redirect, auth="post"))
        # a client without refresh_token gets none
        co = self.client("codeonly")
        code, verifier, redirect = self.code_for(co)
        j = self.assert_ok(self.exchange(co, code, verifier, redirect))
        self.assertNotIn("refresh_token", j)
        self.assertTrue(self.introspect(j["access_token"]).json()["active"])
        self.assert_error(self.exchange(co, code, verifier, redirect), 400, "invalid_grant")
        self.assertEqual(self.introspect(j["access_token"]).json(), {"active": False})

    def test_code_bound_to_client_and_redirect(self):
        web, third = self.client("web"), self.client("third")
        code, verifier, redirect = self.code_for(web)
        self.assert_error(self.exchange(third, code, verifier, redirect), 400, "invalid_grant")
        for other in ("http://127.0.0.1:8080/cb", "https://app.example/cb/", "https://app.example/CB"):
            self.assert_error(self.exchange(web, code, verifier, other), 400, "invalid_grant")
        self.assert_error(self.token(web, dict(grant_type="authorization_code", code=code,
                                               code_verifier=verifier)), 400, "invalid_request")
        # none of the failures above spent the code
        self.assert_ok(self.exchange(web, code, verifier, redirect))

    def test_pkce_verifier(self):
        web = self.client("web")
        code, verifier, redirect = self.code_for(web)
        base = dict(grant_type="authorization_code", code=code, redirect_uri=redirect)
        for bad in (new_verifier(), verifier[:-1] + ("A" if verifier[-1] != "A" else "B"),
                    verifier + "x", verifier[:42], "a" * 129, verifier[:-1] + "+",
                    verifier[:-1] + "/", verifier[:-1] + "=", verifier[:-1] + " ", challenge_of(verifier)):
            self.assert_error(self.token(web, dict(base, code_verifier=bad)), 400, "invalid_grant")
        self.assert_error(self.token(web, base), 400, "invalid_grant")          # no verifier
        self.assert_error(self.token(web, dict(base, code_verifier="")), 400, "invalid_grant")
        self.assert_ok(self.token(web, dict(base, code_verifier=verifier)))
        # 128 characters of the whole alphabet are fine
        v128 = ("abcXYZ019-._~" * 10)[:128]
        _, form = self.login_form(web, challenge=challenge_of(v128))
        r = self.post_form(form, username="alice", password=PASSWORDS["alice"])
        code = query_of(r.header("Location"))["code"]
        self.assert_ok(self.exchange(web, code, v128, web["redirect"]))

    def test_unknown_code(self):
        web = self.client("web")
        for code in ("pot_ac_" + "A" * 43, "garbage", "pot_rt_" + "A" * 43):
            self.assert_error(self.exchange(web, code, new_verifier(), web["redirect"]), 400, "invalid_grant")

    def test_code_reuse_revokes(self):
        web = self.client("web")
        code, verifier, redirect = self.code_for(web)
        first = self.assert_ok(self.exchange(web, code, verifier, redirect))
        self.assert_ok(self.refresh(web, first["refresh_token"]))     # it works until...
        self.assert_error(self.exchange(web, code, verifier, redirect), 400, "invalid_grant")
        self.assert_error(self.refresh(web, first["refresh_token"]), 400, "invalid_grant")
        self.assertEqual(self.introspect(first["refresh_token"]).json(), {"active": False})
        self.assertEqual(self.introspect(first["access_token"]).json(), {"active": False})

    def test_code_parallel_redemption(self):
        native = self.client("native")
        code, verifier, redirect = self.code_for(native, redirect="http://127.0.0.1:7777/cb")
        n = 24
        results = self.parallel(n, lambda: self.exchange(native, code, verifier, redirect))
        statuses = sorted(r.status if isinstance(r, Resp) else repr(r) for r in results)
        self.assertEqual(statuses.count(200), 1, statuses)
        self.assertEqual(statuses.count(400), n - 1, statuses)
        for r in results:
            if r.status == 400:
                self.assertEqual(r.json()["error"], "invalid_grant")

    # --- refresh (checklist 27-32) ------------------------------------------------------
    def test_refresh_parallel(self):
        """24 refreshes of one RT at once: one rotation, every answer the same successor."""
        native, web = self.client("native"), self.client("web")
        rt = self.tokens_for(native, redirect="http://127.0.0.1:5005/cb")["refresh_token"]
        results = self.parallel(24, lambda: self.refresh(native, rt))
        self.assertEqual([r.status if isinstance(r, Resp) else r for r in results], [200] * 24, results)
        successors = {r.json()["refresh_token"] for r in results}
        self.assertEqual(len(successors), 1, successors)
        self.assertNotIn(rt, successors)
        self.assert_ok(self.refresh(native, successors.pop()))
        rt = self.tokens_for(web)["refresh_token"]
        results = self.parallel(24, lambda: self.refresh(web, rt))
        self.assertEqual([r.status if isinstance(r, Resp) else r for r in results], [200] * 24, results)
        self.assertEqual({r.json()["refresh_token"] for r in results}, {rt})


    def test_public_rotation_within_grace(self):
        native = self.client("native")
        j = self.tokens_for(native, redirect="http://127.0.0.1:5000/cb")
        rt0 = j["refresh_token"]
        r1 = self.assert_ok(self.refresh(native, rt0))
        rt1 = r1["refresh_token"]
        self.assertNotEqual(rt1, rt0)
        self.assertRegex(rt1, RT_RE)
        # a lost response: the old RT again, within the grace, gives the SAME successor
        again = self.assert_ok(self.refresh(native, rt0))
        self.assertEqual(again["refresh_token"], rt1)
        self.assertNotEqual(again["access_token"], r1["access_token"])
        # the successor rotates in its turn; the superseded one is no longer active
        rt2 = self.assert_ok(self.refresh(native, rt1))["refresh_token"]
        self.assertNotIn(rt2, (rt0, rt1))
        self.assertEqual(self.introspect(rt0).json(), {"active": False})
        self.assertTrue(self.introspect(rt2).json()["active"])
        # rt0 again: its successor rt1 has rotated since, so this is a reuse, not a lost
        # response: refused, and the whole family (rt2 too) is revoked
        self.assert_error(self.refresh(native, rt0), 400, "invalid_grant")
        self.assert_error(self.refresh(native, rt2), 400, "invalid_grant")

    def test_confidential_keeps_rt_sliding(self):
        web = self.client("web")
        j = self.tokens_for(web)
        rt = j["refresh_token"]
        exp0 = self.introspect(rt).json()["exp"]
        time.sleep(1.1)
        r = self.assert_ok(self.refresh(web, rt))
        self.assertEqual(r["refresh_token"], rt)             # no rotation
        exp1 = self.introspect(rt).json()["exp"]
        self.assertGreater(exp1, exp0)
        self.assert_ok(self.refresh(web, rt))                # and again
        self.assert_ok(self.refresh(web, rt, client_secret=""))

    def test_refresh_scope(self):
        web = self.client("web")
        j = self.tokens_for(web, scope="login api")
        rt = j["refresh_token"]
        r = self.assert_ok(self.refresh(web, rt, scope="api"))
        self.assertEqual(r["scope"], "api")
        self.assertEqual(jwt_parts(r["access_token"])[1]["scope"], "api")
        r = self.assert_ok(self.refresh(web, rt))            # omitted: the original
        self.assertEqual(r["scope"], "login api")
        self.assertEqual(self.introspect(rt).json()["scope"], "login api")   # RT scope unchanged
        self.assert_error(self.refresh(web, rt, scope="login sudo"), 400, "invalid_scope")
        self.assert_error(self.refresh(web, rt, scope="admin"), 400, "invalid_scope")
        # a public client's rotated RT keeps the original scope too
        native = self.client("native")
        j = self.tokens_for(native, redirect="http://127.0.0.1:5001/cb")
        r = self.assert_ok(self.refresh(native, j["refresh_token"], scope="login"))
        self.assertEqual(r["scope"], "login")
        self.assertEqual(self.introspect(r["refresh_token"]).json()["scope"], j["scope"])

    def test_refresh_other_client(self):
        web, third = self.client("web"), self.client("third")
        rt = self.tokens_for(web)["refresh_token"]
        self.assert_error(self.refresh(third, rt), 400, "invalid_grant")
        self.assert_error(self.refresh(self.client("native"), rt), 400, "invalid_grant")
        self.assert_ok(self.refresh(web, rt))                # still fine for its client
        # a confidential client's RT without authentication: 401
        r = self.token(None, dict(grant_type="refresh_token", refresh_token=rt, client_id="web"))
        self.assert_error(r, 401, "invalid_client")

    def test_refresh_unknown(self):
        web = self.client("web")
        for rt in ("pot_rt_" + "A" * 43, "pot_rt_short", "eyJhbGciOi.x.y", "pot_ac_" + "A" * 43):
            self.assert_error(self.refresh(web, rt), 400, "invalid_grant")
        self.assert_error(self.token(web, dict(grant_type="refresh_token")), 400, "invalid_request")

    # --- client credentials (checklist 36) ----------------------------------------------
    def test_client_credentials(self):
        svc = self.client("svc")
        j = self.assert_ok(self.cc(svc))
        self.assertNotIn("refresh_token", j)
        h, c, _ = jwt_parts(j["access_token"])
        self.assertEqual(c["sub"], "svc")
        self.assertEqual(c["client_id"], "svc")
        self.assertNotIn("auth_time", c)
        self.assertEqual(c["scope"], "api login")
        self.assertTrue(self.introspect(j["access_token"]).json()["active"])

    def test_client_credentials_writes_nothing(self):
        def records():
            return {m.group(1): int(m.group(2)) for m in
                    re.finditer(r'potd_store_records\{kind="(\w+)"\} (\d+)', self.p.get("/metrics").text)}
        before = records()
        for _ in range(5):
            self.assert_ok(self.cc(self.client("svc")))
        self.assertEqual(records(), before)

    def test_client_credentials_public_client(self):
        r = self.token(self.client("native"), dict(grant_type="client_credentials"))
        self.assertIn(r.status, (400, 401), r)
        self.assertIn(r.json()["error"], ("unauthorized_client", "invalid_client"))
        r = self.token(self.client("web"), dict(grant_type="client_credentials"), auth="none")
        self.assert_error(r, 401, "invalid_client")

    # --- revocation (checklist 37-42) ---------------------------------------------------
    def test_revoke_unknown(self):
        web = self.client("web")
        for tok in ("pot_rt_" + "A" * 43, "whatever", "pot_ac_" + "A" * 43):
            r = self.revoke(web, tok)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assert_error(self.p.post("/auth/v2/revoke", {}, headers={"Authorization": basic("web", web["secret"])}),
                          400, "invalid_request")

    def test_revoke_refresh_token(self):
        web = self.client("web")
        j = self.tokens_for(web)
        self.assertTrue(self.introspect(j["access_token"]).json()["active"])
        r = self.revoke(web, j["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assert_error(self.refresh(web, j["refresh_token"]), 400, "invalid_grant")
        self.assertEqual(self.introspect(j["refresh_token"]).json(), {"active": False})
        # the access tokens of the grant die with it (checklist 42)
        self.assertEqual(self.introspect(j["access_token"]).json(), {"active": False})
        self.assertEqual(self.revoke(web, j["refresh_token"]).status, 200)   # again: 200
        # a public client revokes with its client_id
        native = self.client("native")
        j = self.tokens_for(native, redirect="http://127.0.0.1:5002/cb")
        self.assertEqual(self.revoke(native, j["refresh_token"]).status, 200)
        self.assert_error(self.refresh(native, j["refresh_token"]), 400, "invalid_grant")

    def test_revoke_access_token(self):
        web = self.client("web")
        j = self.tokens_for(web)
        self.assert_error(self.revoke(web, j["access_token"]), 400, "unsupported_token_type")
        self.assert_ok(self.refresh(web, j["refresh_token"]))

    def test_revoke_needs_client_auth(self):
        web = self.client("web")
        rt = self.tokens_for(web)["refresh_token"]
        self.assert_error(self.p.post("/auth/v2/revoke", {"token": rt}), 401, "invalid_client")
        self.assert_error(self.p.post("/auth/v2/revoke", {"token": rt, "client_id": "web"}), 401, "invalid_client")
        self.assert_error(self.revoke(dict(web, secret="pot_cs_" + "E" * 43), rt), 401, "invalid_client")
        self.assert_ok(self.refresh(web, rt))

    def test_revoke_other_clients_token(self):
        web, third = self.client("web"), self.client("third")
        rt = self.tokens_for(web)["refresh_token"]
        r = self.revoke(third, rt)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"], "invalid_grant")
        self.assert_ok(self.refresh(web, rt))                # refused: still valid

    # --- introspection (checklist 43-47) -----------------------------------------------
    def test_introspect_auth(self):
        r = self.p.post("/auth/v2/introspect", {"token": "x"})
        self.assert_error(r, 401, "invalid_client")
        r = self.introspect("x", client=dict(self.client("rs"), secret="pot_cs_" + "F" * 43))
        self.assert_error(r, 401, "invalid_client")
        r = self.p.post("/auth/v2/introspect", {"token": "x", "client_id": "native"})
        self.assert_error(r, 401, "invalid_client")          # public: cannot authenticate
        r = self.introspect("x", client=self.client("web"))
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        r = self.p.post("/auth/v2/introspect", {}, headers={"Authorization": basic("rs", self.client("rs")["secret"])})
        self.assert_error(r, 400, "invalid_request")

    def test_introspect_inactive_is_bare(self):
        for tok in ("pot_rt_" + "A" * 43, "garbage", "a.b.c", "eyJ0eXAiOiJKV1QifQ.e30.AA",
                    "pot_ac_" + "A" * 43, self.client("web")["secret"]):
            r = self.introspect(tok)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"active": False}, tok)
            self.assertEqual(r.text, '{"active":false}')

    def test_introspect_active_refresh_token(self):
        web = self.client("web")
        j = self.tokens_for(web, scope="login sudo")
        now = int(time.time())
        i = self.introspect(j["refresh_token"]).json()
        for k in ("active", "scope", "client_id", "sub", "exp", "iat", "iss", "aud", "token_type"):
            self.assertIn(k, i)
        self.assertIs(i["active"], True)
        self.assertEqual((i["scope"], i["client_id"], i["sub"], i["iss"]),
                         ("login sudo", "web", "alice", self.p.issuer))
        self.assertEqual(i["token_type"], "refresh_token")
        # an RT is for potd itself, never an access token the resource servers (aud pot) take
        self.assertEqual(i["aud"], self.p.issuer)
        self.assertLessEqual(abs(i["iat"] - now), 5)
        self.assertAlmostEqual(i["exp"], now + 2592000, delta=5)

    def test_introspect_active_access_token(self):
        j = self.tokens_for(self.client("web"), scope="login api")
        _, claims, _ = jwt_parts(j["access_token"])
        i = self.introspect(j["access_token"]).json()
        self.assertEqual(i, {"active": True, "scope": "login api", "client_id": "web", "sub": "alice",
                             "exp": claims["exp"], "iat": claims["iat"], "iss": self.p.issuer,
                             "aud": "pot", "token_type": "Bearer"})

    def own_signing_key(self, at):
        """potd's private key (the test may read state_dir), to forge tokens it would sign."""
        kid = jwt_parts(at)[0]["kid"]
        with open(os.path.join(self.p.state, "keys", kid + ".pem"), "rb") as f:
            return kid, f.read()

    def test_introspect_bad_tokens(self):
        """Signature, algorithm, typ, kid, issuer, audience, expiry (checklist 46, 52-55)."""
        j = self.tokens_for(self.client("web"))
        at = j["access_token"]
        h, c, s = jwt_parts(at)
        kid, pem = self.own_signing_key(at)
        enc = lambda o: b64url(json.dumps(o).encode())                    # noqa: E731
        forged = []
        # a claim changed after signing (the grant id in the jti is covered too: checklist 33)
        forged.append(enc(h) + "." + enc(dict(c, scope="login sudo admin")) + "." + s)
        forged.append(enc(h) + "." + enc(dict(c, jti="gAAAAAAAAAAAAAAAA." + c["jti"].split(".")[1])) + "." + s)
        forged.append(enc(dict(h, alg="none")) + "." + enc(c) + ".")
        # HS256 keyed with the public key's PEM (RFC 8725 §3.1); PyJWT refuses to make one
        pub_pem = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(self.jwks_key(kid))).public_bytes(
            encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo)
        signing_input = enc({"alg": "HS256", "typ": "at+jwt", "kid": kid}) + "." + enc(c)
        forged.append(signing_input + "." + b64url(hmac.new(pub_pem, signing_input.encode(),
                                                            hashlib.sha256).digest()))
        sign = lambda claims, **hdr: jwt.encode(claims, pem, algorithm="ES256",           # noqa: E731
                                                headers=dict({"typ": "at+jwt", "kid": kid}, **hdr))
        now = int(time.time())
        forged.append(sign(c, typ="id_token+jwt"))
        forged.append(sign(c, typ="dpop+jwt"))
        forged.append(sign(c, kid="unknown-kid"))
        forged.append(sign(c, crit=["exp"]))
        forged.append(sign(dict(c, iss="https://other.example")))
        forged.append(sign(dict(c, aud="someone-else")))
        forged.append(sign(dict(c, exp=now - 10, iat=now - 700)))
        forged.append(sign(dict(c, nbf=now + 600)))
        forged.append(sign(dict(c, iat=now + 600, exp=now + 1200)))
        # another issuer's key (pot-mint), with potd's iss and kid
        other = os.path.join(self.p.dir, "other.pem")
        subprocess.run([os.environ.get("POT_MINT", os.path.join(TOP_BUILDDIR, "tests/tools/pot-mint")),
                        "keygen", "--alg", "ES256", "--key", other], check=True, stdout=subprocess.DEVNULL)
        with open(other, "rb") as f:
            forged.append(jwt.encode(c, f.read(), algorithm="ES256", headers={"typ": "at+jwt", "kid": kid}))
        for t in forged:
            self.assertEqual(self.introspect(t).json(), {"active": False}, jwt_parts(t)[:2] if t.count(".") == 2 else t)
        # the control: potd's key and the same claims are active (typ JWT is accepted too)
        self.assertTrue(self.introspect(sign(c)).json()["active"])
        self.assertTrue(self.introspect(sign(c, typ="JWT")).json()["active"])

    def test_jku_never_fetched(self):
        hits = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *a):
                pass
        srv = http.server.HTTPServer(("127.0.0.1", 0), H)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        try:
            at = self.tokens_for(self.client("web"))["access_token"]
            h, c, _ = jwt_parts(at)
            url = "http://127.0.0.1:%d/jwks" % srv.server_address[1]
            other = os.path.join(self.p.dir, "jku.pem")
            subprocess.run([os.environ.get("POT_MINT", os.path.join(TOP_BUILDDIR, "tests/tools/pot-mint")),
                            "keygen", "--alg", "ES256", "--key", other], check=True, stdout=subprocess.DEVNULL)
            with open(other, "rb") as f:
                pem = f.read()
            for hdr in ({"jku": url}, {"x5u": url}, {"jku": url, "kid": url}):
                t = jwt.encode(c, pem, algorithm="ES256", headers=dict({"typ": "at+jwt"}, **hdr))
                self.assertEqual(self.introspect(t).json(), {"active": False})
            time.sleep(0.2)
            self.assertEqual(hits, [])
        finally:
            srv.shutdown()
            srv.server_close()

    # --- metadata, JWKS, healthz, metrics (checklist 26, 48-52) ----------------------------
    def test_metadata(self):
        r = self.p.get("/.well-known/oauth-authorization-server")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        m = r.json()
        iss = self.p.issuer
        self.assertEqual(m["issuer"], iss)
        self.assertEqual(m["authorization_endpoint"], iss + "/auth/v2/authorize")
        self.assertEqual(m["token_endpoint"], iss + "/auth/v2/token")
        self.assertEqual(m["jwks_uri"], iss + "/auth/v2/jwks")
        self.assertEqual(m["revocation_endpoint"], iss + "/auth/v2/revoke")
        self.assertEqual(m["introspection_endpoint"], iss + "/auth/v2/introspect")
        self.assertEqual(m["response_types_supported"], ["code"])
        self.assertEqual(m["code_challenge_methods_supported"], ["S256"])
        self.assertEqual(sorted(m["grant_types_supported"]),
                         ["authorization_code", "client_credentials", "refresh_token"])
        self.assertNotIn("password", m["grant_types_supported"])       # no ROPC (checklist 59)
        self.assertNotIn("implicit", m["grant_types_supported"])
        self.assertEqual(set(m["token_endpoint_auth_methods_supported"]),
                         {"client_secret_basic", "client_secret_post", "none"})
        # what the endpoints accept: public clients revoke with their client_id alone
        self.assertIn("none", m["revocation_endpoint_auth_methods_supported"])
        self.assertNotIn("none", m["introspection_endpoint_auth_methods_supported"])
        self.assertIs(m["authorization_response_iss_parameter_supported"], True)
        self.assertEqual(set(m["scopes_supported"]), {"login", "sudo", "api", "admin", "ops"})
        for k, v in m.items():
            if k.endswith("_endpoint") or k == "jwks_uri":
                self.assertEqual(self.p.get(urllib.parse.urlsplit(v).path).status in (200, 405, 400), True, k)
        for path in ("/.well-known/oauth-authorization-server/", "/.well-known/openid-configuration"):
            self.assertEqual(self.p.get(path).status, 404)

    def test_jwks_and_pyjwt(self):
        r = self.p.get("/auth/v2/jwks")
        self.assertEqual(r.status, 200)
        m = re.search(r"max-age=(\d+)", r.header("Cache-Control") or "")
        self.assertTrue(m, r.header("Cache-Control"))
        self.assertLess(int(m.group(1)), 600)        # under key_activation_delay
        self.assertTrue(r.header("Content-Type").startswith("application/jwk-set+json"))
        jwks = r.json()
        self.assertGreaterEqual(len(jwks["keys"]), 1)
        for k in jwks["keys"]:
            self.assertNotIn("d", k)                 # public keys only
            self.assertIn("kid", k)
        # the file pam_pot reads has the same keys
        with open(self.p.jwks) as f:
            self.assertEqual(json.load(f), jwks)
        self.assertEqual(os.stat(self.p.jwks).st_mode & 0o777, 0o644)
        j = self.tokens_for(self.client("web"), scope="login sudo")
        header, claims, alg = self.verify_at(j["access_token"], jwks)
        self.assertEqual(alg, "ES256")
        self.assertEqual(header["typ"], "at+jwt")
        self.assertEqual(header["alg"], "ES256")
        for k in ("iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "auth_time"):
            self.assertIn(k, claims)
        self.assertEqual((claims["sub"], claims["client_id"], claims["scope"]), ("alice", "web", "login sudo"))
        self.assertEqual(claims["exp"] - claims["iat"], 600)
        self.assertLessEqual(abs(claims["auth_time"] - time.time()), 10)
        # a tampered token does not verify: the check above is not vacuous
        h, c, s = j["access_token"].split(".")
        bad = h + "." + b64url(json.dumps(dict(claims, sub="root")).encode()) + "." + s
        with self.assertRaises(jwt.InvalidSignatureError):
            self.verify_at(bad, jwks)
        # unique jti
        j2 = self.assert_ok(self.refresh(self.client("web"), j["refresh_token"]))
        self.assertNotEqual(jwt_parts(j2["access_token"])[1]["jti"], claims["jti"])

    def test_es256_token_fits_sudo(self):
        # the longest names and scopes potd's policy lets through here
        j = self.tokens_for(self.client("web"), scope="login sudo api admin ops")
        self.assertLess(len(j["access_token"]), 512, len(j["access_token"]))
        j = self.assert_ok(self.cc(self.client("svc")))
        self.assertLess(len(j["access_token"]), 512)

    def test_healthz(self):
        r = self.p.get("/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text.strip(), "ok")
        self.assertEqual(self.p.request("HEAD", "/healthz").status, 200)

    def test_metrics(self):
        self.assert_ok(self.cc(self.client("svc")))
        self.assert_error(self.cc(self.client("svc"), scope="sudo"), 400, "invalid_scope")
        native = self.client("native")
        j = self.tokens_for(native, redirect="http://127.0.0.1:5003/cb")
        rt1 = self.assert_ok(self.refresh(native, j["refresh_token"]))["refresh_token"]
        self.assertEqual(self.revoke(native, rt1).status, 200)
        r = self.p.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        m = {}
        for line in r.text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                m[k] = float(v)
        self.assertGreaterEqual(m['potd_http_requests_total{endpoint="/auth/v2/token",status="200"}'], 3)
        self.assertGreaterEqual(m['potd_http_requests_total{endpoint="/auth/v2/token",status="400"}'], 1)
        self.assertGreaterEqual(m['potd_http_requests_total{endpoint="/auth/v2/authorize",status="303"}'], 1)
        self.assertGreaterEqual(m['potd_http_requests_total{endpoint="/healthz",status="200"}'], 1)
        inf = m['potd_http_request_duration_seconds_bucket{endpoint="/auth/v2/token",le="+Inf"}']
        self.assertEqual(inf, m['potd_http_request_duration_seconds_count{endpoint="/auth/v2/token"}'])
        self.assertIn('potd_http_request_duration_seconds_sum{endpoint="/auth/v2/token"}', m)
        self.assertLessEqual(m['potd_http_request_duration_seconds_bucket{endpoint="/auth/v2/token",le="0.0005"}'], inf)
        self.assertIn("# TYPE potd_http_request_duration_seconds histogram", r.text)
        for c in ("potd_tokens_issued_total", "potd_tokens_refreshed_total", "potd_tokens_revoked_total",
                  "potd_refresh_reuse_detected_total"):
            self.assertIn(c, m)
        self.assertGreaterEqual(m["potd_tokens_issued_total"], 2)
        self.assertGreaterEqual(m["potd_tokens_refreshed_total"], 1)
        self.assertGreaterEqual(m["potd_tokens_revoked_total"], 1)
        self.assertGreaterEqual(m['potd_store_records{kind="refresh_token"}'], 2)
        self.assertGreaterEqual(m['potd_store_records{kind="client"}'], len(self.p.clients))
        self.assertIn('potd_store_records{kind="code"}', m)
        # no token or secret in the metrics
        self.assertNotRegex(r.text, r"pot_(rt|ac|cs)_|eyJ")

    # --- scope policy -----------------------------------------------------------------------
    def test_scope_policy(self):
        web = self.client("web")
        a = self.tokens_for(web, user="alice", scope="login sudo admin ops")
        b = self.tokens_for(web, user="bob", scope="login sudo admin ops")
        self.assertEqual(a["scope"], "login sudo admin")      # wheel member, not in ops
        self.assertEqual(b["scope"], "login ops")             # ops is bob's primary group
        self.assertEqual(jwt_parts(b["access_token"])[1]["scope"], "login ops")
        self.assertEqual(self.introspect(b["refresh_token"]).json()["scope"], "login ops")
        # bob cannot widen his grant back by refreshing
        self.assert_error(self.refresh(web, b["refresh_token"], scope="sudo"), 400, "invalid_scope")
        # the consent page shows what will be granted, not what was asked
        r, _ = self.consent_form(self.client("third"), user="bob", scope="login sudo")
        items = re.findall(r"<li>([^<]*)</li>", r.text)
        self.assertEqual(items, ["login"])

    # --- pam_pot accepts potd's tokens ---------------------------------------------------------
    @unittest.skipUnless(shutil.which("pamtester"), "pamtester is not installed")
    def test_pam_pot_accepts_potd_token(self):
        svc = os.path.join(self.p.dir, "services", "potd-pam")
        if not os.path.exists(svc):
            line = "%s config=%s scope=login" % (PAM_POT_SO, self.p.conf)
            self.p._write("services/potd-pam", "auth required %s\naccount required %s\n" % (line, line))
            self.p._write("services/potd-pam-sudo", "auth required %s config=%s scope=sudo\n"
                          "account required %s config=%s scope=sudo\n" % (PAM_POT_SO, self.p.conf,
                                                                          PAM_POT_SO, self.p.conf))
        web = self.client("web")
        a = self.tokens_for(web, user="alice", scope="login sudo")
        r = self.pamtester("alice", a["access_token"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("successfully authenticated", r.stdout)
        r = self.pamtester("alice", a["access_token"], service="potd-pam-sudo")
        self.assertEqual(r.returncode, 0, r.stdout)
        b = self.tokens_for(web, user="bob", scope="login sudo")
        r = self.pamtester("bob", b["access_token"], service="potd-pam-sudo")   # sudo not granted
        self.assertNotEqual(r.returncode, 0, r.stdout)
        r = self.pamtester("alice", b["access_token"])                          # bob's token
        self.assertNotEqual(r.returncode, 0, r.stdout)

    # --- administration while potd runs -------------------------------------------------------
    def test_admin_revoke_user(self):
        web, native = self.client("web"), self.client("native")
        a1 = self.tokens_for(web, user="alice")
        a2 = self.tokens_for(native, user="alice", redirect="http://127.0.0.1:5004/cb")
        b1 = self.tokens_for(web, user="bob")
        out = json.loads(self.p.pot("--json", "tokens", "revoke", "--user", "alice").stdout)
        self.assertGreaterEqual(out["revoked"], 2)
        self.assert_error(self.refresh(web, a1["refresh_token"]), 400, "invalid_grant")
        self.assert_error(self.refresh(native, a2["refresh_token"]), 400, "invalid_grant")
        self.assertEqual(self.introspect(a1["access_token"]).json(), {"active": False})
        self.assert_ok(self.refresh(web, b1["refresh_token"]))
        # alice can sign in again afterwards
        self.assert_ok(self.refresh(web, self.tokens_for(web, user="alice")["refresh_token"]))

    def test_admin_client_remove(self):
        c = self.p.add_client("doomed", "login", ["https://doomed.example/cb"], first_party=True)
        j = self.tokens_for(c)
        self.p.pot("client", "remove", "doomed")
        del self.p.clients["doomed"]
        self.assert_error(self.refresh(c, j["refresh_token"]), 401, "invalid_client")
        self.assertEqual(self.introspect(j["refresh_token"]).json(), {"active": False})
        self.assertEqual(self.introspect(j["access_token"]).json(), {"active": False})
        self.assert_error_page(self.authorize_get(self.authz_query(c, verifier=new_verifier())))

    def test_forms_of_a_removed_client(self):
        """A sign-in or consent form issued before its client was removed no longer works."""
        c = self.p.add_client("gone", "login", ["https://gone.example/cb"])
        _, login = self.login_form(c, verifier=new_verifier())
        _, consent = self.consent_form(c, verifier=new_verifier())
        self.p.pot("client", "remove", "gone")
        del self.p.clients["gone"]
        for r in (self.post_form(login, username="alice", password=PASSWORDS["alice"]),
                  self.post_form(consent, decision="allow")):
            self.assert_error_page(r)
            self.assertIn("Unknown client.", r.text)

    def test_admin_client_change_reaches_every_thread(self):
        """potd keeps the clients it read per HTTP thread: once every thread has used a
        client, `pot client remove` stops it at once, and the same id added again works
        with its new secret only (a stale copy anywhere would refuse the new one)."""
        def statuses(n, fn):
            return [r.status if isinstance(r, Resp) else r for r in self.parallel(n, fn)]
        old = self.p.add_client("cached-svc", "api", grants="client_credentials")
        for _ in range(3):      # many connections at once: every pool thread reads it
            self.assertEqual(statuses(32, lambda: self.cc(old)), [200] * 32)
        self.p.pot("client", "remove", "cached-svc")
        del self.p.clients["cached-svc"]
        for _ in range(3):      # fewer than the 5 failures that start throttling
            self.assert_error(self.cc(old), 401, "invalid_client")
        new = self.p.add_client("cached-svc", "api", grants="client_credentials")
        self.assertNotEqual(new["secret"], old["secret"])
        for _ in range(3):
            self.assertEqual(statuses(32, lambda: self.cc(new)), [200] * 32)
        self.assert_error(self.cc(old), 401, "invalid_client")
        self.p.pot("client", "remove", "cached-svc")
        del self.p.clients["cached-svc"]

    def test_admin_refuses_plain_http_redirect(self):
        r = self.p.pot("client", "add", "bad-http", "--scope", "login", "--redirect-uri",
                       "http://app.example/cb", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.p.pot("client", "add", "bad-js", "--scope", "login", "--redirect-uri",
                       "javascript:alert(1)", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        c = self.p.add_client("late", "login", ["https://late.example/cb"], first_party=True)
        self.assert_ok(self.exchange(c, *self.code_for(c)))     # added while potd runs: usable

    # --- interop: Authlib -----------------------------------------------------------------------
    @unittest.skipUnless(authlib_flow.HAVE_AUTHLIB, "Authlib is not importable (install python3-authlib "
                         "and python3-requests): %s" % authlib_flow.WHY_NOT)
    def test_authlib_flow(self):
        redirect = "http://127.0.0.1:%d/callback" % free_port()       # RFC 8252: any port
        client = self.p.add_client("authlib", "login sudo", ["http://127.0.0.1/callback"], public=True)
        seen = {}

        def browser(url):
            u = urllib.parse.urlsplit(url)
            q = urllib.parse.parse_qs(u.query)
            seen["query"] = q
            self.assertEqual(u.path, "/auth/v2/authorize")
            r = self.p.get(u.path + "?" + u.query)
            self.assertEqual(r.status, 200, r)
            r = self.post_form(Page(r.text).forms[0], username="alice", password=PASSWORDS["alice"])
            self.assertEqual(r.status, 200, r)              # consent: a third-party client
            r = self.post_form(Page(r.text).forms[0], decision="allow")
            self.assertEqual(r.status, 303, r)
            return r.header("Location")
        out = authlib_flow.run_flow(self.p.issuer, client["id"], redirect, browser, scope="login sudo")
        q = seen["query"]
        self.assertEqual(q["code_challenge_method"], ["S256"])
        self.assertEqual(q["code_challenge"], [challenge_of(out["verifier"])])
        tok, ref = out["token"], out["refreshed"]
        self.assertRegex(tok["refresh_token"], RT_RE)
        self.assertEqual(tok["scope"], "login sudo")
        self.p.secrets.update([tok["access_token"], tok["refresh_token"], ref["access_token"],
                               ref["refresh_token"], query_of(out["authorization_response"])["code"]])
        self.assertNotEqual(ref["refresh_token"], tok["refresh_token"])      # public: rotated
        self.verify_at(ref["access_token"])
        # Authlib refuses a response whose state is not the one it sent (before any request)
        loc = out["authorization_response"].replace("state=" + out["state"], "state=forged")
        with self.assertRaises(authlib_flow.MismatchingStateException):
            out["session"].fetch_token(self.p.issuer + "/auth/v2/token", authorization_response=loc,
                                       code_verifier=out["verifier"], state=out["state"])
        # the RFC 9207 check (Authlib 1.2 has none of its own) refuses a foreign iss
        with self.assertRaises(authlib_flow.IssuerMismatch):
            authlib_flow.check_iss(out["authorization_response"].replace(
                "iss=" + urllib.parse.quote(self.p.issuer, safe=""), "iss=https%3A%2F%2Fevil.example"),
                self.p.issuer)
        out["session"].close()

    # --- nothing in clear (runs last: zz) --------------------------------------------------------
    def test_zz_no_secret_in_clear(self):
        self.tokens_for(self.client("web"))      # at least one of each kind
        secrets = set(self.p.secrets)
        kinds = {k: [s for s in secrets if s.startswith(k)] for k in ("pot_rt_", "pot_ac_", "pot_cs_", "eyJ")}
        for k, v in kinds.items():
            self.assertTrue(v, "no %s collected" % k)
        needles = set()
        for s in secrets:
            needles.add(s.encode())
            if s[:7] in ("pot_rt_", "pot_ac_", "pot_cs_"):
                needles.add(s[7:].encode())                 # the body alone
                needles.add(b64url_decode(s[7:]))           # its 32 raw bytes
            else:
                needles.add(s.split(".")[2].encode())       # an AT's signature
        files = 0
        for root, _, names in os.walk(self.p.state):
            for n in names:
                path = os.path.join(root, n)
                if not os.path.isfile(path):
                    continue
                files += 1
                with open(path, "rb") as f:
                    data = f.read()
                for s in needles:
                    self.assertNotIn(s, data, "%s holds a secret in clear" % path)
        self.assertGreater(files, 3)
        log = self.p.read_log().encode()
        for s in needles:
            self.assertNotIn(s, log, "potd's log holds a secret")


# =========================================================================================
class TestLoginThrottle(PotdCase):
    """Wrong passwords are answered 401 and, after several, slowed (its own potd: the
    per-address counter would slow every later sign-in of the shared one)."""

    def setUp(self):
        self.p = Potd(name="login-throttle")
        self.addCleanup(self.p.cleanup)
        self.p.add_client("web", "login", ["https://app.example/cb"], first_party=True)
        self.p.start()

    def test_wrong_passwords_slowed(self):
        web = self.p.clients["web"]
        _, form = self.login_form(web, verifier=new_verifier())
        statuses = [self.post_form(form, username="alice", password="wrong-%d" % i).status
                    for i in range(5)]
        self.assertEqual(statuses, [401] * 5)                # 5 free tries
        # then each failure doubles the wait (1 s, 2 s, 4 s): 7 failures checked by PAM
        checked, deadline = 5, time.time() + 20
        while checked < 7:
            self.assertLess(time.time(), deadline)
            r = self.post_form(form, username="alice", password="wrong")
            self.assertIn(r.status, (401, 429), r)
            if r.status == 429:
                time.sleep(0.25)
            else:
                checked += 1
        r = self.post_form(form, username="alice", password=PASSWORDS["alice"])
        self.assertEqual(r.status, 429, r)                   # even the right password, for now
        self.assertIn("Too many", Page(r.text).all_text)
        self.assertIsNone(r.header("Location"))
        r = self.post_form(form, username="bob", password=PASSWORDS["bob"])
        self.assertEqual(r.status, 429, r)                   # the address is slowed too


# =========================================================================================
@unittest.skipUnless(os.path.exists(FAKETIME_SO), "libfaketime is not installed (Debian package faketime)")
class TestClock(PotdCase):
    """A potd whose clock the test moves forward (libfaketime): grace, expiries."""

    def setUp(self):
        self.p = Potd(name="clock", faketime=True,
                      extra_conf="refresh_ttl = 3600\nrefresh_max = 8000\n")
        self.addCleanup(self.p.cleanup)
        setup_clients(self.p)
        self.p.start()

    def jump(self, seconds):
        self.p.set_offset(seconds)
        time.sleep(0.05)

    def test_clock_is_faked(self):
        self.jump(1000)
        j = self.assert_ok(self.cc(self.p.clients["svc"]))
        self.assertAlmostEqual(jwt_parts(j["access_token"])[1]["iat"], time.time() + 1000, delta=5)

    def test_rotation_after_grace(self):
        native = self.p.clients["native"]
        j = self.tokens_for(native, redirect="http://127.0.0.1:6000/cb")
        rt0 = j["refresh_token"]
        r1 = self.assert_ok(self.refresh(native, rt0))
        rt1, at1 = r1["refresh_token"], r1["access_token"]
        self.jump(30)
        self.assertEqual(self.assert_ok(self.refresh(native, rt0))["refresh_token"], rt1)   # grace
        self.jump(120)
        # past the grace the superseded RT is a reuse: refused, and the family is revoked
        self.assert_error(self.refresh(native, rt0), 400, "invalid_grant")
        self.assert_error(self.refresh(native, rt1), 400, "invalid_grant")   # the newest died too
        self.assertEqual(self.introspect(rt1).json(), {"active": False})
        self.assertEqual(self.introspect(at1).json(), {"active": False})
        m = self.p.get("/metrics").text
        self.assertRegex(m, r"potd_refresh_reuse_detected_total [1-9]")

    def test_rotation_chain_after_grace(self):
        native = self.p.clients["native"]
        rt = self.tokens_for(native, redirect="http://127.0.0.1:6001/cb")["refresh_token"]
        olds = []
        for step in range(3):
            olds.append(rt)
            rt = self.assert_ok(self.refresh(native, rt))["refresh_token"]
            self.jump(100 * (step + 1))
        self.assert_ok(self.refresh(native, rt))             # the newest is good after 300 s
        self.assert_error(self.refresh(native, olds[1]), 400, "invalid_grant")

    def test_code_expires(self):
        web = self.p.clients["web"]
        code, verifier, redirect = self.code_for(web)
        late, late_verifier, _ = self.code_for(web)
        self.jump(50)
        self.assert_ok(self.exchange(web, code, verifier, redirect))       # within code_ttl
        self.jump(61 + 5)
        self.assert_error(self.exchange(web, late, late_verifier, redirect), 400, "invalid_grant")

    def test_forms_expire(self):
        third = self.p.clients["third"]
        _, login = self.login_form(third, verifier=new_verifier())
        _, consent = self.consent_form(third)
        self.jump(400)      # past the consent form's 300 s, within the login form's 600 s
        self.assertEqual(self.post_form(login, username="alice", password=PASSWORDS["alice"]).status, 200)
        r = self.post_form(consent, decision="allow")
        self.assertEqual(r.status, 400, r)
        self.assertIsNone(r.header("Location"))
        self.jump(700)
        r = self.post_form(login, username="alice", password=PASSWORDS["alice"])
        self.assertEqual(r.status, 400, r)
        self.assertIsNone(r.header("Location"))

    def store_records(self):
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r'potd_store_records\{kind="(\w+)"\} (\d+)', self.p.get("/metrics").text)}

    def test_purge(self):
        """potd purges expired codes and refresh tokens by itself."""
        web = self.p.clients["web"]
        self.code_for(web)
        self.tokens_for(web)
        before = self.store_records()
        self.assertGreaterEqual(before["code"], 2)
        self.assertGreaterEqual(before["refresh_token"], 1)
        self.jump(9000)         # past code_ttl, refresh_ttl and refresh_max
        deadline = time.time() + 15
        while True:
            now = self.store_records()
            if now["code"] == 0 and now["refresh_token"] == 0:
                break
            self.assertLess(time.time(), deadline, now)
            time.sleep(0.2)

    def test_refresh_token_idle_expiry(self):
        web, native = self.p.clients["web"], self.p.clients["native"]
        j = self.tokens_for(web)
        n = self.tokens_for(native, redirect="http://127.0.0.1:6002/cb")
        self.jump(3000)
        j2 = self.assert_ok(self.refresh(web, j["refresh_token"]))       # used within refresh_ttl
        self.jump(3000 + 3500)
        self.assert_ok(self.refresh(web, j2["refresh_token"]))           # it slid
        # the public one stayed unused past refresh_ttl (3600 s)
        self.assert_error(self.refresh(native, n["refresh_token"]), 400, "invalid_grant")
        self.assertEqual(self.introspect(n["refresh_token"]).json(), {"active": False})

    def test_refresh_token_absolute_expiry(self):
        web = self.p.clients["web"]
        rt = self.tokens_for(web)["refresh_token"]
        for t in (3000, 6000):
            self.jump(t)
            self.assert_ok(self.refresh(web, rt))
            self.assertLessEqual(self.introspect(rt).json()["exp"], time.time() + 8000 + 5)
        self.jump(8100)          # used 2100 s ago, but refresh_max (8000 s) is over
        self.assert_error(self.refresh(web, rt), 400, "invalid_grant")

    def test_access_token_expiry(self):
        j = self.tokens_for(self.p.clients["web"])
        self.assertTrue(self.introspect(j["access_token"]).json()["active"])
        self.jump(601)
        self.assertEqual(self.introspect(j["access_token"]).json(), {"active": False})
        self.assertTrue(self.introspect(j["refresh_token"]).json()["active"])

    def test_throttle_releases(self):
        c = self.p.clients["thr"]
        self.throttle(c)
        self.assert_error(self.cc(c), 401, "invalid_client")
        self.jump(301)          # the longest wait is 300 s
        self.assert_ok(self.cc(c))


# =========================================================================================
class SockClient:
    """One connection to potd's socket: a request is a JSON line, so is each reply."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """The next reply line, parsed; None when potd closed the connection."""
        while b"\n" not in self.buf:
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def ask(self, req):
        self.send(json.dumps(req) + "\n")
        return self.reply()

    def check(self, token, user="alice", service="sshd", rhost="203.0.113.7"):
        return self.ask({"op": "check", "token": token, "user": user, "service": service,
                         "rhost": rhost})

    def closed(self):
        """Waits (the socket's timeout) for potd to close: True at EOF (or a reset)."""
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


# a check from another uid (root only): the peer credentials potd sees are the child's
CHECK_AS = """import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
for user in sys.argv[3:]:
    s.sendall((json.dumps({"op": "check", "token": sys.argv[2], "user": user}) + "\\n").encode())
    buf = b""
    while not buf.endswith(b"\\n"):
        buf += s.recv(4096)
    print(json.dumps({"pid": os.getpid(), "reply": json.loads(buf)}))
"""

PAM_UNAVAIL = "Authentication service cannot retrieve authentication info"


@unittest.skipUnless(os.path.exists(FAKETIME_SO), "libfaketime is not installed (Debian package faketime)")
class TestSocket(PotdCase):
    """potd's refresh-token socket (helper/sock.c) and pam_pot's refresh-token path
    (pam_pot/refresh.c, auth.c). One potd under libfaketime: each case moves its clock
    1000 s on, past the throttle's memory (900 s), so failures of one case never make
    another's answer rate_limited; refresh_ttl 3600 and refresh_max 8000 make sliding and
    expiry visible within a few jumps."""

    offset = 0

    @classmethod
    def setUpClass(cls):
        cls.start_shared(Potd(name="socket", faketime=True,
                              extra_conf="refresh_ttl = 3600\nrefresh_max = 8000\n"), cls.prepare)

    @staticmethod
    def prepare(p):
        p.add_client("web", "login sudo api", ["https://app.example/cb"], first_party=True)
        p.add_client("native", "login sudo", ["http://127.0.0.1/cb"], public=True, first_party=True)
        p.add_client("slide", "login", ["https://slide.example/cb"], first_party=True)
        p.add_client("rs", "api", grants="client_credentials", introspect=True)
        with open(p.conf) as f:
            p._write("pam.conf", f.read() + "socket_timeout = 2\n")
        pam = os.path.join(p.dir, "pam.conf")
        services = {
            "sock-login": "scope=login",
            "sock-sudo": "scope=sudo",
            "sock-norefresh": "scope=login no_refresh",
            "sock-missing": "scope=login socket=%s" % os.path.join(p.dir, "missing.sock"),
            "sock-refused": "scope=login socket=%s" % os.path.join(p.dir, "refused.sock"),
            "sock-silent": "scope=login socket=%s" % os.path.join(p.dir, "silent.sock"),
            "sock-silent-1": "scope=login socket=%s socket_timeout=1" % os.path.join(p.dir, "silent.sock"),
        }
        for name, args in services.items():
            line = "%s config=%s %s" % (PAM_POT_SO, pam, args)
            p._write("services/" + name, "auth required %s\naccount required %s\n" % (line, line))

    def setUp(self):
        self.jump(1000)         # a clean throttle: failures are forgotten after 900 s

    def jump(self, seconds):
        TestSocket.offset += seconds
        self.p.set_offset(TestSocket.offset)
        time.sleep(0.05)

    def fake_now(self):
        return time.time() + TestSocket.offset

    def conn(self, timeout=10):
        c = SockClient(self.p.socket, timeout)
        self.addCleanup(c.close)
        return c

    def check(self, token, user="alice", **kw):
        """One check on a connection of its own."""
        c = SockClient(self.p.socket)
        try:
            return c.check(token, user, **kw)
        finally:
            c.close()

    def rt_for(self, client="web", user="alice", scope=None, **kw):
        return self.tokens_for(self.p.clients[client], user=user, scope=scope, **kw)["refresh_token"]

    def record(self, client):
        """The store's only record of a client's refresh tokens (pot tokens list)."""
        out = json.loads(self.p.pot("--json", "tokens", "list").stdout)["tokens"]
        recs = [t for t in out if t["client_id"] == self.p.clients[client]["id"]]
        self.assertEqual(len(recs), 1, recs)
        return recs[0]

    def check_as(self, uid, token, *users):
        """Checks from a child running as uid: [(its pid, reply)]."""
        r = subprocess.run([sys.executable, "-c", CHECK_AS, self.p.socket, token] + list(users),
                           user=uid, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30,
                           universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [(j["pid"], j["reply"]) for j in map(json.loads, r.stdout.splitlines())]

    def assert_pam(self, r, message):
        if message is None:
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("successfully authenticated", r.stdout)
        else:
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("pamtester: " + message, r.stdout)

    # --- the protocol ------------------------------------------------------------------------
    def test_check_ok_not_rotated(self):
        web, native = self.p.clients["web"], self.p.clients["native"]
        rt = self.rt_for("web", scope="login sudo")
        r = self.check(rt)
        self.assertEqual(set(r), {"ok", "sub", "scope", "client_id", "exp"}, r)
        self.assertEqual((r["ok"], r["sub"], r["scope"], r["client_id"]), (True, "alice", "login sudo", web["id"]))
        self.assertIsInstance(r["exp"], int)
        self.assertEqual(r["exp"], self.introspect(rt).json()["exp"])
        self.assertAlmostEqual(r["exp"], self.fake_now() + 3600, delta=5)
        # not rotated: the same RT refreshes at /token, and logs in again
        self.assertEqual(self.assert_ok(self.refresh(web, rt))["refresh_token"], rt)
        self.assertTrue(self.check(rt)["ok"])
        # a public (rotating) client: checks leave its RT current; /token rotates it
        rt0 = self.rt_for("native", redirect="http://127.0.0.1:7000/cb", scope="login")
        for _ in range(3):
            self.assertEqual(self.check(rt0)["client_id"], native["id"])
        rt1 = self.assert_ok(self.refresh(native, rt0))["refresh_token"]
        self.assertNotEqual(rt1, rt0)
        self.assertEqual(self.check(rt1)["scope"], "login")
        # the superseded RT: /token's 60 s grace is for lost responses, not for logins
        self.assertEqual(self.check(rt0), {"ok": False, "error": "invalid_token"})

    def test_scope_follows_policy(self):
        rt = self.rt_for("web", scope="login sudo")
        self.assertEqual(self.check(rt)["scope"], "login sudo")
        self.assertEqual(self.check(self.rt_for("web", user="bob", scope="login"), "bob")["scope"], "login")
        # alice taken out of scope.sudo: the same RT now checks without sudo
        with open(self.p.conf) as f:
            text = f.read()
        self.addCleanup(self.reload, text)
        self.reload(text.replace("scope.sudo = alice\n", "scope.sudo = root\n"))
        deadline = time.time() + 10
        while self.check(rt)["scope"] != "login":
            self.assertLess(time.time(), deadline, "SIGHUP did not reload:\n" + self.p.read_log())
            time.sleep(0.05)
        # and scope.login for nobody: still a good RT, with no scope at all
        self.reload(text.replace("scope.sudo = alice\n", "scope.sudo = root\n")
                    .replace("scope.login = *\n", "scope.login = root\n"))
        deadline = time.time() + 10
        while True:
            r = self.check(rt)
            if r.get("scope") == "":
                break
            self.assertLess(time.time(), deadline, r)
            time.sleep(0.05)
        self.assertTrue(r["ok"], r)

    def reload(self, text):
        self.p._write("pot.conf", text)
        self.p.send(signal.SIGHUP)

    def test_expiry_slides(self):
        rt = self.rt_for("slide")
        rec0 = self.record("slide")
        self.assertEqual(rec0["abs_expires"], rec0["created"] + 8000)
        self.assertEqual(self.check(rt)["exp"], rec0["expires"])
        # moved by less than 60 s: not written, the same exp
        self.jump(30)
        self.assertEqual(self.check(rt)["exp"], rec0["expires"])
        self.assertEqual(self.record("slide")["expires"], rec0["expires"])
        # by more: written, now + refresh_ttl
        self.jump(100)
        r = self.check(rt)
        rec = self.record("slide")
        self.assertEqual(r["exp"], rec["expires"])
        self.assertGreaterEqual(r["exp"] - rec0["expires"], 125)
        self.assertAlmostEqual(r["exp"], self.fake_now() + 3600, delta=5)
        self.assertAlmostEqual(rec["last_used"], self.fake_now(), delta=5)
        self.assertEqual(self.introspect(rt).json()["exp"], r["exp"])
        self.assertEqual(rec["state"], "active")
        # it keeps a used RT alive past refresh_ttl, up to refresh_max and never past it
        self.jump(3000 - 130)
        self.assertAlmostEqual(self.check(rt)["exp"], self.fake_now() + 3600, delta=5)
        self.jump(3000)
        r = self.check(rt)
        self.assertEqual(r["exp"], rec0["abs_expires"])
        self.assertEqual(self.record("slide")["expires"], rec0["abs_expires"])
        self.jump(1000)
        self.assertEqual(self.check(rt)["exp"], rec0["abs_expires"])
        self.jump(1000)         # 8000 s after creation, used 1000 s ago
        self.assertEqual(self.check(rt), {"ok": False, "error": "invalid_token"})

    def test_wrong_user(self):
        rt = self.rt_for("web")
        self.assertEqual(self.check(rt, "bob"), {"ok": False, "error": "user_mismatch"})
        self.assertEqual(self.check(rt, "root"), {"ok": False, "error": "user_mismatch"})
        self.assertTrue(self.check(rt)["ok"])

    def test_unknown_token(self):
        web = self.p.clients["web"]
        at = self.tokens_for(web)["access_token"]
        for token in ("pot_rt_" + "A" * 43, "pot_rt_short", "garbage", "", at):
            self.assertEqual(self.check(token), {"ok": False, "error": "invalid_token"}, token)

    def test_revoked(self):
        rt = self.rt_for("web", user="bob", scope="login")
        rt2 = self.rt_for("web", user="alice", scope="login")
        self.assertTrue(self.check(rt, "bob")["ok"])
        out = json.loads(self.p.pot("--json", "tokens", "revoke", "--user", "bob").stdout)
        self.assertGreaterEqual(out["revoked"], 1)
        self.assertEqual(self.check(rt, "bob"), {"ok": False, "error": "invalid_token"})
        self.assertTrue(self.check(rt2)["ok"])
        # and revoked at /revoke
        self.assertEqual(self.revoke(self.p.clients["web"], rt2).status, 200)
        self.assertEqual(self.check(rt2), {"ok": False, "error": "invalid_token"})

    def test_expired(self):
        idle, used = self.rt_for("web"), self.rt_for("web")
        self.jump(3000)
        self.assertTrue(self.check(used)["ok"])      # slid to now + 3600
        self.jump(601)          # 3601 s after creation
        self.assertEqual(self.check(idle), {"ok": False, "error": "invalid_token"})
        self.assertTrue(self.check(used)["ok"])

    def test_malformed_line_keeps_connection(self):
        rt = self.rt_for("web")
        c = self.conn()
        bad = [b"not json", b"", b"[]", b'{"op":"check"}', b'{"op":"check","token":"%s"}' % rt.encode(),
               b'{"op":"frob","token":"%s","user":"alice"}' % rt.encode(),
               b'{"op":"check","token":"%s","user":""}' % rt.encode(),
               b'{"op":"check","token":"%s","user":"alice","user":"alice"}' % rt.encode(),
               b'{"op":"check","token":7,"user":"alice"}', b'{"op":"check","token":"x","user":"' + b"u" * 300 + b'"}',
               b'{"op":"check","token":"x","user":"alice"} trailing', b"\xff\xfe{}"]
        for line in bad:
            c.send(line + b"\n")
            self.assertEqual(c.reply(), {"ok": False, "error": "bad_request"}, line)
        # the connection still works, and bad requests did not count as failures
        self.assertTrue(c.check(rt)["ok"])
        self.assertEqual(c.check("pot_rt_" + "C" * 43)["error"], "invalid_token")
        self.assertTrue(c.check(rt)["ok"])
        # a mistyped request holding the token: the parser's message quotes the input near
        # the error, and it must not reach the log
        c.send(b'["check" "%s"]\n' % rt.encode())
        self.assertEqual(c.reply(), {"ok": False, "error": "bad_request"})
        self.assertTrue(self.wait_log(r"bad request \(not JSON at byte \d+\)"))
        self.assertNotIn(rt[7:], self.p.read_log())

    def test_ping(self):
        """{"op":"ping"} -> {"ok":true}: no store, no log line, never a failure nor limited."""
        rt = self.rt_for("web")
        bad = "pot_rt_" + "D" * 43
        c = self.conn()
        log0 = len(self.p.read_log())
        self.assertEqual(c.ask({"op": "ping"}), {"ok": True})
        # other members are ignored, whatever their type, as a check ignores unknown ones
        self.assertEqual(c.ask({"op": "ping", "token": 7, "user": ["alice"], "x": {"y": None}}), {"ok": True})
        # but op itself must be the string "ping": anything else is a bad request
        for line in (b'{"op":"ping","op":"ping"}', b'{"op":["ping"]}', b'{"op":"PING"}', b'{"op":null}',
                     b'{"op":"ping\\u0000"}', b'["ping"]', b'"ping"', b'{"op":"ping"', b"{}"):
            c.send(line + b"\n")
            self.assertEqual(c.reply(), {"ok": False, "error": "bad_request"}, line)
        # between checks on one connection, and pipelined with them: replies in order
        self.assertTrue(c.check(rt)["ok"])
        self.assertEqual(c.ask({"op": "ping"}), {"ok": True})
        self.assertTrue(c.check(rt)["ok"])
        c.send("".join(json.dumps(r) + "\n" for r in (
            {"op": "ping"}, {"op": "check", "token": rt, "user": "alice"}, {"op": "ping"},
            {"op": "check", "token": rt, "user": "bob"}, {"op": "ping"})))
        replies = [c.reply() for _ in range(5)]
        self.assertEqual([r.get("sub", r.get("error")) if r != {"ok": True} else "pong" for r in replies],
                         ["pong", "alice", "pong", "user_mismatch", "pong"])
        # no failure counted: many pings, and the free failures are all still there
        for _ in range(50):
            self.assertEqual(c.ask({"op": "ping"}), {"ok": True})
        self.assertEqual([c.check(bad)["error"] for _ in range(4)], ["invalid_token"] * 4)
        # never limited: a limited peer still gets its pings answered
        checks = 2 + 2 + 4
        while c.check(bad)["error"] != "rate_limited":
            checks += 1
            self.assertLess(checks, 20)
        checks += 1
        self.assertEqual(c.ask({"op": "ping"}), {"ok": True})
        # bounded by the line limit like any request: 4096 bytes answered, 4097 closes
        c2 = self.conn()
        c2.send('{"op":"ping"}' + " " * (4096 - 13) + "\n")
        self.assertEqual(c2.reply(), {"ok": True})
        c2.send('{"op":"ping"}' + " " * (4097 - 13) + "\n")
        self.assertEqual(c2.reply(), {"ok": False, "error": "bad_request"})
        self.assertTrue(c2.closed())
        # not logged: after all those pings, the only lines are those of the checks, the bad
        # requests and the long line
        self.assertTrue(c.check(rt, service="after-pings")["ok"])
        self.assertTrue(self.wait_log(r"service=after-pings"))
        mine = [ln for ln in self.p.read_log()[log0:].splitlines() if "pid=%d" % os.getpid() in ln]
        self.assertEqual(sum(" result=" in ln for ln in mine), checks + 1, mine)
        self.assertEqual(sum(": bad request (" in ln for ln in mine), 9, mine)
        self.assertEqual(sum("line longer than" in ln for ln in mine), 1, mine)
        self.assertEqual(len(mine), checks + 1 + 9 + 1, mine)

    def test_line_limit(self):
        rt = self.rt_for("web")
        req = json.dumps({"op": "check", "token": rt, "user": "alice"})
        # exactly 4096 bytes before the newline: answered
        c = self.conn()
        c.send(req + " " * (4096 - len(req)) + "\n")
        self.assertTrue(c.reply()["ok"])
        c.send(req + " " * (4097 - len(req)) + "\n")
        self.assertEqual(c.reply(), {"ok": False, "error": "bad_request"})
        self.assertTrue(c.closed())
        # no newline at all
        c = self.conn()
        c.send("x" * 5000)
        self.assertEqual(c.reply(), {"ok": False, "error": "bad_request"})
        self.assertTrue(c.closed())
        self.assertTrue(self.check(rt)["ok"])
        self.assertTrue(self.wait_log(r"check: peer uid=\d+ pid=\d+: line longer than 4096 bytes"))

    def test_idle_and_half_open_closed(self):
        rt = self.rt_for("web")
        idle, half, busy = self.conn(timeout=20), self.conn(timeout=20), self.conn()
        used = self.conn(timeout=20)            # idle after one request
        self.assertTrue(used.check(rt)["ok"])
        half.send('{"op":"check","token":"%s"' % rt)
        t0 = time.time()
        closed = {}

        def watch(name, c):
            closed[name] = (c.closed(), time.time() - t0)
        watchers = [threading.Thread(target=watch, args=kv) for kv in
                    (("idle", idle), ("half", half), ("used", used))]
        for t in watchers:
            t.start()
        served = 0
        while len(closed) < 3 and time.time() - t0 < 16:
            self.assertTrue(busy.check(rt)["ok"])           # an active connection stays
            self.assertTrue(self.check(rt)["ok"])           # new ones are served meanwhile
            served += 1
            if served == 4:
                self.jump(600)          # idle time is not wall-clock time
            time.sleep(0.5)
        for t in watchers:
            t.join(20)
        for name in ("idle", "half", "used"):
            ok, when = closed[name]
            self.assertTrue(ok, name)
            self.assertGreater(when, 8.5, name)
            self.assertLess(when, 13, name)
        self.assertGreater(served, 15)
        self.assertTrue(busy.check(rt)["ok"])

    def test_concurrent_clients(self):
        web = self.p.clients["web"]
        tokens = [(self.rt_for("web", user=u, scope=s), u, s)
                  for u, s in (("alice", "login sudo"), ("alice", "login"), ("bob", "login"), ("bob", "api"))]
        # misbehaving: half a line, a client that never reads its replies, an idle one
        half = self.conn()
        half.send('{"op":"check","token":"')
        deaf = self.conn()
        deaf.send("".join(json.dumps({"op": "check", "token": tokens[0][0], "user": "alice"}) + "\n"
                          for _ in range(300)))
        self.conn()
        counter = iter(range(64))
        lock = threading.Lock()

        def client():
            with lock:
                i = next(counter)
            rt, user, scope = tokens[i % len(tokens)]
            c = SockClient(self.p.socket, timeout=20)
            try:
                return (user, scope), [c.check(rt, user, service="svc-%d" % i) for _ in range(5)]
            finally:
                c.close()
        t0 = time.time()
        results = self.parallel(64, client)
        elapsed = time.time() - t0
        for res in results:
            self.assertIsInstance(res, tuple, res)
            (user, scope), replies = res
            for r in replies:
                self.assertEqual(set(r), {"ok", "sub", "scope", "client_id", "exp"}, r)
                self.assertEqual((r["ok"], r["sub"], r["scope"], r["client_id"]), (True, user, scope, web["id"]))
        self.assertLess(elapsed, 30)
        self.assertTrue(self.check(tokens[0][0])["ok"])

    def test_several_requests_one_connection(self):
        a, b = self.rt_for("web", scope="login sudo"), self.rt_for("web", user="bob", scope="login")
        c = self.conn()
        for i in range(20):
            tok, user, want = [(a, "alice", "login sudo"), (b, "bob", "login"), (a, "bob", "user_mismatch"),
                               (b, "bob", "login")][i % 4]
            r = c.check(tok, user)
            self.assertEqual(r.get("scope", r.get("error")), want, (i, r))
        # pipelined: ten requests in one write, ten replies in order
        reqs = [(a, "alice"), (b, "bob")] * 5
        c.send("".join(json.dumps({"op": "check", "token": t, "user": u}) + "\n" for t, u in reqs))
        replies = [c.reply() for _ in reqs]
        self.assertEqual([r["sub"] for r in replies], [u for _, u in reqs])

    def test_rate_limited(self):
        rt = self.rt_for("web")
        c = self.conn()
        bad = "pot_rt_" + "B" * 43
        answers = []
        while "rate_limited" not in answers:
            answers.append(c.check(bad)["error"])
            self.assertLess(len(answers), 10, answers)
        self.assertEqual(answers[:5], ["invalid_token"] * 5)
        # a valid token is accepted all the same: failing on purpose locks nobody out
        r = c.check(rt)
        self.assertTrue(r["ok"], r)
        self.assertTrue(self.check(rt)["ok"])
        # every kind of failure is limited now
        for _ in range(3):
            self.assertEqual(c.check(bad)["error"], "rate_limited")
        self.assertEqual(c.check(rt, "bob")["error"], "rate_limited")
        self.assertTrue(c.check(rt)["ok"])
        self.assertTrue(self.wait_log(r"result=rate_limited"))
        # and through pam_pot too
        self.assert_pam(self.pamtester("alice", rt, "sock-login"), None)
        if IS_ROOT:
            # per user as well: from another uid, alice's failures are limited, bob's not
            (_, r1), (_, r2), (_, r3) = self.check_as(1001, bad, "alice", "bob", "alice")
            self.assertEqual(r1["error"], "rate_limited")
            self.assertEqual(r2["error"], "invalid_token")
            self.assertEqual(r3["error"], "rate_limited")
            (_, r), = self.check_as(1001, rt, "alice")
            self.assertTrue(r["ok"], r)

    def test_log_peer_credentials(self):
        rt = self.rt_for("web")
        c = self.conn()
        self.assertTrue(c.check(rt, service="sshd", rhost="198.51.100.9")["ok"])
        self.assertEqual(c.check(rt, "bob", service="su", rhost="")["error"], "user_mismatch")
        c.send("{}\n")
        c.reply()
        me = r"peer uid=%d pid=%d" % (os.getuid(), os.getpid())
        cid = re.escape(self.p.clients["web"]["id"])
        self.assertTrue(self.wait_log(r"check: %s user=alice service=sshd rhost=198\.51\.100\.9 result=ok "
                                      r"client_id=%s grant=\S+" % (me, cid)), self.p.read_log()[-2000:])
        self.assertTrue(self.wait_log(r"check: %s user=bob service=su rhost=- result=user_mismatch" % me))
        self.assertTrue(self.wait_log(r"check: %s: bad request" % me))
        if IS_ROOT:
            (pid, r), = self.check_as(1002, rt, "alice")
            self.assertTrue(r["ok"])
            self.assertTrue(self.wait_log(r"check: peer uid=1002 pid=%d user=alice service=- rhost=- result=ok" % pid),
                            self.p.read_log()[-2000:])
        self.assertNotIn(rt, self.p.read_log())

    def test_socket_modes(self):
        owner = 65534 if IS_ROOT else os.getuid()
        st = os.lstat(self.p.socket)
        self.assertTrue(stat_mod.S_ISSOCK(st.st_mode))
        self.assertEqual(st.st_mode & 0o7777, 0o666)
        self.assertEqual(st.st_uid, owner)
        d = os.lstat(os.path.dirname(self.p.socket))
        self.assertTrue(stat_mod.S_ISDIR(d.st_mode))
        self.assertEqual(d.st_mode & 0o7777, 0o755)
        self.assertEqual(d.st_uid, owner)
        if IS_ROOT:             # any local user may connect
            (_, r), = self.check_as(1001, "pot_rt_" + "A" * 43, "alice")
            self.assertEqual(r["error"], "invalid_token")

    def test_refuses_unsafe_socket_dir(self):
        p = Potd(name="unsafe-socket-dir")
        self.addCleanup(p.cleanup)
        os.mkdir(os.path.join(p.dir, "run"))
        os.chmod(os.path.join(p.dir, "run"), 0o777)
        rc, out = p.run_potd()
        self.assertEqual(rc, 1, out)
        self.assertIn(os.path.join(p.dir, "run"), out)

    # --- pam_pot -----------------------------------------------------------------------------
    @unittest.skipUnless(shutil.which("pamtester"), "pamtester is not installed")
    def test_pam_pot_refresh_token(self):
        a = self.rt_for("web", scope="login sudo")
        a_login = self.rt_for("web", scope="login")
        b = self.rt_for("web", user="bob", scope="login")
        self.assert_pam(self.pamtester("alice", a, "sock-login"), None)
        self.assert_pam(self.pamtester("alice", a, "sock-sudo"), None)
        self.assert_pam(self.pamtester("bob", b, "sock-login"), None)
        self.assertTrue(self.wait_log(r"check: peer uid=\d+ pid=\d+ user=alice service=sock-sudo rhost=- result=ok"))
        # a good RT without the required scope: 403, not 401
        self.assert_pam(self.pamtester("alice", a_login, "sock-sudo"), "Permission denied")
        self.assert_pam(self.pamtester("bob", b, "sock-sudo"), "Permission denied")
        # another user's RT: refused, after the delay pam_pot asks for (pam_fail_delay)
        t0 = time.time()
        self.assert_pam(self.pamtester("alice", b, "sock-login"), "Authentication failure")
        self.assertGreater(time.time() - t0, 0.5)
        # no_refresh: refused without asking potd
        self.assert_pam(self.pamtester("alice", a, "sock-norefresh"), "Authentication failure")
        self.assertNotIn("service=sock-norefresh", self.p.read_log())
        # revoked
        self.p.pot("tokens", "revoke", "--user", "bob")
        self.assert_pam(self.pamtester("bob", b, "sock-login"), "Authentication failure")
        self.assert_pam(self.pamtester("alice", a, "sock-login"), None)

    @unittest.skipUnless(shutil.which("pamtester"), "pamtester is not installed")
    def test_pam_pot_potd_unreachable(self):
        j = self.tokens_for(self.p.clients["web"], scope="login")
        at, rt = j["access_token"], j["refresh_token"]
        # nothing at the path; a socket nobody listens on: at once
        refused = socket.socket(socket.AF_UNIX)
        self.addCleanup(refused.close)
        refused.bind(os.path.join(self.p.dir, "refused.sock"))
        for service in ("sock-missing", "sock-refused"):
            t0 = time.time()
            self.assert_pam(self.pamtester("alice", rt, service), PAM_UNAVAIL)
            # "at once": well under a loaded machine's worst, far from hanging
            self.assertLess(time.time() - t0, 4, service)
        # a listener that never answers: socket_timeout (2 in pot.conf); then its backlog
        # full, connecting fails until socket_timeout (1, a module argument) is over
        silent = socket.socket(socket.AF_UNIX)
        self.addCleanup(silent.close)
        silent.bind(os.path.join(self.p.dir, "silent.sock"))
        silent.listen(0)
        for service, timeout in (("sock-silent", 2), ("sock-silent-1", 1)):
            while service == "sock-silent-1":
                s = socket.socket(socket.AF_UNIX)
                self.addCleanup(s.close)
                s.setblocking(False)
                try:
                    s.connect(os.path.join(self.p.dir, "silent.sock"))
                except BlockingIOError:
                    break
            t0 = time.time()
            self.assert_pam(self.pamtester("alice", rt, service), PAM_UNAVAIL)
            self.assertGreater(time.time() - t0, timeout - 0.1, service)
            self.assertLess(time.time() - t0, timeout + 4, service)
        # potd stopped: refresh tokens wait for it, access tokens log in offline
        self.addCleanup(lambda: self.p.proc.poll() is None or self.p.start())
        self.assertEqual(self.p.stop(), 0)
        self.assertFalse(os.path.exists(self.p.socket))
        t0 = time.time()
        self.assert_pam(self.pamtester("alice", rt, "sock-login"), PAM_UNAVAIL)
        self.assertLess(time.time() - t0, 4)
        self.assert_pam(self.pamtester("alice", at, "sock-login"), None)
        # killed: its socket is left behind, refusing connections
        self.p.start()
        self.assert_pam(self.pamtester("alice", rt, "sock-login"), None)
        os.kill(self.p.potd_pid, signal.SIGKILL)
        self.p.proc.wait(10)
        self.assertTrue(stat_mod.S_ISSOCK(os.lstat(self.p.socket).st_mode))
        self.assert_pam(self.pamtester("alice", rt, "sock-login"), PAM_UNAVAIL)
        self.assert_pam(self.pamtester("alice", at, "sock-login"), None)
        self.p.start()          # the stale socket is replaced
        self.assert_pam(self.pamtester("alice", rt, "sock-login"), None)

    @unittest.skipUnless(shutil.which("pamtester"), "pamtester is not installed")
    def test_pam_pot_waits_for_busy_potd(self):
        """potd stalled with its listen backlog full: a login waits for it (socket_timeout)."""
        rt = self.rt_for("web", scope="login")
        self.p.send(signal.SIGSTOP)
        self.addCleanup(self.p.send, signal.SIGCONT)
        fill = []
        while True:
            s = socket.socket(socket.AF_UNIX)
            self.addCleanup(s.close)
            s.setblocking(False)
            try:
                s.connect(self.p.socket)
            except BlockingIOError:
                break
            fill.append(s)
            self.assertLess(len(fill), 5000)
        self.assertGreaterEqual(len(fill), 256)
        resume = threading.Timer(0.7, self.p.send, (signal.SIGCONT,))
        resume.start()
        t0 = time.time()
        r = self.pamtester("alice", rt, "sock-login")
        resume.join()
        self.assert_pam(r, None)
        self.assertGreater(time.time() - t0, 0.6)


# =========================================================================================
@unittest.skipUnless(shutil.which("prlimit"), "prlimit is not installed (util-linux)")
class TestSocketDescriptors(PotdCase):
    """Any local user may connect to the socket (0666): holding many connections must not
    take the descriptors potd's store and HTTP server need (its own potd, 128 of them)."""

    NOFILE = 128

    def setUp(self):
        self.p = Potd(name="socket-nofile")
        self.addCleanup(self.p.cleanup)
        self.p.add_client("web", "login", ["https://app.example/cb"], first_party=True)
        argv = self.p.potd_argv
        self.p.potd_argv = lambda lifetime=POTD_LIFETIME: (
            ["prlimit", "--nofile=%d:%d" % (self.NOFILE, self.NOFILE), "--"] + argv(lifetime))
        self.p.start()

    def assert_no_spin(self):
        """potd, waiting for descriptors, uses less than 0.6 s of CPU in a second."""
        time.sleep(0.3)
        t0 = self.cpu_ticks()
        time.sleep(1)
        self.assertLess(self.cpu_ticks() - t0, 60, "the socket's workers spin")

    def check_when_back(self, rt):
        """The socket's answer to checking rt, once it answers again (within 5 s)."""
        deadline = time.time() + 5
        while True:
            try:
                c = SockClient(self.p.socket, timeout=5)
                r = c.check(rt)
                c.close()
            except OSError:
                r = None
            if r is not None:       # None: closed before it answered
                return r
            self.assertLess(time.time(), deadline, "the socket does not answer again")
            time.sleep(0.1)

    def cpu_ticks(self):
        """CPU time of the socket's worker threads (named potd-sock), in clock ticks."""
        ticks = workers = 0
        task = "/proc/%d/task" % self.p.pid()
        for tid in os.listdir(task):
            try:
                with open(os.path.join(task, tid, "stat")) as f:
                    comm, st = f.read().split(" (", 1)[1].rsplit(")", 1)
            except OSError:
                continue
            if comm == "potd-sock":
                workers += 1
                ticks += int(st.split()[11]) + int(st.split()[12])
        self.assertEqual(workers, 2)
        return ticks

    def test_many_connections(self):
        web = self.p.clients["web"]
        rt = self.tokens_for(web)["refresh_token"]
        flood = []
        for _ in range(2 * self.NOFILE):
            s = socket.socket(socket.AF_UNIX)
            self.addCleanup(s.close)
            s.setblocking(False)
            try:
                s.connect(self.p.socket)
            except BlockingIOError:
                s.close()
                continue
            flood.append(s)
        self.assert_no_spin()
        # the store and the HTTP server still have their descriptors
        self.assertEqual(self.p.get("/healthz").status, 200)
        self.assert_ok(self.refresh(web, rt))
        for s in flood:
            s.close()
        r = self.check_when_back(rt)
        self.assertTrue(r["ok"], r)
        self.assert_ok(self.refresh(web, rt))
        self.assertNotIn("PANIC", self.p.read_log())

    def test_out_of_descriptors_no_spin(self):
        """Descriptors taken by HTTP clients: the socket's workers wait, they do not spin."""
        rt = self.tokens_for(self.p.clients["web"])["refresh_token"]
        flood = []
        for _ in range(2 * self.NOFILE):
            s = socket.socket()
            self.addCleanup(s.close)
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.p.port))
            except BlockingIOError:
                pass
            flood.append(s)
        deadline = time.time() + 5
        while len(os.listdir("/proc/%d/fd" % self.p.pid())) < self.NOFILE:
            self.assertLess(time.time(), deadline, "the HTTP clients did not take potd's descriptors")
            time.sleep(0.1)
        for _ in range(8):          # knocking at the socket now
            s = socket.socket(socket.AF_UNIX)
            self.addCleanup(s.close)
            s.setblocking(False)
            try:
                s.connect(self.p.socket)
            except BlockingIOError:
                pass
        self.assert_no_spin()
        self.assertTrue(self.wait_log(r"socket: accept: Too many open files"))
        for s in flood:
            s.close()
        r = self.check_when_back(rt)
        self.assertTrue(r["ok"], r)


# =========================================================================================
class TestLifecycle(PotdCase):
    """Signals, crashes, configuration; a fresh potd for each case."""

    def setUp(self):
        self.p = Potd(name=self._testMethodName)
        self.addCleanup(self.p.cleanup)

    def test_sighup_reloads(self):
        web = self.p.add_client("web", "login extra sudo", ["https://app.example/cb"], first_party=True)
        self.p.start()
        self.assertEqual(self.tokens_for(web, scope="login extra")["scope"], "login")
        alice = self.tokens_for(web, scope="login sudo")
        self.assertEqual(alice["scope"], "login sudo")
        self.p.write_conf(extra="scope.extra = bob\n")
        with open(self.p.conf) as f:
            text = f.read().replace("scope.sudo = alice\n", "scope.sudo = root\n")
        self.p._write("pot.conf", text)
        self.p.send(signal.SIGHUP)
        deadline = time.time() + 10
        while "extra" not in self.p.get("/.well-known/oauth-authorization-server").json()["scopes_supported"]:
            self.assertLess(time.time(), deadline, "SIGHUP did not reload:\n" + self.p.read_log())
            time.sleep(0.05)
        self.assertEqual(self.tokens_for(web, scope="login extra", user="bob")["scope"], "login extra")
        self.assertEqual(self.tokens_for(web, scope="login extra", user="alice")["scope"], "login")
        # alice was taken out of scope.sudo: her grant yields no more sudo access tokens
        r = self.assert_ok(self.refresh(web, alice["refresh_token"]))
        self.assertEqual(r["scope"], "login")
        self.assertEqual(jwt_parts(r["access_token"])[1]["scope"], "login")
        self.assert_ok(self.refresh(web, alice["refresh_token"], scope="login"))
        # a broken file keeps the running configuration
        with open(self.p.conf, "a") as f:
            f.write("frobnicate = 1\n")
        self.p.send(signal.SIGHUP)
        time.sleep(1.5)
        self.assertEqual(self.p.get("/healthz").status, 200)
        self.assertEqual(self.tokens_for(web, scope="login extra", user="bob")["scope"], "login extra")

    def test_sigterm_exits_clean(self):
        web = self.p.add_client("web", "login", ["https://app.example/cb"], first_party=True)
        self.p.start()
        j = self.tokens_for(web)
        # an idle keep-alive connection (a proxy's pool) has no request to finish
        idle = http.client.HTTPConnection("127.0.0.1", self.p.port, timeout=30)
        idle.request("GET", "/healthz")
        idle.getresponse().read()
        t0 = time.time()
        self.assertEqual(self.p.stop(signal.SIGTERM), 0, self.p.read_log())
        self.assertLess(time.time() - t0, 8, "SIGTERM waited for an idle connection")
        idle.close()
        # the store opens without potd (a clean environment) and keeps the RT
        out = json.loads(self.p.pot("--json", "tokens", "list").stdout)
        self.assertEqual(len(out["tokens"]), 1)
        rec = out["tokens"][0]
        self.assertEqual(rec["user"], "alice")
        # and as a table: a header, then the id's first 16 characters and the record
        txt = self.p.pot("tokens", "list").stdout.splitlines()
        self.assertRegex(txt[0], r"^ID +USER +CLIENT_ID +STATE +LAST_USED +EXPIRES +SCOPE$")
        self.assertEqual(len(txt), 2, txt)
        self.assertEqual(txt[1].split()[:4], [rec["id"][:16], "alice", rec["client_id"], rec["state"]])
        self.assertTrue(txt[1].endswith(" " + rec["scope"]), txt)
        self.p.start()
        self.assert_ok(self.refresh(web, j["refresh_token"]))
        self.assertEqual(self.p.stop(signal.SIGINT), 0)

    def test_kill9_during_refreshes(self):
        pub = self.p.add_client("pub", "login", ["https://pub.example/cb"], public=True, first_party=True)
        conf = self.p.add_client("conf", "login", ["https://conf.example/cb"], first_party=True)
        self.p.start()
        chains = []
        for i in range(6):
            c = pub if i % 2 == 0 else conf
            chains.append({"client": c, "rts": [self.tokens_for(c)["refresh_token"]], "stop": False})
        stop = threading.Event()

        def worker(ch):
            while not stop.is_set():
                try:
                    r = self.refresh(ch["client"], ch["rts"][-1])
                except (OSError, http.client.HTTPException):
                    return              # potd is gone: the last RT answered is what we hold
                if r.status != 200:
                    ch["error"] = r
                    return
                ch["rts"].append(r.json()["refresh_token"])
        threads = [threading.Thread(target=worker, args=(ch,)) for ch in chains]
        for t in threads:
            t.start()
        time.sleep(0.8)
        os.kill(self.p.potd_pid, signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(30)
        self.p.proc.wait(10)
        for ch in chains:
            self.assertNotIn("error", ch, ch.get("error"))
            self.assertGreater(len(ch["rts"]), 1)
        self.p.start()
        for ch in chains:
            c, rts = ch["client"], ch["rts"]
            if c["public"]:
                self.assertEqual(len(set(rts)), len(rts))           # each rotation a new RT
            last = self.assert_ok(self.refresh(c, rts[-1]))["refresh_token"]
            nxt = self.assert_ok(self.refresh(c, last))["refresh_token"]
            if c["public"]:
                self.assertNotIn(nxt, rts)
                # an RT superseded before the crash redeems nothing new
                r = self.refresh(c, rts[0])
                if r.status == 200:
                    self.assertIn(r.json()["refresh_token"], rts)
                else:
                    self.assert_error(r, 400, "invalid_grant")
            else:
                self.assertEqual(set(rts), {rts[0]})                # never rotates
        self.assertEqual(self.p.stop(), 0)

    def test_rs256_key(self):
        web = self.p.add_client("web", "login sudo api admin ops", ["https://app.example/cb"], first_party=True)
        self.p.start()
        out = json.loads(self.p.pot("--json", "key", "new", "--alg", "RS256", "--now").stdout)
        deadline = time.time() + 10
        while True:
            j = self.tokens_for(web, scope="login")
            h = jwt_parts(j["access_token"])[0]
            if h["alg"] == "RS256" or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual((h["alg"], h["kid"], h["typ"]), ("RS256", out["kid"], "at+jwt"))
        _, claims, alg = self.verify_at(j["access_token"])
        self.assertEqual(alg, "RS256")
        self.assertTrue(self.introspect_as_rs(j["access_token"])["active"])
        jwk = [k for k in json.loads(self.p.get("/auth/v2/jwks").body)["keys"] if k["kid"] == out["kid"]][0]
        self.assertGreaterEqual(len(b64url_decode(jwk["n"])) * 8, 2048)

    def introspect_as_rs(self, token):
        if "rs" not in self.p.clients:
            self.p.add_client("rs", "api", grants="client_credentials", introspect=True)
        return self.introspect(token).json()

    def test_refuses_plain_http_off_loopback(self):
        with open(self.p.conf) as f:
            text = f.read().replace("listen = 127.0.0.1:", "listen = 0.0.0.0:")
        self.p._write("pot.conf", text)
        rc, out = self.p.run_potd()
        self.assertEqual(rc, 1, out)
        self.assertIn("tls_cert", out)

    @unittest.skipUnless(IS_ROOT, "only root can ask potd to keep root")
    def test_refuses_to_serve_as_root(self):
        with open(self.p.conf) as f:
            text = f.read().replace("user = nobody", "user = root")
        self.p._write("pot.conf", text)
        rc, out = self.p.run_potd()
        self.assertEqual(rc, 1, out)
        self.assertIn("root", out)

    def test_state_dir_modes(self):
        self.p.start()
        st = os.stat(self.p.state)
        self.assertEqual(st.st_mode & 0o777, 0o755)
        self.assertEqual(os.stat(self.p.jwks).st_mode & 0o777, 0o644)
        for sub in ("db", "keys"):
            d = os.path.join(self.p.state, sub)
            self.assertEqual(os.stat(d).st_mode & 0o777, 0o700, d)
            for n in os.listdir(d):
                m = os.stat(os.path.join(d, n)).st_mode & 0o777
                self.assertEqual(m & 0o077, 0, "%s/%s is %o" % (d, n, m))
        if IS_ROOT:     # potd serves as `user` and owns its state
            self.assertEqual(st.st_uid, 65534)
            self.assertEqual(os.stat(os.path.join(self.p.state, "db")).st_uid, 65534)
            with open("/proc/%d/status" % self.p.pid()) as f:
                uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
            self.assertEqual(set(uids), {"65534"})

    def test_refuses_unsafe_modes(self):
        """DESIGN's modes are checked at every start: a state that others could read or
        change stops potd with a message naming the file and its mode."""
        self.p.start()
        self.assertEqual(self.p.stop(), 0)
        keys, db = os.path.join(self.p.state, "keys"), os.path.join(self.p.state, "db")
        key = [os.path.join(keys, n) for n in os.listdir(keys) if n.endswith(".pem")][0]
        for path, bad, good in ((self.p.state, 0o777, 0o755), (keys, 0o755, 0o700),
                                (db, 0o750, 0o700), (os.path.join(keys, "pepper"), 0o644, 0o600),
                                (key, 0o640, 0o600)):
            os.chmod(path, bad)
            rc, out = self.p.run_potd()
            os.chmod(path, good)
            self.assertEqual(rc, 1, "%s at %o: %s" % (path, bad, out))
            self.assertIn(os.path.basename(path), out)
            self.assertIn("%04o" % bad, out)
        self.p.start()
        self.assertEqual(self.p.get("/healthz").status, 200)

    def test_refuses_issuer_with_path(self):
        with open(self.p.conf) as f:
            text = f.read().replace("issuer = %s" % self.p.issuer, "issuer = %s/tenant" % self.p.issuer)
        self.p._write("pot.conf", text)
        rc, out = self.p.run_potd()
        self.assertEqual(rc, 1, out)
        self.assertIn("issuer", out)


# =========================================================================================
# The user commands: pot login, token, askpass, status, logout.

HAVE_FAKETIME = os.path.exists(FAKETIME_SO)
LOGIN_URL_RE = re.compile(r"^\s+(https?://\S+)\s*$")


def pot_user_env(p, xdg, **extra):
    """A user's environment for pot: its own XDG_CONFIG_HOME, no display, no proxy, potd's
    clock (libfaketime, when potd has one)."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SSH_ASKPASS_PROMPT", "SSH_CONNECTION",
                      "LD_PRELOAD", "SSL_CERT_FILE", "SSL_CERT_DIR")
         and not k.lower().endswith("_proxy")}
    e.update(XDG_CONFIG_HOME=xdg, HOME=os.path.join(p.dir, "home"))
    if p.faketime:
        e.update(LD_PRELOAD=FAKETIME_SO, FAKETIME_TIMESTAMP_FILE=p.faketime, FAKETIME_NO_CACHE="1",
                 FAKETIME_DONT_FAKE_MONOTONIC="1")
        if SANITIZERS:
            e["ASAN_OPTIONS"] = "verify_asan_link_order=0"
    e.update(extra)
    return e


class PotLogin:
    """`pot login --no-browser` in the background: the address it prints, then its end."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, universal_newlines=True)
        self.err = []
        self.url = None
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.err.append(line)
            m = LOGIN_URL_RE.match(line)
            if m and self.url is None:
                self.url = m.group(1)
                self.ready.set()
        self.ready.set()

    def wait_url(self, timeout=30):
        self.ready.wait(timeout)
        return self.url

    def redirect_uri(self):
        return query_of(self.url)["redirect_uri"]

    def finish(self, timeout=60):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        out = self.proc.stdout.read()
        self.reader.join(10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc, out, "".join(self.err)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if not f.closed:
                try:
                    f.close()
                except OSError:
                    pass


def http_get(url):
    """GET url as a browser would (pot's loopback listener): a Resp."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", u.path + ("?" + u.query if u.query else ""))
        r = conn.getresponse()
        return Resp(r.status, r.msg, r.read())
    finally:
        conn.close()


class PotUserCase(PotdCase):
    """A potd with the first-party public client `pot`, and a user whose pot keeps its tokens
    in a directory of its own."""

    potd_class = Potd

    def setUp(self):
        self.p = self.potd_class(name="user-" + self._testMethodName, faketime=HAVE_FAKETIME)
        self.addCleanup(self.p.cleanup)
        self.p.add_client("pot", "login sudo", ["http://127.0.0.1/callback"], public=True, first_party=True)
        self.p.add_client("pot3", "login", ["http://127.0.0.1/callback"], public=True)   # asks consent
        self.p.start()
        self.xdg = os.path.join(self.p.dir, "xdg")
        self.tokdir = os.path.join(self.xdg, "pot")
        self.tokfile = os.path.join(self.tokdir, "tokens.json")
        self.logins = []
        self.addCleanup(lambda: [lg.kill() for lg in self.logins])

    def env(self, **extra):
        return pot_user_env(self.p, self.xdg, **extra)

    def upot(self, *args, env=None, timeout=120):
        """pot run by the user (no --config: user commands need none with --server)."""
        return subprocess.run([POT] + list(args), env=env or self.env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              universal_newlines=True)

    def start_login(self, *extra, client="pot", env=None):
        lg = PotLogin([POT, "login", "--no-browser", "--server", self.p.issuer, "--client-id", client]
                      + list(extra), env or self.env())
        self.logins.append(lg)
        self.assertIsNotNone(lg.wait_url(), "pot login printed no address:\n" + "".join(lg.err))
        return lg

    def browse(self, url, user="alice", decision="allow"):
        """A browser at the address pot printed: the sign-in form (and consent), then the
        redirect to pot's listener; returns (listener's page, redirect query)."""
        u = urllib.parse.urlsplit(url)
        self.assertEqual("%s://%s" % (u.scheme, u.netloc), self.p.issuer)
        r = self.p.get(u.path + "?" + u.query)
        self.assertEqual(r.status, 200, r)
        r = self.post_form(Page(r.text).forms[0], username=user, password=PASSWORDS[user])
        if r.status == 200:                 # consent
            r = self.post_form(Page(r.text).forms[0], decision=decision)
        self.assertEqual(r.status, 303, r)
        loc = r.header("Location")
        return http_get(loc), query_of(loc)

    def login(self, *extra, user="alice"):
        lg = self.start_login(*extra)
        page, q = self.browse(lg.url, user=user)
        rc, out, err = lg.finish()
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(page.status, 200, page)
        self.assertIn("You can close this window", page.text)
        return out, err, q

    def stored(self):
        with open(self.tokfile) as f:
            return json.load(f)

    def pot_token(self, *args, env=None):
        r = self.upot("token", *args, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout.strip()

    def jump(self, seconds):
        if not self.p.faketime:
            self.skipTest("libfaketime is not installed (Debian package faketime)")
        self.p.set_offset(seconds)
        time.sleep(0.05)

    def refresh_with(self, rt):
        return self.refresh(self.p.clients["pot"], rt)


class TestPotUser(PotUserCase):
    """pot login through a browser (urllib here), then token, askpass, status, logout."""

    def test_login_token_askpass(self):
        out, err, q = self.login()
        self.assertIn("Signed in to %s as alice" % self.p.issuer, out)
        self.assertEqual(set(q), {"code", "state", "iss"})
        self.assertEqual(q["iss"], self.p.issuer)
        # the token directory and file: 0700, 0600, nothing else left behind
        self.assertEqual(os.stat(self.tokdir).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(self.tokfile).st_mode & 0o777, 0o600)
        self.assertEqual(sorted(os.listdir(self.tokdir)), ["tokens.json", "tokens.lock"])
        st = self.stored()
        self.assertEqual((st["server"], st["client_id"], st["sub"], st["scope"]),
                         (self.p.issuer, "pot", "alice", "login sudo"))
        self.assertRegex(st["refresh_token"], RT_RE)
        self.assertAlmostEqual(st["expires_at"], time.time() + 600, delta=30)
        # no secret in what pot printed
        for secret in (st["access_token"], st["refresh_token"], q["code"]):
            self.assertNotIn(secret, out + err)
        at = self.pot_token()
        self.assertEqual(at, st["access_token"])
        _, claims, _ = self.verify_at(at)
        self.assertEqual((claims["sub"], claims["client_id"], claims["scope"]),
                         ("alice", "pot", "login sudo"))
        # askpass: the same token, nothing on stderr, whatever the prompt (even one like an option)
        for prompt in (["Password:"], ["[sudo] password for alice: "], ["--help"], []):
            r = self.upot("askpass", *prompt)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, at + "\n", ""), prompt)
        # SSH_ASKPASS and SUDO_ASKPASS name a program: pot run as pot-askpass
        link = os.path.join(self.p.dir, "pot-askpass")
        os.symlink(POT, link)
        r = subprocess.run([link, "Password:"], env=self.env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, at + "\n", ""))
        # --json
        j = json.loads(self.upot("token", "--json").stdout)
        self.assertEqual((j["access_token"], j["token_type"], j["scope"]), (at, "Bearer", "login sudo"))

    def test_default_directory(self):
        """Without XDG_CONFIG_HOME: ~/.config/pot, both made 0700."""
        home = os.path.join(self.p.dir, "home")
        os.mkdir(home, 0o755)
        env = {k: v for k, v in self.env().items() if k != "XDG_CONFIG_HOME"}
        lg = self.start_login(env=env)
        self.browse(lg.url)
        self.assertEqual(lg.finish()[0], 0)
        for d in (os.path.join(home, ".config"), os.path.join(home, ".config", "pot")):
            self.assertEqual(os.stat(d).st_mode & 0o777, 0o700, d)
        self.assertEqual(os.stat(os.path.join(home, ".config", "pot", "tokens.json")).st_mode & 0o777, 0o600)
        r = self.upot("status", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_scope_option(self):
        self.login("--scope", "login")
        self.assertEqual(self.stored()["scope"], "login")
        self.assertEqual(jwt_parts(self.pot_token())[1]["scope"], "login")

    def test_status(self):
        self.login()
        r = self.upot("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^server: +%s$" % re.escape(self.p.issuer))
        self.assertRegex(r.stdout, r"(?m)^client: +pot$")
        self.assertRegex(r.stdout, r"(?m)^user: +alice$")
        self.assertRegex(r.stdout, r"(?m)^scope: +login sudo$")
        self.assertRegex(r.stdout, r"(?m)^access token: +valid until "
                         r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+m \d\ds left\)$")
        self.assertRegex(r.stdout, r"(?m)^refresh token: +present$")
        self.assertNotIn(self.stored()["refresh_token"], r.stdout + r.stderr)
        self.assertNotIn(self.stored()["access_token"], r.stdout + r.stderr)
        j = json.loads(self.upot("status", "--json").stdout)
        self.assertEqual(j, {"server": self.p.issuer, "client_id": "pot", "sub": "alice",
                             "scope": "login sudo", "expires_at": self.stored()["expires_at"],
                             "access_token_valid": True, "refresh_token": True})
        self.assertEqual(json.loads(self.upot("--json", "status").stdout), j)

    def test_refresh_rotates(self):
        self.login()
        st0 = self.stored()
        # what a crash in the middle of a write leaves behind goes with the next write
        stale = os.path.join(self.tokdir, ".tokens.json.tmp-0123456789ab")
        with open(stale, "w") as f:
            f.write("{}")
        self.jump(605)                  # the access token expired
        at1 = self.pot_token()
        self.assertFalse(os.path.exists(stale))
        st1 = self.stored()
        self.assertNotEqual(at1, st0["access_token"])
        self.assertEqual(at1, st1["access_token"])
        self.assertRegex(st1["refresh_token"], RT_RE)
        self.assertNotEqual(st1["refresh_token"], st0["refresh_token"])      # rotated
        self.assertAlmostEqual(st1["expires_at"], time.time() + 605 + 600, delta=30)
        self.assertEqual(jwt_parts(at1)[1]["sub"], "alice")
        self.assertEqual(self.pot_token(), at1)                             # no refresh needed
        self.assertEqual(self.stored(), st1)
        self.assertEqual(self.upot("askpass", "Password:").stdout.strip(), at1)
        self.assertEqual(sorted(os.listdir(self.tokdir)), ["tokens.json", "tokens.lock"])
        # the old refresh token is superseded: past the grace, presenting it revokes the grant
        self.jump(605 + 120)
        self.assert_error(self.refresh_with(st0["refresh_token"]), 400, "invalid_grant")
        self.jump(605 + 600)
        r = self.upot("token")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("refused the refresh token (HTTP 400)", r.stderr)
        self.assertIn("run `pot login`", r.stderr)
        r = self.upot("askpass", "Password:")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("run `pot login`", r.stderr)

    def test_concurrent_refresh(self):
        """Eight `pot token` at once when a refresh is due: one refresh, one stored refresh
        token, and it still works."""
        self.login()
        st0 = self.stored()
        before = self.refreshed()
        self.jump(600 - 30)
        procs = [subprocess.Popen([POT, "token"], env=self.env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True) for _ in range(8)]
        results = [(p.wait(120), p.stdout.read(), p.stderr.read()) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        for rc, out, err in results:
            self.assertEqual((rc, err), (0, ""), out)
        st1 = self.stored()
        self.assertEqual({out.strip() for _, out, _ in results}, {st1["access_token"]})
        self.assertNotEqual(st1["refresh_token"], st0["refresh_token"])
        self.assertEqual(self.refreshed() - before, 1)
        # the stored refresh token is the live one: it refreshes again, long after the grace
        self.jump(600 - 30 + 600)
        at2 = self.pot_token()
        self.assertNotIn(at2, {st0["access_token"], st1["access_token"]})
        self.assertEqual(self.refreshed() - before, 2)

    def refreshed(self):
        m = re.search(r"(?m)^potd_tokens_refreshed_total (\d+)$", self.p.get("/metrics").text)
        return int(m.group(1))

    def test_logout(self):
        self.login()
        rt = self.stored()["refresh_token"]
        r = self.upot("logout")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the refresh token is revoked", r.stdout)
        self.assertEqual(os.listdir(self.tokdir), [])
        self.assert_error(self.refresh_with(rt), 400, "invalid_grant")
        for cmd in (["token"], ["askpass", "Password:"], ["status"]):
            r = self.upot(*cmd)
            self.assertEqual((r.returncode, r.stdout), (1, ""), cmd)
            self.assertIn("not logged in", r.stderr)
        r = self.upot("logout")
        self.assertEqual((r.returncode, r.stdout), (0, "not logged in\n"))
        self.assertEqual(os.listdir(self.tokdir), [])      # asking left nothing behind

    def test_logout_json(self):
        self.login()
        j = json.loads(self.upot("logout", "--json").stdout)
        self.assertEqual(j, {"server": self.p.issuer, "revoked": True, "deleted": True})

    def test_logout_server_unreachable(self):
        self.login()
        self.p.stop()
        r = self.upot("logout")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("could not revoke the refresh token", r.stderr)
        self.assertIn("the local tokens are deleted", r.stdout)
        self.assertEqual(os.listdir(self.tokdir), [])

    def test_refresh_server_unreachable(self):
        """potd down when a refresh is due: an access token still good for a while is
        printed (askpass stays quiet), one about to expire is not."""
        self.login()
        at = self.stored()["access_token"]
        self.p.stop()
        self.jump(600 - 45)
        r = self.upot("token")
        self.assertEqual((r.returncode, r.stdout), (0, at + "\n"))
        self.assertIn("cannot refresh the access token", r.stderr)
        r = self.upot("askpass", "Password:")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, at + "\n", ""))
        self.jump(600 - 5)
        r = self.upot("token")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("cannot refresh the access token: cannot connect", r.stderr)
        self.assertEqual(self.stored()["access_token"], at)

    def test_refuses_unsafe_directory(self):
        self.login()
        os.chmod(self.tokdir, 0o777)
        for cmd in (["token"], ["status"]):
            r = self.upot(*cmd)
            self.assertEqual((r.returncode, r.stdout), (1, ""), cmd)
            self.assertIn("writable by group or others", r.stderr)
        os.chmod(self.tokdir, 0o700)
        os.rename(self.tokdir, self.tokdir + ".real")
        os.symlink(self.tokdir + ".real", self.tokdir)
        r = self.upot("token")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("symbolic link", r.stderr)

    def test_not_logged_in(self):
        for cmd in (["token"], ["askpass", "Password:"], ["status"]):
            r = self.upot(*cmd)
            self.assertEqual((r.returncode, r.stdout), (1, ""), cmd)
            self.assertIn("not logged in: run `pot login`", r.stderr)
        self.assertFalse(os.path.exists(self.xdg))      # asking made nothing

    def test_token_refuses_exposed_file(self):
        self.login()
        os.chmod(self.tokfile, 0o644)
        r = self.upot("token")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("open to others", r.stderr)

    def test_askpass_refuses_confirmation(self):
        self.login()
        r = self.upot("askpass", "Allow use of key?", env=self.env(SSH_ASKPASS_PROMPT="confirm"))
        self.assertEqual((r.returncode, r.stdout), (1, ""))

    def test_state_mismatch(self):
        lg = self.start_login()
        page = http_get(lg.redirect_uri() + "?" + urllib.parse.urlencode(
            {"code": "pot_ac_" + "A" * 43, "state": "not-the-state", "iss": self.p.issuer}))
        self.assertEqual(page.status, 400)
        rc, out, err = lg.finish()
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("state differs", err)
        self.assertFalse(os.path.exists(self.tokfile))

    def test_iss_mismatch(self):
        lg = self.start_login()
        page = http_get(lg.redirect_uri() + "?" + urllib.parse.urlencode(
            {"code": "pot_ac_" + "A" * 43, "state": query_of(lg.url)["state"],
             "iss": "https://evil.example"}))
        self.assertEqual(page.status, 400)
        rc, out, err = lg.finish()
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("RFC 9207", err)
        self.assertFalse(os.path.exists(self.tokfile))

    def test_error_redirect(self):
        """The user denies a third-party client: potd redirects error=access_denied."""
        lg = self.start_login(client="pot3")
        page, q = self.browse(lg.url, decision="deny")
        self.assertEqual(q["error"], "access_denied")
        self.assertEqual(page.status, 400)
        rc, out, err = lg.finish()
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("access_denied", err)
        self.assertFalse(os.path.exists(self.tokfile))

    def test_listener(self):
        """Only GET /callback counts: other paths and methods leave the login waiting."""
        lg = self.start_login()
        cb = urllib.parse.urlsplit(lg.redirect_uri())
        self.assertEqual((cb.hostname, cb.path), ("127.0.0.1", "/callback"))
        self.assertEqual(http_get("http://127.0.0.1:%d/favicon.ico" % cb.port).status, 404)
        conn = http.client.HTTPConnection("127.0.0.1", cb.port, timeout=10)
        conn.request("POST", "/callback", body="code=x")
        self.assertEqual(conn.getresponse().status, 405)
        conn.close()
        self.assertIsNone(lg.proc.poll())
        q = query_of(lg.url)
        self.assertEqual((q["client_id"], q["response_type"], q["code_challenge_method"]),
                         ("pot", "code", "S256"))
        self.assertEqual(len(q["code_challenge"]), 43)
        self.assertGreaterEqual(len(q["state"]), 43)
        self.assertNotIn("scope", q)             # the client's registered scope
        page, _ = self.browse(lg.url)
        self.assertEqual(page.status, 200)
        self.assertEqual(lg.finish()[0], 0)
        self.assertEqual(page.header("Cache-Control"), "no-store")
        self.assertEqual(page.header("Referrer-Policy"), "no-referrer")

    def test_refuses_plain_http_off_loopback(self):
        r = self.upot("login", "--no-browser", "--server", "http://192.0.2.1:8740")
        self.assertEqual(r.returncode, 2)       # a usage error, as `pot client add` has it
        self.assertIn("plain http only to a loopback address", r.stderr)
        for bad in ("ftp://example.org", "https://user@example.org", "https://example.org/#x"):
            self.assertEqual(self.upot("login", "--server", bad).returncode, 2, bad)

    def test_wrong_issuer(self):
        r = self.upot("login", "--no-browser", "--server", self.p.issuer.replace("127.0.0.1", "127.0.0.2"))
        self.assertEqual(r.returncode, 1)

    def test_server_from_pot_conf(self):
        """Without --server, pot.conf's issuer."""
        lg = PotLogin([POT, "--config", self.p.conf, "login", "--no-browser"], self.env())
        self.logins.append(lg)
        self.assertIsNotNone(lg.wait_url(), lg.err)
        self.assertTrue(lg.url.startswith(self.p.issuer + "/auth/v2/authorize?"), lg.url)
        self.browse(lg.url)
        self.assertEqual(lg.finish()[0], 0)
        self.assertEqual(self.stored()["client_id"], "pot")

    def test_login_again_revokes_the_old_grant(self):
        self.login()
        old = self.stored()["refresh_token"]
        self.login()
        self.assertNotEqual(self.stored()["refresh_token"], old)
        self.assert_error(self.refresh_with(old), 400, "invalid_grant")


def make_test_pki(d, ip="127.0.0.1"):
    """A test CA and a server certificate of it for the IP address ip: (ca, cert, key) paths."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def builder(subject, key, days=30):
        now = datetime.datetime.utcnow()
        return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("pot test CA"))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=days)))
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (builder("pot test CA", ca_key)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (builder(ip, key)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = [os.path.join(d, n) for n in ("ca.pem", "cert.pem", "key.pem")]
    for path, data, mode in ((paths[0], ca.public_bytes(serialization.Encoding.PEM), 0o644),
                             (paths[1], cert.public_bytes(serialization.Encoding.PEM), 0o644),
                             (paths[2], key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()), 0o600)):
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        if IS_ROOT:
            os.chown(path, 65534, 65534)    # potd reads them as nobody
    return paths


class TlsPotd(Potd):
    """potd over HTTPS, with a certificate for 127.0.0.1 from a test CA."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.issuer = "https://127.0.0.1:%d" % self.port
        self.ca, cert, key = make_test_pki(self.dir)
        self.extra_conf += "tls_cert = %s\ntls_key = %s\n" % (cert, key)
        self.write_conf()
        import ssl
        self.tls = ssl.create_default_context(cafile=self.ca)

    def connection(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.tls)

class TestPotUserTls(PotUserCase):
    """pot over HTTPS: the server's certificate is verified, against SSL_CERT_FILE here."""

    potd_class = TlsPotd

    def test_https(self):
        env = self.env(SSL_CERT_FILE=self.p.ca)
        lg = self.start_login(env=env)
        self.assertTrue(lg.url.startswith(self.p.issuer + "/auth/v2/authorize?"), lg.url)
        page, _ = self.browse(lg.url)
        rc, out, err = lg.finish()
        self.assertEqual(rc, 0, out + err)
        st = self.stored()
        self.assertEqual((st["server"], st["token_endpoint"]),
                         (self.p.issuer, self.p.issuer + "/auth/v2/token"))
        self.assertEqual(self.pot_token(env=env), st["access_token"])
        self.jump(600)                      # a refresh over TLS
        at = self.pot_token(env=env)
        self.assertNotEqual(at, st["access_token"])
        r = self.upot("logout", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the refresh token is revoked", r.stdout)

    def test_untrusted_certificate(self):
        r = self.upot("login", "--no-browser", "--server", self.p.issuer)      # no SSL_CERT_FILE
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("certificate is not trusted", r.stderr)
        self.assertFalse(os.path.exists(self.tokdir))

    def test_name_mismatch(self):
        """The certificate names 127.0.0.1, not localhost."""
        r = self.upot("login", "--no-browser", "--server", self.p.issuer.replace("127.0.0.1", "localhost"),
                      env=self.env(SSL_CERT_FILE=self.p.ca))
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("mismatch", r.stderr)


if __name__ == "__main__":
    for need, what in ((PAM_WRAPPER_SO, "PAM_WRAPPER_SO"), (NSS_WRAPPER_SO, "NSS_WRAPPER_SO")):
        if not need or not os.path.exists(need):
            print("SKIP: %s is not set or missing" % what)
            sys.exit(77)
    if not os.path.exists(PAM_MATRIX):
        print("SKIP: %s is missing (Debian package libpam-wrapper)" % PAM_MATRIX)
        sys.exit(77)
    unittest.main()
