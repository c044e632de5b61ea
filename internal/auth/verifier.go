package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/pagebff/pagebff/internal/bff"
)

const (
	// fetchTimeout bounds every fetch of the key set, the first included.
	fetchTimeout = 5 * time.Second
	// refetchWait is the most a request waits for the key set refetched
	// for its unknown kid: well inside a page's 500ms.
	refetchWait = 250 * time.Millisecond
	// refetchInterval is how often, at most, a token with an unknown kid
	// may send us to the JWKS endpoint: a flood of forged kids must not
	// hammer it.
	refetchInterval = 10 * time.Second
	// maxTokenBytes refuses absurd tokens before any parsing; real ones
	// are one or two KiB.
	maxTokenBytes = 8 << 10
	// tokenCacheSize bounds the verified tokens remembered.
	tokenCacheSize = 10_000
)

// The WWW-Authenticate challenges (RFC 6750 §3).
const (
	challengeMissing = `Bearer realm="pagebff"`
	challengeInvalid = `Bearer error="invalid_token"`
)

// The results Observer.Verified counts.
const (
	ResultOK       = "ok"
	ResultMissing  = "missing"
	ResultInvalid  = "invalid"
	ResultMismatch = "mismatch"
)

// Observer counts what a Verifier does. Its methods are called on the
// request path and from the refresh goroutine, so they must be cheap and
// safe for concurrent use. A nil Observer counts nothing.
type Observer interface {
	// JWKSRefresh is called after every fetch of auth.jwks_url, the first
	// one included: ok is false when the fetch failed and the last good
	// keys were kept.
	JWKSRefresh(ok bool)
	// Verified is called once per request checked, with ResultOK,
	// ResultMissing, ResultInvalid or ResultMismatch.
	Verified(result string)
}

type nopObserver struct{}

func (nopObserver) JWKSRefresh(bool) {}
func (nopObserver) Verified(string)  {}

// Error is a refused request: the status, the WWW-Authenticate value (empty
// for 403) and a message safe to show the client. Reason says why, from a
// fixed vocabulary, for logs: missing, malformed, too_long, query_token,
// alg, crit, unknown_kid, key_mismatch, signature, expired, not_yet_valid,
// issued_at, issuer, audience, missing_claim, user_claim, mismatch. None of
// them ever carries token bytes.
type Error struct {
	Status  int
	Header  string
	Message string
	Reason  string
}

// Error returns the message and the reason.
func (e *Error) Error() string { return e.Message + " (" + e.Reason + ")" }

// StatusCode makes Echo's error handlers answer with e's status.
func (e *Error) StatusCode() int { return e.Status }

func errMissing() *Error {
	return &Error{Status: http.StatusUnauthorized, Header: challengeMissing, Message: "missing bearer token", Reason: "missing"}
}

func errInvalid(reason string) *Error {
	return &Error{Status: http.StatusUnauthorized, Header: challengeInvalid, Message: "invalid token", Reason: reason}
}

func errMismatch() *Error {
	return &Error{Status: http.StatusForbidden, Message: "user_id does not match the token", Reason: "mismatch"}
}

// result is what Observer.Verified counts for e.
func (e *Error) result() string {
	switch {
	case e.Reason == "missing":
		return ResultMissing
	case e.Status == http.StatusForbidden:
		return ResultMismatch
	}
	return ResultInvalid
}

// Verifier verifies bearer tokens. Create it with New and stop it with
// Close; it is safe for concurrent use. A page never waits on the JWKS
// endpoint, except for the bounded refetch a token with an unknown kid
// triggers.
type Verifier struct {
	cfg  Config
	log  *slog.Logger
	obs  Observer
	now  func() time.Time
	opts []jwt.ParseOption // the validation options every parse shares

	file      jwk.Set // from auth.jwks_file; nil without one
	cache     *jwk.Cache
	res       *httprc.ResourceBase[jwk.Set] // auth.jwks_url's set in cache; nil without one
	transport *http.Transport
	life      context.Context // done at Close; the cache and refetches run under it
	stop      context.CancelFunc
	wg        sync.WaitGroup // the refetch in flight

	keys   atomic.Pointer[keyState]
	keysMu sync.Mutex // serialises rebuilding keys

	refetchMu   sync.Mutex
	lastRefetch time.Time     // guarded by refetchMu
	refetching  chan struct{} // guarded by refetchMu; closed when the refetch in flight ends
	closed      bool          // guarded by refetchMu

	tokens    *lru.Cache[[sha256.Size]byte, verified]
	closeOnce sync.Once
}

