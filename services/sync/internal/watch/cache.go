package watch

import "sync"

// boundedCache is a map that starts over when it reaches its bound: for
// caches whose misses cost only computing again, it bounds memory without
// the bookkeeping of an eviction order.
type boundedCache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

func (c *boundedCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *boundedCache[K, V]) put(k K, v V, bound int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= bound {
		c.m = make(map[K]V)
	}
	c.m[k] = v
}
