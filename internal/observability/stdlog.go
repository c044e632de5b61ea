package observability

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strconv"
)

// RedirectStdLog sends what net/http and other libraries print through the
// standard library's log package to logger, as warn lines whose quoted
// parts are replaced by their length. It returns a func that restores the
// previous output and flags.
//
// The reason: Go's HTTP transport prints "Unsolicited response received on
// idle HTTP channel starting with %q" with the first bytes of a
// downstream's answer — another user's record, after a response desync —
// to stderr as plain text.
func RedirectStdLog(logger *slog.Logger) (restore func()) {
	w, flags, prefix := log.Writer(), log.Flags(), log.Prefix()
	log.SetOutput(stdlogWriter{logger})
	log.SetFlags(0)
	log.SetPrefix("")
	return func() {
		log.SetOutput(w)
		log.SetFlags(flags)
		log.SetPrefix(prefix)
	}
}

type stdlogWriter struct{ log *slog.Logger }

func (w stdlogWriter) Write(p []byte) (int, error) {
	w.log.LogAttrs(context.Background(), slog.LevelWarn, RedactQuoted(string(bytes.TrimRight(p, "\n"))),
		slog.String("source", "stdlib"))
	return len(p), nil
}

// RedactQuoted replaces every double-quoted part of msg (Go's %q, escapes
// included) by a note of its length, so that no bytes from a wire reach
// the log.
func RedactQuoted(msg string) string {
	var b []byte
	for i := 0; i < len(msg); i++ {
		if msg[i] != '"' {
			b = append(b, msg[i])
			continue
		}
		j := i + 1
		for j < len(msg) && msg[j] != '"' {
			if msg[j] == '\\' {
				j++
			}
			j++
		}
		n := j - i + 1
		if j >= len(msg) {
			n = len(msg) - i
		}
		b = append(b, "<"...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, " bytes not logged>"...)
		i = j
	}
	return string(b)
}
