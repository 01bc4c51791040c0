package reliability

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topolab/topolab/topology/netns"
	"golang.org/x/sys/unix"
)

// envBinary names a topolab binary to test instead of building one.
const envBinary = "TOPOLAB_TEST_BINARY"

// envHelper turns the test binary into a helper process, as TestMain shows.
const envHelper = "TOPOLAB_RELIABILITY_HELPER"

var (
	// topolabBin is the command under test. Every process whose
	// executable it is belongs to these tests.
	topolabBin string
	// cmdTmp is the TMPDIR of every command, shared so that go-graphviz
	// compiles its WebAssembly module once per test run.
	cmdTmp string
	// responderDir contains topolab-responder and goes first on PATH.
	responderDir string
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "forbid-userns" {
		os.Exit(forbidUserNamespaces(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "topolab-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := runTests(m, dir)
	os.RemoveAll(dir)
	os.Exit(code)
}

func runTests(m *testing.M, dir string) int {
	// Ordinary users of the privilege tests must reach the binary.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmdTmp = filepath.Join(dir, "tmp")
	if err := os.Mkdir(cmdTmp, 0o1777); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Chmod(cmdTmp, 0o1777)
	topolabBin = os.Getenv(envBinary)
	targets := []string{"topolab-responder"}
	if topolabBin == "" {
		topolabBin = filepath.Join(dir, "topolab")
		targets = append(targets, "topolab")
	}
	// The docker runtime copies topolab-responder, found beside topolab
	// or on PATH, into its probe image.
	responderDir = dir
	for _, target := range targets {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, target), "github.com/topolab/topolab/cmd/"+target)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", target, err, out)
			return 1
		}
	}
	// The first command compiles go-graphviz's WebAssembly module into
	// the cache under TMPDIR, which would distort the timing of the first
	// test command.
	warm := exec.Command(topolabBin, "version")
	warm.Env = commandEnv()
	if out, err := warm.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "topolab version: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// commandEnv is the environment of every topolab command.
func commandEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, netns.EnvUserNamespaceChild+"=") || strings.HasPrefix(kv, "TMPDIR=") ||
			strings.HasPrefix(kv, "DOCKER_HOST=") {
			continue
		}
		if path, ok := strings.CutPrefix(kv, "PATH="); ok {
			kv = "PATH=" + responderDir + string(os.PathListSeparator) + path
		}
		env = append(env, kv)
	}
	return append(append(env, "TMPDIR="+cmdTmp, "NO_COLOR=1"), extra...)
}

// result is what a finished command printed and how it ended.
type result struct {
	args           []string
	stdout, stderr string
	code           int
	// signal is the signal that ended the process, or 0.
	signal syscall.Signal
}

func (r result) String() string {
	how := fmt.Sprintf("exit %d", r.code)
	if r.signal != 0 {
		how = "killed by " + r.signal.String()
	}
	return fmt.Sprintf("topolab %s: %s\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), how, r.stdout, r.stderr)
}

// harness runs topolab commands for one test, inside outer when it is set.
type harness struct {
	t     testing.TB
	outer *outerNetns
	env   []string
}

func newHarness(t testing.TB, outer *outerNetns, env ...string) *harness {
	return &harness{t: t, outer: outer, env: commandEnv(env...)}
}

// command returns an unstarted topolab command in its own process group,
// so that a signal to the group reaches it as Ctrl-C reaches a terminal's
// foreground job.
func (h *harness) command(args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.Command(topolabBin, args...)
	cmd.Env = h.env
	cmd.Dir = cmdTmp
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, &stdout, &stderr
}

func (h *harness) start(cmd *exec.Cmd) {
	h.t.Helper()
	var err error
	if h.outer != nil {
		err = h.outer.start(cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		h.t.Fatalf("starting %v: %v", cmd.Args, err)
	}
}

// wait waits for cmd, killing its process group after timeout.
func wait(cmd *exec.Cmd, stdout, stderr *bytes.Buffer, timeout time.Duration) result {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
		stderr.WriteString(fmt.Sprintf("\n(killed by the test after %s)", timeout))
	}
	r := result{args: cmd.Args[1:], stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		r.code = ws.ExitStatus()
		if ws.Signaled() {
			r.signal = ws.Signal()
		}
	} else if err != nil {
		r.code = -1
		r.stderr += "\n" + err.Error()
	}
	return r
}

// run runs topolab with args and returns its result.
func (h *harness) run(args ...string) result {
	h.t.Helper()
	cmd, stdout, stderr := h.command(args...)
	h.start(cmd)
	return wait(cmd, stdout, stderr, 3*time.Minute)
}

// mustRun runs topolab and fails the test unless it exits 0.
func (h *harness) mustRun(args ...string) result {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 || r.signal != 0 {
		h.t.Fatalf("%s", r)
	}
	return r
}

// labFile writes fixture with its name replaced by lab into a temporary
// file, since other tests bring the fixtures' own labs up concurrently.
func labFile(t testing.TB, fixture, lab string) string {
	t.Helper()
	out, err := exec.Command(topolabBin, "fixtures", fixture).Output()
	if err != nil {
		t.Fatalf("topolab fixtures %s: %v", fixture, err)
	}
	re := regexp.MustCompile(`(?m)^name: .*$`)
	if !re.Match(out) {
		t.Fatalf("fixture %s has no name line", fixture)
	}
	data := re.ReplaceAll(out, []byte("name: "+lab))
	path := filepath.Join(cmdTmp, lab+".yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return path
}

// labName returns a lab name unique to this test process.
func labName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, os.Getpid())
}

