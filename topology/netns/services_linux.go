package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/topolab/topolab/internal/responder"
	"github.com/topolab/topolab/topology"
)

// outsideHTTPPort is the port of every outside host's HTTP responder.
const outsideHTTPPort = 80

// startServers starts, in this order, the outside hosts' responders, the
// listen responders of the containers, the DNS servers and the userland
// proxies of published ports. The servers run until Close.
func (l *lab) startServers() error {
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	for _, o := range l.plan.Outside {
		addr := netip.AddrPortFrom(o.Address, outsideHTTPPort)
		if err := l.listenTCP(ctx, l.outsideFd, o.Name, addr); err != nil {
			return fmt.Errorf("outside host %s: %w", o.Name, err)
		}
	}
	for _, c := range l.plan.Containers {
		for _, ls := range c.Listen {
			addr := netip.AddrPortFrom(netip.IPv4Unspecified(), ls.Port)
			var err error
			if ls.Proto == "udp" {
				err = l.listenUDP(ctx, l.nsOf(c), c.Name, addr)
			} else {
				err = l.listenTCP(ctx, l.nsOf(c), c.Name, addr)
			}
			if err != nil {
				return fmt.Errorf("container %s: listen %d/%s: %w", c.Name, ls.Port, ls.Proto, err)
			}
		}
	}
	if err := l.startDNS(ctx); err != nil {
		return err
	}
	return l.startProxies(ctx)
}

// serve runs f in a goroutine that Close waits for, and logs its error.
func (l *lab) serve(what string, f func() error) {
	l.servers.Add(1)
	go func() {
		defer l.servers.Done()
		if err := f(); err != nil {
			// Only Close closes the servers' sockets, so a server that
			// reports a closed socket has stopped normally, even if Close
			// came before it started serving.
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Error("server stopped", "server", what, "err", err)
		}
	}()
}

func (l *lab) responder(name string) *responder.Server {
	return &responder.Server{Name: name, Logger: l.log.With("responder", name)}
}

// sharedPort opens sockets with SO_REUSEPORT, so that a container's own
// server on port 53 of every address and its embedded DNS server on
// 127.0.0.11:53 can both listen, as in Docker, where the embedded server
// listens on another port behind a DNAT rule. The kernel delivers each
// packet to the socket bound to the more specific address.
var sharedPort = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}}

// responderListenConfig returns sharedPort for a responder on port 53,
// which must listen beside the embedded DNS server, and a plain config
// otherwise, so that two servers of a namespace on one port fail to start
// as they do in Docker.
//
// NOTE: two host-mode containers that both listen on port 53 share it
// instead of failing.
func responderListenConfig(addr netip.AddrPort) *net.ListenConfig {
	if addr.Port() == 53 {
		return &sharedPort
	}
	return &net.ListenConfig{}
}

// listenTCP opens a TCP listener on addr inside the namespace of fd and
// serves the responder protocol for name on it.
func (l *lab) listenTCP(ctx context.Context, fd int, name string, addr netip.AddrPort) error {
	var ln net.Listener
	err := inNetns(fd, func() (err error) {
		ln, err = responderListenConfig(addr).Listen(context.Background(), "tcp4", addr.String())
		return err
	})
	if err != nil {
		return fmt.Errorf("listening on tcp %s: %w", addr, err)
	}
	l.closers = append(l.closers, ln.Close)
	l.serve(name+" tcp "+strconv.Itoa(int(addr.Port())), func() error {
		return l.responder(name).ServeTCP(ctx, ln)
	})
	return nil
}

// listenUDP is listenTCP for UDP.
func (l *lab) listenUDP(ctx context.Context, fd int, name string, addr netip.AddrPort) error {
	var pc net.PacketConn
	err := inNetns(fd, func() (err error) {
		pc, err = responderListenConfig(addr).ListenPacket(context.Background(), "udp4", addr.String())
		return err
	})
	if err != nil {
		return fmt.Errorf("listening on udp %s: %w", addr, err)
	}
	l.closers = append(l.closers, pc.Close)
	l.serve(name+" udp "+strconv.Itoa(int(addr.Port())), func() error {
		return l.responder(name).ServeUDP(ctx, pc)
	})
	return nil
}

