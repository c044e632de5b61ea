package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/pagebff/pagebff/internal/testutil"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "pagebff"
)

// testKey is a private key to sign with, and its public JWK to publish.
type testKey struct {
	priv jwk.Key
	pub  jwk.Key
	kid  string
}

var (
	keysOnce sync.Once
	rsaA     testKey // RSA, no alg on the JWK: RS256 and PS256
	rsaB     testKey // RSA, the key rotated in
	rsaPS    testKey // RSA pinned to alg PS256
	ecKey    testKey // EC P-256
	edKey    testKey // Ed25519
	rsaPEM   []byte  // rsaA's public key as PEM, the HMAC-confusion secret
)

// keys generates the test keys once: RSA generation is slow.
func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		ra, _ := rsa.GenerateKey(rand.Reader, 2048)
		rb, _ := rsa.GenerateKey(rand.Reader, 2048)
		rp, _ := rsa.GenerateKey(rand.Reader, 2048)
		ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		rsaA = mustTestKey(ra, "rsa-a", "")
		rsaB = mustTestKey(rb, "rsa-b", "")
		rsaPS = mustTestKey(rp, "rsa-ps", "PS256")
		ecKey = mustTestKey(ec, "ec-1", "")
		edKey = mustTestKey(ed, "ed-1", "")
		der, _ := x509.MarshalPKIXPublicKey(&ra.PublicKey)
		rsaPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	})
}

func mustTestKey(raw any, kid, alg string) testKey {
	priv, err := jwk.Import(raw)
	if err != nil {
		panic(err)
	}
	_ = priv.Set(jwk.KeyIDKey, kid)
	pub, err := priv.PublicKey()
	if err != nil {
		panic(err)
	}
	if alg != "" {
		_ = pub.Set(jwk.AlgorithmKey, alg)
	}
	return testKey{priv: priv, pub: pub, kid: kid}
}

// withKID returns k's private key under another kid, to sign tokens whose
// kid the set does not have, or names a key of another kind.
func (k testKey) withKID(t testing.TB, kid string) jwk.Key {
	t.Helper()
	c, err := k.priv.Clone()
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Set(jwk.KeyIDKey, kid)
	return c
}

// keySetJSON is the JWKS document publishing keys.
func keySetJSON(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k.pub); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newFakeClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// claims are a good token's claims at now; opts change them.
func claims(now time.Time, opts ...func(map[string]any)) map[string]any {
	c := map[string]any{
		"sub": "abc", "iss": testIssuer, "aud": []string{testAudience},
		"iat": now, "exp": now.Add(5 * time.Minute), "jti": randomID(),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func set(name string, v any) func(map[string]any) { return func(c map[string]any) { c[name] = v } }
func unset(name string) func(map[string]any)      { return func(c map[string]any) { delete(c, name) } }

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sign returns a compact JWT of claims signed with key under alg.
func sign(t testing.TB, key jwk.Key, alg jwa.SignatureAlgorithm, c map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for name, v := range c {
		if err := tok.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unsigned returns a JWT with alg none and an empty signature, as a forger
// would send it.
func unsigned(t testing.TB, kid string, c map[string]any) string {
	t.Helper()
	hdr, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	body, _ := json.Marshal(c)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(body) + "."
}

// jwksServer is a JWKS endpoint that counts its hits and can fail.
type jwksServer struct {
	*httptest.Server
	hits   atomic.Int64
	body   atomic.Pointer[[]byte]
	status atomic.Int64 // 0 answers 200 with body
}

func newJWKSServer(t testing.TB, keys ...testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.publish(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if st := s.status.Load(); st != 0 {
			http.Error(w, "down", int(st))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) publish(t testing.TB, keys ...testKey) {
	t.Helper()
	b := keySetJSON(t, keys...)
	s.body.Store(&b)
}

func (s *jwksServer) serveRaw(b []byte) { s.body.Store(&b) }

// testObserver records what a Verifier reports.
type testObserver struct {
	mu        sync.Mutex
	refreshOK int
	refreshKO int
	results   map[string]int
}

func (o *testObserver) JWKSRefresh(ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ok {
		o.refreshOK++
	} else {
		o.refreshKO++
	}
}

func (o *testObserver) Verified(result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.results == nil {
		o.results = map[string]int{}
	}
	o.results[result]++
}

func (o *testObserver) refreshes() (ok, failed int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refreshOK, o.refreshKO
}

func (o *testObserver) count(result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.results[result]
}

// testConfig is mode jwt against url, with an issuer and an audience, and
// a refresh too slow to happen during a test.
func testConfig(url string) Config {
	c := Default()
	c.Mode = ModeJWT
	c.JWKSURL = url
	c.JWKSRefresh = time.Hour
	c.Issuer = testIssuer
	c.Audience = testAudience
	return c
}

// env is a Verifier under test with its clock, observer and logs.
type env struct {
	v     *Verifier
	clock *testutil.Clock
	obs   *testObserver
	logs  *testutil.LogBuffer
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	e := &env{clock: newFakeClock(), obs: &testObserver{}, logs: &testutil.LogBuffer{}}
	v, err := newVerifier(context.Background(), cfg, e.logs.Logger(), e.obs, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	e.v = v
	return e
}

// app is an Echo app serving /v1/pages/home behind Middleware, whose
// handler echoes what the middleware left on the context and counts its
// calls: a call stands for the downstream calls a page makes.
type app struct {
	*httptest.Server
	calls atomic.Int64
}

func newApp(t testing.TB, v *Verifier, forward bool) *app {
	t.Helper()
	a := &app{}
	e := echo.New()
	h := func(c *echo.Context) error {
		a.calls.Add(1)
		ctx := c.Request().Context()
		uid, ok := UserID(ctx)
		tok, _ := Token(ctx)
		return c.JSON(http.StatusOK, map[string]any{"user_id": uid, "verified": ok, "forward": tok})
	}
	e.GET("/v1/pages/home", h, Middleware(v, forward))
	e.HEAD("/v1/pages/home", h, Middleware(v, forward))
	a.Server = httptest.NewServer(e)
	t.Cleanup(a.Close)
	return a
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// get calls the app with authorization (none when empty) and extra headers.
func (a *app) do(t testing.TB, method, path, authorization string) answer {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	ans := answer{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &ans.body); err != nil {
			t.Fatalf("body %q: %v", raw, err)
		}
	}
	return ans
}

func (a *app) get(t testing.TB, path, authorization string) answer {
	t.Helper()
	return a.do(t, http.MethodGet, path, authorization)
}

// eventually waits up to 15s for cond: the key set is refreshed on a 1s
// timer, and a loaded machine may miss a few.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.EventuallyWithin(t, 15*time.Second, what, cond)
}
