// Package testutil provides fake downstream services on httptest servers —
// healthy, slow, hanging, trickling, flaky — that record what they were sent.
// Slow and hanging handlers honour the request context, so a test's servers
// always shut down.
package testutil
