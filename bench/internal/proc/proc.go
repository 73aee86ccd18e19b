// Package proc reads what the harness measures of a process from /proc:
// resident memory (VmRSS, VmHWM) and CPU time (utime+stime, all threads), and
// describes the machine (CPU model, cores, memory, kernel).
package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

var (
	tickOnce sync.Once
	ticks    = 100.0
)

// ClockTicks is sysconf(_SC_CLK_TCK), read once from getconf (100 when
// getconf is missing, which is what Linux uses on every common architecture).
func ClockTicks() float64 {
	tickOnce.Do(func() {
		out, err := exec.Command("getconf", "CLK_TCK").Output()
		if err != nil {
			return
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			ticks = v
		}
	})
	return ticks
}

// CPU returns the user+system CPU seconds a process has used (every thread).
func CPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return float64(u+s) / ClockTicks(), nil
}

// Mem is the memory of a process, in KiB.
type Mem struct {
	RSS int64 `json:"rss_kb"` // VmRSS
	HWM int64 `json:"hwm_kb"` // VmHWM, the peak
}

// Memory reads VmRSS and VmHWM from /proc/<pid>/status.
func Memory(pid int) (Mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, err
	}
	defer f.Close()
	var m Mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			m.RSS = kb(line)
		case strings.HasPrefix(line, "VmHWM:"):
			m.HWM = kb(line)
		}
	}
	return m, sc.Err()
}

func kb(line string) int64 {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.ParseInt(f[1], 10, 64)
	return v
}

// Machine describes the box a run was taken on.
type Machine struct {
	CPUs       int    `json:"cpus"`
	Model      string `json:"model"`
	MemTotalKB int64  `json:"mem_total_kb"`
	Kernel     string `json:"kernel"`
	OS         string `json:"os"`
	FDLimit    string `json:"fd_limit"`
}

// Describe reads /proc/cpuinfo, /proc/meminfo and the kernel release.
func Describe() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				m.MemTotalKB = kb(line)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/self/limits"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Max open files") {
				f := strings.Fields(line[len("Max open files"):])
				if len(f) >= 2 {
					m.FDLimit = f[0] + " soft / " + f[1] + " hard"
				}
			}
		}
	}
	return m
}
