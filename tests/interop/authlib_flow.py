"""authlib_flow.py — a whole authorization code flow against potd driven by Authlib.

Authlib (python3-authlib, an OAuth 2 client we did not write) builds the authorization
URL with PKCE S256 and its own state, exchanges the code at the token endpoint and
refreshes the tokens; the caller plays the browser (the login and consent forms), since
that part is HTML for people. Used by tests/helper/potd_test.py; it can also be run by
hand against a running potd:

    python3 authlib_flow.py ISSUER CLIENT_ID REDIRECT_URI USER PASSWORD [SCOPE]

(the browser part then needs the harness, so standalone use only prints the URL).

Authlib 1.2 (Debian 12) checks `state` on the authorization response
(MismatchingStateException) only when it is given the state: create_authorization_url()
returns it but does not remember it, so fetch_token() gets state= explicitly here. It does
not check the RFC 9207 `iss` parameter: check_iss() does that here, as a client must when
it talks to more than one authorization server.
"""
import sys
import urllib.parse

try:
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc6749.errors import MismatchingStateException
    HAVE_AUTHLIB = True
    WHY_NOT = None
except ImportError as e:  # python3-authlib (and python3-requests) not installed
    HAVE_AUTHLIB = False
    WHY_NOT = str(e)
    OAuth2Session = MismatchingStateException = None


class IssuerMismatch(Exception):
    """The authorization response's iss is absent or not the expected issuer (RFC 9207)."""


def check_iss(authorization_response, issuer):
    """RFC 9207 §2.4: the iss of the response must equal the issuer exactly."""
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization_response).query)
    got = q.get("iss", [None])
    if len(got) != 1 or got[0] != issuer:
        raise IssuerMismatch("iss %r, expected %r" % (got, issuer))


def run_flow(issuer, client_id, redirect_uri, browser, scope="login", client_secret=None):
    """Runs authorize -> token -> refresh with Authlib.

    browser(url) plays the user: it loads url, signs in, consents and returns the
    Location the authorization server redirected to.
    Returns a dict: session, state, authorization_response, token, refreshed.
    """
    meta_auth = issuer + "/auth/v2/authorize"
    meta_token = issuer + "/auth/v2/token"
    session = OAuth2Session(
        client_id,
        client_secret=client_secret,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
    )
    verifier = _verifier()
    url, state = session.create_authorization_url(meta_auth, code_verifier=verifier)
    location = browser(url)
    check_iss(location, issuer)
    token = session.fetch_token(meta_token, authorization_response=location,
                                code_verifier=verifier, state=state)
    refreshed = session.refresh_token(meta_token, refresh_token=token["refresh_token"])
    return {"session": session, "state": state, "authorization_response": location,
            "verifier": verifier, "url": url, "token": dict(token),
            "refreshed": dict(refreshed)}


def _verifier():
    from authlib.common.security import generate_token
    return generate_token(64)  # 64 characters of [A-Za-z0-9]: a valid RFC 7636 verifier


if __name__ == "__main__":
    if not HAVE_AUTHLIB:
        print("authlib is not importable: %s" % WHY_NOT)
        sys.exit(77)
    if len(sys.argv) < 4:
        print(__doc__)
        sys.exit(2)
    s = OAuth2Session(sys.argv[2], scope=sys.argv[6] if len(sys.argv) > 6 else "login",
                      redirect_uri=sys.argv[3], code_challenge_method="S256")
    print(s.create_authorization_url(sys.argv[1] + "/auth/v2/authorize",
                                     code_verifier=_verifier())[0])