// keyState is the keyring built from one version of the fetched set.
type keyState struct {
	set  jwk.Set
	ring *keyring
}

// verified is a remembered good token, by the SHA-256 of its bytes.
type verified struct {
	userID string
	exp    time.Time
	ring   *keyring // the keys it verified under: a rotation forgets it
}

// New returns a Verifier for cfg, or nil and no error when cfg.Mode is not
// jwt (Middleware lets every request through for a nil Verifier). It reads
// auth.jwks_file and fetches auth.jwks_url before it returns, within 5s,
// and fails when either yields no usable key. cfg should have passed
// Validate; a zero JWKSRefresh or UserClaim takes the default. A nil log
// logs nothing, a nil obs counts nothing. ctx bounds the start only.
func New(ctx context.Context, cfg Config, log *slog.Logger, obs Observer) (*Verifier, error) {
	return newVerifier(ctx, cfg, log, obs, time.Now)
}

// newVerifier is New with a clock, for tests.
func newVerifier(ctx context.Context, cfg Config, log *slog.Logger, obs Observer, now func() time.Time) (*Verifier, error) {
	if cfg.Mode != ModeJWT {
		return nil, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if obs == nil {
		obs = nopObserver{}
	}
	def := Default()
	if cfg.JWKSRefresh <= 0 {
		cfg.JWKSRefresh = def.JWKSRefresh
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = def.UserClaim
	}
	if cfg.JWKSURL == "" && cfg.JWKSFile == "" {
		return nil, errors.New("auth: mode jwt needs auth.jwks_url or auth.jwks_file")
	}
	tokens, err := lru.New[[sha256.Size]byte, verified](tokenCacheSize)
	if err != nil {
		return nil, fmt.Errorf("auth: token cache: %w", err)
	}
	v := &Verifier{cfg: cfg, log: log, obs: obs, now: now, tokens: tokens}
	v.opts = []jwt.ParseOption{
		jwt.WithAcceptableSkew(cfg.Leeway),
		jwt.WithClock(jwt.ClockFunc(now)),
		// Without exp a token never expires, and nothing bounds its
		// stay in the cache.
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	}
	if cfg.Issuer != "" {
		v.opts = append(v.opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		v.opts = append(v.opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.JWKSFile != "" {
		set, err := readJWKSFile(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwks_file: %s: %w", cfg.JWKSFile, err)
		}
		v.file = set
	}
	if cfg.JWKSURL != "" {
		if err := v.start(ctx); err != nil {
			v.Close()
			return nil, err
		}
	}
	v.currentRing()
	return v, nil
}

// start fetches auth.jwks_url once and leaves the jwk.Cache refreshing it
// every JWKSRefresh.
func (v *Verifier) start(ctx context.Context) error {
	u, display := v.cfg.JWKSURL, redactURL(v.cfg.JWKSURL)
	if _, err := parseJWKSURL(u); err != nil {
		return fmt.Errorf("auth.jwks_url: %s: %w", display, err)
	}
	v.transport = http.DefaultTransport.(*http.Transport).Clone()
	client := &jwksClient{
		// The library's defaults refuse a redirect from https to http.
		http:    jwk.WrapHTTPClientDefaults(&http.Client{Transport: v.transport, Timeout: fetchTimeout}),
		display: display, log: v.log, obs: v.obs, first: make(chan error, 1),
	}
	// The cache outlives ctx, which bounds the start only.
	v.life, v.stop = context.WithCancel(context.WithoutCancel(ctx))
	cache, err := jwk.NewCache(v.life, httprc.NewClient(httprc.WithWorkers(1), httprc.WithHTTPClient(client)))
	if err != nil {
		return fmt.Errorf("auth.jwks_url: start the key cache: %w", err)
	}
	v.cache = cache
	startCtx, cancel := context.WithTimeout(ctx, fetchTimeout+time.Second)
	defer cancel()
	failed := func(err error) error { return fmt.Errorf("auth.jwks_url: fetching the key set failed: %w", err) }
	// Not WaitReady: it would wait out the whole timeout on a failed
	// fetch, whose error only the client sees.
	err = cache.Register(startCtx, u, jwk.WithHTTPClient(client), jwk.WithWaitReady(false),
		jwk.WithConstantInterval(v.cfg.JWKSRefresh), jwk.WithMinInterval(v.cfg.JWKSRefresh))
	if err != nil {
		return failed(err)
	}
	select {
	case err := <-client.first:
		if err != nil {
			return failed(err)
		}
	case <-startCtx.Done():
		return failed(fmt.Errorf("GET %s: %w", display, context.Cause(startCtx)))
	}
	res, err := cache.LookupResource(startCtx, u)
	if err == nil {
		err = res.Ready(startCtx)
	}
	if err != nil {
		return failed(err)
	}
	v.res = res
	return nil
}

// Close stops the background refresh and waits for it. It is safe to call
// more than once, and on a nil Verifier.
func (v *Verifier) Close() {
	if v == nil {
		return
	}
	v.closeOnce.Do(func() {
		v.refetchMu.Lock()
		v.closed = true
		v.refetchMu.Unlock()
		if v.stop != nil {
			v.stop()
		}
		v.wg.Wait()
		if v.cache != nil {
			ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
			_ = v.cache.Shutdown(ctx) // its context is already cancelled: this waits for its goroutines
			cancel()
		}
		if v.transport != nil {
			v.transport.CloseIdleConnections()
		}
	})
}

// Verify checks the raw Authorization header value and returns the user id
// the token names. A refusal is an *Error: ResultMissing without a bearer
// token, ResultInvalid for a bad one. Each call counts once with the
// Observer.
func (v *Verifier) Verify(ctx context.Context, authorization string) (userID string, err error) {
	userID, e := v.verify(ctx, authorization)
	if e != nil {
		v.obs.Verified(e.result())
		return "", e
	}
	v.obs.Verified(ResultOK)
	return userID, nil
}

// verify is Verify without counting.
func (v *Verifier) verify(ctx context.Context, authorization string) (string, *Error) {
	if authorization == "" {
		return "", errMissing()
	}
	tok, ok := bearerToken(authorization)
	switch {
	case !ok && hasBearerScheme(authorization):
		return "", errInvalid("malformed")
	case !ok:
		// Another scheme is no bearer token at all: the realm challenge,
		// without an error code (RFC 6750 §3.1).
		return "", errMissing()
	case len(tok) > maxTokenBytes:
		return "", errInvalid("too_long")
	}
	raw := []byte(tok)
	sum := sha256.Sum256(raw)
	if hit, ok := v.tokens.Get(sum); ok {
		if v.now().Before(hit.exp.Add(v.cfg.Leeway)) && hit.ring == v.currentRing() {
			return hit.userID, nil
		}
		v.tokens.Remove(sum)
	}
	return v.verifySlow(ctx, raw, sum)
}

// errRefused stops a parse whose key the provider refused; the reason is
// recorded beside it.
var errRefused = errors.New("key refused")

// verifySlow parses and verifies the token, and remembers it when good.
func (v *Verifier) verifySlow(ctx context.Context, raw []byte, sum [sha256.Size]byte) (string, *Error) {
	var ring *keyring
	var reason string
	// The provider picks the one key the token may verify under: the
	// algorithm must be accepted, the kid known (after at most one
	// bounded refetch), and the key of the kind the algorithm needs.
	// Handing jwx exactly (header alg, that key) is what keeps "alg"
	// from choosing how the key is used.
	kp := jws.KeyProviderFunc(func(ctx context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		hdr := sig.ProtectedHeaders()
		alg, _ := hdr.Algorithm()
		kind, salg, ok := acceptedAlg(alg.String())
		if !ok {
			reason = "alg"
			return errRefused
		}
		if _, ok := hdr.Critical(); ok {
			// We understand no extension, so none may be critical
			// (RFC 7515 §4.1.11); jwx alone would ignore the list.
			reason = "crit"
			return errRefused
		}
		kid, hasKID := hdr.KeyID()
		r := v.currentRing()
		k := r.lookup(kid, hasKID)
		if k == nil && hasKID && v.res != nil && v.refetch(ctx) {
			r = v.currentRing()
			k = r.lookup(kid, hasKID)
		}
		switch {
		case k == nil:
			reason = "unknown_kid"
			return errRefused
		case k.kind != kind, k.alg != "" && k.alg != alg.String():
			reason = "key_mismatch"
			return errRefused
		}
		ring = r
		sink.Key(salg, k.raw)
		return nil
	})
	opts := make([]jwt.ParseOption, 0, len(v.opts)+2)
	opts = append(append(opts, v.opts...), jwt.WithKeyProvider(kp), jwt.WithContext(ctx))
	t, err := jwt.Parse(raw, opts...)
	if err != nil {
		return "", errInvalid(classify(err, reason))
	}
	var userID string
	if err := t.Get(v.cfg.UserClaim, &userID); err != nil || !bff.ValidUserID(userID) {
		return "", errInvalid("user_claim")
	}
	exp, _ := t.Expiration() // required above
	v.tokens.Add(sum, verified{userID: userID, exp: exp, ring: ring})
	return userID, nil
}

// classify names why jwt.Parse refused a token.
func classify(err error, reason string) string {
	switch {
	case reason != "":
		return reason
	case errors.Is(err, jwt.TokenExpiredError()):
		return "expired"
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return "not_yet_valid"
	case errors.Is(err, jwt.InvalidIssuedAtError()):
		return "issued_at"
	case errors.Is(err, jwt.InvalidIssuerError()):
		return "issuer"
	case errors.Is(err, jwt.InvalidAudienceError()):
		return "audience"
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return "missing_claim"
	case errors.Is(err, jws.VerificationError()):
		return "signature"
	}
	return "malformed"
}

// currentRing returns the keyring of the set the cache holds now, building
// it once per fetched version. A version with the same keys as the last
// keeps the last keyring, so the verified tokens stay remembered.
func (v *Verifier) currentRing() *keyring {
	var set jwk.Set
	if v.res != nil {
		set = v.res.Resource()
	}
	if st := v.keys.Load(); st != nil && st.set == set {
		return st.ring
	}
	v.keysMu.Lock()
	defer v.keysMu.Unlock()
	st := v.keys.Load()
	if st != nil && st.set == set {
		return st.ring
	}
	ring := newKeyring(set, v.file)
	if st != nil && ring.equal(st.ring) {
		ring = st.ring
	}
	v.keys.Store(&keyState{set: set, ring: ring})
	return ring
}

// refetch fetches the key set again for a token with an unknown kid, at
// most once per refetchInterval across all requests; a request arriving
// while one is in flight waits for it instead. It reports whether a fetch
// ended (not whether it found the kid) before ctx was done.
func (v *Verifier) refetch(ctx context.Context) bool {
	v.refetchMu.Lock()
	done := v.refetching
	if done == nil {
		now := v.now()
		if v.closed || !v.lastRefetch.IsZero() && now.Sub(v.lastRefetch) < refetchInterval {
			v.refetchMu.Unlock()
			return false
		}
		v.lastRefetch = now
		done = make(chan struct{})
		v.refetching = done
		v.wg.Add(1)
		// Its own goroutine, so one client going away does not cancel
		// the fetch the others wait for.
		go v.runRefetch(done)
	}
	v.refetchMu.Unlock()
	// A page waits at most refetchWait: the fetch goes on for later
	// requests, this one is refused as holding an unknown key.
	t := time.NewTimer(refetchWait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

func (v *Verifier) runRefetch(done chan struct{}) {
	defer v.wg.Done()
	ctx, cancel := context.WithTimeout(v.life, fetchTimeout)
	_, _ = v.cache.Refresh(ctx, v.cfg.JWKSURL) // the client logs and counts the outcome
	cancel()
	v.refetchMu.Lock()
	v.refetching = nil
	v.refetchMu.Unlock()
	close(done)
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
