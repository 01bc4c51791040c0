package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/topolab/topolab/topology"
)

// dockerLock is the file that serialises Docker tests across test
// processes. Two Docker labs whose outside hosts share a documentation
// prefix cannot run at once, because the Docker host has one route per
// prefix, and go test may run packages in parallel.
var dockerLock = filepath.Join(os.TempDir(), "topolab-docker-tests.lock")

// LockDocker holds the Docker test lock until t ends.
func LockDocker(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(dockerLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("opening %s: %v", dockerLock, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("locking %s: %v", dockerLock, err)
	}
	t.Cleanup(func() { f.Close() })
}

// BridgeLabPlan plans a generated lab of n containers on one user network,
// every fifth of them also on the default bridge, with one outside host. An
// explicit subnet keeps it clear of the fixtures' 172.18.0.0/16.
func BridgeLabPlan(t testing.TB, lab string, n int) *topology.Plan {
	t.Helper()
	var y strings.Builder
	fmt.Fprintf(&y, "name: %s\nnetworks:\n  net: {subnet: 172.29.0.0/16}\ncontainers:\n", lab)
	for i := range n {
		nets := "[net]"
		if i%5 == 0 {
			nets = "[net, bridge]"
		}
		fmt.Fprintf(&y, "  c%d:\n    networks: %s\n", i, nets)
	}
	y.WriteString("outside:\n  example.com: 203.0.113.10\n")
	topo, err := topology.Parse(lab+".yaml", []byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.PlanTopology(topo)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}
