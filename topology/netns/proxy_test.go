package netns

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/responder"
	"github.com/topolab/topolab/topology"
)

// recordingDial dials on loopback and records the local address of every
// connection, which is the source address the container sees.
type recordingDial struct {
	mu     sync.Mutex
	locals []string
}

func (r *recordingDial) dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.locals = append(r.locals, conn.LocalAddr().String())
	r.mu.Unlock()
	return conn, nil
}

func (r *recordingDial) sources() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.locals...)
}

func loopbackBinding(t testing.TB, backend net.Addr, proto string) topology.PortBinding {
	t.Helper()
	ap, err := netip.ParseAddrPort(backend.String())
	if err != nil {
		t.Fatal(err)
	}
	return topology.PortBinding{
		HostIP:        topology.Localhost,
		ContainerIP:   ap.Addr(),
		ContainerPort: ap.Port(),
		Proto:         proto,
		Network:       topology.DefaultBridge,
	}
}

// startProxyTCP serves p on a fresh loopback listener and returns its
// address. The proxy stops when the test ends.
func startProxyTCP(t *testing.T, p *Proxy) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.ServeTCP(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy ServeTCP: %v", err)
		}
	})
	return ln.Addr().String()
}

func startProxyUDP(t *testing.T, p *Proxy) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.ServeUDP(ctx, pc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy ServeUDP: %v", err)
		}
	})
	return pc.LocalAddr().String()
}

func startResponderTCP(t *testing.T, name string) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- responder.ServeTCP(ctx, ln, name) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr()
}

func dialDeadline(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestProxyTCPSource(t *testing.T) {
	backend := startResponderTCP(t, "web1")
	rec := &recordingDial{}
	addr := startProxyTCP(t, NewProxy(loopbackBinding(t, backend, "tcp"), rec.dial, nil))

	conn := dialDeadline(t, "tcp", addr)
	if _, err := io.WriteString(conn, "topolab\n"); err != nil {
		t.Fatal(err)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	server, client, err := responder.ParseHello(string(reply))
	if err != nil {
		t.Fatal(err)
	}
	if server != "web1" {
		t.Errorf("server %q, want web1", server)
	}
	sources := rec.sources()
	if len(sources) != 1 {
		t.Fatalf("proxy dialed %d times, want once", len(sources))
	}
	// The container sees the proxy's connection, not the client's.
	if client != sources[0] {
		t.Errorf("container saw %s, want the proxy's address %s", client, sources[0])
	}
	if client == conn.LocalAddr().String() {
		t.Errorf("container saw the client's own address %s", client)
	}
}

func TestProxyTCPHalfClose(t *testing.T) {
	// The backend reads until the end of the stream, then answers: this
	// works only if the proxy passes the client's half-close on.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				data, err := io.ReadAll(conn)
				if err != nil {
					return
				}
				io.WriteString(conn, "got "+strings.ToUpper(string(data)))
			}()
		}
	}()
	rec := &recordingDial{}
	addr := startProxyTCP(t, NewProxy(loopbackBinding(t, ln.Addr(), "tcp"), rec.dial, nil))

	conn := dialDeadline(t, "tcp", addr)
	if _, err := io.WriteString(conn, "ping"); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if string(reply) != "got PING" {
		t.Errorf("reply %q, want %q", reply, "got PING")
	}
}

func TestProxyTCPLargeTransfer(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.Copy(conn, conn) // echo
	}()
	addr := startProxyTCP(t, NewProxy(loopbackBinding(t, ln.Addr(), "tcp"), (&recordingDial{}).dial, nil))
	conn := dialDeadline(t, "tcp", addr)
	payload := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	go func() {
		io.WriteString(conn, payload)
		conn.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != payload {
		t.Errorf("echo through the proxy: %d bytes back, want %d identical", len(got), len(payload))
	}
}

