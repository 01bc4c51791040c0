package reliability

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/topology/netns"
)

// forbidUserNamespaces runs in a user namespace of its own as root there:
// it forbids new user namespaces below it, which leaves the machine's
// limit as it is, and runs topolab with args as the ordinary user 1000.
func forbidUserNamespaces(args []string) int {
	if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0); err != nil {
		fmt.Fprintln(os.Stderr, "forbidding user namespaces:", err)
		return 125
	}
	cmd := exec.Command(topolabBinFromEnv(), args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000, NoSetGroups: true}}
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	return 0
}

// envHelperBinary passes the binary under test to the helper process.
const envHelperBinary = "TOPOLAB_RELIABILITY_HELPER_BINARY"

func topolabBinFromEnv() string { return os.Getenv(envHelperBinary) }

// TestNoPrivilege runs topolab as an ordinary user where unprivileged user
// namespaces are forbidden.
func TestNoPrivilege(t *testing.T) {
	testenv.RequireRoot(t)
	lab := labName("rel-nopriv")
	file := labFile(t, "alpine-net", lab)
	// go-graphviz keeps a cache under TMPDIR that user 1000 must own.
	tmp := filepath.Join(cmdTmp, lab+"-tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o777)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	for _, args := range [][]string{{"up", file}, {"run", file, "-o", filepath.Join(cmdTmp, lab+"-out")}, {"test", file}, {"down", lab}} {
		t.Run(args[0], func(t *testing.T) {
			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(self, args...)
			cmd.Env = append(commandEnv(envHelper+"=forbid-userns", envHelperBinary+"="+topolabBin), "HOME="+tmp, "TMPDIR="+tmp)
			cmd.Dir = cmdTmp
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
			}
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != 3 {
				t.Errorf("topolab %s without privilege exited %d, want 3:\n%s", args[0], code, out)
			}
			for _, want := range []string{"user namespace", "run as root", "max_user_namespaces"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("topolab %s without privilege: output lacks %q:\n%s", args[0], want, out)
				}
			}
		})
	}
}

// TestDockerUnreachable points the docker runtime at a socket that nothing
// serves.
func TestDockerUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	h := newHarness(t, nil, "DOCKER_HOST=unix://"+sock)
	lab := labName("rel-nodocker")
	file := labFile(t, "alpine-net", lab)
	for _, args := range [][]string{
		{"up", file, "--runtime", "docker"},
		{"run", file, "--runtime", "docker", "-o", filepath.Join(cmdTmp, lab+"-out")},
		{"test", file, "--runtime", "docker"},
		{"ls", "--runtime", "docker"},
		{"down", lab, "--runtime", "docker"},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := h.run(args...)
			if r.code != 3 {
				t.Errorf("exit %d, want 3\n%s", r.code, r)
			}
			for _, want := range []string{sock, "daemon is running"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("message lacks %q:\n%s", want, r)
				}
			}
		})
	}
}

// TestStaleSupervisor kills a lab's supervisor and checks that the lab is
// reported stale with the command that removes it, and that down does.
func TestStaleSupervisor(t *testing.T) {
	testenv.RequireRoot(t)
	outer := newOuterNetns(t)
	h := newHarness(t, outer)
	lab := labName("rel-stale")
	file := labFile(t, "alpine-net", lab)
	check := newLeakChecker(t, outer)
	cleanupLab(t, h, lab)

	h.mustRun("up", file)
	pid := supervisorPID(lab)
	if pid == 0 || !ours(pid) {
		t.Fatalf("lock file of %s names pid %d, which is no supervisor", lab, pid)
	}
	if n := check.sample(); n < 6 {
		t.Fatalf("the running lab holds %d new network namespaces, want at least 6", n)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)

	for _, args := range [][]string{{"probe", lab}, {"exec", lab, "alpine1", "--", "true"}, {"inspect", lab}} {
		r := h.run(args...)
		if r.code != 3 {
			t.Errorf("exit %d, want 3\n%s", r.code, r)
		}
		for _, want := range []string{fmt.Sprint(pid), "topolab down " + lab} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("message lacks %q:\n%s", want, r)
			}
		}
	}
	if r := h.mustRun("ls"); strings.Contains(r.stdout, lab) {
		t.Errorf("ls lists the stale lab %s:\n%s", lab, r.stdout)
	}
	r := h.mustRun("down", lab)
	if !strings.Contains(r.stdout, lab) {
		t.Errorf("down of a stale lab printed %q", r.stdout)
	}
	check.checkClean(t, lab, "after down of a stale lab")

	// A stale lab does not block the next one of its name either.
	h.mustRun("up", file)
	if pid := supervisorPID(lab); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		waitGone(t, pid)
	}
	h.mustRun("up", file)
	h.mustRun("probe", lab)
	h.mustRun("down", lab)
	check.checkClean(t, lab, "after a lab replaced a stale one")
}

// TestCorruptStateFile writes state files that no supervisor could have
// written and checks the message and that down recovers.
func TestCorruptStateFile(t *testing.T) {
	testenv.RequireRoot(t)
	outer := newOuterNetns(t)
	h := newHarness(t, outer)
	lab := labName("rel-corrupt")
	file := labFile(t, "alpine-net", lab)
	check := newLeakChecker(t, outer)
	cleanupLab(t, h, lab)

	// A real state file, to derive the stale variants from.
	h.mustRun("up", file)
	statePath := filepath.Join(netns.SystemStateDir, lab+".json")
	real, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	h.mustRun("down", lab)
	check.checkClean(t, lab, "after down")

	var st map[string]any
	if err := json.Unmarshal(real, &st); err != nil {
		t.Fatal(err)
	}
	st["pid"] = 1 << 30 // beyond pid_max, so no process has it
	deadPID, _ := json.Marshal(st)
	st["version"] = 99
	future, _ := json.Marshal(st)
	cases := []struct {
		name, content string
	}{
		{"garbage", "{garbage"},
		{"empty", ""},
		{"truncated", string(real[:len(real)/2])},
		{"dead pid", string(deadPID)},
		{"future version", string(future)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(statePath, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"probe", lab}, {"exec", lab, "alpine1", "--", "true"}} {
				r := h.run(args...)
				if r.code != 3 {
					t.Errorf("exit %d, want 3\n%s", r.code, r)
				}
				if !strings.Contains(r.stderr, "topolab down "+lab) {
					t.Errorf("message lacks the fix %q:\n%s", "topolab down "+lab, r)
				}
			}
			if r := h.run("ls"); r.code != 0 || strings.Contains(r.stdout, lab) {
				t.Errorf("ls with a corrupt state file:\n%s", r)
			}
			h.mustRun("down", lab)
			check.checkClean(t, lab, "after down of a corrupt state file")
		})
	}
}

// waitGone waits until process pid has exited.
func waitGone(t testing.TB, pid int) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if zombie(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d did not exit", pid)
}