// dialInHost dials address from the lab host namespace. The embedded DNS
// servers forward through it, as dockerd queries host-derived upstreams from
// the host namespace.
func (l *lab) dialInHost(ctx context.Context, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(l.hostFd, func() (err error) {
		var d net.Dialer
		conn, err = d.DialContext(ctx, network, address)
		return err
	})
	return conn, err
}

// dnsPort is the port of every DNS server of the lab.
const dnsPort = 53

// startDNS starts the outside DNS server on the router address and one
// embedded DNS server on 127.0.0.11:53 in each namespace of a container on
// a user-defined network. Containers that share a namespace share its
// server, whose names are those of the namespace's owner.
func (l *lab) startDNS(ctx context.Context) error {
	outside := NewOutsideDNS(l.plan.Outside)
	outside.SetLogger(l.log.With("dns", "outside"))
	addr := netip.AddrPortFrom(l.plan.Router, dnsPort)
	if err := l.listenDNS(ctx, l.outsideFd, addr, "outside", outside.Serve); err != nil {
		return fmt.Errorf("outside DNS server: %w", err)
	}
	for _, c := range l.plan.Containers {
		if l.plan.NetnsOwner(c) != c || !NeedsEmbeddedDNS(l.plan, c) {
			continue
		}
		logger := l.log.With("dns", c.Name)
		d := NewEmbeddedDNS(l.plan, c, l.dialInHost, logger)
		addr := netip.AddrPortFrom(topology.EmbeddedDNS, dnsPort)
		if err := l.listenDNS(ctx, l.containerFd[c.Name], addr, c.Name, d.Serve); err != nil {
			return fmt.Errorf("embedded DNS server of %s: %w", c.Name, err)
		}
	}
	return nil
}

// listenDNS opens UDP and TCP sockets on addr in the namespace of fd and
// runs serve on them.
func (l *lab) listenDNS(ctx context.Context, fd int, addr netip.AddrPort, name string,
	serve func(context.Context, net.PacketConn, net.Listener) error) error {
	var pc net.PacketConn
	var ln net.Listener
	err := inNetns(fd, func() (err error) {
		if pc, err = sharedPort.ListenPacket(context.Background(), "udp4", addr.String()); err != nil {
			return err
		}
		if ln, err = sharedPort.Listen(context.Background(), "tcp4", addr.String()); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	l.closers = append(l.closers, pc.Close, ln.Close)
	l.serve("dns "+name, func() error { return serve(ctx, pc, ln) })
	return nil
}

// startProxies starts a userland proxy in the lab host for every published
// port, listening on the binding's host address and port.
func (l *lab) startProxies(ctx context.Context) error {
	for _, c := range l.plan.Containers {
		for _, b := range c.Ports {
			if err := l.startProxy(ctx, c, b); err != nil {
				return fmt.Errorf("publishing port %d/%s of %s: %w", b.HostPort, b.Proto, c.Name, err)
			}
		}
	}
	return nil
}

func (l *lab) startProxy(ctx context.Context, c *topology.PlannedContainer, b topology.PortBinding) error {
	p := NewProxy(b, l.dialInHost, l.log.With("proxy", c.Name, "port", b.HostPort))
	addr := netip.AddrPortFrom(b.HostIP, b.HostPort).String()
	what := "proxy " + b.Proto + " " + addr
	if b.Proto == "udp" {
		var pc net.PacketConn
		if err := inNetns(l.hostFd, func() (err error) { pc, err = net.ListenPacket("udp4", addr); return err }); err != nil {
			return fmt.Errorf("listening on udp %s: %w", addr, err)
		}
		l.closers = append(l.closers, pc.Close)
		l.serve(what, func() error { return p.ServeUDP(ctx, pc) })
		return nil
	}
	var ln net.Listener
	if err := inNetns(l.hostFd, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		return fmt.Errorf("listening on tcp %s: %w", addr, err)
	}
	l.closers = append(l.closers, ln.Close)
	l.serve(what, func() error { return p.ServeTCP(ctx, ln) })
	return nil
}