func TestProxyTCPNoContainerServer(t *testing.T) {
	// A port with no server: the proxy accepts, fails to connect and closes.
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := closed.Addr()
	closed.Close()
	addr := startProxyTCP(t, NewProxy(loopbackBinding(t, backend, "tcp"), (&recordingDial{}).dial, nil))
	conn := dialDeadline(t, "tcp", addr)
	io.WriteString(conn, "topolab\n")
	got, _ := io.ReadAll(conn)
	if len(got) != 0 {
		t.Errorf("reply %q from a proxy without a container server, want none", got)
	}
}

func TestProxyTCPStopsOnCancel(t *testing.T) {
	backend := startResponderTCP(t, "web1")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := NewProxy(loopbackBinding(t, backend, "tcp"), (&recordingDial{}).dial, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.ServeTCP(ctx, ln) }()

	// An open relayed connection must not keep ServeTCP from returning.
	conn := dialDeadline(t, "tcp", ln.Addr().String())
	io.WriteString(conn, "topo")
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeTCP after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeTCP did not return after cancel")
	}
}

func startResponderUDP(t *testing.T, name string) net.Addr {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- responder.ServeUDP(ctx, pc, name) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return pc.LocalAddr()
}

func exchangeUDP(t *testing.T, conn net.Conn, payload string) string {
	t.Helper()
	if _, err := conn.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestProxyUDPSessions(t *testing.T) {
	backend := startResponderUDP(t, "dns1")
	rec := &recordingDial{}
	addr := startProxyUDP(t, NewProxy(loopbackBinding(t, backend, "udp"), rec.dial, nil))

	first := dialDeadline(t, "udp", addr)
	second := dialDeadline(t, "udp", addr)
	var seen []string
	for _, conn := range []net.Conn{first, second, first} {
		server, client, err := responder.ParseHello(exchangeUDP(t, conn, "hello"))
		if err != nil {
			t.Fatal(err)
		}
		if server != "dns1" {
			t.Errorf("server %q, want dns1", server)
		}
		seen = append(seen, client)
	}
	sources := rec.sources()
	if len(sources) != 2 {
		t.Fatalf("proxy opened %d sessions, want one per client (2)", len(sources))
	}
	if seen[0] != sources[0] || seen[1] != sources[1] || seen[2] != sources[0] {
		t.Errorf("container saw %v, want the sessions' addresses %v in client order", seen, sources)
	}
}

func TestProxyUDPIdleTimeout(t *testing.T) {
	backend := startResponderUDP(t, "dns1")
	rec := &recordingDial{}
	p := NewProxy(loopbackBinding(t, backend, "udp"), rec.dial, nil)
	p.UDPIdleTimeout = 50 * time.Millisecond
	addr := startProxyUDP(t, p)

	conn := dialDeadline(t, "udp", addr)
	exchangeUDP(t, conn, "one")
	time.Sleep(300 * time.Millisecond)
	exchangeUDP(t, conn, "two")
	if n := len(rec.sources()); n != 2 {
		t.Errorf("proxy opened %d sessions, want a new one after the idle timeout (2)", n)
	}
}

func TestProxyUDPSessionLimit(t *testing.T) {
	backend := startResponderUDP(t, "dns1")
	p := NewProxy(loopbackBinding(t, backend, "udp"), (&recordingDial{}).dial, nil)
	p.MaxConns = 1
	addr := startProxyUDP(t, p)

	first := dialDeadline(t, "udp", addr)
	exchangeUDP(t, first, "one")
	second := dialDeadline(t, "udp", addr)
	second.Write([]byte("two"))
	second.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := second.Read(make([]byte, 64)); err == nil {
		t.Errorf("second client got a reply (%d bytes) beyond the session limit", n)
	}
}

func BenchmarkProxyTCPThroughput(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.Copy(io.Discard, conn)
	}()
	front, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	p := NewProxy(loopbackBinding(b, ln.Addr(), "tcp"), (&recordingDial{}).dial, nil)
	go func() { done <- p.ServeTCP(ctx, front) }()
	defer func() {
		cancel()
		<-done
	}()

	conn, err := net.Dial("tcp4", front.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	chunk := make([]byte, 64*1024)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		if _, err := conn.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}
