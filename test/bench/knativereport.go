package main

import (
	"os"
	"path/filepath"
	"strings"
)

// Markers of the Knative section in report.md: hack/e2e-knative.sh bench
// (cold starts and the data path on a real node with Knative) writes
// bench/knative.md and puts it between them; a run here keeps it.
const (
	knativeBegin = "<!-- knative section: written by `hack/e2e-knative.sh bench` (bench/knative.md) -->"
	knativeEnd   = "<!-- end of the knative section -->"
)

// withKnative puts the Knative section into a report, in place of the one
// it holds or at its end.
func withKnative(report, knative string) string {
	block := knativeBegin + "\n\n" + knative + "\n" + knativeEnd + "\n"
	if i, j := strings.Index(report, knativeBegin), strings.Index(report, knativeEnd); i >= 0 && j > i {
		return report[:i] + block + report[j+len(knativeEnd)+1:]
	}
	return strings.TrimRight(report, "\n") + "\n\n" + block
}

// knativeSection is the Knative section last written next to report.md.
func knativeSection(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "knative.md"))
	if err != nil {
		return ""
	}
	return string(b)
}
