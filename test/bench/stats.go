package main

import (
	"math"
	"slices"
	"time"
)

// Stats summarises a sample of durations, in milliseconds.
type Stats struct {
	N      int     `json:"n"`
	Median float64 `json:"medianMs"`
	P99    float64 `json:"p99Ms"`
	Mean   float64 `json:"meanMs"`
	Min    float64 `json:"minMs"`
	Max    float64 `json:"maxMs"`
}

// summarize returns the median, p99 (nearest rank), mean, min and max.
func summarize(sample []time.Duration) Stats {
	if len(sample) == 0 {
		return Stats{}
	}
	ms := make([]float64, len(sample))
	sum := 0.0
	for i, d := range sample {
		ms[i] = float64(d) / float64(time.Millisecond)
		sum += ms[i]
	}
	slices.Sort(ms)
	return Stats{
		N:      len(ms),
		Median: median(ms),
		P99:    percentile(ms, 99),
		Mean:   sum / float64(len(ms)),
		Min:    ms[0],
		Max:    ms[len(ms)-1],
	}
}

// median of sorted values: the mean of the two middle ones for an even count.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// percentile of sorted values by the nearest-rank method.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// ratio returns a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
