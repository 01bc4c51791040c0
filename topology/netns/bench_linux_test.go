package netns

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/topology"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// benchSizes are the container counts of the generated benchmark labs.
var benchSizes = []int{10, 100, 500}

// benchNetworks is the number of user-defined networks of a generated lab.
const benchNetworks = 4

// generatedPlan plans a lab of n containers spread round-robin over
// benchNetworks user-defined bridge networks.
func generatedPlan(tb testing.TB, n int) *topology.Plan {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "name: bench-%d\nnetworks:\n", n)
	for i := range benchNetworks {
		fmt.Fprintf(&b, "  net%d: {}\n", i)
	}
	b.WriteString("containers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  c%d: {networks: [net%d]}\n", i, i%benchNetworks)
	}
	top, err := topology.Parse("bench.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		tb.Fatal(err)
	}
	return plan
}

// BenchmarkUp measures Runtime.Up of generated labs on a quiet kernel:
// between iterations, untimed, it closes the lab and waits for the kernel
// to finish removing its namespaces.
func BenchmarkUp(b *testing.B) {
	testenv.RequireRoot(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			plan := generatedPlan(b, n)
			rt := New(Options{StateDir: b.TempDir(), Logger: benchLogger()})
			settle := newSettler(b)
			for b.Loop() {
				l, err := rt.Up(context.Background(), plan)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				l.Close(context.Background())
				settle.wait()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkUpDownCycle measures Up and Close back to back, so each Up
// competes with the kernel's removal of the previous lab, as when a user
// runs one lab after another.
func BenchmarkUpDownCycle(b *testing.B) {
	testenv.RequireRoot(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			plan := generatedPlan(b, n)
			rt := New(Options{StateDir: b.TempDir(), Logger: benchLogger()})
			for b.Loop() {
				l, err := rt.Up(context.Background(), plan)
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// settler estimates when the kernel has finished removing closed
// namespaces. The removal runs in a kernel worker that takes the rtnl lock
// in turns, so the estimate is the first moment after which setting lo up
// in a scratch namespace (an rtnl operation) stays fast for quietPeriod.
type settler struct {
	tb testing.TB
	h  *netlink.Handle
}

const (
	quietPeriod = 50 * time.Millisecond
	fastOp      = time.Millisecond
)

func newSettler(tb testing.TB) *settler {
	fd, err := newNetns(nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	h, err := routeHandle(fd)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return &settler{tb: tb, h: h}
}

// wait blocks until the kernel looks quiet and returns how long that took.
func (s *settler) wait() time.Duration {
	start := time.Now()
	quietSince := time.Now()
	for time.Since(quietSince) < quietPeriod {
		t0 := time.Now()
		if err := setUpByIndex(s.h, loopbackIndex); err != nil {
			s.tb.Fatal(err)
		}
		if time.Since(t0) > fastOp {
			quietSince = time.Now()
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start) - quietPeriod
}

// BenchmarkDown measures Lab.Close of generated labs: stopping the servers
// and closing the namespace descriptors. The kernel removes the namespaces
// asynchronously afterwards; the kernel-ms/op metric estimates how long
// that takes (see settler).
func BenchmarkDown(b *testing.B) {
	testenv.RequireRoot(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			plan := generatedPlan(b, n)
			rt := New(Options{StateDir: b.TempDir(), Logger: benchLogger()})
			settle := newSettler(b)
			var settled time.Duration
			for b.Loop() {
				b.StopTimer()
				l, err := rt.Up(context.Background(), plan)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := l.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				settled += settle.wait()
				b.StartTimer()
			}
			b.ReportMetric(float64(settled.Milliseconds())/float64(b.N), "kernel-ms/op")
		})
	}
}

func benchLogger() *slog.Logger {
	if os.Getenv("TOPOLAB_BENCH_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
