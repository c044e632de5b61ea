// Package auth verifies the JWT a frontend sends as "Authorization: Bearer
// <token>" and derives the user the page is for.
//
// A Verifier (New) checks a token's signature against a JSON Web Key Set,
// fetched from auth.jwks_url and kept fresh in the background, or read once
// from auth.jwks_file; it accepts RS256, PS256, ES256 and EdDSA only, checks
// exp and nbf with a leeway, and iss and aud when configured, and reads the
// user id from one claim. Middleware puts the verified user id (and, when
// asked, the Authorization header to forward) on the request's context,
// where UserID and Token read them, and answers 401 or 403 itself before any
// downstream call.
//
// Tokens never appear in logs, errors or spans: only a fixed vocabulary of
// reasons (Error.Reason) says why one was refused.
package auth