// cleanupLab takes lab down at the end of the test, whatever happened.
func cleanupLab(t testing.TB, h *harness, lab string, extra ...string) {
	t.Cleanup(func() { h.run(append([]string{"down", lab}, extra...)...) })
}

// outerNetns is a network namespace of the test's own in which the
// commands start. It plays the root namespace, so checking that it stays
// as it was is not disturbed by other tests that change the real one.
type outerNetns struct {
	fd int
}

func newOuterNetns(t testing.TB) *outerNetns {
	t.Helper()
	fd := -1
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return err
		}
		var err error
		fd, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatalf("creating the outer network namespace: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &outerNetns{fd: fd}
}

// onThread runs f on a locked OS thread and restores the thread's network
// namespace afterwards. A thread that cannot be restored is discarded.
func onThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer unix.Close(orig)
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("restoring the thread's network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// in runs f on a thread inside the outer namespace.
func (o *outerNetns) in(f func() error) error {
	return onThread(func() error {
		if err := unix.Setns(o.fd, unix.CLONE_NEWNET); err != nil {
			return err
		}
		return f()
	})
}

// start starts cmd from a thread inside the outer namespace, which the
// child inherits.
func (o *outerNetns) start(cmd *exec.Cmd) error {
	return o.in(cmd.Start)
}

// nsHolder is one reference to a network namespace.
type nsHolder struct {
	pid  int
	what string // "ns", "task N", "fd N" or "mount PATH"
}

// netnsRefs returns every network namespace inode that a process of this
// machine's PID namespace uses (as its own, one of its threads', or an open
// file descriptor) or that is bind-mounted in this mount namespace, with
// the references to it.
func netnsRefs() map[uint64][]nsHolder {
	refs := map[uint64][]nsHolder{}
	add := func(link string, h nsHolder) {
		target, err := os.Readlink(link)
		if err != nil {
			return
		}
		if ino, ok := parseNetLink(target); ok {
			refs[ino] = append(refs[ino], h)
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		base := "/proc/" + p.Name()
		add(base+"/ns/net", nsHolder{pid, "ns"})
		tasks, _ := os.ReadDir(base + "/task")
		for _, task := range tasks {
			if task.Name() != p.Name() {
				add(base+"/task/"+task.Name()+"/ns/net", nsHolder{pid, "task " + task.Name()})
			}
		}
		fds, _ := os.ReadDir(base + "/fd")
		for _, fd := range fds {
			add(base+"/fd/"+fd.Name(), nsHolder{pid, "fd " + fd.Name()})
		}
	}
	for _, m := range nsfsMounts() {
		refs[m.ino] = append(refs[m.ino], nsHolder{0, "mount " + m.path})
	}
	return refs
}

// parseNetLink parses the target of a namespace link, "net:[INODE]".
func parseNetLink(target string) (uint64, bool) {
	s, ok := strings.CutPrefix(target, "net:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(s, 10, 64)
	return ino, err == nil
}

type nsfsMount struct {
	ino  uint64
	path string
}

// nsfsMounts returns the network namespaces bind-mounted in this mount
// namespace, from /proc/self/mountinfo: field 4 is the mount's root, such
// as net:[4026532], field 5 its mount point.
func nsfsMounts() []nsfsMount {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []nsfsMount
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "nsfs ") {
			continue
		}
		f := strings.Fields(pre)
		if len(f) < 5 {
			continue
		}
		if ino, ok := parseNetLink(f[3]); ok {
			out = append(out, nsfsMount{ino, f[4]})
		}
	}
	return out
}

// ours reports whether process pid runs the binary under test.
func ours(pid int) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return err == nil && exe == topolabBin
}

