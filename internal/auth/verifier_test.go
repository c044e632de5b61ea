package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
)

// TestUnknownKIDRefetchBound: a flood of tokens with forged kids sends at
// most one fetch per 10s to the JWKS endpoint, however many requests.
func TestUnknownKIDRefetchBound(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, rsaA)
	e := newEnv(t, testConfig(jwks.URL))
	a := newApp(t, e.v, false)
	if n := jwks.hits.Load(); n != 1 {
		t.Fatalf("%d JWKS hits at start, want 1", n)
	}
	flood := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				for range n / 10 {
					tok := sign(t, rsaA.withKID(t, randomID()), jwa.RS256(), claims(e.clock.Now()))
					if got := a.get(t, "/v1/pages/home", "Bearer "+tok); got.status != http.StatusUnauthorized {
						t.Errorf("forged kid: status %d", got.status)
					}
				}
			})
		}
		wg.Wait()
	}
	flood(100)
	if n := jwks.hits.Load(); n > 2 {
		t.Fatalf("100 forged kids within 10s made %d JWKS hits, want at most 2", n)
	}
	e.clock.Advance(9 * time.Second)
	flood(20)
	if n := jwks.hits.Load(); n > 2 {
		t.Fatalf("%d JWKS hits 9s later, want at most 2", n)
	}
	e.clock.Advance(time.Second)
	flood(50)
	if n := jwks.hits.Load(); n != 3 {
		t.Fatalf("%d JWKS hits after 10s more, want 3", n)
	}
	if n := a.calls.Load(); n != 0 {
		t.Fatalf("the handler ran %d times", n)
	}
}

// TestUnknownKIDRefetchFindsNewKey: a token signed by a key published after
// the last fetch verifies at once: its unknown kid triggers the refetch.
func TestUnknownKIDRefetchFindsNewKey(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, rsaA)
	e := newEnv(t, testConfig(jwks.URL))
	jwks.publish(t, rsaA, rsaB)
	uid, err := e.v.Verify(t.Context(), "Bearer "+sign(t, rsaB.priv, jwa.RS256(), claims(e.clock.Now())))
	if err != nil || uid != "abc" || jwks.hits.Load() != 2 {
		t.Fatalf("Verify = %q, %v after %d hits", uid, err, jwks.hits.Load())
	}
}

// TestRotation: the JWKS server publishes a new key beside the old, then
// drops the old. Tokens under the new key verify after a background
// refresh; tokens under the old one, remembered ones included, verify
// until it is gone and fail after.
func TestRotation(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, rsaA)
	cfg := testConfig(jwks.URL)
	cfg.JWKSRefresh = time.Second // below the 10s Validate allows, to keep the test short
	e := newEnv(t, cfg)
	a := newApp(t, e.v, false)
	now := e.clock.Now()
	oldTok := "Bearer " + sign(t, rsaA.priv, jwa.RS256(), claims(now))
	newTok := "Bearer " + sign(t, rsaB.priv, jwa.RS256(), claims(now))
	if got := a.get(t, "/v1/pages/home", oldTok); got.status != http.StatusOK {
		t.Fatalf("old key before rotation: %d", got.status)
	}
	// Spend the refetch budget (the clock stands still), so only the
	// background refresh can bring the new key in.
	a.get(t, "/v1/pages/home", "Bearer "+sign(t, rsaA.withKID(t, "spent"), jwa.RS256(), claims(now)))

	jwks.publish(t, rsaA, rsaB)
	eventually(t, "the new key after a refresh", func() bool {
		return a.get(t, "/v1/pages/home", newTok).status == http.StatusOK
	})
	if got := a.get(t, "/v1/pages/home", oldTok); got.status != http.StatusOK {
		t.Fatalf("old key while still published: %d", got.status)
	}
	freshOld := "Bearer " + sign(t, rsaA.priv, jwa.RS256(), claims(now))
	if got := a.get(t, "/v1/pages/home", freshOld); got.status != http.StatusOK {
		t.Fatalf("a new token under the old key while still published: %d", got.status)
	}

	jwks.publish(t, rsaB)
	eventually(t, "the old key to be dropped", func() bool {
		return a.get(t, "/v1/pages/home", oldTok).status == http.StatusUnauthorized
	})
	if got := a.get(t, "/v1/pages/home", freshOld); got.status != http.StatusUnauthorized || got.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Fatalf("old key after removal: %d %q", got.status, got.header.Get("WWW-Authenticate"))
	}
	if got := a.get(t, "/v1/pages/home", newTok); got.status != http.StatusOK {
		t.Fatalf("new key after removal of the old: %d", got.status)
	}
}

