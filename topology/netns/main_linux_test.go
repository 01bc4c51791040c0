package netns

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/topology"
)

// Environment variables that turn the test binary into a helper process.
const (
	// envSupervise names a fixture; the process supervises its lab in
	// the state folder given by envStateDir until SIGTERM.
	envSupervise = "TOPOLAB_NETNS_TEST_SUPERVISE"
	envStateDir  = "TOPOLAB_NETNS_TEST_STATE_DIR"
	// envPrintNetns makes the process print the inode of its network
	// namespace and exit.
	envPrintNetns = "TOPOLAB_NETNS_TEST_PRINT_NETNS"
	// envRootless names a fixture; the process enters a user namespace,
	// builds the fixture's lab and checks a ping inside it.
	envRootless = "TOPOLAB_NETNS_TEST_ROOTLESS"
	// envNoUserns makes the process forbid new user namespaces in its own
	// user namespace and then check, as an ordinary user, that
	// EnterUserNamespace reports an environment error.
	envNoUserns = "TOPOLAB_NETNS_TEST_NO_USERNS"
)

func TestMain(m *testing.M) {
	if os.Getenv(envPrintNetns) == "1" {
		var st syscall.Stat_t
		if err := syscall.Stat("/proc/self/ns/net", &st); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(st.Ino)
		os.Exit(0)
	}
	if step := os.Getenv(envNoUserns); step != "" {
		os.Exit(noUserNamespaces(step))
	}
	if name := os.Getenv(envRootless); name != "" {
		os.Exit(rootlessFixture(name))
	}
	if name := os.Getenv(envSupervise); name != "" {
		os.Exit(superviseFixture(name, os.Getenv(envStateDir)))
	}
	os.Exit(m.Run())
}

// superviseFixture runs Supervise for a fixture and prints "ready" on
// stdout once the lab is up.
func superviseFixture(name, stateDir string) int {
	plan, err := loadPlan(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	rt := New(Options{StateDir: stateDir})
	err = rt.Supervise(ctx, plan, func(topology.Lab) { fmt.Println("ready") })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func loadPlan(name string) (*topology.Plan, error) {
	top, err := fixtures.Load(name)
	if err != nil {
		return nil, err
	}
	return topology.PlanTopology(top)
}
