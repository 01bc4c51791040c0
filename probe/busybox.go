package probe

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/topolab/topolab/internal/responder"
	"github.com/topolab/topolab/topology"
)

// The exec probe path runs busybox inside a container, as a user of
// docker exec would, and reads the result from its output. It serves
// containers whose namespace this process cannot enter. The parsers read
// the output of busybox 1.35 (Debian's busybox-static, which topolab's
// probe image contains), whose format alpine's busybox shares since 1.28.

// BusyboxWgetTimeout is the time, in seconds, after which a busybox wget
// probe is killed and counted as a timeout.
//
// NOTE: wget's own -T flag makes Debian's static busybox 1.35 crash with
// SIGSEGV, so the probe wraps wget in busybox timeout instead.
const BusyboxWgetTimeout = 2

// exitTimedOut is the exit status of busybox timeout when it killed the
// program with its default SIGTERM.
const exitTimedOut = 143

// BusyboxPingArgv returns the argv of a ping probe of target, an address or
// a name: one echo request, one second to answer.
func BusyboxPingArgv(target string) []string {
	return []string{"busybox", "ping", "-c", "1", "-W", "1", target}
}

// BusyboxNslookupArgv returns the argv of a DNS probe of name, sent to the
// container's resolver.
func BusyboxNslookupArgv(name string) []string {
	return []string{"busybox", "nslookup", name}
}

// BusyboxWgetArgv returns the argv of an HTTP GET of http://host:port/.
func BusyboxWgetArgv(host string, port uint16) []string {
	url := "http://" + busyboxHostPort(host, port) + "/"
	return []string{"busybox", "timeout", strconv.Itoa(BusyboxWgetTimeout),
		"busybox", "wget", "-q", "-O", "-", url}
}

func busyboxHostPort(host string, port uint16) string {
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(port))
}

// ExecPing runs a busybox ping of target in n and records the outcome in r.
func ExecPing(ctx context.Context, n topology.Node, target string, r *Result) {
	stdout, stderr, code, err := busyboxExec(ctx, n, BusyboxPingArgv(target))
	if err != nil {
		r.Result, r.Detail = Error, err.Error()
		return
	}
	ParseBusyboxPing(r, stdout, stderr, code)
}

// ExecLookup runs a busybox nslookup of name in n and records the outcome
// in r.
func ExecLookup(ctx context.Context, n topology.Node, name string, r *Result) {
	stdout, stderr, code, err := busyboxExec(ctx, n, BusyboxNslookupArgv(name))
	if err != nil {
		r.Result, r.Detail = Error, err.Error()
		return
	}
	ParseBusyboxNslookup(r, stdout, stderr, code)
}

// ExecHTTP runs a busybox wget of http://host:port/ in n and records the
// outcome in r.
func ExecHTTP(ctx context.Context, n topology.Node, host string, port uint16, r *Result) {
	stdout, stderr, code, err := busyboxExec(ctx, n, BusyboxWgetArgv(host, port))
	if err != nil {
		r.Result, r.Detail = Error, err.Error()
		return
	}
	ParseBusyboxWget(r, stdout, stderr, code)
}

// busyboxExec runs argv in n and returns its output and exit status. The
// error is non-nil only when the program could not be run or its status is
// unknown.
func busyboxExec(ctx context.Context, n topology.Node, argv []string) (stdout, stderr string, code int, err error) {
	var out, errOut bytes.Buffer
	err = n.Exec(ctx, argv, nil, &out, &errOut)
	var exit interface{ ExitCode() int }
	if errors.As(err, &exit) {
		return out.String(), errOut.String(), exit.ExitCode(), nil
	}
	return out.String(), errOut.String(), 0, err
}

var (
	pingHeader = regexp.MustCompile(`(?m)^PING \S+ \(([^)]+)\)`)
	pingReply  = regexp.MustCompile(`(?m)^\d+ bytes from ([^:]+): seq=\d+ ttl=\d+ time=([0-9.]+) ms`)
)

// ParseBusyboxPing records in r the outcome of busybox ping -c 1: its
// result word, the address pinged and the round-trip time.
func ParseBusyboxPing(r *Result, stdout, stderr string, exitCode int) {
	if m := pingHeader.FindStringSubmatch(stdout); m != nil {
		r.Address = m[1]
	}
	if m := pingReply.FindStringSubmatch(stdout); m != nil {
		r.Result = OK
		r.Address = m[1]
		if ms, err := strconv.ParseFloat(m[2], 64); err == nil {
			r.RTTMillis = &ms
		}
		return
	}
	msg := strings.TrimSpace(stderr)
	switch {
	case strings.Contains(msg, "bad address"):
		r.Result = NoName
	case busyboxUnreachable(msg):
		r.Result = Unreachable
	case strings.Contains(stdout, " 0 packets received"):
		r.Result = Timeout
	default:
		r.Result = Error
	}
	r.Detail = busyboxFirstLine(msg)
	if r.Detail == "" && r.Result == Error {
		r.Detail = "busybox ping exited with status " + strconv.Itoa(exitCode)
	}
}

