package downstream

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize: whatever a service sends, Normalize either refuses it or
// returns a valid UTF-8 JSON object that is the input itself, or the input
// wrapped as {"items": ...}; the identity scanner agrees with encoding/json
// on what it reads, and the depth scanner never fails on valid input.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{``, `null`, ` {"id":"abc"} `, `[1,2]`, `{"a":[{"b":{}}]}`, `"x"`, `42`, `{"a":`,
		`{"id":"a\"b","x":[]}`, `{"\u0069d":1}`, `{"id":"a","id":"b"}`, "{\"s\":\"\xff\"}", `[[[[[[[[[[]]]]]]]]]]`, `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := Normalize(body)
		if err != nil {
			return
		}
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("Normalize(%q) = %q: not valid UTF-8 JSON", body, out)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(out, &obj); err != nil {
			t.Fatalf("Normalize(%q) = %q: not an object: %v", body, out, err)
		}
		trimmed := bytes.TrimSpace(body)
		if !bytes.Equal(out, trimmed) && !bytes.Equal(out, emptyItems) && !bytes.Equal(out, append(append([]byte(`{"items":`), trimmed...), '}')) {
			t.Fatalf("Normalize(%q) = %q: neither the input nor the input wrapped", body, out)
		}
		// The last "id" topLevelFields finds is the one encoding/json keeps.
		vs := topLevelFields(out, "id")
		want, wantOK := obj["id"]
		if (len(vs) > 0) != wantOK || wantOK && !bytes.Equal(bytes.TrimSpace(vs[len(vs)-1]), bytes.TrimSpace(want)) {
			t.Fatalf("topLevelFields(%q, id) = %q; encoding/json says %q, %v", out, vs, want, wantOK)
		}
		_ = depthWithin(out, 64) // must not panic on any valid input
	})
}
