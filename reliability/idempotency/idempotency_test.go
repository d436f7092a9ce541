package idempotency_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/reliapi/reliapi/reliability/idempotency"
)

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		sources []string
		want    string
		wantErr bool
	}{
		{"none", []string{"", "", ""}, "", false},
		{"header", []string{"k1", "", ""}, "k1", false},
		{"body", []string{"", "", "k1"}, "k1", false},
		{"agree", []string{"k1", "k1", "k1"}, "k1", false},
		{"disagree", []string{"k1", "", "k2"}, "", true},
		{"too long", []string{strings.Repeat("a", 256)}, "", true},
		{"control char", []string{"a\nb"}, "", true},
		{"non ascii", []string{"ключ"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := idempotency.Key(tt.sources...)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Key(%q) = %q, %v; want %q, error %v", tt.sources, got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := idempotency.Key("a", "b"); !errors.Is(err, idempotency.ErrKeyMismatch) {
		t.Fatalf("mismatch error = %v", err)
	}
}

func TestJobIDIsPerTenantAndStable(t *testing.T) {
	t.Parallel()
	a := idempotency.JobID("t1", "key")
	if a != idempotency.JobID("t1", "key") {
		t.Fatal("JobID is not stable")
	}
	if a == idempotency.JobID("t2", "key") || a == idempotency.JobID("t1", "key2") {
		t.Fatal("JobID collides across tenants or keys")
	}
	if !strings.HasPrefix(a, "job_") || len(a) != 36 {
		t.Fatalf("JobID = %q", a)
	}
}

func TestFingerprintSeparatesParts(t *testing.T) {
	t.Parallel()
	if idempotency.Fingerprint([]byte("ab"), []byte("c")) == idempotency.Fingerprint([]byte("a"), []byte("bc")) {
		t.Fatal("part boundaries are not part of the fingerprint")
	}
}

func ExampleJobID() {
	// Two api replicas receiving the same key name the same job.
	fmt.Println(idempotency.JobID("acme", "order-42") == idempotency.JobID("acme", "order-42"))
	// Output: true
}
