package reliability

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
)

// envSeed fixes the seed of the interrupt tests, to repeat a failure.
const envSeed = "TOPOLAB_RELIABILITY_SEED"

// envRounds overrides the number of rounds of the netns interrupt tests.
const envRounds = "TOPOLAB_RELIABILITY_ROUNDS"

// newRand returns a random source seeded from envSeed or the clock, and
// logs the seed.
func newRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%s: %v", envSeed, s, err)
		}
	}
	t.Logf("seed %d (repeat with %s=%d)", seed, envSeed, seed)
	return rand.New(rand.NewPCG(seed, seed))
}

func rounds(t *testing.T, def int) int {
	if s := os.Getenv(envRounds); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%s: want a positive number", envRounds, s)
		}
		return n
	}
	if testing.Short() {
		return def / 10
	}
	return def
}

// interruptRound is one command interrupted by one signal after a delay.
type interruptRound struct {
	args   []string
	signal syscall.Signal
	delay  time.Duration
}

// outcome is how an interrupted command ended.
type outcome int

const (
	finished    outcome = iota // exited 0 before the signal came
	interrupted                // exited 130 after cleanup, or killed by the signal
)

// interrupt runs r and returns the command's result and how it ended. It
// fails t on an exit that the signal does not explain. check.sample runs
// just before the signal, to record the lab's namespaces.
func interrupt(t *testing.T, h *harness, check *leakChecker, r interruptRound) (result, outcome) {
	t.Helper()
	cmd, stdout, stderr := h.command(r.args...)
	h.start(cmd)
	time.Sleep(r.delay)
	check.sample()
	// The whole process group, as a terminal's Ctrl-C does; the
	// supervisor of up runs in a session of its own.
	syscall.Kill(-cmd.Process.Pid, r.signal)
	res := wait(cmd, stdout, stderr, 2*time.Minute)
	switch {
	case res.code == 0 && res.signal == 0:
		return res, finished
	case res.signal == r.signal:
		// SIGKILL always ends this way. SIGINT does only before main
		// installs its handler, when nothing exists yet to clean up.
		if r.signal == syscall.SIGINT && r.delay > 100*time.Millisecond {
			t.Errorf("%s after %s: killed by SIGINT without cleanup\n%s", r.signal, r.delay, res)
		}
		return res, interrupted
	case r.signal == syscall.SIGINT && res.code == 130:
		return res, interrupted
	}
	t.Errorf("%s after %s: want exit 130 or 0\n%s", r.signal, r.delay, res)
	return res, interrupted
}

