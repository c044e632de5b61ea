// Package dashboardtest drives GET /admin/dashboard in a real headless
// Chromium (github.com/chromedp/chromedp) against the real bff binary run
// with --demo: the page loads with no console errors, shows the three
// services, follows a breaker drill within three seconds and the page rate
// under load, asks for the admin token when one is set and shows nothing
// else until it is given, and fits a narrow window. It writes
// docs/dashboard.png, taken during a fault.
//
// The tests carry the build tag "browser", so chromedp stays a test-only
// dependency, out of the binary and of the default `go test ./...`:
//
//	go test -tags browser -count=1 -v ./dashboardtest/
//
// They need Chromium (apt-get install chromium); without it they skip,
// except under CI=true, where they fail.
package dashboardtest
