package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// udpSession relays the datagrams of one client address through one
// connection to the container.
type udpSession struct {
	client  net.Addr
	backend net.Conn
}

// ServeUDP relays datagrams between clients on pc and the container. Each
// client address gets its own connection to the container, so replies go
// back to the right client. A session ends after UDPIdleTimeout without a
// reply. ServeUDP closes pc and every session when ctx is done, and
// returns nil then or when pc is closed by someone else.
func (p *Proxy) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()

	var (
		mu       sync.Mutex
		sessions = map[string]*udpSession{}
		wg       sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for _, s := range sessions {
			s.backend.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()

	buf := make([]byte, maxDatagram)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("reading on %s for %s: %w", pc.LocalAddr(), p.target(), err)
		}

		key := from.String()
		mu.Lock()
		s, ok := sessions[key]
		full := !ok && len(sessions) >= p.maxConns()
		mu.Unlock()
		if full {
			p.logger.Debug("proxy dropped datagram: too many UDP sessions", "client", key, "max", p.maxConns())
			continue
		}
		if !ok {
			if s, err = p.openUDPSession(ctx, from); err != nil {
				p.logger.Debug("proxy failed to connect to container", "client", key, "container", p.target(), "error", err)
				continue
			}
			mu.Lock()
			sessions[key] = s
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.relayReplies(pc, s)
				mu.Lock()
				if sessions[key] == s {
					delete(sessions, key)
				}
				mu.Unlock()
			}()
		}
		if _, err := s.backend.Write(buf[:n]); err != nil {
			// The container's port may be closed (ICMP port unreachable);
			// the session stays until its idle timeout, as in docker-proxy.
			p.logger.Debug("proxy failed to send datagram to container", "client", key, "error", err)
		}
	}
}

func (p *Proxy) openUDPSession(ctx context.Context, client net.Addr) (*udpSession, error) {
	dialCtx, cancel := context.WithTimeout(ctx, p.dialTimeout())
	defer cancel()
	backend, err := p.dial(dialCtx, "udp", p.target())
	if err != nil {
		return nil, err
	}
	return &udpSession{client: client, backend: backend}, nil
}

// relayReplies sends the container's datagrams of session s back to its
// client through pc until the session is idle for UDPIdleTimeout or its
// connection is closed. It closes the connection before returning.
func (p *Proxy) relayReplies(pc net.PacketConn, s *udpSession) {
	defer s.backend.Close()
	buf := make([]byte, maxDatagram)
	for {
		if err := s.backend.SetReadDeadline(time.Now().Add(p.udpIdleTimeout())); err != nil {
			return
		}
		n, err := s.backend.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.logger.Debug("proxy ended idle UDP session", "client", s.client.String())
				return
			}
			// ECONNREFUSED reports an ICMP port unreachable for an
			// earlier datagram: keep waiting, because the container may
			// start listening. Any other error ends the session.
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue
			}
			return
		}
		if _, err := pc.WriteTo(buf[:n], s.client); err != nil {
			p.logger.Debug("proxy failed to send reply to client", "client", s.client.String(), "error", err)
			if errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}
