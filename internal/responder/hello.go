// Package responder implements the servers that topolab runs for the listen
// ports of containers and for outside hosts, so that probes can tell which
// server answered and which client address it saw.
//
// The wire protocol is fixed, because the probe client relies on it:
//
//   - TCP: the server reads the first line (2 s deadline). An HTTP request
//     line gets an HTTP/1.1 200 response with the headers X-Topolab-Server
//     and X-Topolab-Client and a hello line as the body. The line "topolab"
//     gets the hello line alone. Anything else closes the connection.
//   - UDP: every datagram gets the hello line back to its sender.
//
// The hello line is "topolab server=NAME client=IP:PORT\n", where IP:PORT is
// the remote address the server saw. The package opens no sockets itself:
// callers hand it listeners opened in the right network namespace.
package responder

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// helloWord is the first word of a hello line and the request line that
// asks a TCP responder for one.
const helloWord = "topolab"

// ErrMalformedHello is returned by ParseHello for a line that is not a
// hello line.
var ErrMalformedHello = errors.New("malformed topolab hello")

// FormatHello returns the hello line, with its final newline, that server
// sends to client. Server must not contain spaces, because ParseHello
// rejects them. Client is an IP:PORT as net.JoinHostPort writes it.
func FormatHello(server, client string) string {
	return helloWord + " server=" + server + " client=" + client + "\n"
}

// ParseHello returns the server name and client address of a hello line.
// The final newline (LF or CRLF) is optional. The client must be an IP:PORT
// that netip.ParseAddrPort accepts. Any error wraps ErrMalformedHello.
func ParseHello(line string) (server, client string, err error) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	fields := strings.Split(line, " ")
	if len(fields) != 3 || fields[0] != helloWord {
		return "", "", fmt.Errorf("%w: %q", ErrMalformedHello, line)
	}
	server, ok := strings.CutPrefix(fields[1], "server=")
	if !ok || server == "" || !printable(server) {
		return "", "", fmt.Errorf("%w: invalid server field in %q", ErrMalformedHello, line)
	}
	client, ok = strings.CutPrefix(fields[2], "client=")
	if !ok {
		return "", "", fmt.Errorf("%w: missing client field in %q", ErrMalformedHello, line)
	}
	if _, err := netip.ParseAddrPort(client); err != nil {
		return "", "", fmt.Errorf("%w: invalid client address in %q: %v", ErrMalformedHello, line, err)
	}
	return server, client, nil
}

// printable reports whether s contains only visible ASCII characters, so a
// server name cannot smuggle control characters into a result.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// clientAddress returns the IP:PORT of a remote address, with IPv4-mapped
// IPv6 addresses written as plain IPv4, as a dual-stack socket reports them.
func clientAddress(addr net.Addr) string {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		parsed, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return addr.String()
		}
		ap = parsed
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}
