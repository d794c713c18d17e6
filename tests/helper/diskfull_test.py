#!/usr/bin/env python3
"""diskfull_test.py — potd's state_dir on a small tmpfs that fills up (root only: mount).
While the disk is full, every request that must write answers 503 temporarily_unavailable
(a code request redirects with error=temporarily_unavailable), requests that write nothing
(client_credentials, introspection, the JWK Set) still work,
potd keeps running; once space returns everything works again, including every token
answered before, and after a clean restart too: nothing was corrupted.
Uses potd_test.py's Potd and helpers; run by tests/helper/test_diskfull.sh.
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import potd_test as pt  # noqa: E402


class TestDiskFull(pt.PotdCase):
    def setUp(self):
        self.p = pt.Potd(name="diskfull")
        os.mkdir(self.p.state)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "pot-diskfull",
                        self.p.state], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.p.state])
        self.addCleanup(self.p.cleanup)
        self.filler = os.path.join(self.p.state, "filler")

    def fill(self):
        with open(self.filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass

    def code_attempt(self, client):
        """One sign-in and exchange: 'ok', or what refused it."""
        try:
            code, verifier, redirect = self.code_for(client)
        except AssertionError as e:
            return "authorize: %s" % str(e)[:160]
        r = self.exchange(client, code, verifier, redirect)
        if r.status == 200:
            return "ok"
        return "exchange %d %s" % (r.status, r.json().get("error"))

    def test_disk_full(self):
        conf = self.p.add_client("conf", "login", ["https://conf.example/cb"], first_party=True)
        pub = self.p.add_client("pub", "login", ["https://pub.example/cb"], public=True, first_party=True)
        svc = self.p.add_client("svc", "api", grants="client_credentials")
        self.p.add_client("rs", "api", grants="client_credentials", introspect=True)
        self.p.start()
        conf_rt = self.tokens_for(conf)["refresh_token"]
        pub_rt = self.tokens_for(pub)["refresh_token"]
        self.fill()
        # write until the store runs out of room: the log buffer and free pages hide a few
        seen = {}
        for _ in range(5000):
            what = self.code_attempt(conf)
            seen[what] = seen.get(what, 0) + 1
            if what != "ok" and seen[what] >= 5:
                break
        self.assertIsNone(self.p.proc.poll(), "potd died when the disk filled:\n" + self.p.read_log())
        refused = [w for w in seen if w != "ok"]
        self.assertTrue(refused, "the disk never filled: %r" % seen)
        for w in refused:
            self.assertTrue("temporarily_unavailable" in w, "refused otherwise: %r" % seen)
        # a rotation must write: 503, and the RT presented is not spent
        r = self.refresh(pub, pub_rt)
        self.assert_error(r, 503, "temporarily_unavailable")
        # nothing to write: still served (an HTTP refresh always records its use)
        self.assert_ok(self.cc(svc, scope="api"))
        self.assertTrue(self.introspect(conf_rt).json()["active"])
        self.assert_error(self.refresh(conf, conf_rt), 503, "temporarily_unavailable")
        self.assertEqual(self.p.get("/auth/v2/jwks").status, 200)
        self.assertIn("No space left on device", self.p.read_log())
        # space returns
        os.unlink(self.filler)
        self.assertEqual(self.code_attempt(conf), "ok")
        pub_rt = self.assert_ok(self.refresh(pub, pub_rt))["refresh_token"]
        self.assert_ok(self.refresh(conf, conf_rt))
        # and a clean restart finds the store whole
        self.assertEqual(self.p.stop(), 0, self.p.read_log())
        self.p.start()
        pub_rt = self.assert_ok(self.refresh(pub, pub_rt))["refresh_token"]
        self.assert_ok(self.refresh(conf, conf_rt))
        self.assertEqual(self.code_attempt(pub), "ok")
        print("\nwhile full: %r" % seen, file=sys.stderr)
        self.assertEqual(self.p.stop(), 0)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: needs root (mounts a small tmpfs as potd's state_dir)")
        sys.exit(77)
    if os.environ.get("POT_SANITIZERS") == "yes":
        print("SKIP: sanitizer build (the disk-full paths are the same code; once is enough)")
        sys.exit(77)
    probe = pt.tempfile.mkdtemp(prefix="pot-diskfull-probe.")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "pot-probe", probe],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode == 0:
        subprocess.run(["umount", probe])
    os.rmdir(probe)
    if r.returncode != 0:
        print("SKIP: cannot mount a tmpfs here: %s" % r.stdout.strip())
        sys.exit(77)
    for need in (pt.PAM_WRAPPER_SO, pt.NSS_WRAPPER_SO, pt.PAM_MATRIX):
        if not need or not os.path.exists(need):
            print("SKIP: %s is missing (libpam-wrapper, libnss-wrapper)" % (need or "a wrapper"))
            sys.exit(77)
    unittest.main()
