// Package app is pagebff's composition root: it turns a config.Config into
// running parts — one call pipeline per service, the page assembler and the
// HTTP server — and serves them with graceful shutdown.
//
// STYLE.md has only cmd/bff wire concrete types; this package is that wiring,
// moved out of main so that the tests, the demo and main build exactly the
// same pipeline. cmd/bff stays signals, flags and exit codes.
package app