// longest runs f n times and returns the longest duration of a run.
func longest(n int, f func()) time.Duration {
	var max time.Duration
	for range n {
		start := time.Now()
		f()
		max = maxDuration(max, time.Since(start))
	}
	return max
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func randomSignal(rng *rand.Rand) syscall.Signal {
	if rng.IntN(2) == 0 {
		return syscall.SIGKILL
	}
	return syscall.SIGINT
}

// TestInterruptUp interrupts topolab up at random points and checks that
// down leaves nothing behind.
func TestInterruptUp(t *testing.T) {
	testenv.RequireRoot(t)
	outer := newOuterNetns(t)
	h := newHarness(t, outer)
	lab := labName("rel-up")
	file := labFile(t, "alpine-net", lab)
	check := newLeakChecker(t, outer)
	cleanupLab(t, h, lab)
	rng := newRand(t)

	// Undisturbed ups give the range of delays.
	full := longest(3, func() {
		h.mustRun("up", file)
		h.mustRun("down", lab)
	})
	check.checkClean(t, lab, "after an undisturbed up and down")

	n := rounds(t, 50)
	var seen, finishedRounds int
	for i := range n {
		r := interruptRound{
			args:   []string{"up", file},
			signal: randomSignal(rng),
			delay:  time.Duration(rng.Int64N(int64(full * 11 / 10))),
		}
		before := len(check.seen)
		res, how := interrupt(t, h, check, r)
		if len(check.seen) > before {
			seen++
		}
		if how == finished {
			finishedRounds++
		}
		if how == interrupted && r.signal == syscall.SIGINT {
			// Ctrl-C cleans up before exiting: nothing is left even
			// before down.
			check.checkClean(t, lab, fmt.Sprintf("round %d: after %s at %s", i, r.signal, r.delay))
		}
		down := h.run("down", lab)
		if down.code != 0 && !noSuchLab(down) {
			t.Errorf("round %d: down after %s at %s: %s", i, r.signal, r.delay, down)
		}
		check.checkClean(t, lab, fmt.Sprintf("round %d: %s at %s, then down", i, r.signal, r.delay))
		if t.Failed() {
			t.Fatalf("round %d: up ended: %s", i, res)
		}
	}
	t.Logf("%d rounds over %s delays: the lab's namespaces were seen in %d, up finished before the signal in %d",
		n, full*11/10, seen, finishedRounds)
	if seen == 0 {
		t.Errorf("no round saw the lab's namespaces; the leak check tested nothing")
	}
}

// TestInterruptRun interrupts topolab run at random points and checks
// that down, or the next run of the same lab, leaves nothing behind.
func TestInterruptRun(t *testing.T) {
	testenv.RequireRoot(t)
	outer := newOuterNetns(t)
	h := newHarness(t, outer)
	lab := labName("rel-run")
	file := labFile(t, "alpine-net", lab)
	out := filepath.Join(t.TempDir(), "out")
	check := newLeakChecker(t, outer)
	cleanupLab(t, h, lab)
	rng := newRand(t)

	full := longest(3, func() { h.mustRun("run", file, "-o", out) })
	check.checkClean(t, lab, "after an undisturbed run")

	n := rounds(t, 50)
	var seen, finishedRounds int
	for i := range n {
		r := interruptRound{
			args:   []string{"run", file, "-o", out},
			signal: randomSignal(rng),
			delay:  time.Duration(rng.Int64N(int64(full * 11 / 10))),
		}
		before := len(check.seen)
		res, how := interrupt(t, h, check, r)
		if len(check.seen) > before {
			seen++
		}
		if how == finished {
			finishedRounds++
		}
		if how == interrupted && r.signal == syscall.SIGINT {
			check.checkClean(t, lab, fmt.Sprintf("round %d: after %s at %s", i, r.signal, r.delay))
		}
		if i%5 == 4 {
			// The next run of the lab must not trip over the last one.
			h.mustRun("run", file, "-o", out)
		} else {
			down := h.run("down", lab)
			if down.code != 0 && !noSuchLab(down) {
				t.Errorf("round %d: down after %s at %s: %s", i, r.signal, r.delay, down)
			}
		}
		check.checkClean(t, lab, fmt.Sprintf("round %d: %s at %s, then down or run", i, r.signal, r.delay))
		if t.Failed() {
			t.Fatalf("round %d: run ended: %s", i, res)
		}
	}
	t.Logf("%d rounds over %s delays: the lab's namespaces were seen in %d, run finished before the signal in %d",
		n, full*11/10, seen, finishedRounds)
	if seen == 0 {
		t.Errorf("no round saw the lab's namespaces; the leak check tested nothing")
	}
}

// TestInterruptDockerUp interrupts topolab up --runtime docker at random
// points and checks that down removes every container and network of the
// lab.
func TestInterruptDockerUp(t *testing.T) {
	testenv.RequireDocker(t)
	h := newHarness(t, nil)
	lab := labName("rel-dock")
	file := labFile(t, "alpine-net", lab)
	cleanupLab(t, h, lab, "--runtime", "docker")
	rng := newRand(t)

	start := time.Now()
	dockerUp(t, h, file)
	full := time.Since(start)
	if left := dockerObjects(t, lab); len(left) == 0 {
		t.Fatalf("docker lists no container or network labelled topolab.lab=%s while the lab runs", lab)
	}
	h.mustRun("down", lab, "--runtime", "docker")
	checkDockerClean(t, lab, "after an undisturbed up and down")

	n := 5
	if testing.Short() {
		n = 2
	}
	check := &leakChecker{seen: map[uint64]bool{}, before: map[uint64]bool{}}
	for i := range n {
		r := interruptRound{
			args:   []string{"up", file, "--runtime", "docker"},
			signal: randomSignal(rng),
			delay:  time.Duration(rng.Int64N(int64(full * 11 / 10))),
		}
		res, _ := interrupt(t, h, check, r)
		down := h.run("down", lab, "--runtime", "docker")
		if down.code != 0 && !noSuchLab(down) {
			t.Errorf("round %d: down after %s at %s: %s", i, r.signal, r.delay, down)
		}
		checkDockerClean(t, lab, fmt.Sprintf("round %d: %s at %s, then down", i, r.signal, r.delay))
		if t.Failed() {
			t.Fatalf("round %d: up ended: %s", i, res)
		}
	}
}

// noSuchLab reports whether r is down's report that nothing of the lab
// exists, a usage error.
func noSuchLab(r result) bool {
	return r.code == 2 && strings.Contains(r.stderr, "no such lab")
}

// dockerObjects lists the containers and networks labelled with lab.
func dockerObjects(t testing.TB, lab string) []string {
	t.Helper()
	var out []string
	filter := "label=topolab.lab=" + lab
	for kind, args := range map[string][]string{
		"container": {"ps", "-a", "--filter", filter, "--format", "{{.Names}}"},
		"network":   {"network", "ls", "--filter", filter, "--format", "{{.Name}}"},
	} {
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+testenv.DockerSocket)
		data, err := cmd.Output()
		if err != nil {
			t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		}
		for _, name := range strings.Fields(string(data)) {
			out = append(out, kind+" "+name)
		}
	}
	return out
}

func checkDockerClean(t testing.TB, lab, when string) {
	t.Helper()
	if left := dockerObjects(t, lab); len(left) > 0 {
		t.Errorf("%s, lab %s left behind: %s", when, lab, strings.Join(left, ", "))
	}
	if procs := ourProcesses(lab); len(procs) > 0 {
		t.Errorf("%s, processes of topolab remain: %v", when, procs)
	}
}
