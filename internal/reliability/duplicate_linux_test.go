package reliability

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
)

// TestLabNameTwice starts a lab whose name already runs, with every
// command that builds a lab, and checks the exit code and the message.
func TestLabNameTwice(t *testing.T) {
	testenv.RequireRoot(t)
	outer := newOuterNetns(t)
	h := newHarness(t, outer)
	lab := labName("rel-twice")
	file := labFile(t, "alpine-net", lab)
	// Another fixture with the same lab name: the name alone must count.
	other := labFile(t, "nat", lab+"-nat")
	otherSameName := filepath.Join(cmdTmp, lab+"-same.yaml")
	copyWithName(t, other, otherSameName, lab)
	check := newLeakChecker(t, outer)
	cleanupLab(t, h, lab)

	h.mustRun("up", file)
	pid := supervisorPID(lab)
	for _, args := range [][]string{
		{"up", file},
		{"up", otherSameName},
		{"run", file, "-o", filepath.Join(t.TempDir(), "out")},
		{"test", file},
	} {
		r := h.run(args...)
		if r.code != 3 {
			t.Errorf("exit %d, want 3\n%s", r.code, r)
		}
		for _, want := range []string{"lab is already running", lab, "topolab down " + lab} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("message lacks %q:\n%s", want, r)
			}
		}
	}
	if now := supervisorPID(lab); now != pid || !ours(pid) {
		t.Errorf("the running lab's supervisor changed from %d to %d", pid, now)
	}
	h.mustRun("probe", lab)
	h.mustRun("down", lab)
	check.checkClean(t, lab, "after down")
}

// TestDockerLabNameTwice is TestLabNameTwice for the docker runtime.
func TestDockerLabNameTwice(t *testing.T) {
	testenv.RequireDocker(t)
	h := newHarness(t, nil)
	lab := labName("rel-dtwice")
	file := labFile(t, "default-bridge", lab)
	cleanupLab(t, h, lab, "--runtime", "docker")

	dockerUp(t, h, file)
	for _, args := range [][]string{
		{"up", file, "--runtime", "docker"},
		{"run", file, "--runtime", "docker", "-o", filepath.Join(t.TempDir(), "out")},
	} {
		r := h.run(args...)
		if r.code != 3 {
			t.Errorf("exit %d, want 3\n%s", r.code, r)
		}
		for _, want := range []string{lab, "topolab down " + lab} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("message lacks %q:\n%s", want, r)
			}
		}
	}
	h.mustRun("down", lab, "--runtime", "docker")
	checkDockerClean(t, lab, "after down")
}

// TestTwoDockerLabsSideBySide brings up two docker labs of different
// names at once, which must not interfere.
func TestTwoDockerLabsSideBySide(t *testing.T) {
	testenv.RequireDocker(t)
	h := newHarness(t, nil)
	first, second := labName("rel-dside-a"), labName("rel-dside-b")
	for _, lab := range []string{first, second} {
		cleanupLab(t, h, lab, "--runtime", "docker")
	}
	dockerUp(t, h, labFile(t, "default-bridge", first))
	if len(dockerObjects(t, first)) == 0 {
		t.Errorf("docker lists nothing of lab %s", first)
	}
	// NOTE: the docker runtime routes the outside's documentation prefixes
	// from this machine's namespace, one route each, so a second docker lab
	// with outside hosts cannot run beside the first. It must fail cleanly:
	// exit 3, the way out in the message, nothing of it left behind, and the
	// first lab untouched.
	r := h.run("up", labFile(t, "default-bridge", second), "--runtime", "docker")
	if r.code != 3 {
		t.Errorf("second docker lab: exit %d, want 3: %s", r.code, r)
	}
	for _, want := range []string{"only one docker lab with outside hosts runs at a time", "topolab down NAME --runtime docker"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("second docker lab: stderr lacks %q: %s", want, r.stderr)
		}
	}
	checkDockerClean(t, second, "after the failed up")
	if len(dockerObjects(t, first)) == 0 {
		t.Errorf("the failed up removed lab %s", first)
	}
	h.mustRun("down", first, "--runtime", "docker")
	checkDockerClean(t, first, "after down")
}

// dockerUp runs topolab up --runtime docker on file. The docker runtime
// routes the outside's documentation prefixes from this machine's own
// namespace, so up fails while another docker lab runs, as
// TestTwoDockerLabsSideBySide checks. dockerUp waits up to two minutes for
// such a lab to go, so that the other docker tests test what they are for.
func dockerUp(t testing.TB, h *harness, file string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := h.run("up", file, "--runtime", "docker")
		if r.code == 0 {
			return
		}
		if !strings.Contains(r.stderr, "only one docker lab with outside hosts runs at a time") || time.Now().After(deadline) {
			t.Fatalf("%s", r)
		}
		t.Logf("waiting for another docker lab: %s", strings.TrimSpace(r.stderr))
		time.Sleep(2 * time.Second)
	}
}
