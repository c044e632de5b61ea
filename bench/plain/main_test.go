package main

import (
	"testing"

	"github.com/pagebff/pagebff/bench/internal/basetest"
)

func TestPlainServesAPage(t *testing.T) { basetest.ServesAPage(t, run) }

func TestPlainNeedsURLs(t *testing.T) { basetest.NeedsURLs(t, run) }
