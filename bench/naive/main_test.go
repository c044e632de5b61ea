package main

import (
	"testing"

	"github.com/pagebff/pagebff/bench/internal/basetest"
)

func TestNaiveServesAPage(t *testing.T) { basetest.ServesAPage(t, run) }

func TestNaiveNeedsURLs(t *testing.T) { basetest.NeedsURLs(t, run) }
