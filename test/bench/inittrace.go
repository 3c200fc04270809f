package main

import (
	"bufio"
	"slices"
	"strconv"
	"strings"
)

// initEntry is one line of GODEBUG=inittrace=1 output:
//
//	init k8s.io/api/core/v1 @3.1 ms, 0.41 ms clock, 180320 bytes, 1502 allocs
type initEntry struct {
	Package string  `json:"package"`
	AtMs    float64 `json:"atMs"`
	ClockMs float64 `json:"clockMs"`
	Bytes   int64   `json:"bytes"`
	Allocs  int64   `json:"allocs"`
}

// parseInitTrace returns the init lines of a process's stderr; other lines
// (the program's own logs) are skipped.
func parseInitTrace(stderr string) []initEntry {
	var entries []initEntry
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if e, ok := parseInitLine(sc.Text()); ok {
			entries = append(entries, e)
		}
	}
	return entries
}

func parseInitLine(line string) (initEntry, bool) {
	rest, ok := strings.CutPrefix(line, "init ")
	if !ok {
		return initEntry{}, false
	}
	pkg, rest, ok := strings.Cut(rest, " @")
	if !ok {
		return initEntry{}, false
	}
	parts := strings.Split(rest, ", ")
	if len(parts) != 4 {
		return initEntry{}, false
	}
	num := func(s, unit string) (float64, bool) {
		v, ok := strings.CutSuffix(s, unit)
		if !ok {
			return 0, false
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	at, ok1 := num(parts[0], " ms")
	clock, ok2 := num(parts[1], " ms clock")
	bytes, ok3 := num(parts[2], " bytes")
	allocs, ok4 := num(parts[3], " allocs")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return initEntry{}, false
	}
	return initEntry{Package: pkg, AtMs: at, ClockMs: clock, Bytes: int64(bytes), Allocs: int64(allocs)}, true
}

// initSummary sums one run's package init figures.
type initSummary struct {
	Packages int     `json:"packages"`
	ClockMs  float64 `json:"clockMs"`
	Bytes    int64   `json:"bytes"`
	Allocs   int64   `json:"allocs"`
	// MainAtMs is when the last package init finished, from process start:
	// when main begins.
	MainAtMs float64 `json:"mainAtMs"`
}

func summarizeInit(entries []initEntry) initSummary {
	var s initSummary
	for _, e := range entries {
		s.Packages++
		s.ClockMs += e.ClockMs
		s.Bytes += e.Bytes
		s.Allocs += e.Allocs
		s.MainAtMs = max(s.MainAtMs, e.AtMs+e.ClockMs)
	}
	return s
}

// packageInit is one package's init cost: the median of its clock over runs.
type packageInit struct {
	Package string  `json:"package"`
	ClockMs float64 `json:"medianClockMs"`
	Bytes   int64   `json:"bytes"`
	Allocs  int64   `json:"allocs"`
}

// topInits returns the n packages with the largest median init clock over
// several runs of the same binary.
func topInits(runs [][]initEntry, n int) []packageInit {
	clocks := map[string][]float64{}
	last := map[string]initEntry{}
	for _, run := range runs {
		for _, e := range run {
			clocks[e.Package] = append(clocks[e.Package], e.ClockMs)
			last[e.Package] = e
		}
	}
	var all []packageInit
	for pkg, c := range clocks {
		slices.Sort(c)
		all = append(all, packageInit{Package: pkg, ClockMs: median(c), Bytes: last[pkg].Bytes, Allocs: last[pkg].Allocs})
	}
	slices.SortFunc(all, func(a, b packageInit) int {
		if a.ClockMs != b.ClockMs {
			if a.ClockMs > b.ClockMs {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Package, b.Package)
	})
	return all[:min(n, len(all))]
}
