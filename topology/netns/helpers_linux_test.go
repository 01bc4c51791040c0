package netns

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/responder"
	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/topology"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Outcomes of the test probes, named like probe results.
const (
	resultOK          = "ok"
	resultTimeout     = "timeout"
	resultRefused     = "refused"
	resultUnreachable = "unreachable"
)

const probeTimeout = 500 * time.Millisecond

// upPlan builds plan and registers its teardown.
func upPlan(t testing.TB, plan *topology.Plan) topology.Lab {
	t.Helper()
	testenv.RequireRoot(t)
	rt := New(Options{StateDir: t.TempDir()})
	l, err := rt.Up(context.Background(), plan)
	if err != nil {
		t.Fatalf("Up(%s): %v", plan.Lab, err)
	}
	t.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil {
			t.Errorf("Close(%s): %v", plan.Lab, err)
		}
	})
	return l
}

// upFixture plans and builds a fixture.
func upFixture(t testing.TB, name string) topology.Lab {
	t.Helper()
	plan, err := loadPlan(name)
	if err != nil {
		t.Fatalf("planning %s: %v", name, err)
	}
	return upPlan(t, plan)
}

// upYAML plans and builds a topology written inline.
func upYAML(t testing.TB, yaml string) topology.Lab {
	t.Helper()
	top, err := topology.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("parsing topology: %v", err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatalf("planning topology: %v", err)
	}
	return upPlan(t, plan)
}

func mustNode(t testing.TB, l topology.Lab, name string) topology.Node {
	t.Helper()
	n := l.Node(name)
	if n == nil {
		t.Fatalf("lab %s has no node %s", l.Plan().Lab, name)
	}
	return n
}

// sourceOf returns the address an outside node binds, or the zero Addr.
func sourceOf(n topology.Node) netip.Addr {
	if sa, ok := n.(topology.SourceAddresser); ok {
		return sa.SourceAddr()
	}
	return netip.Addr{}
}

var pingSeq atomic.Uint32

// ping sends one ICMP echo from node n to dst over a raw socket and
// classifies the outcome.
func ping(t testing.TB, n topology.Node, dst netip.Addr) string {
	t.Helper()
	result, err := pingOutcome(n, dst)
	if err != nil {
		t.Fatalf("ping %s from %s: %v", dst, n.Name(), err)
	}
	return result
}

func pingOutcome(n topology.Node, dst netip.Addr) (string, error) {
	var result string
	err := n.Do(func() error {
		src := "0.0.0.0"
		if a := sourceOf(n); a.IsValid() {
			src = a.String()
		}
		conn, err := icmp.ListenPacket("ip4:icmp", src)
		if err != nil {
			return err
		}
		defer conn.Close()
		id := int(pingSeq.Add(1) & 0xffff)
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("topolab")}}
		wire, _ := msg.Marshal(nil)
		if _, err := conn.WriteTo(wire, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			if errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) {
				result = resultUnreachable
				return nil
			}
			return err
		}
		deadline := time.Now().Add(probeTimeout)
		buf := make([]byte, 1500)
		for {
			conn.SetReadDeadline(deadline)
			k, from, err := conn.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				result = resultTimeout
				return nil
			}
			if err != nil {
				return err
			}
			reply, err := icmp.ParseMessage(1, buf[:k])
			if err != nil {
				continue
			}
			switch body := reply.Body.(type) {
			case *icmp.Echo:
				if reply.Type == ipv4.ICMPTypeEchoReply && body.ID == id && from.String() == dst.String() {
					result = resultOK
					return nil
				}
			case *icmp.DstUnreach:
				result = resultUnreachable
				return nil
			}
		}
	})
	return result, err
}

// hello connects from node n to addr over TCP, requests the responder's
// hello line and returns the outcome with the server name and the client
// address that the server saw.
func hello(t testing.TB, n topology.Node, addr string) (result, server, client string) {
	t.Helper()
	err := n.Do(func() error {
		d := net.Dialer{Timeout: probeTimeout}
		if a := sourceOf(n); a.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: a.AsSlice()}
		}
		conn, err := d.DialContext(context.Background(), "tcp4", addr)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			result = resultRefused
			return nil
		case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
			result = resultUnreachable
			return nil
		case err != nil && isTimeout(err):
			result = resultTimeout
			return nil
		case err != nil:
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte("topolab\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return err
		}
		server, client, err = responder.ParseHello(line)
		result = resultOK
		return err
	})
	if err != nil {
		t.Fatalf("connecting from %s to %s: %v", n.Name(), addr, err)
	}
	return result, server, client
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// clientIP strips the port from a hello line's client address.
func clientIP(client string) string {
	host, _, err := net.SplitHostPort(client)
	if err != nil {
		return client
	}
	return host
}

// addressOf returns the address of container c on network.
func addressOf(t testing.TB, l topology.Lab, c, network string) netip.Addr {
	t.Helper()
	pc := l.Plan().Container(c)
	if pc == nil || pc.Interface(network) == nil {
		t.Fatalf("container %s has no interface on %s", c, network)
	}
	return pc.Interface(network).Address.Addr()
}

// readFileIn reads a file such as a sysctl from inside node n.
func readFileIn(t testing.TB, n topology.Node, path string) string {
	t.Helper()
	var s string
	if err := n.Do(func() error {
		data, err := os.ReadFile(path)
		s = strings.TrimSpace(string(data))
		return err
	}); err != nil {
		t.Fatalf("reading %s in %s: %v", path, n.Name(), err)
	}
	return s
}
