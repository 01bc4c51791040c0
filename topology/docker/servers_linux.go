package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/topolab/topolab/internal/responder"
	"github.com/topolab/topolab/topology"
)

// outsideTTL is the TTL of the outside DNS server's answers, in seconds.
const outsideTTL = 60

// startServers opens, inside the outside namespace, a DNS server on the
// router's port 53 (UDP and TCP) and a responder on port 80 of every outside
// host, and serves them until close.
func (o *outside) startServers() error {
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel

	var udp net.PacketConn
	var tcp net.Listener
	var lns []struct {
		name string
		ln   net.Listener
	}
	// Every process attached to the lab serves the same answers, so their
	// sockets share the ports and the kernel spreads the clients over them.
	lc := net.ListenConfig{Control: reusePort}
	err := inNetns(o.ns, func() error {
		dnsAddr := netip.AddrPortFrom(o.plan.Router, 53).String()
		var err error
		if udp, err = lc.ListenPacket(ctx, "udp4", dnsAddr); err != nil {
			return fmt.Errorf("listening on %s/udp: %w", dnsAddr, err)
		}
		if tcp, err = lc.Listen(ctx, "tcp4", dnsAddr); err != nil {
			return fmt.Errorf("listening on %s/tcp: %w", dnsAddr, err)
		}
		for _, h := range o.plan.Outside {
			addr := netip.AddrPortFrom(h.Address, 80).String()
			ln, err := lc.Listen(ctx, "tcp4", addr)
			if err != nil {
				return fmt.Errorf("listening on %s/tcp for %s: %w", addr, h.Name, err)
			}
			lns = append(lns, struct {
				name string
				ln   net.Listener
			}{h.Name, ln})
		}
		return nil
	})
	if err != nil {
		closeAll(udp, tcp)
		for _, l := range lns {
			l.ln.Close()
		}
		return err
	}

	handler := outsideDNS(o.plan.Outside)
	for _, srv := range []*dns.Server{{PacketConn: udp, Handler: handler}, {Listener: tcp, Handler: handler}} {
		// Shutdown of a server that has not started yet does nothing, and
		// the server would then serve forever, so wait for the start.
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			err := srv.ActivateAndServe()
			if err != nil && ctx.Err() == nil {
				o.log.Error("outside DNS server stopped", "lab", o.lab, "error", err)
			}
			select {
			case <-started:
			default:
				// It failed before it started: nothing to shut down.
				close(started)
			}
		}()
		<-started
		context.AfterFunc(ctx, func() { srv.Shutdown() })
	}
	for _, l := range lns {
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			if err := responder.ServeTCP(ctx, l.ln, l.name); err != nil {
				o.log.Error("outside responder stopped", "lab", o.lab, "host", l.name, "error", err)
			}
		}()
	}
	return nil
}

// reusePort sets SO_REUSEPORT on a socket before it is bound.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	return errors.Join(err, serr)
}

func closeAll(pc net.PacketConn, ln net.Listener) {
	if pc != nil {
		pc.Close()
	}
	if ln != nil {
		ln.Close()
	}
}

// outsideDNS returns a handler that answers A queries for the outside
// hosts' names, NOERROR without answers for their other types, and
// NXDOMAIN for every other name, as an authoritative server of the
// simulated internet would.
func outsideDNS(hosts []*topology.OutsideHost) dns.Handler {
	addrs := map[string]netip.Addr{}
	for _, h := range hosts {
		addrs[dns.Fqdn(strings.ToLower(h.Name))] = h.Address
	}
	return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.Authoritative = true
		resp.RecursionAvailable = true
		if len(req.Question) != 1 {
			resp.Rcode = dns.RcodeFormatError
			w.WriteMsg(resp)
			return
		}
		q := req.Question[0]
		addr, ok := addrs[strings.ToLower(q.Name)]
		switch {
		case !ok:
			resp.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA && q.Qclass == dns.ClassINET:
			resp.Answer = append(resp.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: outsideTTL},
				A:   addr.AsSlice(),
			})
		}
		w.WriteMsg(resp)
	})
}
