package docker

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

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
	err := inNetns(o.ns, func() error {
		dnsAddr := netip.AddrPortFrom(o.plan.Router, 53).String()
		var err error
		if udp, err = net.ListenPacket("udp4", dnsAddr); err != nil {
			return fmt.Errorf("listening on %s/udp: %w", dnsAddr, err)
		}
		if tcp, err = net.Listen("tcp4", dnsAddr); err != nil {
			return fmt.Errorf("listening on %s/tcp: %w", dnsAddr, err)
		}
		for _, h := range o.plan.Outside {
			addr := netip.AddrPortFrom(h.Address, 80).String()
			ln, err := net.Listen("tcp4", addr)
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
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			if err := srv.ActivateAndServe(); err != nil && ctx.Err() == nil {
				o.log.Error("outside DNS server stopped", "lab", o.lab, "error", err)
			}
		}()
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
