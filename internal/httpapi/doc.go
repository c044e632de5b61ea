// Package httpapi is pagebff's HTTP surface: the Echo v5 server, its routes
// (routes.go), handlers, and the one error handler that turns errors into
// JSON statuses.
package httpapi
