package responder

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzServeRequest sends arbitrary bytes to the TCP responder, which
// parses request lines and headers from any client in a lab. It must
// reply with a hello line, an HTTP response or nothing, and close the
// connection within its timeouts.
func FuzzServeRequest(f *testing.F) {
	f.Add([]byte("topolab\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: web1\r\n\r\n"))
	f.Add([]byte("HEAD / HTTP/1.0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: " + strings.Repeat("a", maxLine) + "\r\n\r\n"))
	f.Add([]byte("GET  /  HTTP/1.1\r\n\r\n"))
	f.Add([]byte("\r\n"))
	s := &Server{Name: "web1", ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	f.Fuzz(func(t *testing.T, request []byte) {
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.serveConn(server)
		}()
		go func() {
			client.SetWriteDeadline(time.Now().Add(time.Second))
			client.Write(request)
		}()
		client.SetReadDeadline(time.Now().Add(2 * time.Second))
		reply, err := io.ReadAll(bufio.NewReader(client))
		client.Close()
		<-done
		if err != nil {
			t.Fatalf("reading the reply: %v", err)
		}
		r := string(reply)
		if r != "" && !strings.HasPrefix(r, helloWord+" server=web1 ") && !strings.HasPrefix(r, "HTTP/1.") {
			t.Errorf("request %q: reply %q", request, r)
		}
	})
}
