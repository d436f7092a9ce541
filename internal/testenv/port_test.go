package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestPortReservations: a port reserved by a live process — this one, or
// another — is not offered again; one whose process is gone is taken over.
func TestPortReservations(t *testing.T) {
	was := portsDir
	portsDir = t.TempDir()
	t.Cleanup(func() { portsDir = was })

	if ok, err := reservePort(40001); !ok || err != nil {
		t.Fatalf("a free port: %v %v", ok, err)
	}
	if ok, _ := reservePort(40001); ok {
		t.Fatal("a port this process reserved was reserved again")
	}
	write := func(port, pid int) {
		if err := os.WriteFile(filepath.Join(portsDir, strconv.Itoa(port)), []byte(strconv.Itoa(pid)), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	write(40002, 1) // init: alive
	if ok, _ := reservePort(40002); ok {
		t.Fatal("a port another live process reserved was reserved")
	}
	write(40003, 1<<30) // beyond any pid: gone
	if ok, err := reservePort(40003); !ok || err != nil {
		t.Fatalf("a port reserved by a process that is gone: %v %v", ok, err)
	}
	port, err := FindFreePort()
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := reservePort(port); ok {
		t.Fatal("FindFreePort's port was not reserved")
	}
}
