package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestMiddleware: each story is one request through real HTTP, against a
// JWKS server publishing an RSA, a PS256-pinned RSA, an EC and an Ed25519
// key.
func TestMiddleware(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, rsaA, rsaPS, ecKey, edKey)
	e := newEnv(t, testConfig(jwks.URL))
	a := newApp(t, e.v, false)
	now := e.clock.Now()
	good := func(opts ...func(map[string]any)) map[string]any { return claims(now, opts...) }
	hmacKey, err := jwk.Import(rsaPEM) // the public key's bytes as an HMAC secret
	if err != nil {
		t.Fatal(err)
	}
	_ = hmacKey.Set(jwk.KeyIDKey, rsaA.kid)

	const (
		ok       = http.StatusOK
		unauth   = http.StatusUnauthorized
		realm    = `Bearer realm="pagebff"`
		invalid  = `Bearer error="invalid_token"`
		noHeader = ""
	)
	for _, tc := range []struct {
		name      string
		path      string // default /v1/pages/home
		auth      string
		status    int
		challenge string
		msg       string // the error body; empty for 200
		reason    string // Error.Reason
	}{
		{name: "RS256", auth: "Bearer " + sign(t, rsaA.priv, jwa.RS256(), good()), status: ok},
		{name: "PS256 with an RSA key without alg", auth: "Bearer " + sign(t, rsaA.priv, jwa.PS256(), good()), status: ok},
		{name: "PS256 with a key pinned to PS256", auth: "Bearer " + sign(t, rsaPS.priv, jwa.PS256(), good()), status: ok},
		{name: "ES256", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good()), status: ok},
		{name: "EdDSA", auth: "Bearer " + sign(t, edKey.priv, jwa.EdDSA(), good()), status: ok},
		{name: "scheme in lower case", auth: "bearer " + sign(t, ecKey.priv, jwa.ES256(), good()), status: ok},
		{name: "user_id equal to the token's", path: "/v1/pages/home?user_id=abc", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good()), status: ok},
		{name: "user claim with every allowed character", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(set("sub", "a.b_c@d:e-f"))), status: ok},
		{name: "exp past but within leeway", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(set("exp", now.Add(-20*time.Second)))), status: ok},
		{name: "nbf future but within leeway", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(set("nbf", now.Add(20*time.Second)))), status: ok},

		{name: "missing header", auth: noHeader, status: unauth, challenge: realm, msg: "missing bearer token", reason: "missing"},
		{name: "another scheme", auth: "Basic YWxhZGRpbjpvcGVuc2VzYW1l", status: unauth, challenge: realm, msg: "missing bearer token", reason: "missing"},
		{name: "Bearer without a token", auth: "Bearer", status: unauth, challenge: invalid, msg: "invalid token", reason: "malformed"},
		{name: "two tokens", auth: "Bearer abc def", status: unauth, challenge: invalid, msg: "invalid token", reason: "malformed"},
		{name: "not token68", auth: "Bearer a,b", status: unauth, challenge: invalid, msg: "invalid token", reason: "malformed"},
		{name: "malformed token", auth: "Bearer not.a.jwt", status: unauth, challenge: invalid, msg: "invalid token", reason: "malformed"},
		{name: "one segment", auth: "Bearer abcdef", status: unauth, challenge: invalid, msg: "invalid token", reason: "malformed"},
		{name: "too long", auth: "Bearer " + strings.Repeat("a", maxTokenBytes+1), status: unauth, challenge: invalid, msg: "invalid token", reason: "too_long"},
		{name: "alg none", auth: "Bearer " + unsigned(t, rsaA.kid, good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "alg"},
		{name: "HS256 keyed with the RSA public key", auth: "Bearer " + sign(t, hmacKey, jwa.HS256(), good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "alg"},
		{name: "RS256 under the kid of an EC key", auth: "Bearer " + sign(t, rsaA.withKID(t, ecKey.kid), jwa.RS256(), good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "key_mismatch"},
		{name: "RS256 with a key pinned to PS256", auth: "Bearer " + sign(t, rsaPS.priv, jwa.RS256(), good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "key_mismatch"},
		{name: "RS384 is not accepted", auth: "Bearer " + sign(t, rsaA.priv, jwa.RS384(), good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "alg"},
		{name: "signed by a key not in the set under a kid in it", auth: "Bearer " + sign(t, rsaB.withKID(t, rsaA.kid), jwa.RS256(), good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "signature"},
		{name: "kid not in the set", auth: "Bearer " + sign(t, rsaB.priv, jwa.RS256(), good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "unknown_kid"},
		{name: "no kid with several keys", auth: "Bearer " + sign(t, rsaA.withKID(t, ""), jwa.RS256(), good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "unknown_kid"},
		{name: "exp past beyond leeway", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(set("exp", now.Add(-time.Minute)))), status: unauth, challenge: invalid, msg: "invalid token", reason: "expired"},
		{name: "nbf future beyond leeway", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(set("nbf", now.Add(time.Minute)))), status: unauth, challenge: invalid, msg: "invalid token", reason: "not_yet_valid"},
		{name: "iat future beyond leeway", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(set("iat", now.Add(time.Minute)))), status: unauth, challenge: invalid, msg: "invalid token", reason: "issued_at"},
		{name: "a critical extension", auth: "Bearer " + signCrit(t, ecKey.priv, good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "crit"},
		{name: "no exp", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(unset("exp"))), status: unauth, challenge: invalid, msg: "invalid token", reason: "missing_claim"},
		{name: "wrong iss", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(set("iss", "https://evil.test"))), status: unauth, challenge: invalid, msg: "invalid token", reason: "issuer"},
		{name: "wrong aud", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(set("aud", []string{"another"}))), status: unauth, challenge: invalid, msg: "invalid token", reason: "audience"},
		{name: "no sub", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(unset("sub"))), status: unauth, challenge: invalid, msg: "invalid token", reason: "user_claim"},
		{name: "sub not a valid user_id", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good(set("sub", "../etc/passwd"))), status: unauth, challenge: invalid, msg: "invalid token", reason: "user_claim"},
		{name: "signature of another token", auth: "Bearer " + spliceSignature(sign(t, ecKey.priv, jwa.ES256(), good()), sign(t, ecKey.priv, jwa.ES256(), good(set("sub", "other")))), status: unauth, challenge: invalid, msg: "invalid token", reason: "signature"},
		{name: "token in the query string", path: "/v1/pages/home?access_token=" + sign(t, ecKey.priv, jwa.ES256(), good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "query_token"},
		{name: "token in the query string beside a good header", path: "/v1/pages/home?user_id=abc&access_token=x", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good()), status: unauth, challenge: invalid, msg: "invalid token", reason: "query_token"},
		{name: "user_id of someone else", path: "/v1/pages/home?user_id=mallory", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good()), status: http.StatusForbidden, msg: "user_id does not match the token", reason: "mismatch"},
		{name: "a second user_id of someone else", path: "/v1/pages/home?user_id=abc&user_id=mallory", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good()), status: http.StatusForbidden, msg: "user_id does not match the token", reason: "mismatch"},
		{name: "empty user_id", path: "/v1/pages/home?user_id=", auth: "Bearer " + sign(t, ecKey.priv, jwa.ES256(), good()), status: http.StatusForbidden, msg: "user_id does not match the token", reason: "mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/v1/pages/home"
			}
			before := a.calls.Load()
			got := a.get(t, path, tc.auth)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", got.status, tc.status, got.raw)
			}
			if c := got.header.Get("WWW-Authenticate"); c != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", c, tc.challenge)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			called := a.calls.Load() - before
			if tc.status == ok {
				if called != 1 || got.body["user_id"] == "" || got.body["verified"] != true {
					t.Fatalf("handler called %d times, body %s", called, got.raw)
				}
				if got.body["forward"] != "" {
					t.Errorf("forwarded %q without forward_token", got.body["forward"])
				}
				return
			}
			if called != 0 {
				t.Errorf("the handler ran %d times for a refused request", called)
			}
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if _, err := e.v.check(req); err == nil || err.Reason != tc.reason {
				t.Errorf("refused for %v, want reason %q", err, tc.reason)
			}
			if len(got.body) != 1 || got.body["error"] != tc.msg {
				t.Errorf("body %s, want {\"error\": %q}", got.raw, tc.msg)
			}
		})
	}
	if n := e.obs.count(ResultMismatch); n != 3 {
		t.Errorf("observed %d mismatches, want 3", n)
	}
}

