package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
)

// TestRootlessRunAndTest runs the built command as an ordinary user
// (nobody, through setpriv), which makes it re-execute itself in a user
// namespace that becomes the lab host.
func TestRootlessRunAndTest(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if testenv.Required() {
			t.Fatal("setpriv is not installed (util-linux)")
		}
		t.Skip("setpriv is not installed")
	}
	// nobody needs to reach the folder: open it and its parent, which the
	// testing package creates private.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "topolab")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building topolab: %v\n%s", err, out)
	}
	asNobody := func(args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		argv := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)
		cmd := exec.CommandContext(ctx, setpriv, argv...)
		cmd.Dir = dir
		// A private TMPDIR keeps go-graphviz's cache out of root's.
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("running %v: %v", args, err)
		}
		return string(out), code
	}
	out, code := asNobody("test", "alpine-net", "nat")
	if code != 0 {
		t.Fatalf("test as nobody exited %d:\n%s", code, out)
	}
	for _, want := range []string{"alpine-net: 14 of 14 expectations passed", "nat: 7 of 7 expectations passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, code = asNobody("run", "default-bridge", "-o", filepath.Join(dir, "out"), "--strict")
	if code != 0 {
		t.Fatalf("run as nobody exited %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "results.json")); err != nil {
		t.Errorf("run as nobody wrote no results.json: %v", err)
	}
}
