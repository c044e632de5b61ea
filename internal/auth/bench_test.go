package auth

import (
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
)

// BenchmarkVerifyES256: a token verified from scratch (parse, signature,
// claims), and one remembered.
func BenchmarkVerifyES256(b *testing.B) {
	keys(b)
	jwks := newJWKSServer(b, ecKey)
	e := newEnv(b, testConfig(jwks.URL))
	authz := "Bearer " + sign(b, ecKey.priv, jwa.ES256(), claims(e.clock.Now()))
	ctx := b.Context()
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.v.tokens.Purge()
			if _, err := e.v.Verify(ctx, authz); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		if _, err := e.v.Verify(ctx, authz); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.v.Verify(ctx, authz); err != nil {
				b.Fatal(err)
			}
		}
	})
}
