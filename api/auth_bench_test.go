package api

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/reliapi/reliapi/config"
)

// BenchmarkKeyLookup is the cost of finding a caller's key among n
// configured keys: a constant-time comparison with every one of them.
func BenchmarkKeyLookup(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			st := config.Default()
			for i := range n {
				st.Tenants[fmt.Sprintf("t%d", i)] = &config.Tenant{APIKeys: []config.TenantKey{{ID: "k", Key: config.SecretFrom("K", fmt.Sprintf("key-%d", i))}}}
			}
			r := newKeyring(st.ForAPI())
			want := fmt.Sprintf("key-%d", n-1)
			b.ResetTimer()
			for b.Loop() {
				if r.find(sha256.Sum256([]byte(want))) == nil {
					b.Fatal("not found")
				}
			}
		})
	}
}
