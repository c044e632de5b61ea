package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ErrNoMetrics is returned by Scrape when the server has no /metrics.
var ErrNoMetrics = errors.New("no /metrics endpoint")

// Series is one sample of the Prometheus text format.
type Series struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Metrics is a scraped set of samples.
type Metrics []Series

// ReadMetrics parses the Prometheus text exposition format (with
// prometheus/common/expfmt) into flat samples: counters, gauges and untyped
// series by name; histograms and summaries as name_count and name_sum.
func ReadMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	var m Metrics
	for name, fam := range fams {
		for _, s := range fam.GetMetric() {
			labels := make(map[string]string, len(s.GetLabel()))
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			add := func(name string, v float64) { m = append(m, Series{Name: name, Labels: labels, Value: v}) }
			switch {
			case s.Counter != nil:
				add(name, s.GetCounter().GetValue())
			case s.Gauge != nil:
				add(name, s.GetGauge().GetValue())
			case s.Untyped != nil:
				add(name, s.GetUntyped().GetValue())
			case s.Histogram != nil:
				add(name+"_count", float64(s.GetHistogram().GetSampleCount()))
				add(name+"_sum", s.GetHistogram().GetSampleSum())
			case s.Summary != nil:
				add(name+"_count", float64(s.GetSummary().GetSampleCount()))
				add(name+"_sum", s.GetSummary().GetSampleSum())
			}
		}
	}
	return m, nil
}

// Find returns the value of the first sample named name whose labels
// include every pair of labels ("service", "user", ...).
func (m Metrics) Find(name string, labels ...string) (float64, bool) {
	for _, s := range m {
		if s.Name == name && s.has(labels) {
			return s.Value, true
		}
	}
	return 0, false
}

// Sum adds up the samples named name whose labels include every pair of
// labels.
func (m Metrics) Sum(name string, labels ...string) float64 {
	var sum float64
	for _, s := range m {
		if s.Name == name && s.has(labels) {
			sum += s.Value
		}
	}
	return sum
}

func (s Series) has(labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		if s.Labels[labels[i]] != labels[i+1] {
			return false
		}
	}
	return true
}

// Scrape fetches and parses url (a /metrics endpoint). A 404 is
// ErrNoMetrics, so callers can fall back while the endpoint does not exist.
func Scrape(ctx context.Context, c *http.Client, url string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, ErrNoMetrics
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return ReadMetrics(resp.Body)
}