// signCrit signs c with ES256 under a protected header naming a critical
// extension.
func signCrit(t *testing.T, key jwk.Key, c map[string]any) string {
	t.Helper()
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.CriticalKey, []string{"exp-ext"})
	_ = hdr.Set("exp-ext", true)
	kid, _ := key.KeyID()
	_ = hdr.Set(jws.KeyIDKey, kid)
	numeric := map[string]any{}
	for k, v := range c {
		if tv, ok := v.(time.Time); ok {
			v = tv.Unix()
		}
		numeric[k] = v
	}
	payload, err := json.Marshal(numeric)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// spliceSignature puts the signature of b on the header and payload of a.
func spliceSignature(a, b string) string {
	return a[:strings.LastIndexByte(a, '.')] + b[strings.LastIndexByte(b, '.'):]
}

// TestMiddlewareHead: a refused HEAD gets the status and challenge, no body.
func TestMiddlewareHead(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, ecKey)
	e := newEnv(t, testConfig(jwks.URL))
	a := newApp(t, e.v, false)
	got := a.do(t, http.MethodHead, "/v1/pages/home", "")
	if got.status != http.StatusUnauthorized || got.raw != "" || got.header.Get("WWW-Authenticate") != `Bearer realm="pagebff"` {
		t.Fatalf("status %d, challenge %q, body %q", got.status, got.header.Get("WWW-Authenticate"), got.raw)
	}
}

