// Package observability holds pagebff's logging set-up and request ids:
// validating an incoming X-Request-Id and generating a UUID when it is
// missing or unusable.
package observability
