package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/topolab/topolab/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the recorded lab capture in testdata")

type testLab struct {
	host, c1, c2, outside *testNS
	points                []Point
}

// newTestLab builds a Docker-host-like namespace with bridge docker0, two
// container namespaces on it, an uplink to an outside namespace, and
// masquerade and port 8080 DNAT rules, all in namespaces of its own.
func newTestLab(t *testing.T) *testLab {
	testenv.RequireRoot(t)
	l := &testLab{
		host: newTestNS(t, "host"), c1: newTestNS(t, "c1"),
		c2: newTestNS(t, "c2"), outside: newTestNS(t, "outside"),
	}
	veth(t, l.host, "vethc1", l.c1, "eth0")
	veth(t, l.host, "vethc2", l.c2, "eth0")
	veth(t, l.host, "eth0", l.outside, "eth0")
	l.host.bridge(t, "docker0", "vethc1", "vethc2")
	l.host.addAddr(t, "docker0", gatewayIP+"/16")
	l.host.addAddr(t, "eth0", uplinkIP.String()+"/24")
	l.outside.addAddr(t, "eth0", routerIP.String()+"/24")
	l.c1.addAddr(t, "eth0", c1IP.String()+"/16")
	l.c2.addAddr(t, "eth0", c2IP.String()+"/16")
	l.c1.defaultRoute(t, gatewayIP)
	l.c2.defaultRoute(t, gatewayIP)
	l.host.defaultRoute(t, routerIP.String())
	l.host.sysctl(t, "net/ipv4/ip_forward", "1")
	l.host.natRules(t, "eth0", bridgeNet, publishPort, netip.AddrPortFrom(c1IP, 80))
	l.host.hairpinRules(t, "docker0", bridgeNet, uplinkIP, publishPort, netip.AddrPortFrom(c1IP, 80))

	l.points = []Point{
		{Label: labelC1, Ifname: "vethc1", Do: l.host.Do},
		{Label: labelC2, Ifname: "vethc2", Do: l.host.Do},
		{Label: labelBridge, Ifname: "docker0", Do: l.host.Do},
		{Label: labelUplink, Ifname: "eth0", Do: l.host.Do},
		{Label: labelLo, Ifname: "lo", Do: l.host.Do},
	}
	return l
}

// ping sends one ICMP echo request from n to dst with identifier id and
// waits for the reply.
func ping(n *testNS, dst netip.Addr, id int) error {
	var conn *icmp.PacketConn
	err := n.Do(func() error {
		var err error
		conn, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return fmt.Errorf("opening ICMP socket in %s: %w", n.name, err)
	}
	defer conn.Close()
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("topolab")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := conn.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return fmt.Errorf("sending echo to %s: %w", dst, err)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("waiting for echo reply from %s: %w", dst, err)
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err == nil && m.Type == ipv4.ICMPTypeEchoReply {
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
				return nil
			}
		}
	}
}

