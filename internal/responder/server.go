package responder

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults of Server.
const (
	DefaultReadTimeout  = 2 * time.Second
	DefaultWriteTimeout = 2 * time.Second
	DefaultMaxConns     = 128
)

// maxLine is the longest request line or header line a TCP responder reads.
const maxLine = 4096

// maxHeaders is the maximum number of header lines a TCP responder reads
// before it replies to an HTTP request.
const maxHeaders = 100

// Server is a responder for one node. The zero value of every field but
// Name selects its default.
type Server struct {
	// Name is the node name sent in every reply. It must not contain spaces.
	Name string
	// ReadTimeout bounds the time from accepting a TCP connection to the
	// end of the request: the first line, and for HTTP the headers.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time to send one reply.
	WriteTimeout time.Duration
	// MaxConns is the maximum number of TCP connections served at once per
	// listener. Further connections wait in the listen backlog.
	MaxConns int
	// Logger receives debug records of rejected requests and errors. Nil
	// discards them.
	Logger *slog.Logger
}

// ServeTCP serves the TCP responder protocol for server on ln with the
// default Server settings. See Server.ServeTCP.
func ServeTCP(ctx context.Context, ln net.Listener, server string) error {
	return (&Server{Name: server}).ServeTCP(ctx, ln)
}

// ServeUDP serves the UDP responder protocol for server on pc with the
// default Server settings. See Server.ServeUDP.
func ServeUDP(ctx context.Context, pc net.PacketConn, server string) error {
	return (&Server{Name: server}).ServeUDP(ctx, pc)
}

// ServeTCP accepts connections on ln and replies to each as the package
// documentation describes. It closes ln when ctx is done, waits for the
// connections in progress, and returns nil then or when ln is closed by
// someone else. Any other accept error is returned.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	return AcceptLoop(ctx, ln, s.maxConns(), "responder "+s.Name, s.serveConn)
}

func (s *Server) serveConn(conn net.Conn) {
	defer conn.Close()
	client := clientAddress(conn.RemoteAddr())
	if err := conn.SetReadDeadline(time.Now().Add(s.readTimeout())); err != nil {
		return
	}
	br := bufio.NewReaderSize(conn, maxLine)
	line, err := br.ReadSlice('\n')
	if err != nil {
		s.logger().Debug("responder closed connection before a full line", "server", s.Name, "client", client, "error", err)
		return
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))

	var reply string
	switch {
	case string(line) == helloWord:
		reply = FormatHello(s.Name, client)
	case isRequestLine(string(line)):
		method, _, _ := strings.Cut(string(line), " ")
		if err := readHeaders(br); err != nil {
			s.logger().Debug("responder rejected HTTP headers", "server", s.Name, "client", client, "error", err)
			return
		}
		reply = httpResponse(s.Name, client, method == "HEAD")
	default:
		s.logger().Debug("responder rejected request line", "server", s.Name, "client", client, "line", strconv.Quote(string(line)))
		return
	}
	if err := conn.SetWriteDeadline(time.Now().Add(s.writeTimeout())); err != nil {
		return
	}
	if _, err := io.WriteString(conn, reply); err != nil {
		s.logger().Debug("responder failed to send reply", "server", s.Name, "client", client, "error", err)
	}
}

// isRequestLine reports whether line is an HTTP/1.x request line: a method
// token, a request target and the protocol version, separated by one space.
func isRequestLine(line string) bool {
	method, rest, ok := strings.Cut(line, " ")
	if !ok || method == "" || !isToken(method) {
		return false
	}
	target, proto, ok := strings.Cut(rest, " ")
	if !ok || target == "" || !printable(target) {
		return false
	}
	return len(proto) == len("HTTP/1.1") && strings.HasPrefix(proto, "HTTP/1.") &&
		proto[len(proto)-1] >= '0' && proto[len(proto)-1] <= '9'
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// readHeaders consumes the header section of an HTTP request, up to the
// blank line. A request body, if any, is left unread: the response closes
// the connection.
func readHeaders(br *bufio.Reader) error {
	for range maxHeaders {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading header line: %w", err)
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
		if bytes.IndexByte(line, ':') <= 0 {
			return fmt.Errorf("invalid header line %q", line)
		}
	}
	return fmt.Errorf("more than %d header lines", maxHeaders)
}

// httpResponse returns the complete HTTP/1.1 response of a responder. A
// response to HEAD has the headers of the response to GET and no body.
func httpResponse(server, client string, head bool) string {
	body := FormatHello(server, client)
	response := "HTTP/1.1 200 OK\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"X-Topolab-Server: " + server + "\r\n" +
		"X-Topolab-Client: " + client + "\r\n" +
		"Connection: close\r\n" +
		"\r\n"
	if head {
		return response
	}
	return response + body
}

// ServeUDP answers every datagram on pc with a hello line to its sender,
// one datagram at a time. It closes pc when ctx is done and returns nil then
// or when pc is closed by someone else. Any other read error is returned.
func (s *Server) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()

	buf := make([]byte, 64*1024)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("reading from %s: %w", pc.LocalAddr(), err)
		}
		reply := FormatHello(s.Name, clientAddress(from))
		if err := pc.SetWriteDeadline(time.Now().Add(s.writeTimeout())); err != nil {
			return fmt.Errorf("setting write deadline on %s: %w", pc.LocalAddr(), err)
		}
		if _, err := pc.WriteTo([]byte(reply), from); err != nil {
			// An unreachable sender must not stop the server.
			s.logger().Debug("responder failed to send reply", "server", s.Name, "client", from.String(), "error", err)
		}
	}
}

func (s *Server) readTimeout() time.Duration {
	if s.ReadTimeout > 0 {
		return s.ReadTimeout
	}
	return DefaultReadTimeout
}

func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout > 0 {
		return s.WriteTimeout
	}
	return DefaultWriteTimeout
}

func (s *Server) maxConns() int {
	if s.MaxConns > 0 {
		return s.MaxConns
	}
	return DefaultMaxConns
}

var discard = slog.New(slog.DiscardHandler)

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return discard
}
