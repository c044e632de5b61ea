package bff

import (
	"errors"
	"fmt"
)

// FieldError is one invalid configuration value: the key (dotted, as written
// in the config file), the offending value, and what is allowed.
type FieldError struct {
	Key   string
	Value any
	Want  string
}

// Error reads like `services.user.timeout: "abc" is not allowed; want a Go duration such as 300ms`.
func (e *FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("%s: %s", e.Key, e.Want)
	}
	if s, ok := e.Value.(string); ok {
		return fmt.Sprintf("%s: %q is not allowed; want %s", e.Key, s, e.Want)
	}
	return fmt.Sprintf("%s: %v is not allowed; want %s", e.Key, e.Value, e.Want)
}

// Invalid returns a *FieldError.
func Invalid(key string, value any, want string) *FieldError {
	return &FieldError{Key: key, Value: value, Want: want}
}

// PrefixKeys prepends prefix to the Key of every *FieldError in err (which may
// be a tree built with errors.Join) and returns the joined result. Other errors
// are kept as they are. A nil err stays nil.
func PrefixKeys(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range Flatten(err) {
		if fe, ok := e.(*FieldError); ok {
			c := *fe
			c.Key = prefix + c.Key
			e = &c
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Flatten returns the leaves of an errors.Join tree, in order.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}
