package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/topology"
)

// newDNSTestNetns creates a throwaway network namespace with lo up and the
// outside router's address 192.0.2.1 on lo, so an upstream server can run
// beside the embedded one. The namespace is freed when the test ends.
func newDNSTestNetns(t *testing.T) vnetns.NsHandle {
	t.Helper()
	testenv.RequireRoot(t)

	var ns vnetns.NsHandle
	err := onTestThread(func() (err error) {
		ns, err = vnetns.New() // also moves this thread into ns
		return err
	})
	if err != nil {
		t.Fatalf("creating network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })

	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("opening netlink in the test namespace: %v", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatalf("finding lo in the test namespace: %v", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatalf("setting lo up in the test namespace: %v", err)
	}
	router := &netlink.Addr{IPNet: &net.IPNet{IP: topology.OutsideRouter.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := h.AddrAdd(lo, router); err != nil {
		t.Fatalf("adding %s to lo in the test namespace: %v", topology.OutsideRouter, err)
	}
	return ns
}

// onTestThread runs f on a fresh locked thread and switches the thread back
// to its original network namespace afterwards. If that fails, the thread
// stays locked and ends with its goroutine, so no other code runs in the
// wrong namespace.
func onTestThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		ferr := f()
		if err := vnetns.Set(orig); err != nil {
			errc <- fmt.Errorf("switching back to the original network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// inTestNetns runs f on a locked thread switched into ns.
func inTestNetns(ns vnetns.NsHandle, f func() error) error {
	return onTestThread(func() error {
		if err := vnetns.Set(ns); err != nil {
			return fmt.Errorf("entering the test namespace: %w", err)
		}
		return f()
	})
}

// serveInNetns opens UDP and TCP sockets on addr inside ns and runs serve
// on them until the test ends.
func serveInNetns(t *testing.T, ns vnetns.NsHandle, addr string, serve func(context.Context, net.PacketConn, net.Listener) error) {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	err = inTestNetns(ns, func() error {
		if pc, err = net.ListenPacket("udp4", addr); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", addr); err != nil {
			pc.Close()
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listening on %s in the test namespace: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("DNS server on %s: %v", addr, err)
		}
	})
}

func TestEmbeddedDNSInNetns(t *testing.T) {
	ns := newDNSTestNetns(t)
	plan := planFixture(t, "alpine-net")
	serveInNetns(t, ns, "192.0.2.1:53", NewOutsideDNS(plan.Outside).Serve)

	forward := func(ctx context.Context, network, address string) (net.Conn, error) {
		var conn net.Conn
		err := inTestNetns(ns, func() (err error) {
			var d net.Dialer
			conn, err = d.DialContext(ctx, network, address)
			return err
		})
		return conn, err
	}
	d := NewEmbeddedDNS(plan, plan.Container("alpine1"), forward, nil)
	serveInNetns(t, ns, "127.0.0.11:53", d.Serve)

	alpine2 := addrOn(t, plan, "alpine2", "alpine-net")
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []netip.Addr
	}{
		{"alpine2.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{alpine2}},
		{"alpine2.alpine-net.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{alpine2}},
		{"alpine2.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"example.com.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{netip.MustParseAddr("203.0.113.10")}},
		{"alpine3.", dns.TypeA, dns.RcodeNameError, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			var conn net.Conn
			err := inTestNetns(ns, func() (err error) {
				conn, err = net.DialTimeout(network, "127.0.0.11:53", 2*time.Second)
				return err
			})
			if err != nil {
				t.Fatalf("dialing the embedded DNS server over %s: %v", network, err)
			}
			client := &dns.Client{Net: network, Timeout: 5 * time.Second}
			resp, _, err := client.ExchangeWithConn(query(tt.name, tt.qtype), &dns.Conn{Conn: conn})
			conn.Close()
			if err != nil {
				t.Errorf("%s %s %s: %v", network, tt.name, dns.TypeToString[tt.qtype], err)
				continue
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("%s %s %s: rcode %s, want %s", network, tt.name, dns.TypeToString[tt.qtype],
					dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if got := answerAddrs(resp); !slices.Equal(got, tt.want) {
				t.Errorf("%s %s %s: %v, want %v", network, tt.name, dns.TypeToString[tt.qtype], got, tt.want)
			}
		}
	}
}
