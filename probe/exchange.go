package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/topolab/topolab/internal/responder"
)

// echoID numbers ICMP echo requests so that concurrent pings in one
// namespace, which all see every reply on their raw sockets, tell theirs
// apart.
var echoID atomic.Uint32

const protocolICMP = 1

// ping sends one ICMP echo request to dst from a raw socket opened in the
// node's namespace, like busybox ping -c 1 -W timeout.
func (p *prober) ping(ctx context.Context, dst netip.Addr) exchange {
	listenAddr := "0.0.0.0"
	if src := p.sourceFor(dst); src.IsValid() {
		listenAddr = src.String()
	}
	var conn *icmp.PacketConn
	err := p.node.Do(func() error {
		var err error
		conn, err = icmp.ListenPacket("ip4:icmp", listenAddr)
		return err
	})
	if err != nil {
		return exchange{verdict: Error, err: fmt.Errorf("opening ICMP socket: %w", err)}
	}
	defer conn.Close()

	id := int(echoID.Add(1) & 0xffff)
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("topolab")}}
	wire, err := msg.Marshal(nil)
	if err != nil {
		return exchange{verdict: Error, err: err}
	}
	deadline := time.Now().Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	start := time.Now()
	if _, err := conn.WriteTo(wire, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return exchange{err: fmt.Errorf("sending echo request to %s: %w", dst, err)}
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return exchange{err: fmt.Errorf("waiting for echo reply from %s: %w", dst, err)}
		}
		reply, err := icmp.ParseMessage(protocolICMP, buf[:n])
		if err != nil {
			continue
		}
		switch body := reply.Body.(type) {
		case *icmp.Echo:
			if reply.Type == ipv4.ICMPTypeEchoReply && body.ID == id && body.Seq == 1 && addrOf(from) == dst {
				return exchange{rtt: time.Since(start)}
			}
		case *icmp.DstUnreach:
			if quotesEcho(body.Data, id, dst) {
				return exchange{verdict: Unreachable, err: fmt.Errorf("%s from %s", describeUnreach(reply.Code), addrOf(from))}
			}
		}
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ip, ok := a.(*net.IPAddr); ok {
		addr, _ := netip.AddrFromSlice(ip.IP)
		return addr.Unmap()
	}
	return netip.Addr{}
}

// quotesEcho reports whether the IP packet quoted in an ICMP error is our
// echo request to dst.
func quotesEcho(quoted []byte, id int, dst netip.Addr) bool {
	h, err := ipv4.ParseHeader(quoted)
	if err != nil || h.Protocol != protocolICMP || len(quoted) < h.Len+8 {
		return false
	}
	to, _ := netip.AddrFromSlice(h.Dst.To4())
	inner := quoted[h.Len:]
	return to == dst && inner[0] == byte(ipv4.ICMPTypeEcho) && int(inner[4])<<8|int(inner[5]) == id
}

func describeUnreach(code int) string {
	switch code {
	case 0:
		return "network unreachable"
	case 1:
		return "host unreachable"
	case 3:
		return "port unreachable"
	case 13:
		return "communication administratively prohibited"
	}
	return fmt.Sprintf("destination unreachable (code %d)", code)
}

// tcp connects to dst and asks a topolab responder for its hello line. A
// connection that succeeds is ok even when no responder answers, as with
// an image's own server.
func (p *prober) tcp(ctx context.Context, dst netip.AddrPort) exchange {
	start := time.Now()
	conn, err := p.dial(ctx, "tcp", dst)
	if err != nil {
		return exchange{err: fmt.Errorf("connecting to %s: %w", dst, err)}
	}
	defer conn.Close()
	ex := exchange{rtt: time.Since(start)}
	conn.SetDeadline(time.Now().Add(p.timeout))
	if _, err := io.WriteString(conn, "topolab\n"); err != nil {
		return ex
	}
	line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
	if err == nil {
		if _, client, perr := responder.ParseHello(line); perr == nil {
			ex.seen = hostOf(client)
		}
	}
	return ex
}

// http sends GET / to dst. Any HTTP response is ok.
func (p *prober) http(ctx context.Context, dst netip.AddrPort) exchange {
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return p.dial(ctx, "tcp", dst)
		},
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: p.timeout,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 2 * p.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+dst.String()+"/", nil)
	if err != nil {
		return exchange{verdict: Error, err: err}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return exchange{err: fmt.Errorf("GET http://%s/: %w", dst, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	ex := exchange{rtt: time.Since(start)}
	if client := resp.Header.Get("X-Topolab-Client"); client != "" {
		ex.seen = hostOf(client)
	}
	return ex
}

func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// udp sends one datagram to dst and waits for the responder's echo. An ICMP
// port unreachable shows as a refused read on the connected socket.
func (p *prober) udp(ctx context.Context, dst netip.AddrPort) exchange {
	conn, err := p.dial(ctx, "udp", dst)
	if err != nil {
		return exchange{err: fmt.Errorf("opening UDP socket to %s: %w", dst, err)}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(p.timeout))
	start := time.Now()
	if _, err := io.WriteString(conn, "topolab\n"); err != nil {
		return exchange{err: fmt.Errorf("sending to %s: %w", dst, err)}
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return exchange{err: fmt.Errorf("waiting for the echo from %s: %w", dst, err)}
	}
	ex := exchange{rtt: time.Since(start)}
	if _, client, perr := responder.ParseHello(string(buf[:n])); perr == nil {
		ex.seen = hostOf(client)
	}
	return ex
}

func hostOf(addrPort string) string {
	if ap, err := netip.ParseAddrPort(addrPort); err == nil {
		return ap.Addr().String()
	}
	return addrPort
}

// lookup asks resolver for the A records of name, as a libc resolver would:
// the name as given, over UDP port 53, one try.
func (p *prober) lookup(ctx context.Context, resolver netip.Addr, name string) ([]netip.Addr, error) {
	conn, err := p.dial(ctx, "udp", netip.AddrPortFrom(resolver, 53))
	if err != nil {
		return nil, fmt.Errorf("reaching resolver %s: %w", resolver, err)
	}
	defer conn.Close()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	c := &dns.Client{Timeout: 2 * p.timeout}
	reply, _, err := c.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: conn})
	if err != nil {
		return nil, fmt.Errorf("querying %s for %s: %w", resolver, name, err)
	}
	if reply.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s returned %s for %s", resolver, dns.RcodeToString[reply.Rcode], name)
	}
	var out []netip.Addr
	for _, rr := range reply.Answer {
		if a, ok := rr.(*dns.A); ok {
			if addr, ok := netip.AddrFromSlice(a.A.To4()); ok {
				out = append(out, addr)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no address for %s", resolver, strings.TrimSuffix(name, "."))
	}
	return out, nil
}
