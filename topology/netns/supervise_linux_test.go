package netns

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/topology"
)

// startSupervisor runs the test binary as a supervisor of fixture name
// and waits until its lab is up.
func startSupervisor(t *testing.T, name, stateDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), envSupervise+"="+name, envStateDir+"="+stateDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("supervisor of %s: read %q, %v; want ready", name, line, err)
	}
	return cmd
}

func TestSuperviseAttachDown(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	cmd := startSupervisor(t, "alpine-net", dir)
	rt := New(Options{StateDir: dir})
	ctx := context.Background()

	labs, err := rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(labs) != 1 || labs[0].Name != "alpine-net" || labs[0].PID != cmd.Process.Pid {
		t.Errorf("List = %+v, want alpine-net with PID %d", labs, cmd.Process.Pid)
	}

	plan, err := loadPlan("alpine-net")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Up(ctx, plan); !errors.Is(err, topology.ErrLabExists) {
		t.Errorf("Up of a supervised lab: error %v, want ErrLabExists", err)
	}

	l, err := rt.Attach(ctx, "alpine-net")
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if got := ping(t, mustNode(t, l, "alpine1"), addressOf(t, l, "alpine2", "alpine-net")); got != resultOK {
		t.Errorf("attached lab: alpine1 -> alpine2 = %s, want ok", got)
	}
	if got := ping(t, mustNode(t, l, "alpine1"), addressOf(t, l, "alpine3", "bridge")); got != resultTimeout {
		t.Errorf("attached lab: alpine1 -> alpine3 = %s, want timeout", got)
	}
	if l.Plan().Container("alpine4").Gateway == nil {
		t.Errorf("attached plan lost alpine4's gateway")
	}
	if top := l.Plan().Topology; top == nil || len(top.Expect) == 0 {
		t.Errorf("attached plan lost the topology's expectations")
	}
	if err := l.Close(ctx); err != nil {
		t.Errorf("closing attached lab: %v", err)
	}
	if err := l.Node("alpine1").Do(func() error { return nil }); !errors.Is(err, errLabClosed) {
		t.Errorf("Do on a closed attached lab: error %v, want errLabClosed", err)
	}
	// Closing the attached lab leaves the supervisor's lab running.
	if _, err := rt.Attach(ctx, "alpine-net"); err != nil {
		t.Errorf("Attach after closing an attached lab: %v", err)
	}

	if err := rt.Down(ctx, "alpine-net"); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("supervisor exit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "alpine-net.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state file still exists after Down: %v", err)
	}
	if labs, _ := rt.List(ctx); len(labs) != 0 {
		t.Errorf("List after Down = %+v, want none", labs)
	}
	if err := rt.Down(ctx, "alpine-net"); !errors.Is(err, topology.ErrNoLab) {
		t.Errorf("second Down: error %v, want ErrNoLab", err)
	}
	if _, err := rt.Attach(ctx, "alpine-net"); !errors.Is(err, topology.ErrNoLab) {
		t.Errorf("Attach after Down: error %v, want ErrNoLab", err)
	}
}

func TestDownRemovesCrashedSupervisor(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	cmd := startSupervisor(t, "default-bridge", dir)
	cmd.Process.Kill()
	cmd.Wait()
	rt := New(Options{StateDir: dir})
	ctx := context.Background()
	if labs, _ := rt.List(ctx); len(labs) != 0 {
		t.Errorf("List with a crashed supervisor = %+v, want none", labs)
	}
	if _, err := rt.Attach(ctx, "default-bridge"); !errors.Is(err, topology.ErrNoLab) {
		t.Errorf("Attach to a crashed supervisor: error %v, want ErrNoLab", err)
	}
	if err := rt.Down(ctx, "default-bridge"); err != nil {
		t.Fatalf("Down of a crashed supervisor: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("state folder after Down contains %d files, want none", len(entries))
	}
	// The name is free again.
	start := time.Now()
	startSupervisor(t, "default-bridge", dir)
	if err := rt.Down(ctx, "default-bridge"); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("supervisor up and down in %v", time.Since(start))
}