// busyboxUnreachable reports whether a busybox error message is an ICMP
// error or a missing route.
func busyboxUnreachable(msg string) bool {
	for _, s := range []string{"Network unreachable", "Network is unreachable", "No route to host", "Host is unreachable"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// ParseBusyboxNslookup records in r the outcome of busybox nslookup: the
// answer set in Resolved, its first address in Address, and OK, NoName
// (NXDOMAIN, SERVFAIL or an empty answer), Unreachable (no route to the
// resolver) or Timeout.
func ParseBusyboxNslookup(r *Result, stdout, stderr string, exitCode int) {
	// The first block names the server; answers follow the first blank line.
	_, answers, _ := strings.Cut(stdout, "\n\n")
	var resolved []string
	var failure string
	for _, line := range strings.Split(answers, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Address:"), strings.HasPrefix(line, "Address "):
			if a, ok := busyboxAnswer(line); ok && !busyboxContains(resolved, a) {
				resolved = append(resolved, a)
			}
		case strings.HasPrefix(line, "** server can't find"):
			failure = line
		}
	}
	msg := strings.TrimSpace(stderr)
	r.Resolved = resolved
	switch {
	case len(resolved) > 0:
		r.Result = OK
		r.Address = resolved[0]
		return
	case failure != "":
		r.Result = NoName
		r.Detail = failure
	case busyboxUnreachable(msg):
		r.Result = Unreachable
		r.Detail = busyboxFirstLine(msg)
	case strings.Contains(stdout+msg, "timed out"), strings.Contains(stdout+msg, "no servers could be reached"):
		r.Result = Timeout
		r.Detail = busyboxFirstLine(strings.TrimSpace(stdout + msg))
	case exitCode == 0:
		r.Result = NoName
		r.Detail = "the name has no IPv4 address"
	case strings.Contains(msg, "can't resolve"):
		r.Result = NoName
		r.Detail = busyboxFirstLine(msg)
	default:
		r.Result = Error
		r.Detail = busyboxFirstLine(msg)
		if r.Detail == "" {
			r.Detail = "busybox nslookup exited with status " + strconv.Itoa(exitCode)
		}
	}
	if r.Resolved == nil {
		r.Resolved = []string{}
	}
}

// busyboxAnswer returns the IPv4 address of an answer line, in the
// current ("Address: 172.18.0.3") or the pre-1.28 ("Address 1: 172.18.0.3
// name") format.
func busyboxAnswer(line string) (string, bool) {
	_, rest, ok := strings.Cut(line, ":")
	if !ok {
		return "", false
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", false
	}
	a, err := netip.ParseAddr(fields[0])
	if err != nil || !a.Is4() {
		return "", false
	}
	return a.String(), true
}

var wgetConnect = regexp.MustCompile(`can't connect to remote host \(([^)]+)\)`)

// ParseBusyboxWget records in r the outcome of BusyboxWgetArgv: OK when an
// HTTP server answered, with SeenSource from a topolab responder's body;
// Refused, Unreachable, NoName, or Timeout when busybox timeout killed it.
func ParseBusyboxWget(r *Result, stdout, stderr string, exitCode int) {
	msg := strings.TrimSpace(stderr)
	if m := wgetConnect.FindStringSubmatch(msg); m != nil {
		r.Address = m[1]
	}
	switch {
	case exitCode == 0:
		r.Result = OK
		line, _, _ := strings.Cut(stdout, "\n")
		if _, client, err := responder.ParseHello(line); err == nil {
			r.SeenSource = &client
		}
		return
	case strings.Contains(msg, "server returned error"):
		// An HTTP error status is still an answer from a server.
		r.Result = OK
	case strings.Contains(msg, "Connection refused"):
		r.Result = Refused
	case strings.Contains(msg, "bad address"):
		r.Result = NoName
	case busyboxUnreachable(msg):
		r.Result = Unreachable
	case exitCode == exitTimedOut, strings.Contains(msg, "timed out"):
		r.Result = Timeout
		if msg == "" {
			msg = "no answer within " + strconv.Itoa(BusyboxWgetTimeout) + " s"
		}
	default:
		r.Result = Error
		if msg == "" {
			msg = "busybox wget exited with status " + strconv.Itoa(exitCode)
		}
	}
	r.Detail = busyboxFirstLine(msg)
}

func busyboxFirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

func busyboxContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
