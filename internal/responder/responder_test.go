package responder

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFormatHello(t *testing.T) {
	got := FormatHello("web1", "172.17.0.1:40000")
	want := "topolab server=web1 client=172.17.0.1:40000\n"
	if got != want {
		t.Errorf("FormatHello = %q, want %q", got, want)
	}
}

func TestParseHello(t *testing.T) {
	tests := []struct {
		line   string
		server string
		client string
	}{
		{"topolab server=web1 client=172.17.0.1:40000\n", "web1", "172.17.0.1:40000"},
		{"topolab server=web1 client=172.17.0.1:40000\r\n", "web1", "172.17.0.1:40000"},
		{"topolab server=example.com client=192.0.2.10:5353", "example.com", "192.0.2.10:5353"},
		{"topolab server=a client=[::1]:80\n", "a", "[::1]:80"},
	}
	for _, tt := range tests {
		server, client, err := ParseHello(tt.line)
		if err != nil {
			t.Errorf("ParseHello(%q): %v", tt.line, err)
			continue
		}
		if server != tt.server || client != tt.client {
			t.Errorf("ParseHello(%q) = %q, %q, want %q, %q", tt.line, server, client, tt.server, tt.client)
		}
	}
}

func TestParseHelloRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"\n",
		"topolab",
		"topolab server=web1",
		"topolab server= client=1.2.3.4:5",
		"topolab server=web1 client=",
		"topolab server=web1 client=1.2.3.4",
		"topolab server=web1 client=web2:80",
		"topolab server=web1 client=1.2.3.4:99999",
		"topolab  server=web1 client=1.2.3.4:5",
		"topolab server=web1 client=1.2.3.4:5 extra",
		"TOPOLAB server=web1 client=1.2.3.4:5",
		"topolab client=1.2.3.4:5 server=web1",
		"topolab server=we\x01b client=1.2.3.4:5",
		"HTTP/1.1 200 OK",
	} {
		if _, _, err := ParseHello(line); !errors.Is(err, ErrMalformedHello) {
			t.Errorf("ParseHello(%q) error = %v, want ErrMalformedHello", line, err)
		}
	}
}

func FuzzParseHello(f *testing.F) {
	f.Add("topolab server=web1 client=172.17.0.1:40000\n")
	f.Add("topolab server=a client=[fe80::1%eth0]:1\r\n")
	f.Add("topolab server= client=")
	f.Fuzz(func(t *testing.T, line string) {
		server, client, err := ParseHello(line)
		if err != nil {
			return
		}
		// A line that parses must survive a round trip.
		server2, client2, err := ParseHello(FormatHello(server, client))
		if err != nil {
			t.Fatalf("ParseHello(FormatHello(%q, %q)): %v", server, client, err)
		}
		if server2 != server || client2 != client {
			t.Fatalf("round trip of %q gave %q, %q", line, server2, client2)
		}
	})
}

// startTCP serves s on a fresh loopback listener and returns its address.
// The server stops when the test ends.
func startTCP(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeTCP(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTCP: %v", err)
		}
	})
	return ln.Addr().String()
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestServeTCPHello(t *testing.T) {
	addr := startTCP(t, &Server{Name: "web1"})
	conn := dialTCP(t, addr)
	if _, err := io.WriteString(conn, "topolab\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	want := FormatHello("web1", conn.LocalAddr().String())
	if string(got) != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
}

func TestServeTCPHelloCRLF(t *testing.T) {
	addr := startTCP(t, &Server{Name: "web1"})
	conn := dialTCP(t, addr)
	if _, err := io.WriteString(conn, "topolab\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, client, err := ParseHello(string(got)); err != nil || client != conn.LocalAddr().String() {
		t.Errorf("reply %q: client %q, error %v", got, client, err)
	}
}

func TestServeTCPHTTP(t *testing.T) {
	addr := startTCP(t, &Server{Name: "web1"})
	var local string
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, address)
			if err == nil {
				local = conn.LocalAddr().String()
			}
			return conn, err
		},
	}}
	for _, method := range []string{"GET", "POST", "DELETE"} {
		req, err := http.NewRequest(method, "http://"+addr+"/any/path?q=1", strings.NewReader("ignored"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: reading body: %v", method, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d, want 200", method, resp.StatusCode)
		}
		if got := resp.Header.Get("X-Topolab-Server"); got != "web1" {
			t.Errorf("%s: X-Topolab-Server = %q, want web1", method, got)
		}
		if got := resp.Header.Get("X-Topolab-Client"); got != local {
			t.Errorf("%s: X-Topolab-Client = %q, want %q", method, got, local)
		}
		if want := FormatHello("web1", local); string(body) != want {
			t.Errorf("%s: body = %q, want %q", method, body, want)
		}
	}
}

