package reliability

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
)

// envSoakCycles sets the number of cycles of TestSoak; CI runs the default.
const envSoakCycles = "TOPOLAB_SOAK_CYCLES"

// usage is one sample of a process's resources.
type usage struct {
	rssKiB int
	fds    int
}

// processUsage reads VmRSS from /proc/PID/status and counts /proc/PID/fd.
func processUsage(pid int) (usage, error) {
	var u usage
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return u, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) > 0 {
				u.rssKiB, _ = strconv.Atoi(fields[0])
			}
		}
	}
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return u, err
	}
	u.fds = len(fds)
	return u, nil
}

// series summarises samples: first, last, min, max and the medians of the
// first and last quarters.
type series []int

func (s series) String() string {
	if len(s) == 0 {
		return "no samples"
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	return fmt.Sprintf("first %d, last %d, min %d, max %d, median of first quarter %d, of last quarter %d",
		s[0], s[len(s)-1], sorted[0], sorted[len(sorted)-1], s.quarterMedian(false), s.quarterMedian(true))
}

func (s series) quarterMedian(last bool) int {
	n := max(len(s)/4, 1)
	q := slices.Clone(s[:n])
	if last {
		q = slices.Clone(s[len(s)-n:])
	}
	slices.Sort(q)
	return q[len(q)/2]
}

// TestSoak runs consecutive up, probe and down cycles of alpine-net, then
// probes one supervisor as many times, and checks that the supervisor's
// memory and file descriptors stay flat and that nothing is left behind.
// TOPOLAB_SOAK_CYCLES sets the number of cycles (default 20, 5 with -short).
func TestSoak(t *testing.T) {
	testenv.RequireRoot(t)
	cycles := 20
	if testing.Short() {
		cycles = 5
	}
	if s := os.Getenv(envSoakCycles); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 4 {
			t.Fatalf("%s=%s: want a number of at least 4", envSoakCycles, s)
		}
		cycles = n
	}
	outer := newOuterNetns(t)
	h := newHarness(t, outer)
	lab := labName("rel-soak")
	file := labFile(t, "alpine-net", lab)
	check := newLeakChecker(t, outer)
	cleanupLab(t, h, lab)

	var rss, fds, probeRSS series
	start := time.Now()
	for i := range cycles {
		h.mustRun("up", file)
		pid := supervisorPID(lab)
		if pid == 0 {
			t.Fatalf("cycle %d: no supervisor pid in the lock file", i)
		}
		if r := h.run("probe", lab); r.code != 0 {
			t.Fatalf("cycle %d: %s", i, r)
		}
		u, err := processUsage(pid)
		if err != nil {
			t.Fatalf("cycle %d: reading supervisor %d: %v", i, pid, err)
		}
		rss, fds = append(rss, u.rssKiB), append(fds, u.fds)
		if i == 0 {
			if n := check.sample(); n < 6 {
				t.Fatalf("the running lab holds %d new network namespaces, want at least 6", n)
			}
		}
		h.mustRun("down", lab)
		check.checkClean(t, lab, fmt.Sprintf("cycle %d", i))
	}
	perCycle := time.Since(start) / time.Duration(cycles)
	t.Logf("%d up, probe, down cycles, %s each", cycles, perCycle.Round(time.Millisecond))
	t.Logf("supervisor after its probe: RSS KiB: %s", rss)
	t.Logf("supervisor after its probe: open fds: %s", fds)
	if last, first := fds.quarterMedian(true), fds.quarterMedian(false); last > first {
		t.Errorf("supervisors of later cycles hold more descriptors: %s", fds)
	}
	if last, first := rss.quarterMedian(true), rss.quarterMedian(false); last > first*5/4+4096 {
		t.Errorf("supervisors of later cycles use more memory: %s", rss)
	}

	// One supervisor probed many times: its servers answer every probe.
	h.mustRun("up", file)
	pid := supervisorPID(lab)
	var probeFds series
	start = time.Now()
	for i := range cycles {
		if r := h.run("probe", lab); r.code != 0 {
			t.Fatalf("probe %d of one supervisor: %s", i, r)
		}
		u, err := processUsage(pid)
		if err != nil {
			t.Fatalf("probe %d: reading supervisor %d: %v", i, pid, err)
		}
		probeRSS, probeFds = append(probeRSS, u.rssKiB), append(probeFds, u.fds)
	}
	t.Logf("%d probes of one supervisor, %s each", cycles, (time.Since(start) / time.Duration(cycles)).Round(time.Millisecond))
	t.Logf("one supervisor: RSS KiB: %s", probeRSS)
	t.Logf("one supervisor: open fds: %s", probeFds)
	if slices.Max(probeFds) > probeFds[0] {
		t.Errorf("the supervisor's descriptors grew while probed: %s", probeFds)
	}
	if last, first := probeRSS.quarterMedian(true), probeRSS.quarterMedian(false); last > first*5/4+4096 {
		t.Errorf("the supervisor's memory grew while probed: %s", probeRSS)
	}
	h.mustRun("down", lab)
	check.checkClean(t, lab, "after the soak")
}
