package downstream

import (
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "object as it came", in: `{"id":"abc","n":1}`, want: `{"id":"abc","n":1}`},
		{name: "object with surrounding whitespace", in: " \n{\"a\":1}\r\n\t", want: `{"a":1}`},
		{name: "array wrapped", in: `[1,2]`, want: `{"items":[1,2]}`},
		{name: "empty array wrapped", in: `[]`, want: `{"items":[]}`},
		{name: "empty items kept", in: `{"items":[]}`, want: `{"items":[]}`},
		{name: "empty body", in: ``, want: `{"items":[]}`},
		{name: "whitespace body", in: " \n ", want: `{"items":[]}`},
		{name: "null", in: `null`, want: `{"items":[]}`},
		{name: "truncated object", in: `{"a":`, wantErr: true},
		{name: "html error page", in: `<html>oops</html>`, wantErr: true},
		{name: "bare string", in: `"hi"`, wantErr: true},
		{name: "bare number", in: `42`, wantErr: true},
		{name: "bare bool", in: `true`, wantErr: true},
		{name: "two values", in: `{} {}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Normalize(%q) = %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestPathTemplateResolve(t *testing.T) {
	tests := []struct {
		name, tmpl, user, want string
	}{
		{name: "user path", tmpl: "/users/{user_id}", user: "abc", want: "/users/abc"},
		{name: "no placeholder", tmpl: "/items", user: "abc", want: "/items"},
		{name: "placeholder twice", tmpl: "/u/{user_id}/x/{user_id}", user: "a", want: "/u/a/x/a"},
		{name: "escaped", tmpl: "/users/{user_id}", user: "a b/c", want: "/users/a%20b%2Fc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PathTemplate(tt.tmpl).Resolve(tt.user); got != tt.want {
				t.Fatalf("Resolve = %q, want %q", got, tt.want)
			}
		})
	}
}
