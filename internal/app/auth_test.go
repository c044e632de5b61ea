package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/pagebff/pagebff/internal/app"
	"github.com/pagebff/pagebff/internal/config"
)

// issuer signs ES256 tokens and publishes its key on a JWKS server.
type issuer struct {
	priv jwk.Key
	srv  *httptest.Server
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	priv.Set(jwk.KeyIDKey, "k1")
	pub, _ := priv.PublicKey()
	set := jwk.NewSet()
	set.AddKey(pub)
	body, _ := json.Marshal(set)
	is := &issuer{priv: priv}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) token(t testing.TB, sub string) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Subject(sub).Issuer("https://issuer.test").Audience([]string{"pagebff"}).
		Expiration(time.Now().Add(time.Hour)).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), is.priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func withJWT(is *issuer, forward bool) func(*config.Config) {
	return func(c *config.Config) {
		c.Auth.Mode = "jwt"
		c.Auth.JWKSURL = is.srv.URL
		c.Auth.Issuer, c.Auth.Audience = "https://issuer.test", "pagebff"
		c.Auth.ForwardToken = forward
	}
}

// With auth.mode jwt the user comes from the verified token; no token,
// a bad one or a mismatching user_id is refused before any downstream call.
func TestAuthJWT(t *testing.T) {
	is := newIssuer(t)
	// The calls are counted: no hedge may add one.
	f := newFixture(t, handlers{}, func(c *config.Config) { withJWT(is, false)(c); noHedging(c) })
	tok := is.token(t, "abc") // the fixture's user service knows abc

	r := f.get(t, "/v1/pages/home")
	if r.resp.StatusCode != 401 || r.resp.Header.Get("WWW-Authenticate") != `Bearer realm="pagebff"` {
		t.Fatalf("no token: %d %q", r.resp.StatusCode, r.resp.Header.Get("WWW-Authenticate"))
	}
	r = f.get(t, "/v1/pages/home?user_id=abc", "Authorization", "Bearer "+tok[:len(tok)-4]+"AAAA")
	if r.resp.StatusCode != 401 || !strings.Contains(r.resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("bad signature: %d %q", r.resp.StatusCode, r.resp.Header.Get("WWW-Authenticate"))
	}
	r = f.get(t, "/v1/pages/home?user_id=bob", "Authorization", "Bearer "+tok)
	if r.resp.StatusCode != 403 || !strings.Contains(string(r.body), "user_id does not match the token") {
		t.Fatalf("mismatch: %d %s", r.resp.StatusCode, r.body)
	}
	if n := f.user.Hits() + f.catalog.Hits() + f.activity.Hits(); n != 0 {
		t.Fatalf("%d downstream calls for refused pages", n)
	}

	r = f.get(t, "/v1/pages/home", "Authorization", "Bearer "+tok)
	assertSection(t, r.page, "user", "ok", "")
	if reqs := f.user.Requests(); len(reqs) != 1 || reqs[0].Path != "/users/abc" || reqs[0].Header.Get("Authorization") != "" {
		t.Fatalf("user requests %+v, want /users/abc without the token (forward_token off)", reqs)
	}
	if strings.Contains(f.logs.String(), tok) {
		t.Fatal("the token appears in the log")
	}
}

// forward_token passes the Authorization header on.
func TestAuthForwardToken(t *testing.T) {
	is := newIssuer(t)
	f := newFixture(t, handlers{}, func(c *config.Config) { withJWT(is, true)(c); noHedging(c) }) // the calls are counted
	tok := is.token(t, "ada")
	f.get(t, "/v1/pages/home?user_id=ada", "Authorization", "Bearer "+tok)
	if reqs := f.activity.Requests(); len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "Bearer "+tok {
		t.Fatalf("activity requests %+v, want the token forwarded", reqs)
	}
}

// The key set is fetched at start: unreachable, the app does not start; a
// reload to an unreachable one is refused and the running keys stay.
func TestAuthJWKSUnreachable(t *testing.T) {
	is := newIssuer(t)
	cfg := config.Default()
	withJWT(is, false)(&cfg)
	cfg.Auth.JWKSURL = "http://127.0.0.1:1/jwks"
	for i := range cfg.Services {
		cfg.Services[i].Downstream.URL = "http://127.0.0.1:1"
	}
	if _, err := app.New(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "jwks") {
		t.Fatalf("New with an unreachable JWKS: %v, want a clear error", err)
	}

	f := newFixture(t, handlers{}, withJWT(is, false))
	next := f.app.Config()
	next.Auth.JWKSURL = "http://127.0.0.1:1/jwks"
	if _, err := f.app.Reload(next); err == nil {
		t.Fatal("reload to an unreachable JWKS accepted")
	}
	if r := f.get(t, "/v1/pages/home", "Authorization", "Bearer "+is.token(t, "ada")); r.resp.StatusCode != 200 {
		t.Fatalf("after the refused reload: %d, want the running keys to verify", r.resp.StatusCode)
	}
	// Reloading to mode none lets the query decide again.
	next.Auth = config.Default().Auth
	if _, err := f.app.Reload(next); err != nil {
		t.Fatal(err)
	}
	if r := f.get(t, "/v1/pages/home?user_id=bob"); r.resp.StatusCode != 200 {
		t.Fatalf("mode none after reload: %d", r.resp.StatusCode)
	}
}
