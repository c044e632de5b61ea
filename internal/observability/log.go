package observability

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// NewLogger returns a JSON-lines logger writing to w at the named level
// (debug, info, warn or error; empty means info).
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if level != "" {
		if err := l.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}
