package observability

import (
	"bytes"
	"log"
	"log/slog"
	"strings"
	"testing"
)

// TestTransportLogLineHasNoBodyBytes: net/http's transport printed the
// first bytes of an unsolicited downstream response (another user's
// record) as plain text on stderr.
func TestTransportLogLineHasNoBodyBytes(t *testing.T) {
	var out bytes.Buffer
	restore := RedirectStdLog(slog.New(slog.NewJSONHandler(&out, nil)))
	log.Printf("Unsolicited response received on idle HTTP channel starting with %q; err=%v",
		"HTTP/1.1 200 OK\r\n\r\n{\"id\":\"intruder\",\"email\":\"eve@example.com\"}", nil)
	restore()
	line := out.String()
	if strings.Contains(line, "intruder") || strings.Contains(line, "eve@example.com") {
		t.Fatalf("log line carries body bytes: %s", line)
	}
	if !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, "Unsolicited response") || !strings.Contains(line, "bytes not logged") {
		t.Fatalf("log line = %s, want a structured warning saying what happened", line)
	}
}

func TestRedactQuoted(t *testing.T) {
	tests := []struct{ in, want string }{
		{`no quotes`, `no quotes`},
		{`a "b" c`, `a <3 bytes not logged> c`},
		{`esc "a\"b" end`, `esc <6 bytes not logged> end`},
		{`open "abc`, `open <4 bytes not logged>`},
	}
	for _, tt := range tests {
		if got := RedactQuoted(tt.in); got != tt.want {
			t.Errorf("RedactQuoted(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
