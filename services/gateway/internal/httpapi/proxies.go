package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the addresses whose X-Forwarded-For the gateway believes
// (a load balancer or ingress in front of it). From anyone else the header is
// ignored: a client could write any address into it and get a fresh rate-limit
// bucket per request.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies reads a list of addresses and CIDR prefixes
// ("10.0.0.0/8", "192.0.2.1", "::1"), naming the first entry that is neither.
func ParseTrustedProxies(entries []string) (TrustedProxies, error) {
	var t TrustedProxies
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			t.prefixes = append(t.prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return TrustedProxies{}, fmt.Errorf("trusted proxy %q is neither an IP address nor a CIDR prefix", e)
		}
		a = a.Unmap()
		t.prefixes = append(t.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return t, nil
}

func (t TrustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddress is the address a request's rate limit is keyed on: the peer's,
// unless the peer is a trusted proxy; then the nearest address in
// X-Forwarded-For (read from the right, the end the proxies appended to) that
// is not itself a trusted proxy. An entry that is not an address ends the
// walk at the hop that forwarded it, since anything left of it was written by
// the client.
func (t TrustedProxies) clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(t.prefixes) == 0 {
		return host
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !t.trusts(peer) {
		return host
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(list[j]))
			if err != nil {
				return client.Unmap().String()
			}
			client = a
			if !t.trusts(a) {
				return a.Unmap().String()
			}
		}
	}
	return client.Unmap().String()
}
