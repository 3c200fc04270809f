package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat; the
// kernel reports it as 100 on every Linux architecture Go runs on here.
const clockTicks = 100

// memory is a process's resident set, in KiB, from /proc/<pid>/status.
type memory struct {
	PeakKiB    int64 `json:"vmHWMKiB"`
	CurrentKiB int64 `json:"vmRSSKiB"`
	// The current RSS split: anonymous memory (Go heap, stacks, runtime)
	// and file-backed pages (the binary's text and data, reclaimable).
	AnonKiB int64 `json:"rssAnonKiB"`
	FileKiB int64 `json:"rssFileKiB"`
}

func (m memory) PeakMiB() float64 { return float64(m.PeakKiB) / 1024 }

func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	return parseStatus(string(b))
}

// parseStatus reads VmHWM and VmRSS from the text of /proc/<pid>/status.
func parseStatus(text string) (memory, error) {
	var m memory
	var seen int
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmHWM":
			m.PeakKiB, seen = n, seen+1
		case "VmRSS":
			m.CurrentKiB, seen = n, seen+1
		case "RssAnon":
			m.AnonKiB = n
		case "RssFile":
			m.FileKiB = n
		}
	}
	if seen != 2 {
		return m, fmt.Errorf("no VmHWM and VmRSS in /proc status")
	}
	return m, nil
}

// procStat is what the harness reads from /proc/<pid>/stat.
type procStat struct {
	Comm  string
	PPID  int
	Ticks int64 // utime + stime
	// ChildTicks is cutime + cstime: CPU of children that were waited for.
	ChildTicks int64
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

// parseProcStat parses /proc/<pid>/stat. The command name is in parentheses
// and may itself hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseProcStat(text string) (procStat, error) {
	open, closing := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
	if open < 0 || closing < open {
		return procStat{}, fmt.Errorf("malformed /proc stat: %q", text)
	}
	rest := strings.Fields(text[closing+1:])
	// rest[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
	if len(rest) < 15 {
		return procStat{}, fmt.Errorf("short /proc stat: %q", text)
	}
	num := func(i int) int64 { n, _ := strconv.ParseInt(rest[i], 10, 64); return n }
	return procStat{
		Comm:       text[open+1 : closing],
		PPID:       int(num(1)),
		Ticks:      num(11) + num(12),
		ChildTicks: num(13) + num(14),
	}, nil
}

// cpuSeconds of a process so far (user + system), 0 when it is gone.
func cpuSeconds(pid int) float64 {
	st, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	return float64(st.Ticks) / clockTicks
}

// childrenNamed returns the pids of the children of ppid whose command is name.
func childrenNamed(ppid int, name string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err == nil && st.PPID == ppid && st.Comm == name {
			pids = append(pids, pid)
		}
	}
	return pids
}

// machineBusySeconds is the CPU time all cores spent out of idle and iowait,
// from the first line of /proc/stat.
func machineBusySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	return parseMachineBusy(string(b))
}

func parseMachineBusy(text string) float64 {
	line, _, _ := strings.Cut(text, "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, f := range fields[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already counted in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return float64(busy) / clockTicks
}