// ourProcesses returns the running processes of the binary under test
// whose command line names lab, through its name or its file, zombies
// excluded, each with its command line.
func ourProcesses(lab string) map[int]string {
	out := map[int]string{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || !ours(pid) {
			continue
		}
		if zombie(pid) {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		line := strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")
		if strings.Contains(line, lab) {
			out[pid] = line
		}
	}
	return out
}

func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || len(data) < i+3 || data[i+2] == 'Z' || data[i+2] == 'X'
}

// leakChecker finds what a lab leaves behind: namespaces, processes, state
// files, and changes to the namespace the commands started in.
type leakChecker struct {
	outer *outerNetns
	// before are the namespaces that existed when the checker was made.
	before map[uint64]bool
	// seen are the namespaces the binary under test held at any sample.
	seen     map[uint64]bool
	snapshot *netnsSnapshot
	stateDir string
}

func newLeakChecker(t testing.TB, outer *outerNetns) *leakChecker {
	t.Helper()
	c := &leakChecker{outer: outer, before: map[uint64]bool{}, seen: map[uint64]bool{}, stateDir: netns.SystemStateDir}
	for ino := range netnsRefs() {
		c.before[ino] = true
	}
	if outer != nil {
		s, err := outer.snapshot()
		if err != nil {
			t.Fatalf("reading the outer namespace: %v", err)
		}
		c.snapshot = s
	}
	return c
}

// sample records the namespaces that processes of the binary under test
// hold now and returns how many of them are new.
func (c *leakChecker) sample() int {
	n := 0
	for ino, holders := range netnsRefs() {
		if c.before[ino] {
			continue
		}
		for _, h := range holders {
			if h.pid != 0 && ours(h.pid) {
				n++
				c.seen[ino] = true
				break
			}
		}
	}
	return n
}

// leaks returns what is left of lab, one line each.
func (c *leakChecker) leaks(lab string) []string {
	var out []string
	for ino, holders := range netnsRefs() {
		if c.before[ino] {
			continue
		}
		// The kernel reuses the inode numbers of freed namespaces, so
		// one that the lab held may now be a Docker container's, which
		// Docker bind-mounts.
		docker := slices.ContainsFunc(holders, dockerMount)
		for _, h := range holders {
			suspect := c.seen[ino] && !docker || h.pid != 0 && ours(h.pid) || h.pid == 0 && !dockerMount(h)
			if suspect {
				out = append(out, fmt.Sprintf("network namespace %d held by pid %d (%s)", ino, h.pid, h.what))
			}
		}
	}
	for pid, cmdline := range ourProcesses(lab) {
		out = append(out, fmt.Sprintf("process %d: %s", pid, cmdline))
	}
	for _, suffix := range []string{".json", ".json.tmp", ".lock"} {
		path := filepath.Join(c.stateDir, lab+suffix)
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			out = append(out, "file "+path)
		}
	}
	if c.snapshot != nil {
		now, err := c.outer.snapshot()
		if err != nil {
			out = append(out, "reading the outer namespace: "+err.Error())
		} else {
			out = append(out, c.snapshot.diff(now)...)
		}
	}
	sort.Strings(out)
	return out
}

// checkClean fails t when lab left anything behind. Processes that are
// exiting get a few seconds.
func (c *leakChecker) checkClean(t testing.TB, lab, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := c.leaks(lab)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s, lab %s left behind:\n  %s", when, lab, strings.Join(left, "\n  "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dockerMount reports whether h is a bind mount of Docker's, which keeps a
// container's namespace under /run/docker/netns.
func dockerMount(h nsHolder) bool {
	return strings.HasPrefix(h.what, "mount /run/docker/") || strings.HasPrefix(h.what, "mount /var/run/docker/")
}

// supervisorPID returns the PID that the lock file of lab records, or 0.
func supervisorPID(lab string) int {
	data, err := os.ReadFile(filepath.Join(netns.SystemStateDir, lab+".lock"))
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(data), &pid)
	return pid
}

// copyWithName copies the topology file from to to with its name set to lab.
func copyWithName(t testing.TB, from, to, lab string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	data = regexp.MustCompile(`(?m)^name: .*$`).ReplaceAll(data, []byte("name: "+lab))
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(to) })
}