// TestForwardToken: with forward_token the handler sees the Authorization
// header to pass on; without, it does not.
func TestForwardToken(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, ecKey)
	e := newEnv(t, testConfig(jwks.URL))
	authz := "Bearer " + sign(t, ecKey.priv, jwa.ES256(), claims(e.clock.Now()))
	for _, forward := range []bool{true, false} {
		got := newApp(t, e.v, forward).get(t, "/v1/pages/home", authz)
		want := ""
		if forward {
			want = authz
		}
		if got.status != http.StatusOK || got.body["forward"] != want {
			t.Fatalf("forward=%v: status %d, forwarded %q", forward, got.status, got.body["forward"])
		}
	}
}

// TestModeNone: a nil Verifier lets everything through and verifies
// nothing.
func TestModeNone(t *testing.T) {
	v, err := New(t.Context(), Default(), nil, nil)
	if v != nil || err != nil {
		t.Fatalf("New in mode none = %v, %v", v, err)
	}
	v.Close() // safe on nil
	a := newApp(t, v, true)
	got := a.get(t, "/v1/pages/home?user_id=abc&access_token=x", "")
	if got.status != http.StatusOK || got.body["verified"] != false || got.body["forward"] != "" {
		t.Fatalf("status %d body %s", got.status, got.raw)
	}
}

// TestTwoAuthorizationHeaders: which one would be checked, and which
// forwarded? Neither.
func TestTwoAuthorizationHeaders(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, ecKey)
	e := newEnv(t, testConfig(jwks.URL))
	a := newApp(t, e.v, true)
	req, _ := http.NewRequest(http.MethodGet, a.URL+"/v1/pages/home", nil)
	req.Header.Add("Authorization", "Bearer "+sign(t, ecKey.priv, jwa.ES256(), claims(e.clock.Now())))
	req.Header.Add("Authorization", "Bearer "+sign(t, ecKey.priv, jwa.ES256(), claims(e.clock.Now(), set("sub", "other"))))
	res, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || a.calls.Load() != 0 {
		t.Fatalf("status %d, handler calls %d", res.StatusCode, a.calls.Load())
	}
}

// TestUserClaim: auth.user_claim names another claim, which must be a
// string matching the user_id rule.
func TestUserClaim(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, ecKey)
	cfg := testConfig(jwks.URL)
	cfg.UserClaim = "uid"
	e := newEnv(t, cfg)
	a := newApp(t, e.v, false)
	now := e.clock.Now()
	for _, tc := range []struct {
		name   string
		uid    any
		status int
	}{
		{"string", "u-42", http.StatusOK},
		{"number", 42, http.StatusUnauthorized},
		{"absent", nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims(now, set("uid", tc.uid))
			if tc.uid == nil {
				delete(c, "uid")
			}
			got := a.get(t, "/v1/pages/home", "Bearer "+sign(t, ecKey.priv, jwa.ES256(), c))
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.raw)
			}
			if tc.status == http.StatusOK && got.body["user_id"] != tc.uid {
				t.Fatalf("user id %v, want %v (not sub)", got.body["user_id"], tc.uid)
			}
		})
	}
}