// TestJWKSDownAtStart: New fails with a message naming the key and the
// cause, and the URL without its userinfo.
func TestJWKSDownAtStart(t *testing.T) {
	keys(t)
	for _, tc := range []struct {
		name  string
		setup func(s *jwksServer)
		want  string
	}{
		{"connection refused", func(s *jwksServer) { s.Close() }, "connect: connection refused"},
		{"status 503", func(s *jwksServer) { s.status.Store(http.StatusServiceUnavailable) }, "status 503"},
		{"not JSON", func(s *jwksServer) { s.serveRaw([]byte("<html>")) }, "parse:"},
		{"only an HMAC key", func(s *jwksServer) { s.serveRaw([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`)) }, "no usable signing key"},
		{"only a short RSA key", func(s *jwksServer) {
			short, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			n := base64.RawURLEncoding.EncodeToString(short.N.Bytes())
			s.serveRaw([]byte(`{"keys":[{"kty":"RSA","kid":"short","e":"AQAB","n":"` + n + `"}]}`))
		}, "rsa modulus too small"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newJWKSServer(t, rsaA)
			tc.setup(s)
			u := strings.Replace(s.URL, "http://", "http://alice:hunter2@", 1) + "/jwks"
			obs := &testObserver{}
			start := time.Now()
			v, err := New(t.Context(), testConfig(u), nil, obs)
			if err == nil {
				v.Close()
				t.Fatal("New succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "auth.jwks_url: fetching the key set failed: GET "+s.URL+"/jwks: ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q, want the URL and %q", msg, tc.want)
			}
			if strings.Contains(msg, "alice") || strings.Contains(msg, "hunter2") {
				t.Fatalf("error %q shows the userinfo", msg)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("New took %s to fail", d)
			}
			if _, failed := obs.refreshes(); failed != 1 {
				t.Fatalf("observed %d failed fetches, want 1", failed)
			}
		})
	}
}

// TestJWKSDownLater: when the JWKS endpoint fails after the start, tokens
// keep verifying under the last good keys; each failure is logged once, at
// Warn, without userinfo, and observed.
func TestJWKSDownLater(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, ecKey)
	var sawAuth sync.Once
	var user string
	inner := jwks.Config.Handler
	jwks.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth.Do(func() { user, _, _ = r.BasicAuth() })
		inner.ServeHTTP(w, r)
	})
	cfg := testConfig(strings.Replace(jwks.URL, "http://", "http://alice:hunter2@", 1))
	cfg.JWKSRefresh = time.Second
	e := newEnv(t, cfg)
	a := newApp(t, e.v, false)
	if user != "alice" {
		t.Fatalf("the fetch sent basic auth for %q, want alice", user)
	}
	jwks.status.Store(http.StatusInternalServerError)
	eventually(t, "a failed refresh", func() bool { _, failed := e.obs.refreshes(); return failed >= 1 })
	for range 3 {
		tok := "Bearer " + sign(t, ecKey.priv, jwa.ES256(), claims(e.clock.Now())) // new tokens: nothing remembered
		if got := a.get(t, "/v1/pages/home", tok); got.status != http.StatusOK {
			t.Fatalf("with the JWKS endpoint down: %d %s", got.status, got.raw)
		}
	}
	e.v.Close() // no more refreshes while the logs are read
	_, failed := e.obs.refreshes()
	logs := e.logs.String()
	if n := strings.Count(logs, `"msg":"auth: refreshing the JWKS failed; keeping the last good keys"`); n != failed {
		t.Fatalf("%d warn lines for %d failed refreshes:\n%s", n, failed, logs)
	}
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, "status 500") {
		t.Fatalf("logs:\n%s", logs)
	}
	if strings.Contains(logs, "hunter2") || strings.Contains(logs, "alice") {
		t.Fatalf("logs show the userinfo:\n%s", logs)
	}
}

// TestJWKSFile: keys from a file, read once; an unknown kid fetches
// nothing. With a URL too, both sets' keys verify.
func TestJWKSFile(t *testing.T) {
	keys(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, keySetJSON(t, edKey), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("")
	cfg.JWKSFile = path
	e := newEnv(t, cfg)
	now := e.clock.Now()
	if uid, err := e.v.Verify(t.Context(), "Bearer "+sign(t, edKey.priv, jwa.EdDSA(), claims(now))); err != nil || uid != "abc" {
		t.Fatalf("file key: %q, %v", uid, err)
	}
	_, err := e.v.Verify(t.Context(), "Bearer "+sign(t, rsaA.priv, jwa.RS256(), claims(now)))
	if ae, ok := errors.AsType[*Error](err); !ok || ae.Reason != "unknown_kid" {
		t.Fatalf("unknown kid: %v", err)
	}

	jwks := newJWKSServer(t, rsaA)
	cfg.JWKSURL = jwks.URL
	both := newEnv(t, cfg)
	for _, tok := range []string{sign(t, edKey.priv, jwa.EdDSA(), claims(now)), sign(t, rsaA.priv, jwa.RS256(), claims(now))} {
		if _, err := both.v.Verify(t.Context(), "Bearer "+tok); err != nil {
			t.Fatalf("file and URL: %v", err)
		}
	}
}

// TestCachedTokenExpires: a remembered token still expires, leeway
// included.
func TestCachedTokenExpires(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, ecKey)
	e := newEnv(t, testConfig(jwks.URL))
	tok := "Bearer " + sign(t, ecKey.priv, jwa.ES256(), claims(e.clock.Now(), set("exp", e.clock.Now().Add(time.Minute))))
	for _, step := range []struct {
		advance time.Duration
		ok      bool
	}{{0, true}, {0, true}, {80 * time.Second, true}, {11 * time.Second, false}} {
		e.clock.Advance(step.advance)
		_, err := e.v.Verify(t.Context(), tok)
		if (err == nil) != step.ok {
			t.Fatalf("at +%s: %v", step.advance, err)
		}
	}
	if n := e.v.tokens.Len(); n != 0 {
		t.Fatalf("%d tokens remembered after expiry", n)
	}
}

// TestVerifyErrors: Verify's refusals are *Error with the status, the
// challenge and a safe message, and are observed once each.
func TestVerifyErrors(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, ecKey)
	e := newEnv(t, testConfig(jwks.URL))
	tok := sign(t, ecKey.priv, jwa.ES256(), claims(e.clock.Now(), set("iss", "https://evil.test")))
	_, err := e.v.Verify(t.Context(), "Bearer "+tok)
	want := &Error{Status: 401, Header: `Bearer error="invalid_token"`, Message: "invalid token", Reason: "issuer"}
	if ae, ok := errors.AsType[*Error](err); !ok || *ae != *want {
		t.Fatalf("err = %#v, want %#v", err, want)
	}
	_, err = e.v.Verify(t.Context(), "")
	want = &Error{Status: 401, Header: `Bearer realm="pagebff"`, Message: "missing bearer token", Reason: "missing"}
	if ae, ok := errors.AsType[*Error](err); !ok || *ae != *want {
		t.Fatalf("err = %#v, want %#v", err, want)
	}
	if e.obs.count(ResultInvalid) != 1 || e.obs.count(ResultMissing) != 1 || e.obs.count(ResultOK) != 0 {
		t.Fatalf("observed %v", e.obs.results)
	}
}

// TestTokensNeverLogged: whatever goes wrong, no token (nor its signature)
// shows up in the logs or in an error.
func TestTokensNeverLogged(t *testing.T) {
	keys(t)
	jwks := newJWKSServer(t, ecKey)
	cfg := testConfig(jwks.URL)
	cfg.JWKSRefresh = time.Second
	e := newEnv(t, cfg)
	a := newApp(t, e.v, true)
	now := e.clock.Now()
	tokens := []string{
		sign(t, ecKey.priv, jwa.ES256(), claims(now)),
		sign(t, ecKey.priv, jwa.ES256(), claims(now, set("exp", now.Add(-time.Hour)))),
		sign(t, ecKey.priv, jwa.ES256(), claims(now, set("aud", []string{"x"}))),
		sign(t, ecKey.priv, jwa.ES256(), claims(now, set("sub", "bad/id"))),
		sign(t, rsaA.priv, jwa.RS256(), claims(now)),
		sign(t, rsaA.withKID(t, "forged"), jwa.RS256(), claims(now)),
		unsigned(t, ecKey.kid, claims(now)),
		"not.a.jwt",
	}
	for _, tok := range tokens {
		a.get(t, "/v1/pages/home", "Bearer "+tok)
		a.get(t, "/v1/pages/home?user_id=mallory", "Bearer "+tok)
		a.get(t, "/v1/pages/home?access_token="+tok, "")
		if _, err := e.v.Verify(context.Background(), "Bearer "+tok); err != nil && strings.Contains(err.Error(), tok) {
			t.Fatalf("error %q holds the token", err)
		}
	}
	jwks.status.Store(http.StatusBadGateway)
	eventually(t, "a failed refresh", func() bool { _, failed := e.obs.refreshes(); return failed >= 1 })
	e.v.Close()
	logs := e.logs.String()
	if !strings.Contains(logs, "request rejected") {
		t.Fatalf("nothing logged:\n%s", logs)
	}
	for _, tok := range tokens {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(logs, tok) || len(sig) > 8 && strings.Contains(logs, sig) {
			t.Fatalf("logs hold a token:\n%s", logs)
		}
	}
}

// TestNewConfigErrors: New refuses what cannot work, naming the key.
func TestNewConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no source", Config{Mode: ModeJWT}, "auth: mode jwt needs auth.jwks_url or auth.jwks_file"},
		{"relative URL", Config{Mode: ModeJWT, JWKSURL: "/jwks"}, "auth.jwks_url: /jwks: not an absolute http(s) URL"},
		{"missing file", Config{Mode: ModeJWT, JWKSFile: "/nonexistent/jwks.json"}, "auth.jwks_file: /nonexistent/jwks.json: open: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(t.Context(), tc.cfg, nil, nil)
			if err == nil || err.Error() != tc.want {
				v.Close()
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCloseDuringRefetch: Close waits for a refetch in flight and leaves
// no goroutine (goleak checks in TestMain).
func TestCloseDuringRefetch(t *testing.T) {
	keys(t)
	release := make(chan struct{})
	var hits int
	var mu sync.Mutex
	body := keySetJSON(t, ecKey)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		n := hits
		mu.Unlock()
		if n > 1 {
			select { // the refetch hangs until the test lets go
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	defer close(release)
	e := newEnv(t, testConfig(srv.URL))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := e.v.Verify(ctx, "Bearer "+sign(t, rsaA.priv, jwa.RS256(), claims(e.clock.Now())))
	if ae, ok := errors.AsType[*Error](err); !ok || ae.Reason != "unknown_kid" {
		t.Fatalf("err = %v", err)
	}
	e.v.Close()
}
