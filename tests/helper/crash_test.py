#!/usr/bin/env python3
"""crash_test.py — potd killed with SIGKILL again and again (POT_CRASH_KILLS, 20) while
clients refresh (public clients rotating, confidential ones sliding), exchange codes and
ask for client_credentials tokens at once. After each restart, which runs Berkeley DB
recovery by itself:
  * the last refresh token each client was answered (or the one it sent when the answer
    was lost) still works, and a public client's chain never forks;
  * every refresh token issued from a code still works, and that code, presented again,
    is refused with invalid_grant (and revokes what it issued): no code is redeemed twice;
  * no request got any answer other than 200 while potd was up.
Uses potd_test.py's Potd and helpers; run by tests/helper/test_crash.sh.
"""
import http.client
import os
import random
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import potd_test as pt  # noqa: E402

KILLS = int(os.environ.get("POT_CRASH_KILLS", "20"))
GONE = (OSError, http.client.HTTPException)


class TestCrash(pt.PotdCase):
    def setUp(self):
        self.p = pt.Potd(name="crash")
        self.addCleanup(self.p.cleanup)

    def refresher(self, ch, stop):
        """Refreshes along one chain until potd is gone; the chain keeps what it holds."""
        while not stop.is_set():
            try:
                r = self.refresh(ch["client"], ch["rts"][-1])
            except GONE:
                return
            if r.status != 200:
                ch["error"] = "refresh: %r %s" % (r, r.text[:200])
                return
            ch["rts"].append(r.json()["refresh_token"])
            ch["count"] += 1

    def redeemer(self, client, out, stop):
        """Signs in and exchanges codes; keeps (code, verifier, redirect, refresh token)."""
        while not stop.is_set():
            try:
                code, verifier, redirect = self.code_for(client)
                r = self.exchange(client, code, verifier, redirect)
            except GONE:
                return
            except AssertionError as e:             # a sign-in cut short by the kill
                if self.p.proc.poll() is None and not stop.is_set():
                    out["error"] = "sign-in: %s" % e
                return
            if r.status != 200:
                out["error"] = "exchange: %r %s" % (r, r.text[:200])
                return
            out["codes"].append((code, verifier, redirect, r.json()["refresh_token"]))

    def service(self, client, out, stop):
        while not stop.is_set():
            try:
                r = self.cc(client, scope="api")
            except GONE:
                return
            if r.status != 200:
                out["error"] = "client_credentials: %r" % r
                return
            out["count"] += 1

    def test_kill9_under_load(self):
        pub = self.p.add_client("pub", "login", ["https://pub.example/cb"], public=True, first_party=True)
        conf = self.p.add_client("conf", "login", ["https://conf.example/cb"], first_party=True)
        svc = self.p.add_client("svc", "api", grants="client_credentials")
        self.p.start()
        chains = [{"client": c, "rts": [self.tokens_for(c)["refresh_token"]], "count": 0}
                  for c in (pub, conf, pub, conf)]
        rng = random.Random(4711)
        totals = {"refresh": 0, "codes": 0, "cc": 0}
        for rnd in range(KILLS):
            stop = threading.Event()
            codes = {"codes": []}
            cc = {"count": 0}
            for ch in chains:
                ch["count"] = 0
            threads = [threading.Thread(target=self.refresher, args=(ch, stop)) for ch in chains]
            threads.append(threading.Thread(target=self.redeemer, args=(pub, codes, stop)))
            threads.append(threading.Thread(target=self.redeemer, args=(conf, codes, stop)))
            threads.append(threading.Thread(target=self.service, args=(svc, cc, stop)))
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 0.9))
            os.kill(self.p.potd_pid, signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join(30)
                self.assertFalse(t.is_alive(), "a client thread hangs after the kill")
            self.p.proc.wait(10)
            self.p.start()                          # recovery: potd's own, no hand
            where = "after kill %d" % (rnd + 1)
            for ch in chains:
                self.assertNotIn("error", ch, "%s: %s" % (where, ch.get("error")))
                r = self.refresh(ch["client"], ch["rts"][-1])
                self.assertEqual(r.status, 200, "%s: the last refresh token held: %r" % (where, r))
                new = r.json()["refresh_token"]
                if ch["client"]["public"]:
                    self.assertNotIn(new, ch["rts"][:-1], "%s: a rotated chain forked" % where)
                else:
                    self.assertEqual(new, ch["rts"][0], "%s: a confidential client's RT rotated" % where)
                ch["rts"].append(new)
                totals["refresh"] += ch["count"]
            self.assertNotIn("error", codes, "%s: %s" % (where, codes.get("error")))
            self.assertNotIn("error", cc, "%s: %s" % (where, cc.get("error")))
            for code, verifier, redirect, rt in codes["codes"]:
                client = pub if redirect == pub["redirect"] else conf
                r = self.refresh(client, rt)
                self.assertEqual(r.status, 200, "%s: an RT issued from a code: %r" % (where, r))
                self.assert_error(self.exchange(client, code, verifier, redirect), 400, "invalid_grant")
            totals["codes"] += len(codes["codes"])
            totals["cc"] += cc["count"]
        print("\n%d kills: %d refreshes, %d codes exchanged, %d client_credentials answered 200; "
              "all kept after recovery" % (KILLS, totals["refresh"], totals["codes"], totals["cc"]),
              file=sys.stderr)
        self.assertGreater(totals["refresh"], KILLS)
        self.assertGreater(totals["codes"], 0)
        self.assertEqual(self.p.stop(), 0)


if __name__ == "__main__":
    for need in (pt.PAM_WRAPPER_SO, pt.NSS_WRAPPER_SO, pt.PAM_MATRIX):
        if not need or not os.path.exists(need):
            print("SKIP: %s is missing (libpam-wrapper, libnss-wrapper)" % (need or "a wrapper"))
            sys.exit(77)
    unittest.main()
