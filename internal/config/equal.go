package config

import "reflect"

// Equal reports whether two services have the same settings: a reload keeps
// an equal service's running pipeline (breaker state, cache, connections).
func (s Service) Equal(o Service) bool { return reflect.DeepEqual(s, o) }