func TestServeTCPHead(t *testing.T) {
	addr := startTCP(t, &Server{Name: "web1"})
	conn := dialTCP(t, addr)
	if _, err := io.WriteString(conn, "HEAD / HTTP/1.0\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "HEAD"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	rest, _ := io.ReadAll(conn)
	if len(rest) != 0 {
		t.Errorf("HEAD response has a body: %q", rest)
	}
}

func TestServeTCPRejectsGarbage(t *testing.T) {
	addr := startTCP(t, &Server{Name: "web1"})
	for _, input := range []string{
		"hello\n",
		"topolab please\n",
		"GET /\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GE\x00T / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
		"\n",
		strings.Repeat("x", 10000) + "\n",
	} {
		conn := dialTCP(t, addr)
		if _, err := io.WriteString(conn, input); err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(conn)
		if len(got) != 0 {
			t.Errorf("input %.40q: reply %q, want none", input, got)
		}
	}
}

func TestServeTCPReadTimeout(t *testing.T) {
	addr := startTCP(t, &Server{Name: "web1", ReadTimeout: 50 * time.Millisecond})
	conn := dialTCP(t, addr)
	if _, err := io.WriteString(conn, "topo"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading: %v (want the server to close the connection)", err)
	}
	if len(got) != 0 {
		t.Errorf("reply %q to an incomplete line, want none", got)
	}
}

func TestServeTCPConcurrencyBound(t *testing.T) {
	addr := startTCP(t, &Server{Name: "web1", MaxConns: 1, ReadTimeout: 5 * time.Second})
	idle := dialTCP(t, addr) // takes the only slot until it closes
	second := dialTCP(t, addr)
	if _, err := io.WriteString(second, "topolab\n"); err != nil {
		t.Fatal(err)
	}
	if err := second.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := second.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("second connection served while the first held the slot: n=%d err=%v", n, err)
	}
	idle.Close()
	if err := second.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseHello(string(got)); err != nil {
		t.Errorf("second connection after the first closed: %v", err)
	}
}

func TestServeTCPStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeTCP(ctx, ln, "web1") }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeTCP after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeTCP did not return after cancel")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepts after cancel")
	}
}

func startUDP(t *testing.T, server string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeUDP(ctx, pc, server) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeUDP: %v", err)
		}
	})
	return pc.LocalAddr().String()
}

func TestServeUDP(t *testing.T) {
	addr := startUDP(t, "dns1")
	for _, payload := range []string{"topolab\n", "", "\x00\xff garbage"} {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(payload)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("payload %q: %v", payload, err)
		}
		if want := FormatHello("dns1", conn.LocalAddr().String()); string(buf[:n]) != want {
			t.Errorf("payload %q: reply %q, want %q", payload, buf[:n], want)
		}
	}
}

func TestServeUDPStopsOnClose(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeUDP(context.Background(), pc, "dns1") }()
	time.Sleep(10 * time.Millisecond)
	pc.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeUDP after close = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeUDP did not return after the socket closed")
	}
}

func TestIsRequestLine(t *testing.T) {
	tests := map[string]bool{
		"GET / HTTP/1.1":               true,
		"PROPFIND /x HTTP/1.0":         true,
		"GET http://a/ HTTP/1.1":       true,
		"GET / HTTP/1.x":               false,
		"GET /  HTTP/1.1":              false,
		"GET / HTTP/1.1 ":              false,
		"get/ HTTP/1.1":                false,
		"G(T / HTTP/1.1":               false,
		" GET / HTTP/1.1":              false,
		"GET /a\x7fb HTTP/1.1":         false,
		"topolab":                      false,
		"CONNECT host:443 HTTP/1.1":    true,
		"OPTIONS * HTTP/1.1":           true,
		"GET /" + "\t" + " HTTP/1.1":   false,
		"GET /\xc3\xa9 HTTP/1.1":       false,
		"GET / HTTP/1.10":              false,
		"GET / HTTP/11.1":              false,
		"GET / http/1.1":               false,
		"GET / HTTP/1.1\x00":           false,
		"M-SEARCH * HTTP/1.1":          true,
		"GET /index.html?x=1 HTTP/1.1": true,
	}
	for line, want := range tests {
		if got := isRequestLine(line); got != want {
			t.Errorf("isRequestLine(%q) = %v, want %v", line, got, want)
		}
	}
}
