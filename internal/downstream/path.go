package downstream

import (
	"net/url"
	"strings"
)

// PathTemplate is a request path with an optional {user_id} placeholder.
type PathTemplate string

// Resolve substitutes the path-escaped userID for every {user_id}.
func (p PathTemplate) Resolve(userID string) string {
	s := string(p)
	if !strings.Contains(s, "{user_id}") {
		return s
	}
	return strings.ReplaceAll(s, "{user_id}", url.PathEscape(userID))
}
