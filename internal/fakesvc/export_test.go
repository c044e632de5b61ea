package fakesvc

import "time"

// Jittered is jittered for the tests: the delay l draws, with the
// Service's Rand, without waiting for it.
func (s *Service) Jittered(l *Latency) time.Duration { return s.jittered(l) }