// listenEcho starts a TCP echo server in n on addr.
func listenEcho(t *testing.T, n *testNS, addr string) {
	t.Helper()
	var ln net.Listener
	err := n.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, n.name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

// dialEcho connects from n to addr, sends a line and reads it back.
func dialEcho(n *testNS, addr string) (local netip.AddrPort, err error) {
	var c net.Conn
	err = n.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", addr, 3*time.Second)
		return err
	})
	if err != nil {
		return local, fmt.Errorf("connecting from %s to %s: %w", n.name, addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		return local, err
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(c, buf); err != nil {
		return local, fmt.Errorf("reading echo from %s: %w", addr, err)
	}
	return c.LocalAddr().(*net.TCPAddr).AddrPort(), nil
}

// proxy starts, in n, a TCP proxy from listen to target, as Docker's
// userland proxy forwards a published port.
func proxy(t *testing.T, n *testNS, listen, target string) {
	t.Helper()
	var ln net.Listener
	err := n.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", listen)
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s in %s: %v", listen, n.name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var up net.Conn
				// The accepted socket's namespace is the listener's, but a
				// new dial needs the thread switched again.
				if err := n.Do(func() error {
					var err error
					up, err = net.Dial("tcp4", target)
					return err
				}); err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
}

// labRun is what one run of the test lab recorded.
type labRun struct {
	Capture    *Capture
	Conntrack  []Translation
	ClientPort netip.AddrPort
}

func runTestLab(t *testing.T, l *testLab, opts Options) labRun {
	listenEcho(t, l.c1, ":80")
	proxy(t, l.host, fmt.Sprintf("127.0.0.1:%d", proxyPort), netip.AddrPortFrom(c1IP, 80).String())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Start(ctx, l.points, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Stop() })

	annotate := func(probe string, proto string, dst netip.Addr, f func() error) {
		t.Helper()
		start := time.Now()
		if err := f(); err != nil {
			t.Fatalf("probe %s: %v", probe, err)
		}
		s.Annotate(Annotation{Probe: probe, Start: start, End: time.Now(), Proto: proto, Dst: dst})
	}
	annotate("c1 ping outside", ProtoICMP, routerIP, func() error { return ping(l.c1, routerIP, 0x1234) })
	annotate("c1 ping c2", ProtoICMP, c2IP, func() error { return ping(l.c1, c2IP, 0x2345) })
	var client netip.AddrPort
	annotate("outside tcp published", ProtoTCP, uplinkIP, func() error {
		var err error
		client, err = dialEcho(l.outside, netip.AddrPortFrom(uplinkIP, publishPort).String())
		return err
	})
	annotate("c2 tcp hairpin", ProtoTCP, uplinkIP, func() error {
		_, err := dialEcho(l.c2, netip.AddrPortFrom(uplinkIP, publishPort).String())
		return err
	})
	annotate("host tcp localhost", ProtoTCP, netip.MustParseAddr("127.0.0.1"), func() error {
		_, err := dialEcho(l.host, fmt.Sprintf("127.0.0.1:%d", proxyPort))
		return err
	})

	entries, err := ReadConntrack(l.host.Do)
	if err != nil {
		t.Fatalf("ReadConntrack: %v", err)
	}
	c, err := s.Stop()
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	return labRun{Capture: c, Conntrack: entries, ClientPort: client}
}

func TestLabCapture(t *testing.T) {
	l := newTestLab(t)
	run := runTestLab(t, l, Options{})
	c := run.Capture

	t.Log(c.Summary())
	if c.Lost() != 0 {
		t.Errorf("capture lost packets: %s", c.Summary())
	}
	if !strings.Contains(c.Summary(), "none lost") {
		t.Errorf("Summary() = %q, want it to say none lost", c.Summary())
	}
	for _, st := range c.Stats {
		if st.Engine != EngineRing {
			t.Errorf("point %s captured with engine %q, want the default %q", st.Label, st.Engine, EngineRing)
		}
		if st.Captured == 0 {
			t.Errorf("point %s captured nothing", st.Label)
		}
		if st.Captured+st.LimitDrops+st.Undrained != st.KernelPackets-st.KernelDrops {
			t.Errorf("point %s: counters do not add up: %+v", st.Label, st)
		}
	}
	checkLabFlows(t, c.Flows(), run.ClientPort)
	checkLabNAT(t, c.NAT(run.Conntrack, labPorts()), run.ClientPort)

	path := filepath.Join(t.TempDir(), "lab.pcapng")
	writePcapngFile(t, c, path)
	checkTshark(t, path, c)

	if *update {
		writePcapngFile(t, c, filepath.Join("testdata", "lab.pcapng"))
		rec := recordedLab{Conntrack: run.Conntrack, Annotations: c.Annotations(), ClientPort: run.ClientPort}
		b, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "lab.json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writePcapngFile(t *testing.T, c *Capture, path string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		t.Fatalf("WritePcapng: %v", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkTshark reads path with tshark and compares its interface names and
// per-interface packet counts with c.
func checkTshark(t *testing.T, path string, c *Capture) {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("tshark not found: install it (apt-get install -y tshark)")
		}
		t.Skip("tshark not found; install it (apt-get install -y tshark) to check the pcapng file")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.interface_name")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark -r %s: %v\n%s", path, err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		// tshark warns about running as root whatever file it reads.
		if line != "" && !strings.HasPrefix(line, `Running as user "root"`) {
			t.Errorf("tshark -r %s printed a warning: %s", path, line)
		}
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		got[line]++
	}
	for i, p := range c.Points {
		if want := int(c.Stats[i].Captured); got[p.Label] != want {
			t.Errorf("tshark counts %d packets on %q, want %d", got[p.Label], p.Label, want)
		}
	}
	if total := len(strings.Split(strings.TrimSpace(stdout.String()), "\n")); total != len(c.Packets) {
		t.Errorf("tshark reads %d packets, want %d", total, len(c.Packets))
	}
}
