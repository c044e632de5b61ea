package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// keyKind is the kind of public key an accepted algorithm needs.
type keyKind uint8

const (
	kindRSA     keyKind = iota + 1 // RSA, at least minRSABits
	kindP256                       // EC on P-256
	kindEd25519                    // OKP on Ed25519
)

// minRSABits refuses RSA keys too short to trust (RFC 7518 §3.3 asks 2048).
const minRSABits = 2048

// acceptedAlg returns the key kind and jwx algorithm for an accepted "alg".
// Everything else is refused: "none", every HMAC (a public key used as an
// HMAC secret is the classic forgery), and the RSA, EC and EdDSA variants
// the contract does not list.
func acceptedAlg(alg string) (keyKind, jwa.SignatureAlgorithm, bool) {
	switch alg {
	case "RS256":
		return kindRSA, jwa.RS256(), true
	case "PS256":
		return kindRSA, jwa.PS256(), true
	case "ES256":
		return kindP256, jwa.ES256(), true
	case "EdDSA":
		return kindEd25519, jwa.EdDSA(), true
	}
	return 0, jwa.SignatureAlgorithm{}, false
}

// verifyKey is one usable public key of a set.
type verifyKey struct {
	kind keyKind
	// alg is the JWK's own "alg" when it has one: the only algorithm it
	// may verify. Empty means any accepted algorithm of its kind.
	alg string
	raw any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

func (k *verifyKey) equal(o *verifyKey) bool {
	if k.kind != o.kind || k.alg != o.alg {
		return false
	}
	e, ok := k.raw.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(o.raw)
}

// keyring is the usable keys of one or two sets, by kid. It is never
// changed once built, so it is safe for concurrent use.
type keyring struct {
	byKID map[string]*verifyKey
	// sole is the only usable key when there is exactly one, for a token
	// without a kid; nil otherwise.
	sole *verifyKey
}

// newKeyring keeps the keys of sets (nil sets are skipped) that this
// package can verify with; the first of a duplicated kid wins. Keys for
// encryption, symmetric keys, other curves and short RSA keys are left out.
func newKeyring(sets ...jwk.Set) *keyring {
	r := &keyring{byKID: map[string]*verifyKey{}}
	n := 0
	for _, set := range sets {
		if set == nil {
			continue
		}
		for i := range set.Len() {
			key, _ := set.Key(i)
			vk := usableKey(key)
			if vk == nil {
				continue
			}
			n++
			r.sole = vk
			if kid, ok := key.KeyID(); ok && kid != "" {
				if _, dup := r.byKID[kid]; !dup {
					r.byKID[kid] = vk
				}
			}
		}
	}
	if n != 1 {
		r.sole = nil
	}
	return r
}

func (r *keyring) empty() bool { return len(r.byKID) == 0 && r.sole == nil }

// lookup returns the key for a token's kid, or the sole key for a token
// without one; nil when there is none.
func (r *keyring) lookup(kid string, hasKID bool) *verifyKey {
	if !hasKID {
		return r.sole
	}
	return r.byKID[kid]
}

// equal reports whether r and o hold the same keys, so a refresh that
// changed nothing keeps the verified-token cache.
func (r *keyring) equal(o *keyring) bool {
	if len(r.byKID) != len(o.byKID) || (r.sole == nil) != (o.sole == nil) {
		return false
	}
	if r.sole != nil && !r.sole.equal(o.sole) {
		return false
	}
	for kid, k := range r.byKID {
		ok, found := o.byKID[kid]
		if !found || !k.equal(ok) {
			return false
		}
	}
	return true
}

// usableKey returns key as a verifyKey, or nil if it cannot verify an
// accepted algorithm.
func usableKey(key jwk.Key) *verifyKey {
	if use, ok := key.KeyUsage(); ok && use != "" && use != jwk.ForSignature.String() {
		return nil
	}
	vk := &verifyKey{}
	if alg, ok := key.Algorithm(); ok {
		vk.alg = alg.String()
	}
	pub, err := key.PublicKey() // symmetric keys have none
	if err != nil {
		return nil
	}
	var raw any
	if err := jwk.Export(pub, &raw); err != nil {
		return nil
	}
	switch raw := raw.(type) {
	case *rsa.PublicKey:
		if raw.N.BitLen() < minRSABits {
			return nil
		}
		vk.kind, vk.raw = kindRSA, raw
	case *ecdsa.PublicKey:
		if raw.Curve != elliptic.P256() {
			return nil
		}
		vk.kind, vk.raw = kindP256, raw
	case ed25519.PublicKey:
		vk.kind, vk.raw = kindEd25519, raw
	default:
		return nil
	}
	if vk.alg != "" {
		// A key pinned to an algorithm we refuse, or of another kind than
		// its alg needs, is of no use.
		if kind, _, ok := acceptedAlg(vk.alg); !ok || kind != vk.kind {
			return nil
		}
	}
	return vk
}

// parseKeySet parses a JWK set and checks it holds a usable key.
func parseKeySet(buf []byte) (jwk.Set, error) {
	set, err := jwk.Parse(buf)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if newKeyring(set).empty() {
		return nil, errors.New("no usable signing key (RSA of 2048 bits or more, EC P-256 or Ed25519, not for encryption)")
	}
	return set, nil
}

// jwksClient is the HTTP client the jwk.Cache fetches through. It is the
// one place that judges a fetch: the status, the size, whether the body
// parses as a set with a usable key. It refuses a bad answer with an error,
// so the cache keeps the last good keys, and it logs and counts every
// outcome. Its errors name the URL without its userinfo.
type jwksClient struct {
	http    *http.Client
	display string // the URL without userinfo
	log     *slog.Logger
	obs     Observer

	mu      sync.Mutex
	started bool       // guarded by mu; false until the first fetch answered
	first   chan error // buffered; receives the first fetch's outcome
}

var _ jwk.HTTPClient = (*jwksClient)(nil)

// Do fetches the key set. The first outcome goes to New, which reports a
// failure itself; later failures are logged here, once each.
func (c *jwksClient) Do(req *http.Request) (*http.Response, error) {
	res, err := c.fetch(req)
	c.obs.JWKSRefresh(err == nil)
	c.mu.Lock()
	first := !c.started
	c.started = true
	c.mu.Unlock()
	if first {
		c.first <- err // buffered: New may have given up waiting
	} else if err != nil {
		c.log.LogAttrs(req.Context(), slog.LevelWarn, "auth: refreshing the JWKS failed; keeping the last good keys",
			slog.String("url", c.display), slog.String("error", err.Error()))
	}
	return res, err
}

func (c *jwksClient) fetch(req *http.Request) (*http.Response, error) {
	res, err := c.http.Do(req)
	if err != nil {
		// *url.Error repeats the URL, username included: name it ourselves.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", c.display, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", c.display, res.StatusCode)
	}
	buf, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", c.display, err)
	}
	if len(buf) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: key set larger than 1 MiB", c.display)
	}
	if _, err := parseKeySet(buf); err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.display, err)
	}
	// The cache parses the body once more; a key set is a few KiB, a few
	// times an hour.
	res.Body = io.NopCloser(bytes.NewReader(buf))
	res.ContentLength = int64(len(buf))
	return res, nil
}
